"""`python -m kit collect`: check your work and write submission.zip (run from the kit root).

Checks, in order:
1. every notebook in notebooks/ was executed: each code cell has an execution
   count and no error output;
2. each module holding your code imports (in a fresh Python process);
then writes submission.zip with exactly the files you may change (the `.py`
files holding your code regions, and the notebooks), paths relative to the
kit root.
"""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from kit.files import student_files, student_modules


def notebook_problems(path, root):
    """The reasons why the notebook at `path` does not look executed (empty if it does)."""
    rel = path.relative_to(root).as_posix()
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [f"{rel}: cannot read the notebook ({err})"]
    problems, number = [], 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = "".join(cell.get("source", ""))
        if not source.strip():
            continue
        first = source.strip().splitlines()[0][:60]
        if cell.get("execution_count") is None:
            problems.append(f"{rel}: code cell {number} ({first!r}) was not executed")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{rel}: code cell {number} ({first!r}) ended with "
                                f"{out.get('ename')}: {out.get('evalue')}")
    return problems


def import_problems(root, timeout=120):
    """The student modules that fail to import, each with the end of its traceback."""
    problems = []
    for mod in student_modules(root):
        proc = subprocess.run([sys.executable, "-c", f"import {mod}"], cwd=root,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = "\n    ".join(proc.stderr.strip().splitlines()[-3:])
            problems.append(f"{mod} does not import:\n    {tail}")
    return problems


def write_zip(root, output):
    files = student_files(root)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(Path(root) / rel, rel)
    return files


def collect(root=".", output="submission.zip"):
    """
    Check the kit at `root` and write the submission zip.

    Returns:
    - (ok, messages): ok is False when a check failed (no zip is written then).
    """
    root = Path(root).resolve()
    if not (root / "notebooks").is_dir() or not (root / "cs231n").is_dir():
        return False, [f"{root} is not the kit's root (no notebooks/ or cs231n/); run from the kit's root"]
    problems = []
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        problems += notebook_problems(nb, root)
    problems += import_problems(root)
    if problems:
        return False, problems + ["Fix these, run all the cells of each notebook, save it, and collect again."]
    output = Path(output)
    if not output.is_absolute():
        output = root / output
    files = write_zip(root, output)
    return True, [f"wrote {output} with {len(files)} files:"] + [f"  {f}" for f in files]


def main(args):
    ok, messages = collect(args.root, args.output)
    print("\n".join(messages), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
