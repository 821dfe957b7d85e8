"""Gather inline-question answers and their free-text explanations for manual grading.

Submitted notebooks are untrusted data: they are parsed as JSON (any shape is
tolerated, see kit.student.notebooks), and answers are read with
`ast.literal_eval`, never executed.
"""
import ast
import json
from pathlib import Path

from kit.student.notebooks import plain_cells
from kit.instructor.release.student_notebook import is_inline_question
from kit.instructor.pyparse import parse

MAX_TEXT = 4000
MAX_NOTEBOOK = 8 * 2**20
FIELDS = ["student", "notebook", "question", "prompt", "answer", "parsed_answer", "explanation",
          "reference_answer"]


def _answer_value(source):
    """The literal value assigned in an answer cell (`name = [1, 3]`), as text, or ""."""
    try:
        tree = parse(source[:MAX_TEXT])
        for node in tree.body:
            if isinstance(node, ast.Assign):
                return repr(ast.literal_eval(node.value))
    except Exception:  # noqa: BLE001 - a syntax error or a non-literal is an answer to grade by hand
        return ""
    return ""


def questions(cells):
    """[(question number, cell id, prompt)] of the inline-question cells of plain cells."""
    found = []
    for i, cell in enumerate(cells):
        if is_inline_question(cell):
            prompt = cells[i - 1]["source"] if i and cells[i - 1]["cell_type"] == "markdown" else ""
            found.append((len(found) + 1, cell["id"], prompt.strip()[:MAX_TEXT]))
    return found


def read_json(path):
    """A submitted notebook as parsed JSON, or None when it cannot be read (too large, not JSON)."""
    try:
        data = Path(path).read_bytes()[:MAX_NOTEBOOK + 1]
        if len(data) > MAX_NOTEBOOK:
            return None
        return json.loads(data.decode("utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError):
        return None


def notebook_problem(rel, path):
    """
    What is wrong with a submitted notebook file, in the student's terms, or None when it reads.

    A notebook that is not JSON, has no list of cells, or has cells that are not
    well-formed cell objects is damaged: its answers (and, with --data, its checks)
    cannot be read.
    """
    nb = read_json(path)
    fix = "open it in Jupyter, save it, and run `python -m kit collect` again"
    if nb is None:
        return f"{rel} cannot be read as a notebook (it is not valid JSON, or larger than 8 MiB): {fix}."
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return f"{rel} is not a Jupyter notebook (it has no list of cells): {fix}."
    bad = sum(1 for c in cells if not (isinstance(c, dict) and isinstance(c.get("cell_type"), str)
                                       and isinstance(c.get("source"), (str, list))
                                       and isinstance(c.get("metadata", {}), dict)))
    if bad:
        return f"{rel} is damaged: {bad} of its {len(cells)} cells are not well-formed cells: {fix}."
    return None


def read_cells(path):
    """The plain cells of a submitted notebook; [] when it cannot be read."""
    return plain_cells(read_json(path))


def answers(student, rel, submitted_path, released_nb, instructor_nb=None):
    """Rows of manual_grading.csv for one submitted notebook (notebooks as parsed JSON)."""
    cells = read_cells(submitted_path)
    tagged = [i for i, c in enumerate(cells) if is_inline_question(c)]
    by_id = {c["id"]: i for i, c in enumerate(cells) if c["id"]}
    ref_cells = [c for c in plain_cells(instructor_nb or {}) if is_inline_question(c)]
    rows = []
    for k, (number, cell_id, prompt) in enumerate(questions(plain_cells(released_nb))):
        i = by_id.get(cell_id) if cell_id in by_id else (tagged[k] if k < len(tagged) else None)
        answer = explanation = ""
        if i is not None:
            answer = cells[i]["source"][:MAX_TEXT]
            if i + 1 < len(cells) and cells[i + 1]["cell_type"] == "markdown":
                explanation = cells[i + 1]["source"][:MAX_TEXT]
        reference = _answer_value(ref_cells[k]["source"]) if k < len(ref_cells) else ""
        rows.append({"student": student, "notebook": rel, "question": number,
                     "prompt": prompt.replace("\n", " ")[:500], "answer": answer.strip(),
                     "parsed_answer": _answer_value(answer), "explanation": explanation.strip(),
                     "reference_answer": reference})
    return rows
