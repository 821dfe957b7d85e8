"""Gather inline-question answers and their free-text explanations for manual grading.

Submitted notebooks are untrusted data: they are parsed as JSON, and answers
are read with `ast.literal_eval`, never executed.
"""
import ast
import json
from pathlib import Path

from kit.nbrelease import is_inline_question

MAX_TEXT = 4000
FIELDS = ["student", "notebook", "question", "prompt", "answer", "parsed_answer", "explanation",
          "reference_answer"]


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _answer_value(source):
    """The literal value assigned in an answer cell (`name = [1, 3]`), as text, or ""."""
    try:
        tree = ast.parse(source[:MAX_TEXT])
        for node in tree.body:
            if isinstance(node, ast.Assign):
                return repr(ast.literal_eval(node.value))
    except Exception:  # noqa: BLE001 - a syntax error or a non-literal is an answer to grade by hand
        return ""
    return ""


def questions(nb):
    """[(question number, cell id, prompt)] of the inline-question cells of a (trusted) notebook."""
    found, cells = [], nb.get("cells", [])
    for i, cell in enumerate(cells):
        if is_inline_question(cell):
            prompt = _source(cells[i - 1]) if i and cells[i - 1].get("cell_type") == "markdown" else ""
            found.append((len(found) + 1, cell.get("id"), prompt.strip()[:MAX_TEXT]))
    return found


def answers(student, rel, submitted_path, released_nb, instructor_nb=None):
    """Rows of manual_grading.csv for one submitted notebook."""
    try:
        nb = json.loads(Path(submitted_path).read_text(encoding="utf-8", errors="replace"))
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
    except (OSError, ValueError, RecursionError):
        cells = []
    cells = [c for c in cells if isinstance(c, dict)]
    tagged = [i for i, c in enumerate(cells) if is_inline_question(c)]
    by_id = {c.get("id"): i for i, c in enumerate(cells) if c.get("id")}
    ref_cells = [c for c in (instructor_nb or {}).get("cells", []) if is_inline_question(c)]
    rows = []
    for k, (number, cell_id, prompt) in enumerate(questions(released_nb)):
        i = by_id.get(cell_id) if cell_id in by_id else (tagged[k] if k < len(tagged) else None)
        answer = explanation = ""
        if i is not None:
            answer = _source(cells[i])[:MAX_TEXT]
            if i + 1 < len(cells) and cells[i + 1].get("cell_type") == "markdown":
                explanation = _source(cells[i + 1])[:MAX_TEXT]
        reference = _answer_value(_source(ref_cells[k])) if k < len(ref_cells) else ""
        rows.append({"student": student, "notebook": rel, "question": number,
                     "prompt": prompt.replace("\n", " ")[:500], "answer": answer.strip(),
                     "parsed_answer": _answer_value(answer), "explanation": explanation.strip(),
                     "reference_answer": reference})
    return rows
