"""Grade the students' notebooks with nbval: their solution cells, the instructor's everything else.

Before any submission (prepare_notebooks): the CIFAR-10 folder given with
`--data` is verified, and every notebook of the instructor source that has
check cells with points (metadata {"points": p} on a `# Check:` cell) is run
once on the reference solution, in the trusted process, on that data. Its
outputs become the expected outputs, and its runtime sets the time limit
(three times as many CPU seconds, unless the instructor gives one).

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
   that died) gets nothing, the cells before it keep their points.
"""
import json
import os
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from kit.instructor.grade.compare import CheckResult
from kit.instructor.grade.nbval_plugin import CONFIG_VARIABLE
from kit.instructor.notebooks import check_title, checks_in, is_code, is_solution, plain_cells
from kit.instructor.sandbox.box import HARD_WALL_FACTOR, GraderFailure

DATA_MOUNT = "/kit/datasets/cifar-10-batches-py"
BATCHES = ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch", "batches.meta"]
KIT_ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_FEEDBACK = 2500


class NotebookSetupError(ValueError):
    """The notebooks cannot be graded: the data given with --data, or the reference solution on it."""


class DataError(NotebookSetupError):
    """The CIFAR-10 folder given with --data is not one."""


@dataclass
class GradedNotebook:
    """A notebook the grader runs for every submission (prepared once per run)."""
    rel: str                   # e.g. "notebooks/two_layer_net.ipynb"
    reference: dict            # the instructor's notebook with the reference run's outputs (JSON)
    checks: list               # [Check] of the check cells with points (kit.instructor.notebooks)
    solution_ids: list         # [(cell index, cell id)] of the solution cells
    reference_seconds: float   # CPU seconds of the reference run
    cpu_limit: float
    sanitize: str = None       # path of the sanitize file, if any

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


def _solution_ids(cells):
    """[(cell index, cell id)] of the solution code cells."""
    return [(i, cell["id"]) for i, cell in enumerate(cells) if is_code(cell) and is_solution(cell)]


def run_reference(path, data_dir, timeout=3600):
    """
    Execute the instructor's notebook at `path` on the data (trusted, no sandbox).

    Returns:
    - (executed notebook, CPU seconds of the kernel and the processes it ran)
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    env = dict(os.environ, CIFAR10_DIR=str(data_dir), MPLBACKEND="agg", OPENBLAS_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    client.execute(env=env, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel has exited and was waited for
    return nb, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare_notebooks(source, data_dir, nb_timeout=None, log=print):
    """
    The GradedNotebooks of the instructor source: reference runs on the verified data.

    Inputs:
    - source: Instructor source root.
    - data_dir: The CIFAR-10 folder (verified here).
    - nb_timeout: CPU seconds per notebook; default three times the reference's runtime.
    """
    source = Path(source)
    verify_data(data_dir)
    graded = []
    for path, cells, graded_checks in checks_in(source / "notebooks"):
        log(f"reference run of {path.name} on {data_dir} ...")
        try:
            executed, seconds = run_reference(path, data_dir)
        except Exception as err:  # noqa: BLE001 - the instructor must fix the reference first
            raise NotebookSetupError(f"the reference solution of {path.name} does not run on {data_dir}: "
                                     f"{type(err).__name__}: {str(err)[-1500:]}") from None
        sanitize = source / "notebooks" / "sanitize.cfg"
        graded.append(GradedNotebook(
            rel=path.relative_to(source).as_posix(), reference=json.loads(nbformat.writes(executed)),
            checks=graded_checks, solution_ids=_solution_ids(cells), reference_seconds=seconds,
            cpu_limit=float(nb_timeout) if nb_timeout else max(60.0, 3 * seconds),
            sanitize=str(sanitize) if sanitize.is_file() else None))
        log(f"  {len(graded_checks)} graded cells, {graded[-1].max_score:g} points; the reference used "
            f"{seconds:.0f} s of CPU; limit {graded[-1].cpu_limit:.0f} s of CPU per submission")
    return graded


def build_notebook(gnb, submitted):
    """
    The notebook to run for one submission, and what was restored.

    Inputs:
    - gnb: The GradedNotebook.
    - submitted: The student's notebook as parsed JSON (anything), or None.

    Returns:
    - (notebook JSON dict, feedback lines)
    """
    cells = plain_cells(submitted)
    by_id = {c["id"]: c for c in cells if c["id"]}
    student_solutions = [c for c in cells if is_code(c) and is_solution(c)]
    nb = json.loads(json.dumps(gnb.reference))
    solution_index = {i for i, _ in gnb.solution_ids}
    restored, missing = [], 0
    for k, (i, cell_id) in enumerate(gnb.solution_ids):
        mine = by_id.get(cell_id) if cell_id in by_id else (
            student_solutions[k] if k < len(student_solutions) else None)
        cell = nb["cells"][i]
        if mine is None:
            missing += 1
            cell["source"] = ""
        else:
            cell["source"] = mine["source"]
        cell["outputs"], cell["execution_count"] = [], None
    for i, cell in enumerate(nb["cells"]):
        if i in solution_index or cell.get("cell_type") != "code":
            continue
        mine = by_id.get(cell.get("id"))
        reference_source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if mine is not None and mine["source"].strip() != reference_source.strip():
            restored.append(check_title(reference_source) or f"cell {i}")
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


def _failure_text(record, hidden):
    """Feedback for a failed cell: what was expected and what the student's run printed."""
    text = _clean(record.get("text", ""))
    differ = "Cell outputs differ" in text
    if hidden:
        return ("its output differs from the expected output" if differ else
                "it failed" + (f": {text.strip().splitlines()[-1][:200]}" if text.strip() else ""))
    got, expected = _clean(record.get("got") or ""), _clean(record.get("expected") or "")
    if differ:
        return (f"its output differs from the reference.\nExpected:\n{_indent(expected)}\n"
                f"Your notebook printed:\n{_indent(got)}")[-MAX_FEEDBACK:]
    if "Traceback:" in text:
        text = text[text.index("Traceback:") + len("Traceback:"):]
    return ("the cell raised an error:\n" + text.strip())[-MAX_FEEDBACK:]


def grade_notebook(gnb, submitted, make_sandbox, work, abort, limits):
    """
    Run one submitted notebook under nbval in the sandbox and score its check cells.

    Inputs:
    - gnb: The GradedNotebook.
    - submitted: The student's notebook (parsed JSON) or None when not submitted.
    - make_sandbox: Callable returning a Sandbox of this submission (with the data bound).
    - work: A private folder for this notebook's files.
    - abort: threading.Event set to stop now (the sandbox watches it).
    - limits: The submission's Limits (memory and processes; the CPU limit is gnb.cpu_limit).

    Returns:
    - (CheckResults, feedback lines)

    Raises:
    - GraderFailure when the kernel does not start or pytest fails for the grader's reasons.
    - Aborted.
    """
    def result(check, line, got=0.0):
        return CheckResult(gnb.test_name(check.name), got, check.points, check.visibility, [line],
                           f"the notebook {gnb.rel}")

    if submitted is None:
        return [result(c, f"not run: {gnb.rel} is not in your submission") for c in gnb.checks], []
    nb, lines = build_notebook(gnb, submitted)
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
    try:
        prefix, env_extra, cwd = sandbox.kernel_command(connection)
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
                   PYTHONDONTWRITEBYTECODE="1")
        env.update(env_extra or {})
        stopped, log = sandbox.supervise(cmd, cwd or str(work), env, gnb.cpu_limit, backstop)
    finally:
        sandbox.close()
        if mounted:
            subprocess.run(["umount", "-l", str(connection)], capture_output=True)
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
            scored.append(result(check, f"not run: {why}"))
        elif record["outcome"] == "passed":
            scored.append(result(check, "passed (output matches the reference)", check.points))
        elif record["outcome"] == "xfailed":
            scored.append(result(check, "not run: an earlier cell timed out"))
        else:
            scored.append(result(check, "FAILED: " + _failure_text(record, check.hidden)))
    if timed_out:
        lines.append(f"{gnb.rel}: {timed_out}; the cells after that point were not run")
    return scored, lines
