"""`python -m kit check` (`make test` in the student kit): your current code against the reference.

What runs is what the grader runs, not the notebook file as you saved it:
1. for each notebook of the kit, a copy made of the reference notebook that
   shipped with the kit (kit/student/reference/, with the reference
   solution's outputs) in which only your solution cells (the TODO cells:
   tuning, inline answers) are yours, taken from your saved notebook;
2. nbval runs each copy on your current code in cs231n/ and compares every
   check cell's outputs with the reference's; cells tagged
   "skip-when-grading" (the tuning) are not run: the best_net check loads the
   net your tuning saved (notebooks/best_net.npz) and confirms it by
   re-running the end of its training with your current code;
3. the checks of kit/student/more_checks.py run too: the same functions with
   other seeds and sizes (like the grader's hidden checks, not the same
   ones), that train() steps every parameter and samples its minibatches at
   random.
Each failure is named by the check's title (as `collect` and the grader name
it) with what went wrong. The copies (notebooks/.check-*.ipynb) are removed
afterwards.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kit.student.check_plugin import ACTIVE, COPY_PREFIX, REPORT
from kit.student.restore import restore

REFERENCE_DIR = "kit/student/reference"
MORE_CHECKS = "kit/student/more_checks.py"
SANITIZE = "notebooks/sanitize.cfg"
MAIN_NOTEBOOK = "two_layer_net.ipynb"


class CheckError(ValueError):
    """The self-check cannot run (not a kit root, no reference notebooks)."""


def reference_notebooks(root):
    """The reference notebooks that shipped with the kit at `root`, by name."""
    # The main notebook first, then the others in the README's order (alphabetical).
    found = sorted((Path(root) / REFERENCE_DIR).glob("*.ipynb"), key=lambda p: (p.name != MAIN_NOTEBOOK, p.name))
    if not found:
        raise CheckError(f"{Path(root) / REFERENCE_DIR} holds no reference notebooks: run the check from the "
                         f"root of the student kit (the folder with notebooks/ and cs231n/)")
    return found


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_copies(root, names=()):
    """
    Write the notebooks that run: notebooks/.check-NAME.ipynb for each reference notebook.

    Inputs:
    - root: The kit root.
    - names: Only these notebooks ("two_layer_net" or "two_layer_net.ipynb"); default all.

    Returns:
    - ([copy paths], [notes for the student]).
    """
    root = Path(root)
    wanted = {n if n.endswith(".ipynb") else f"{n}.ipynb" for n in names}
    copies, notes = [], []
    for ref in reference_notebooks(root):
        if wanted and ref.name not in wanted:
            continue
        mine = root / "notebooks" / ref.name
        submitted = _read_json(mine)
        if submitted is None:
            notes.append(f"notebooks/{ref.name} is missing or not a notebook: its solution cells run empty")
        nb, restored, missing = restore(_read_json(ref), submitted)
        if restored:
            notes.append(f"notebooks/{ref.name}: {len(restored)} cell(s) you changed outside your solution cells "
                         f"run as the original (as the grader runs them): "
                         + ", ".join(f"'{t}'" for t in restored[:6]) + (" ..." if len(restored) > 6 else ""))
        if missing and submitted is not None:
            notes.append(f"notebooks/{ref.name}: {missing} of your solution cell(s) were not found (deleted?)")
        copy = root / "notebooks" / f"{COPY_PREFIX}{ref.name}"
        copy.write_text(json.dumps(nb, indent=1), encoding="utf-8")
        copies.append(copy)
    if wanted and not copies:
        raise CheckError(f"no notebook named {', '.join(sorted(wanted))} in {root / REFERENCE_DIR}")
    return copies, notes


def remove_copies(root):
    for path in (Path(root) / "notebooks").glob(f"{COPY_PREFIX}*.ipynb"):
        path.unlink(missing_ok=True)


def pytest_command(root, copies):
    args = [sys.executable, "-m", "pytest", "--rootdir", str(root), "-o", "addopts=", "-p", "no:cacheprovider",
            "-p", "kit.student.check_plugin", "-q", "--no-header", "--tb=no", "-rN",
            "--nbval", "--nbval-current-env", "--nbval-cell-timeout", "3600"]
    if (Path(root) / SANITIZE).is_file():
        args += ["--nbval-sanitize-with", SANITIZE]
    return args + [str(p.relative_to(root)) for p in copies] + [MORE_CHECKS]


def run_check(root=".", names=(), out=None):
    """
    Run the self-check of the kit at `root`, printing as it goes.

    Inputs:
    - names: Only these notebooks (default all); the more checks always run.
    - out: Where to print (default sys.stdout).

    Returns:
    - (exit status: 0 when every check passes, [result dicts of the plugin:
      notebook, check, status, message]).
    """
    root = Path(root).resolve()
    out = out or sys.stdout
    if not (root / "notebooks").is_dir() or not (root / "cs231n").is_dir():
        raise CheckError(f"{root} is not the kit's root (no notebooks/ or cs231n/); run from the kit's root")
    remove_copies(root)
    try:
        copies, notes = write_copies(root, names)
        print("Checking your current code (cs231n/) and the solution cells of your saved notebooks against "
              "the reference outputs that came with the kit (not the outputs saved in your notebooks) ...",
              file=out, flush=True)
        for note in notes:
            print(f"note: {note}", file=out, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            env = dict(os.environ, **{ACTIVE: "1", REPORT: str(report)})
            env.setdefault("MPLBACKEND", "agg")
            # Each verdict is passed on as soon as pytest prints it: a long tuning cell shows where it is.
            with subprocess.Popen(pytest_command(root, copies), cwd=root, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
                for line in proc.stdout:
                    print(line, end="", file=out, flush=True)
            results = _read_json(report) or []
        return proc.returncode, results
    finally:
        remove_copies(root)


def main(args):
    try:
        status, _ = run_check(args.root, args.notebooks)
    except CheckError as err:
        print(err, file=sys.stderr)
        return 2
    return status
