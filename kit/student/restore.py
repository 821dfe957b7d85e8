"""The notebook that is checked: the reference's cells, with only the student's solution cells.

Both the grader and the student's self-check (`python -m kit check`) run this
notebook, not the file the student saved: every cell but the solution cells
(tagged "solution") comes from the reference notebook, check cells with their
reference outputs included, so that neither an edited check nor outputs the
student saved decide anything. The student's solution cells are matched by
cell id, or else by their order.

Cells tagged SKIP_TAG ("skip-when-grading") are not run when a notebook is
checked: their metadata "grading_source" runs instead. The tuning cell of
two_layer_net.ipynb is one: its result is the file the student's own run
saved (best_net.npz), which the best_net check loads and confirms.
"""
import json

from kit.student.notebooks import check_title, is_code, is_solution, plain_cells

SKIP_TAG = "skip-when-grading"


def solution_ids(cells):
    """[(cell index, cell id)] of the solution code cells of a reference notebook's (plain) cells."""
    return [(i, cell["id"]) for i, cell in enumerate(cells) if is_code(cell) and is_solution(cell)]


def apply_grading_sources(nb):
    """
    Give the cells tagged SKIP_TAG their grading source (metadata "grading_source"), in place.

    Inputs:
    - nb: A notebook as a JSON dict (the reference's).

    Returns:
    - The indices of those cells.
    """
    skipped = set()
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata") or {}
        if cell.get("cell_type") == "code" and SKIP_TAG in (meta.get("tags") or []):
            cell["source"] = meta.get("grading_source") or "# (not run when the notebook is checked)\n"
            cell["outputs"], cell["execution_count"] = [], None
            if "NBVAL_IGNORE_OUTPUT" not in cell["source"]:   # nbval warns when both say it
                meta["tags"] = list(meta["tags"]) + ["nbval-ignore-output"]
            skipped.add(i)
    return skipped


def restore(reference, submitted, ids=None):
    """
    The notebook to check: `reference` with the student's solution cells from `submitted`.

    Inputs:
    - reference: The reference notebook as a JSON dict (not changed).
    - submitted: The student's notebook as parsed JSON (anything: it is untrusted), or None.
    - ids: solution_ids of the reference (default: computed from it).

    Returns a tuple of:
    - nb: The notebook as a JSON dict; solution cells have no outputs.
    - restored: Titles of the other code cells the student had changed (now the reference's).
    - missing: How many of the reference's solution cells the student's notebook lacks
      (they run empty).
    """
    cells = plain_cells(submitted)
    by_id = {c["id"]: c for c in cells if c["id"]}
    student_solutions = [c for c in cells if is_code(c) and is_solution(c)]
    nb = json.loads(json.dumps(reference))
    ids = solution_ids(plain_cells(reference)) if ids is None else ids
    solution_index = {i for i, _ in ids}
    skipped = apply_grading_sources(nb)
    restored, missing = [], 0
    for k, (i, cell_id) in enumerate(ids):
        mine = by_id.get(cell_id) if cell_id in by_id else (
            student_solutions[k] if k < len(student_solutions) else None)
        cell = nb["cells"][i]
        if i in skipped:
            continue
        if mine is None:
            missing += 1
            cell["source"] = ""
        else:
            cell["source"] = mine["source"]
        cell["outputs"], cell["execution_count"] = [], None
    for i, cell in enumerate(nb["cells"]):
        if i in solution_index or i in skipped or cell.get("cell_type") != "code":
            continue
        mine = by_id.get(cell.get("id"))
        reference_source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if mine is not None and mine["source"].strip() != reference_source.strip():
            restored.append(check_title(reference_source) or f"cell {i}")
    return nb, restored, missing
