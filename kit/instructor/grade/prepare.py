"""What every submission of a grading run shares, made once before the first one.

- the student kit, released privately from the instructor source (its explicit
  manifest, whatever else lies in the tree), compiled, readable by the sandbox;
- the check notebooks, and their expected values: the same cells run once on
  the reference solution (trusted, no sandbox), kept in memory; and once more on
  the reference with relu_backward's other one-sided derivative at the kink
  (x >= 0 instead of x > 0): a value that matches either run passes, since any
  value between the one-sided derivatives is a subgradient there;
- a preflight: a sandbox started on the pristine release, which must start
  and must not reach the network (it fails closed);
- with --data, the notebooks with graded check cells, run once on the
  reference solution (kit.instructor.grade.nbgrade), then graded in the
  sandbox as a submission: the reference must earn every point.
"""
import compileall
import dataclasses
import os
import py_compile
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from kit.instructor.grade import nbgrade
from kit.instructor.grade.checkrun import CheckNotebook, run_checks
from kit.instructor.grade.compare import Expected, RequirementError, check_requirements
from kit.student.notebooks import as_check, checks_in, is_check
from kit.instructor.release.student_kit import release
from kit.instructor.sandbox.box import GraderFailure, Sandbox
from kit.instructor.sandbox.commands import KitView
from kit.instructor.sandbox.isolation import Isolation, IsolationUnavailable, Limits
from kit.student.files import SAVED_MODELS, allowed_files, student_files
from kit.student.regions import find_regions, region_keys

SOURCE = Path(__file__).resolve().parents[3]
CHECKS = Path(__file__).resolve().parent / "checks"
RETRIES = 2
LAYERS = "cs231n/layers.py"
# relu_backward's mask in the reference, and the other one-sided derivative at x == 0.
RELU_RULE = ("(x > 0)", "(x >= 0)")


class SetupError(Exception):
    """Grading cannot start (the reference fails its checks, no check notebooks, ...)."""


@dataclass
class Setup:
    """What every submission of a run shares (picklable, for Dask workers)."""
    release_dir: str
    work_root: str
    allowed: list
    notebooks: list          # [CheckNotebook]
    expected: dict           # notebook name -> {cell index: compare.Expected} of the reference runs
    limits: Limits
    isolation: Isolation
    released_nbs: dict       # rel -> released notebook (parsed JSON)
    instructor_nbs: dict     # rel -> instructor notebook (parsed JSON)
    retries: int = RETRIES
    sandboxed_dir: str = None
    graded_notebooks: list = field(default_factory=list)  # [nbgrade.GradedNotebook], with --data
    data_dir: str = None
    reference_files: dict = field(default_factory=dict)   # rel -> text of the instructor's student .py files

    @property
    def max_score(self):
        code = sum(check.points for nb in self.notebooks for check in nb.checks)
        return round(code + sum(gnb.max_score for gnb in self.graded_notebooks), 2)


def reference_run(source, notebooks, limits, work_root, what="the reference solution"):
    """Run the check notebooks on the instructor's code (trusted); returns {notebook: {index: CellOutcome}}."""
    scratch_limits = Limits(cell_timeout=max(limits.cell_timeout, 60), timeout=max(limits.timeout, 600),
                            wall_timeout=max(limits.wall_timeout, 600), memory_mb=limits.memory_mb,
                            pids=limits.pids, tmp_mb=limits.tmp_mb)
    try:
        run = run_checks(lambda: Sandbox(KitView(Path(source)), Isolation("none"), scratch_limits,
                                         scratch_root=work_root),
                         notebooks, scratch_limits)
    except GraderFailure as err:
        raise SetupError(f"the reference run could not start: {err}") from None
    for nb in notebooks:
        records = run.records.get(nb.name, {})
        for i, cell in nb.code_cells():
            record = records.get(i)
            check = as_check(i, cell) if is_check(cell) else None
            if record is None or record.status != "ok" or (check and not record.values):
                name = check.name if check else (cell["source"].strip().splitlines() or [""])[0][:60]
                detail = (record.error or record.status) if record else "not run"
                raise SetupError(f"{what} fails {nb.name}, cell {i} ({name}): {detail}")
    return run.records


def relu_variant(source, folder):
    """
    A copy of the reference's packages whose relu_backward lets the gradient through at x == 0.

    The reference run works on its source folder as it is, so the variant is a folder of its
    own: copies of cs231n/ and kit/ (what the check notebooks import), with relu_backward's mask
    x > 0 made x >= 0 in its region of cs231n/layers.py (neural_net and layer_utils import
    relu_backward by name: the module itself is changed).

    Returns:
    - The folder.

    Raises:
    - SetupError when relu_backward's region does not hold the reference's mask (x > 0) exactly once.
    """
    lines = (Path(source) / LAYERS).read_text(encoding="utf-8").splitlines(keepends=True)
    plain = [line.rstrip("\r\n") for line in lines]
    regions = find_regions(plain)
    spans = [span for span, key in zip(regions, region_keys(plain, regions)) if key[0] == "relu_backward"]
    if len(spans) != 1 or "".join(lines[spans[0][0]:spans[0][1]]).count(RELU_RULE[0]) != 1:
        raise SetupError(f"the reference's relu_backward in {LAYERS} must compute its mask as {RELU_RULE[0]} "
                         f"(once, in its region): the grader also accepts the other one-sided derivative, "
                         f"{RELU_RULE[1]}")
    start, end = spans[0]
    lines[start:end] = "".join(lines[start:end]).replace(*RELU_RULE).splitlines(keepends=True)
    folder = Path(folder)
    for package in ("cs231n", "kit"):
        shutil.copytree(Path(source) / package, folder / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "datasets"))
    (folder / LAYERS).write_text("".join(lines), encoding="utf-8")
    return folder


def expected_values(source, notebooks, limits, work_root):
    """
    The reference's values of every check cell, with the values of the accepted variants.

    Returns:
    - {notebook: {index: compare.Expected}}.

    Raises:
    - SetupError when a run fails, or when a check's "requires" names no value of its notebook.
    """
    records = reference_run(source, notebooks, limits, work_root)
    variant = reference_run(relu_variant(source, Path(work_root) / "relu-variant"), notebooks, limits, work_root,
                            what=f"the reference with relu_backward's mask {RELU_RULE[1]}")
    expected = {}
    for nb in notebooks:
        mine, theirs = records.get(nb.name, {}), variant.get(nb.name, {})
        expected[nb.name] = {
            check.index: Expected(mine[check.index].values,
                                  [theirs[check.index].values] if theirs[check.index].values != mine[check.index].values
                                  else [])
            for check in nb.checks}
        scored = {check.name: set(check.meta.get("values") or mine[check.index].values) for check in nb.checks}
        try:
            check_requirements(nb.checks, scored)
        except RequirementError as err:
            raise SetupError(f"{nb.name}: {err}") from None
    return expected


def seal_release(release_dir):
    """Compile the release's Python files (hash-checked .pyc) and make all of it readable by the sandbox's uid."""
    compileall.compile_dir(str(release_dir), quiet=1,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    for dirpath, _, filenames in os.walk(release_dir):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def confirm_reference(gnb, source, release_dir, isolation, limits, work_root, sandboxed_dir, data,
                      nb_timeout, log):
    """Grade the reference's notebook `gnb` in the sandbox as a submission (nbgrade.confirm_reference)."""
    folder = Path(work_root) / f"reference-{Path(gnb.rel).stem}"
    folder.mkdir()
    os.chmod(folder, 0o711)  # as a submission's folder: the sandbox's uid of rlimits/container enters it
    view = KitView(Path(release_dir), data={nbgrade.DATA_MOUNT: Path(data).resolve()})
    for rel in student_files(release_dir):
        if rel.endswith(".py"):
            view.overlays[rel] = source / rel
    for rel, content in gnb.models.items():
        (folder / "models" / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "models" / rel).write_bytes(content)
        (folder / "models" / rel).chmod(0o644)
        view.overlays[rel] = folder / "models" / rel

    def make_sandbox():
        return Sandbox(view, isolation, limits, scratch_root=work_root,
                       **({"sandboxed_dir": sandboxed_dir} if sandboxed_dir else {}))
    log(f"grading the reference's {Path(gnb.rel).name} in the sandbox ...")
    nbgrade.confirm_reference(gnb, make_sandbox, folder / "run", limits, nb_timeout, log)


def preflight(release_dir, isolation, limits, work_root, sandboxed_dir=None, log=print):
    """
    Start a sandbox on the pristine release before any submission, and see whether it reaches the network.

    Returns:
    - The Isolation, with `network` (and `socket_filter`) set to what the probe found.

    Raises:
    - IsolationUnavailable when the sandbox does not start, or when bubblewrap's reaches the network.
    """
    box = Sandbox(KitView(release_dir), isolation, limits, scratch_root=work_root,
                  **({"sandboxed_dir": sandboxed_dir} if sandboxed_dir else {}))
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        box.start()
        probe = box.run(f"import socket\ntry:\n    socket.socket().close()\n    filtered = 0\n"
                        f"except OSError:\n    filtered = 1\n"
                        f"try:\n    socket.create_connection(('127.0.0.1', "
                        f"{listener.getsockname()[1]}), timeout=3).close()\n    emit(reached=1, filtered=filtered)\n"
                        f"except OSError:\n    emit(reached=0, filtered=filtered)\n", cpu_limit=30, wall_limit=30)
    except GraderFailure as err:
        raise IsolationUnavailable(f"the sandbox does not start on this machine, so nothing was graded: "
                                   f"{err}") from None
    finally:
        listener.close()
        box.close()
    reached = (probe.values or {}).get("reached", {}).get("data") != [0.0]
    filtered = (probe.values or {}).get("filtered", {}).get("data") == [1.0]
    if reached and isolation.mode == "bwrap":
        raise IsolationUnavailable("the bubblewrap sandbox reached this machine's network in the preflight, "
                                   "so nothing was graded")
    if reached:
        log(f"WARNING: the network could not be cut in isolation {isolation.mode} (neither a network "
            f"namespace nor a seccomp filter could be had): student code can reach this machine's network")
    return dataclasses.replace(isolation, network=reached, socket_filter=filtered and not reached)


def prepare(source, checks_dir, work_root, limits, isolation, retries, sandboxed_dir=None, data=None,
            nb_timeout=None, log=print, references=None):
    """
    Release the kit privately, read the checks, run them on the reference, and start a sandbox.

    Inputs:
    - source, checks_dir: The instructor source root and its check notebooks.
    - work_root: The run's private folder (the release goes there).
    - limits, isolation, retries, sandboxed_dir: As for kit.instructor.grade.run.grade.
    - data, nb_timeout: A CIFAR-10 folder, to grade the notebooks too; their CPU limit.
    - references: A file of the notebooks' reference runs on `data` (nbgrade.save_references), made
      once beforehand (the Gradescope image does it when it is built); default: run them now.

    Returns:
    - A Setup.

    Raises:
    - SetupError, IsolationUnavailable: nothing can be graded (the message says why).
    """
    source = Path(source).resolve()
    if data:   # first: a wrong folder is named before minutes of setup
        try:
            nbgrade.verify_data(data)
        except nbgrade.DataError as err:
            raise SetupError(str(err)) from None
    release_dir = Path(work_root) / "release"
    release(source, release_dir)
    if data:
        (release_dir / nbgrade.DATA_MOUNT[len("/kit/"):]).mkdir(parents=True, exist_ok=True)
        for rel in SAVED_MODELS:  # where a submission's saved model is seen (empty when it has none)
            (release_dir / rel).touch()
    seal_release(release_dir)
    paths = sorted(Path(checks_dir).glob("*.ipynb"))
    if not paths:
        raise SetupError(f"no check notebooks in {checks_dir}")
    notebooks = [CheckNotebook.read(p) for p in paths]
    expected = expected_values(source, notebooks, limits, work_root)
    isolation = preflight(release_dir, isolation, limits, work_root, sandboxed_dir, log)
    graded_notebooks = []
    if data:
        try:
            if references is not None:   # reference runs made earlier on this data (nbgrade.save_references)
                graded_notebooks = nbgrade.load_references(references, nb_timeout)
                log(f"reference runs of {', '.join(Path(g.rel).name for g in graded_notebooks)}: made before "
                    f"(in {references})")
            else:
                graded_notebooks = nbgrade.prepare_notebooks(source, data, nb_timeout, log=log, scratch=work_root)
            for gnb in graded_notebooks:
                confirm_reference(gnb, source, release_dir, isolation, limits, work_root, sandboxed_dir,
                                  data, nb_timeout, log)
        except nbgrade.NotebookSetupError as err:
            raise SetupError(str(err)) from None
    elif checks_in(source / "notebooks"):
        log("notebook grading skipped: pass --data DIR (a CIFAR-10 folder) to grade the notebooks too; "
            "the code checks run")
    allowed = allowed_files(release_dir)
    nbs = [rel for rel in allowed if rel.endswith(".ipynb")]
    return Setup(
        release_dir=str(release_dir), work_root=str(work_root), allowed=allowed, notebooks=notebooks,
        expected=expected, limits=limits, isolation=isolation,
        released_nbs={rel: nbformat.read(release_dir / rel, as_version=4) for rel in nbs},
        instructor_nbs={rel: nbformat.read(source / rel, as_version=4) for rel in nbs
                        if (source / rel).is_file()},
        retries=retries, sandboxed_dir=str(sandboxed_dir) if sandboxed_dir else None,
        graded_notebooks=graded_notebooks, data_dir=str(Path(data).resolve()) if data else None,
        reference_files={rel: (source / rel).read_text(encoding="utf-8") for rel in student_files(release_dir)
                         if rel.endswith(".py")})
