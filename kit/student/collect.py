"""`python -m kit collect`: check your work and write submission.zip (run from the kit root).

Checks, in order:
1. every notebook in notebooks/ was executed: each code cell has an execution
   count and no error output;
2. each file holding your code parses (a syntax error is named with its file
   and line) and imports, in a fresh Python process;
3. the self-check (`python -m kit check`, kit.student.check) passes: your
   notebooks run again on your current code, against the reference outputs,
   so that code changed after the notebook was saved is checked too
   (`--no-check` skips it);
then writes submission.zip with exactly the files you may change (the `.py`
files holding your code regions, the notebooks, the saved best_net), paths
relative to the kit root. With `--partial` it writes the zip even when a
check fails or a cell was not run (work that is not finished), and says what
the grader will find. It also warns (without refusing) when you changed files
or lines that are not graded (the grader takes only the code between the
START / END lines of each region, and the original of every other file), when
the tuned net is missing, and when an inline question is not answered yet.
"""
import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from kit.student.check import REFERENCE_DIR, CheckError, run_check
from kit.student.files import SAVED_MODELS, changed_files, student_files, student_modules
from kit.student.notebooks import ANSWER_STUB, EXPLANATION_PLACEHOLDER, check_title, plain_cells

NOTEBOOK_FOR_MODEL = {"notebooks/best_net.npz": "notebooks/two_layer_net.ipynb"}


def notebook_problems(path, root):
    """The reasons why the notebook at `path` does not look executed (empty if it does)."""
    rel = path.relative_to(root).as_posix()
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb.get("cells", [])
    except (OSError, ValueError, AttributeError) as err:
        return [f"{rel}: cannot read the notebook ({err})"]
    problems, number = [], 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        first = source.strip().splitlines()[0][:60]
        if cell.get("execution_count") is None:
            problems.append(f"{rel}: code cell {number} ({first!r}) was not executed")
        for out in cell.get("outputs") or []:
            if isinstance(out, dict) and out.get("output_type") == "error":
                problems.append(f"{rel}: code cell {number} ({first!r}) ended with "
                                f"{out.get('ename')}: {out.get('evalue')}")
    return problems


def syntax_problems(root):
    """A line per student `.py` file that does not parse: file, line and what is wrong."""
    problems = []
    for rel in student_files(root):
        if not rel.endswith(".py"):
            continue
        try:
            ast.parse((Path(root) / rel).read_text(encoding="utf-8"), filename=rel)
        except SyntaxError as err:
            where = f"{rel}, line {err.lineno}" if err.lineno else rel
            text = f"\n    {err.text.rstrip()}" if err.text and err.text.strip() else ""
            problems.append(f"{where}: SyntaxError: {err.msg}{text}")
        except (UnicodeDecodeError, ValueError) as err:
            problems.append(f"{rel}: cannot be read as Python source ({err})")
        except (MemoryError, RecursionError):
            problems.append(f"{rel}: the code is nested too deeply for Python to compile")
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


def change_warnings(root):
    """Warnings about changes the grader will not see."""
    changed, scaffold = changed_files(root)
    warnings = [f"warning: you changed {rel}, which is not part of your submission: "
                f"the grader uses the original file" for rel in changed]
    warnings += [f"warning: you changed lines of {rel} outside the START / END OF YOUR CODE "
                 f"regions: the grader takes only the code inside the regions" for rel in scaffold]
    return warnings


def missing_models(root):
    """A warning for each saved model (SAVED_MODELS) the kit does not have yet."""
    return [f"warning: {rel} is missing: run the tuning cells of {NOTEBOOK_FOR_MODEL.get(rel, 'the notebook')} "
            f"(they save it); without it the grader cannot check your tuned net, and its check gets 0"
            for rel in SAVED_MODELS if not (Path(root) / rel).is_file()]


def unanswered_questions(root):
    """
    A warning for each inline question of the notebooks still as the kit gave it.

    The questions are found in the reference copies of the notebooks (kit/student/reference/):
    answer cells holding ANSWER_STUB, explanation cells holding EXPLANATION_PLACEHOLDER; the
    student's cell of the same id (else the same position) is unanswered while it still holds them.
    """
    root = Path(root)
    found = []
    for ref in sorted((root / REFERENCE_DIR).glob("*.ipynb")):
        try:
            ref_cells = plain_cells(json.loads(ref.read_text(encoding="utf-8")))
            mine = plain_cells(json.loads((root / "notebooks" / ref.name).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        by_id = {c["id"]: c for c in mine if c["id"]}
        for i, cell in enumerate(ref_cells):
            stub = ANSWER_STUB in cell["source"] or EXPLANATION_PLACEHOLDER in cell["source"]
            if not stub:
                continue
            own = by_id.get(cell["id"]) or (mine[i] if i < len(mine) else None)
            if own is None or ANSWER_STUB in own["source"] or EXPLANATION_PLACEHOLDER in own["source"]:
                what = "explanation" if cell["cell_type"] == "markdown" else f"answer ({check_title(cell['source'])})"
                found.append(f"warning: notebooks/{ref.name}: an inline question's {what} is not written yet "
                             f"(it still reads {EXPLANATION_PLACEHOLDER if cell['cell_type'] == 'markdown' else 'None'})"
                             f"; inline questions are graded by hand")
    return found


def self_check_problems(root):
    """The checks `python -m kit check` fails on the current code, one line each (it prints as it runs)."""
    print("Running the self-check (python -m kit check) on your current code; this takes a minute ...",
          flush=True)
    try:
        status, results = run_check(root)
    except CheckError as err:
        return [str(err)]
    failed = [r for r in results if r["status"] == "failed"]
    if status != 0 and not failed:
        return ["the self-check did not finish; run `python -m kit check` to see why"]
    return [f"{r['notebook']}: '{r['check']}' fails: {r['message'].splitlines()[0][:300]}" for r in failed]


IDENTITY = "students.json"   # who handed the zip in (`collect --id`), read by the instructor's roster


def write_zip(root, output, student_id=None):
    files = student_files(root)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(Path(root) / rel, rel)
        if student_id:
            zf.writestr(IDENTITY, json.dumps({"id": student_id}) + "\n")
    return files


def collect(root=".", output="submission.zip", check=True, partial=False, student_id=None):
    """
    Check the kit at `root` and write the submission zip.

    Inputs:
    - check: Also run the self-check (kit.student.check) and refuse when a check fails.
    - partial: Write the zip even when something fails (listed as warnings).
    - student_id: Your id in the course's roster, written into the zip (students.json) so that the
      grade reaches you whatever the zip is called.

    Returns:
    - (ok, messages): ok is False when a check failed (no zip is written then).
    """
    root = Path(root).resolve()
    if not (root / "notebooks").is_dir() or not (root / "cs231n").is_dir():
        return False, [f"{root} is not the kit's root (no notebooks/ or cs231n/); run from the kit's root"]
    problems = []
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        if not nb.name.startswith("."):
            problems += notebook_problems(nb, root)
    syntax = syntax_problems(root)
    problems += syntax or import_problems(root)
    if check and not syntax:
        problems += self_check_problems(root)
    warnings = change_warnings(root) + missing_models(root) + unanswered_questions(root)
    if problems and not partial:
        return False, problems + warnings + [
            "Fix these, run all the cells of each notebook, save it, and collect again; or, to hand in "
            "unfinished work as it is, `python -m kit collect --partial`."]
    if problems:
        warnings = [f"not finished: {p}" for p in problems] + warnings
    output = Path(output)
    if not output.is_absolute():
        output = root / output
    files = write_zip(root, output, student_id)
    return True, warnings + [f"wrote {output} with {len(files)} files" + (
        " (partial work: the grader gives points for what passes)" if problems else "") + ":"] + [
        f"  {f}" for f in files]


def main(args):
    ok, messages = collect(args.root, args.output, check=not args.no_check, partial=args.partial,
                           student_id=(args.id or "").strip() or None)
    print("\n".join(messages), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
