"""Grade the students' notebooks with nbval: their solution cells, the instructor's everything else.

Before any submission (prepare_notebooks): the CIFAR-10 folder given with
`--data` is verified, and every notebook of the instructor source that has
check cells with points (metadata {"points": p} on a `# Check:` cell) is run
once on the reference solution, in the trusted process, on that data, in a
scratch folder. Its outputs become the expected outputs, and the models it
saves (kit.student.files.SAVED_MODELS) the reference's. Then the reference is
graded in the sandbox as a submission would be (confirm_reference): it must
earn every point, or nothing is graded and the reason is given; its CPU time
sets the time limit (three times as many CPU seconds, unless the instructor
gives one).

Cells tagged "skip-when-grading" in the instructor's notebook are not run for
a submission: the grader runs their metadata "grading_source" instead. The
tuning cell of two_layer_net.ipynb is one: its result, the tuned net, is the
file the student's own run saved (best_net.npz, handed in with the notebook),
which the best_net check loads and confirms by re-running the last iterations
of its training with the student's code (cs231n.training_record). So a
submission costs seconds of CPU, not the minutes of its tuning.

For each submitted notebook (grade_notebook):
1. The notebook that runs is the instructor's: every cell but the solution
   cells (tagged "solution") is restored from it, check cells, setup cells
   and cells tagged "locked" included, with the reference outputs; only the
   student's solution cells (matched by cell id, or by their order) are
   kept. Edited asserts or outputs gain nothing, and the feedback names the
   cells that were restored.
2. The real nbval plugin runs it (`pytest --nbval`) in a trusted pytest
   process, with its kernel in the submission's sandbox (see
   kit.instructor.grade.nbval_plugin): nbval compares each cell's outputs with the
   reference's in pytest, outside the sandbox.
3. Each check cell with points is a test of its own (named by the check's
   title), passed or not; a cell that did not run (time limit, or a kernel
   that died) gets nothing, the cells before it keep their points. A lost
   point names its cause: the cell's error, the output that differs, or the
   sandbox limit it hit.
4. The executed notebook (text and image outputs only) is kept for the
   instructor, with the CPU and wall seconds it took.
"""
import json
import os
import pickle
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from kit.instructor.grade.compare import CheckResult
from kit.instructor.grade.nbval_plugin import CONFIG_VARIABLE
from kit.student.notebooks import check_title, checks_in
from kit.student.restore import restore, solution_ids
from kit.instructor.sandbox.box import HARD_WALL_FACTOR, GraderFailure
from kit.student.files import SAVED_MODELS

DATA_MOUNT = "/kit/datasets/cifar-10-batches-py"
BATCHES = ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch", "batches.meta"]
KIT_ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_FEEDBACK = 2500


@dataclass
class NotebookRun:
    """What grading one submitted notebook gave (grade_notebook)."""
    checks: list                 # [CheckResult], one per check cell with points
    lines: list                  # feedback about the notebook as a whole
    cpu_seconds: float = 0.0     # CPU of its kernel in the sandbox
    wall_seconds: float = 0.0
    cells: list = ()             # [{"cell": code cell number, "title", "seconds"}] of the cells that ran
    executed: dict = None        # the executed notebook (JSON dict; text and image outputs), or None

    def summary(self):
        """results.json extra_data of the notebook: CPU and wall seconds, and its slowest cells."""
        slowest = sorted(self.cells, key=lambda c: -c["seconds"])[:5]
        return {"cpu_seconds": round(self.cpu_seconds, 2), "wall_seconds": round(self.wall_seconds, 2),
                "slowest_cells": slowest}


class NotebookSetupError(ValueError):
    """The notebooks cannot be graded: the data given with --data, or the reference solution on it."""


class DataError(NotebookSetupError):
    """The CIFAR-10 folder given with --data is not one."""


@dataclass
class GradedNotebook:
    """A notebook the grader runs for every submission (prepared once per run)."""
    rel: str                   # e.g. "notebooks/two_layer_net.ipynb"
    reference: dict            # the instructor's notebook with the reference run's outputs (JSON)
    checks: list               # [Check] of the check cells with points (kit.student.notebooks)
    solution_ids: list         # [(cell index, cell id)] of the solution cells
    reference_seconds: float   # CPU seconds of the reference run
    cpu_limit: float
    sanitize: str = None       # path of the sanitize file, if any
    models: dict = field(default_factory=dict)   # {rel: bytes}: the models the reference run saved

    @property
    def max_score(self):
        return sum(check.points for check in self.checks)

    def test_name(self, title):
        """The name of a check cell's test in results.json, e.g. "two_layer_net.ipynb: best_net"."""
        return f"{Path(self.rel).name}: {title}"


def verify_data(folder):
    """
    Check that `folder` is a CIFAR-10 folder (the six batches and batches.meta, loadable).

    Loading it once with the instructor's loader also writes its cache when the
    folder is writable, so that every sandbox then reads it fast.

    Raises:
    - DataError saying what is missing or wrong.
    """
    folder = Path(folder)
    missing = [name for name in BATCHES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"--data {folder} is not a CIFAR-10 folder: it lacks {', '.join(missing)} "
                        f"(give the cifar-10-batches-py folder; `python get_datasets.py` makes one)")
    from cs231n.data_utils import load_CIFAR10   # the instructor's own loader, beside the kit

    try:
        Xtr, Ytr, Xte, Yte = load_CIFAR10(str(folder))
    except Exception as err:  # noqa: BLE001 - any failure means the folder cannot be used
        raise DataError(f"--data {folder}: the batches cannot be loaded ({type(err).__name__}: {err})") from None
    if Xtr.shape[1:] != (32, 32, 3) or len(Xtr) != len(Ytr) or len(Xte) != len(Yte) or len(Xtr) == 0:
        raise DataError(f"--data {folder}: unexpected shapes {Xtr.shape} / {Xte.shape}")
    return len(Xtr), len(Xte)


def run_reference(path, data_dir, scratch, timeout=3600):
    """
    Execute the instructor's notebook at `path` on the data (trusted, no sandbox).

    It runs in scratch/notebooks/ (a copy of the source's notebooks/, beside a
    link to its cs231n/), so that what it saves stays out of the source.

    Returns:
    - (executed notebook, CPU seconds of the kernel and the processes it ran,
      {rel: bytes} of the SAVED_MODELS it wrote)
    """
    from nbclient import NotebookClient

    path, scratch = Path(path), Path(scratch)
    source = path.parents[1]
    shutil.copytree(path.parent, scratch / "notebooks", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", *(Path(r).name for r in SAVED_MODELS)))
    if not (scratch / "cs231n").exists():
        (scratch / "cs231n").symlink_to(source / "cs231n", target_is_directory=True)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(scratch / "notebooks")}})
    env = dict(os.environ, CIFAR10_DIR=str(data_dir), MPLBACKEND="agg", OPENBLAS_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    client.execute(env=env, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel has exited and was waited for
    models = {rel: (scratch / rel).read_bytes() for rel in SAVED_MODELS if (scratch / rel).is_file()}
    return nb, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), models


def prepare_notebooks(source, data_dir, nb_timeout=None, log=print, scratch=None):
    """
    The GradedNotebooks of the instructor source: reference runs on the verified data.

    Inputs:
    - source: Instructor source root.
    - data_dir: The CIFAR-10 folder (verified with verify_data first).
    - nb_timeout: CPU seconds per notebook; default: set by confirm_reference.
    - scratch: A private folder for the reference runs (default: a temporary one).
    """
    source = Path(source)
    graded = []
    for path, cells, graded_checks in checks_in(source / "notebooks"):
        log(f"reference run of {path.name} on {data_dir} (once; its tuning may take minutes) ...")
        folder = Path(tempfile.mkdtemp(prefix="reference-", dir=scratch))
        try:
            executed, seconds, models = run_reference(path, data_dir, folder)
        except Exception as err:  # noqa: BLE001 - the instructor must fix the reference first
            raise NotebookSetupError(f"the reference solution of {path.name} does not run on {data_dir}: "
                                     f"{type(err).__name__}: {_clean(str(err))[-1500:]}") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        sanitize = source / "notebooks" / "sanitize.cfg"
        graded.append(GradedNotebook(
            rel=path.relative_to(source).as_posix(), reference=json.loads(nbformat.writes(executed)),
            checks=graded_checks, solution_ids=solution_ids(cells), reference_seconds=seconds,
            cpu_limit=float(nb_timeout) if nb_timeout else max(60.0, 3 * seconds),
            sanitize=str(sanitize) if sanitize.is_file() else None, models=models))
        log(f"  {len(graded_checks)} graded cells, {graded[-1].max_score:g} points; the reference run used "
            f"{seconds:.0f} s of CPU" + (f" and saved {', '.join(models)}" if models else ""))
    return graded


def save_references(graded, path):
    """
    Keep the reference runs of prepare_notebooks in the file `path`, readable by its owner only.

    They hold the expected outputs: the file must stay out of student code's reach.
    """
    from cs231n._atomic import atomic_write

    atomic_write(path, lambda f: pickle.dump(list(graded), f))
    os.chmod(path, 0o600)


def load_references(path, nb_timeout=None):
    """
    The GradedNotebooks saved by save_references (a trusted file: the grader's own).

    Raises:
    - NotebookSetupError when the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            graded = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as err:
        raise NotebookSetupError(f"the reference runs saved in {path} cannot be read ({type(err).__name__}: "
                                 f"{err}); make them again") from None
    for gnb in graded:
        if nb_timeout:
            gnb.cpu_limit = float(nb_timeout)
    return graded


def confirm_reference(gnb, make_sandbox, work, limits, nb_timeout=None, log=print):
    """
    Grade the reference solution's notebook in the sandbox, as a submission; set the time limit.

    Inputs:
    - gnb: The GradedNotebook (its reference run done); make_sandbox: a Sandbox
      factory whose kit holds the reference's code and gnb.models.
    - work: A private folder; limits: The submission Limits.
    - nb_timeout: The instructor's CPU limit per notebook, if any.

    Raises:
    - NotebookSetupError naming each check the reference loses, and why:
      grading would take those points from correct submissions too.
    """
    run = grade_notebook(gnb, gnb.reference, make_sandbox, work, threading.Event(), limits,
                         submitted_files=set(gnb.models))
    lost = [c for c in run.checks if c.points < c.max_points]
    if lost:
        reasons = "\n".join(f"  {c.name}: {c.lines[0][:600]}" for c in lost)
        raise NotebookSetupError(
            f"the reference solution loses {len(lost)} check(s) of {gnb.rel} when graded in the sandbox "
            f"({limits.memory_mb} MB of memory, {gnb.cpu_limit:.0f} s of CPU, /tmp of {limits.tmp_mb} MiB); "
            f"correct submissions would lose them too. Nothing was graded.\n{reasons}\n"
            f"Fix the notebook, or raise the limit it hit (--memory-mb, --tmp-mb or --nb-timeout).")
    if not nb_timeout:
        gnb.cpu_limit = max(60.0, 3 * run.cpu_seconds)
    log(f"  graded in the sandbox, the reference earns all {gnb.max_score:g} points with {run.cpu_seconds:.0f} s "
        f"of CPU; limit {gnb.cpu_limit:.0f} s of CPU per submission")
    return run


def build_notebook(gnb, submitted):
    """
    The notebook to run for one submission, and what was restored (kit.student.restore).

    Inputs:
    - gnb: The GradedNotebook.
    - submitted: The student's notebook as parsed JSON (anything), or None.

    Returns:
    - (notebook JSON dict, feedback lines)
    """
    nb, restored, missing = restore(gnb.reference, submitted, gnb.solution_ids)
    lines = []
    if restored:
        shown = ", ".join(f"'{t}'" for t in restored[:8]) + (" ..." if len(restored) > 8 else "")
        lines.append(f"{gnb.rel}: restored {len(restored)} cell(s) you had changed to the original "
                     f"(only your solution cells are graded): {shown}")
    if missing:
        lines.append(f"{gnb.rel}: {missing} of your solution cell(s) were not found (deleted?); they ran empty")
    return nb, lines


def _small_tmpfs(folder):
    """
    Mount a tiny tmpfs on `folder` (root only), so that the one folder the kernel
    may write to (its IPC sockets) cannot fill the grader's disk. True when mounted.
    """
    if os.geteuid() != 0:
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64,mode=0777", "tmpfs", str(folder)],
                          capture_output=True)
    return proc.returncode == 0


def _code_cell_indices(nb):
    return [i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]


def _clean(text):
    return ANSI.sub("", text or "")


def _indent(text):
    return "\n".join("    " + line for line in text.rstrip().splitlines()) or "    (nothing)"


def limit_cause(text, limits):
    """
    The sandbox limit a failed cell's error text points to, as a sentence, or "".

    Inputs:
    - text: The cell's error text; limits: The submission's Limits.
    """
    mib = limits.tmp_mb
    if "File too large" in text or "EFBIG" in text:
        return (f"The cell hit the sandbox's limit of {mib} MiB per file written (its /tmp and "
                f"/dev/shm hold {mib} MiB).")
    if "No space left on device" in text:
        return f"The cell filled the sandbox's /tmp or /dev/shm ({mib} MiB)."
    if "Could not pickle the task to send it to the workers" in text:
        return (f"Its parallel workers could not be given their data: joblib copies it through "
                f"/dev/shm and /tmp, which hold {mib} MiB in the sandbox.")
    if re.search(r"MemoryError|Unable to allocate|Cannot allocate memory", text):
        return f"The cell ran out of memory: the sandbox allows {limits.memory_mb} MB."
    if re.search(r"Kernel died|DeadKernelError|kernel died", text, re.IGNORECASE):
        return (f"The notebook's kernel died: most often it used more than the {limits.memory_mb} MB "
                f"of memory the sandbox allows, or more than {limits.pids} processes.")
    return ""


def _failure_text(record, hidden, limits=None):
    """Feedback for a failed cell: what was expected and what the student's run printed."""
    text = _clean(record.get("text", ""))
    differ = "Cell outputs differ" in text
    if hidden:
        cause = limit_cause(text, limits) if limits else ""
        return ("its output differs from the expected output" if differ else
                "it failed" + (f": {text.strip().splitlines()[-1][:200]}" if text.strip() else "")
                + (f" ({cause})" if cause else ""))
    got, expected = _clean(record.get("got") or ""), _clean(record.get("expected") or "")
    if differ:
        return (f"its output differs from the reference.\nExpected:\n{_indent(expected)}\n"
                f"Your notebook printed:\n{_indent(got)}")[-MAX_FEEDBACK:]
    cause = limit_cause(text, limits) if limits else ""
    if "Traceback:" in text:
        text = text[text.index("Traceback:") + len("Traceback:"):]
    body = ("the cell raised an error:\n" + text.strip())[-MAX_FEEDBACK:]
    return f"{cause}\n{body}" if cause else body


def grade_notebook(gnb, submitted, make_sandbox, work, abort, limits, submitted_files=None):
    """
    Run one submitted notebook under nbval in the sandbox and score its check cells.

    Inputs:
    - gnb: The GradedNotebook.
    - submitted: The student's notebook (parsed JSON) or None when not submitted.
    - make_sandbox: Callable returning a Sandbox of this submission (with the data bound).
    - work: A private folder for this notebook's files.
    - abort: threading.Event set to stop now (the sandbox watches it).
    - limits: The submission's Limits (memory and processes; the CPU limit is gnb.cpu_limit).
    - submitted_files: The relative paths the submission holds (to name a saved model it lacks).

    Returns:
    - A NotebookRun.

    Raises:
    - GraderFailure when the kernel does not start or pytest fails for the grader's reasons.
    - Aborted.
    """
    def result(check, line, got=0.0):
        return CheckResult(gnb.test_name(check.name), got, check.points, check.visibility, [line],
                           f"the notebook {gnb.rel}")

    if submitted is None:
        return NotebookRun([result(c, f"not run: {gnb.rel} is not in your submission") for c in gnb.checks], [])
    nb, lines = build_notebook(gnb, submitted)
    if submitted_files is not None:
        lines += [f"{rel} is not in your submission: the checks of {gnb.rel} that load it fail. Run the "
                  f"notebook's tuning and the cell that saves it, then `python -m kit collect` again."
                  for rel in gnb.models if rel not in submitted_files]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    path = work / Path(gnb.rel).name
    path.write_text(json.dumps(nb), encoding="utf-8")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    connection = work / "connection"
    connection.mkdir()
    connection.chmod(0o777)
    mounted = _small_tmpfs(connection)
    results = work / "results.jsonl"
    sandbox = make_sandbox()
    began = time.monotonic()
    try:
        prefix, env_extra, cwd = sandbox.kernel_command(connection, cpu_limit=gnb.cpu_limit)
        config = work / "nbval_sandbox.json"
        config.write_text(json.dumps({"command": prefix, "connection_dir": str(connection),
                                      "results": str(results), "owner": sandbox.host_user()}),
                          encoding="utf-8")
        backstop = limits.cell_wall(gnb.cpu_limit) + 60   # seconds neither running nor waiting for a CPU
        cmd = [sys.executable, "-m", "pytest", "-p", "kit.instructor.grade.nbval_plugin", "--nbval", str(path),
               "-c", str(work / "pytest.ini"), "--rootdir", str(work), "-p", "no:cacheprovider",
               "-o", "addopts=", "-q", "--color=no",
               "--nbval-cell-timeout", str(int(HARD_WALL_FACTOR * backstop)),
               "--nbval-kernel-startup-timeout", "90"]
        if gnb.sanitize:
            cmd += ["--nbval-sanitize-with", gnb.sanitize]
        env = dict(os.environ, **{CONFIG_VARIABLE: str(config)}, PYTHONPATH=str(KIT_ROOT),
                   PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1")
        env.update(env_extra or {})
        stopped, log = sandbox.supervise(cmd, cwd or str(work), env, gnb.cpu_limit, backstop)
        cpu = getattr(sandbox, "cpu_used", 0.0)
    finally:
        sandbox.close()
        if mounted:
            subprocess.run(["umount", "-l", str(connection)], capture_output=True)
    wall = time.monotonic() - began
    timed_out = {None: None, "cpu": f"the notebook used more than its {gnb.cpu_limit:.0f} s of CPU",
                 "idle": f"the notebook stopped running for more than {backstop:.0f} s"}[stopped]
    records = {}
    if results.exists():
        for line in results.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            records.setdefault(record["cell"], record)
    output = _clean(log.decode("utf-8", "replace"))
    first = records.get(0)
    if not records or (first and first["outcome"] == "failed" and first["when"] == "setup"):
        if timed_out is None:
            raise GraderFailure(f"{gnb.rel}: the notebook's kernel did not start in the sandbox: "
                                f"{(first or {}).get('text', '') or output[-1500:]}")
    numbers = {index: n for n, index in enumerate(_code_cell_indices(nb))}
    scored = []
    for check in gnb.checks:
        record = records.get(numbers[check.index])
        if record is None:
            why = timed_out or "the notebook stopped before this cell"
            scored.append(result(check, f"not run: {why}{_earlier_failure(nb, numbers, records, check, limits)}"))
        elif record["outcome"] == "passed":
            scored.append(result(check, "passed (output matches the reference)", check.points))
        elif record["outcome"] == "xfailed":
            scored.append(result(check, "not run: an earlier cell timed out"))
        else:
            scored.append(result(check, "FAILED: " + _failure_text(record, check.hidden, limits)
                                 + _earlier_failure(nb, numbers, records, check, limits)))
    if timed_out:
        lines.append(f"{gnb.rel}: {timed_out}; the cells after that point were not run")
    cells = [{"cell": n, "title": _cell_title(nb["cells"][i]), "seconds": records[n].get("seconds", 0.0)}
             for i, n in numbers.items() if n in records]
    return NotebookRun(scored, lines, cpu, wall, cells, _executed(nb, numbers, records))


def _earlier_failure(nb, numbers, records, check, limits):
    """
    A sentence on the last cell before `check` that failed (back to the check before it), or "".

    A check often fails because a cell above it did (a variable never set):
    the feedback then names that cell, its error, and the sandbox limit it hit.
    """
    for i in range(check.index - 1, -1, -1):
        cell = nb["cells"][i]
        if cell.get("cell_type") != "code":
            continue
        if "".join(cell["source"]).startswith("# Check:"):
            return ""
        record = records.get(numbers[i])
        if record is not None and record["outcome"] == "failed":
            text = _clean(record.get("text", ""))
            error = next((line.strip() for line in reversed(text.splitlines())
                          if re.match(r"\s*[A-Za-z_.]*(Error|Exception|Exit|Interrupt)\b", line)), "")
            cause = limit_cause(text, limits)
            return (f"\nAn earlier cell failed: code cell {numbers[i] + 1} ({_cell_title(cell)!r})"
                    + (f": {error[:300]}" if error else "") + (f"\n{cause}" if cause else ""))
    return ""


def _cell_title(cell):
    """A short name of a code cell: its check title, or its first line."""
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if source.startswith("# Check:"):
        return check_title(source)
    first = next((line for line in source.splitlines() if line.strip() and "NBVAL" not in line), "")
    return first.strip()[:60]


def _executed(nb, numbers, records):
    """The notebook as it ran: each code cell with the outputs nbval kept (kit.instructor.grade.nbval_plugin)."""
    executed = json.loads(json.dumps(nb))
    for i, n in numbers.items():
        cell, record = executed["cells"][i], records.get(n)
        cell["outputs"] = (record or {}).get("outputs") or []
        cell["execution_count"] = n + 1 if record else None
    return executed


def write_executed(executed, folder, name):
    """
    Write a graded notebook as it ran (name.ipynb) and its offline HTML page (name.html) to folder.

    Inputs:
    - executed: The executed notebook (NotebookRun.executed: a JSON dict).
    - folder: Where to write (made if missing); name: The file name without extension.

    Returns:
    - The paths written.
    """
    from kit.student.html_export import export

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / f"{name}.ipynb"
    notebook.write_text(json.dumps(executed, indent=1), encoding="utf-8")
    try:
        return [notebook, export(notebook, folder / f"{name}.html")]
    except Exception as err:  # noqa: BLE001 - the .ipynb is kept; the page is a convenience
        (folder / f"{name}.html.txt").write_text(f"the HTML page could not be made: {err}\n", encoding="utf-8")
        return [notebook]
