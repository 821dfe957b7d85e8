"""The one reader of notebook cells and of their grading metadata, for every stage of the kit.

Cells (submitted notebooks are untrusted JSON): a student's notebook may hold
anything that parses as JSON (`"metadata": null`, a source that is a number,
cells that are not objects). `plain_cells` turns whatever is there into plain
cells, so that no field of a submission can crash the grader; the other
readers here take plain cells (or nbformat cells, which have the same keys).

Tags a cell may carry (metadata "tags"):
- "solution": the reference solution (a student's own work in the release);
- "setup": a check notebook's imports and helpers, run before its checks;
- "hidden": instructor-only, removed from the student version;
- "inline-question": an answer to grade by hand (see kit.instructor.release.student_notebook).

Check cells: a code cell whose metadata has "points" (and that is not a
solution cell) is a check, a test of its own in the results. Its first line is
`# Check: <title>`. Metadata:
- "points": what the check is worth;
- "check": its name (default: the title of its first line);
- "visibility": Gradescope's "visible" (default), "hidden", "after_due_date"
  or "after_published". "hidden" and "after_published" checks (HIDDEN) never
  show expected values and run after the visible ones; the others are shown
  as visible checks are (after_due_date: once the due date has passed);
- "exercises": what the check exercises, for the feedback
  (e.g. "TwoLayerNet.loss in cs231n/classifiers/neural_net.py");
- "cpu_limit": the CPU seconds the check may use, when it must be less than
  the per-cell limit (a check that only an analytic gradient passes in time);
- the scoring rules of code checks ("values", "measure", "expect", "rtol",
  "atol", "atol_of_max", "requires", "gate"), read by kit.instructor.grade.compare.
"""
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_SOURCE = 1_000_000
# What the student version of an inline question holds until it is answered
# (kit.instructor.release.student_notebook writes them; collect looks for them).
EXPLANATION_PLACEHOLDER = "*Fill this in.*"
ANSWER_STUB = " = None  # TODO: your answer"
CHECK_PREFIX = "# Check:"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")   # Gradescope's values
HIDDEN = ("hidden", "after_published")


# ---------------------------------------------------------------------------- cells

def cell_tags(cell):
    """The set of string tags of a cell (empty when metadata or tags are missing or malformed)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return {t for t in tags if isinstance(t, str)} if isinstance(tags, list) else set()


def cell_source(cell):
    """The source of a cell as one string (joined when stored as a list of lines)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source[:MAX_SOURCE] if isinstance(source, str) else ""


def cell_metadata(cell):
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    return meta if isinstance(meta, dict) else {}


def plain_cells(nb):
    """
    The cells of a notebook (parsed JSON of any shape) as plain dicts.

    Returns:
    - A list of {"cell_type", "source", "metadata", "tags", "id"}; entries that
      are not objects are dropped, malformed fields become empty ones.
    """
    cells = nb.get("cells") if isinstance(nb, dict) else None
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        cid = cell.get("id")
        out.append({"cell_type": kind if isinstance(kind, str) else "", "source": cell_source(cell),
                    "metadata": cell_metadata(cell), "tags": cell_tags(cell),
                    "id": cid if isinstance(cid, str) else None})
    return out


def is_code(cell):
    return cell.get("cell_type") == "code"


def is_solution(cell):
    return "solution" in cell_tags(cell)


def is_setup(cell):
    return is_code(cell) and "setup" in cell_tags(cell)


def is_hidden_cell(cell):
    """An instructor-only cell, removed from the student version."""
    return "hidden" in cell_tags(cell)


def output_text(outputs):
    """
    What a cell's outputs show as text: streams, the text/plain of results, and an
    "ename: evalue" line per error (nbformat output dicts; anything else is skipped).
    """
    parts = []
    for out in outputs or []:
        kind = out.get("output_type") if isinstance(out, dict) else None
        if kind == "stream":
            parts.append(str(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            parts.append(str((out.get("data") or {}).get("text/plain", "")) + "\n")
        elif kind == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}\n")
    return "".join(parts)


# ---------------------------------------------------------------------------- checks

def check_title(source):
    """The title of a `# Check: <title>` cell (its first line, when it is not one)."""
    first = source.strip().splitlines()[0] if source.strip() else ""
    return first[len(CHECK_PREFIX):].strip() if first.startswith(CHECK_PREFIX) else first[:60]


def cell_label(source, number):
    """
    How the student's tools name a code cell: the title of a `# Check:` cell, or
    "code cell N ('its first line of code')" (N counts the notebook's code cells from 1,
    as `collect` does).
    """
    if source.strip().startswith(CHECK_PREFIX):
        return check_title(source)
    first = next((ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
    return f"code cell {number} ({first[:50]!r})"


def is_hidden(visibility):
    """Whether a check of this visibility keeps its expected values from students."""
    return visibility in HIDDEN


@dataclass(frozen=True)
class Check:
    """One check cell of a notebook, as its metadata describes it (see the module docstring)."""
    index: int                 # the cell's index in its notebook
    name: str
    points: float
    visibility: str
    exercises: str
    source: str
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def hidden(self):
        return is_hidden(self.visibility)

    @property
    def cpu_limit(self):
        """The CPU seconds of its metadata "cpu_limit" (a budget below the per-cell limit); else no bound (inf)."""
        limit = self.meta.get("cpu_limit")
        return float(limit) if isinstance(limit, (int, float)) and limit > 0 else float("inf")


def is_check(cell):
    return is_code(cell) and "points" in cell_metadata(cell) and not is_solution(cell)


def as_check(index, cell):
    """The Check of a check cell (see is_check)."""
    meta, source = cell_metadata(cell), cell_source(cell)
    return Check(index, str(meta.get("check") or check_title(source)), float(meta["points"]),
                 meta.get("visibility", "visible"), str(meta.get("exercises", "")), source, meta)


def checks(cells):
    """[Check] of the check cells among `cells`, in notebook order."""
    return [as_check(i, c) for i, c in enumerate(cells) if is_check(c)]


def checks_in(folder):
    """
    The notebooks of a folder that have check cells (trusted: the instructor's own).

    Returns:
    - [(path, plain cells, [Check])], by file name; notebooks without checks are left out.
    """
    found = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        cells = plain_cells(nbformat.read(path, as_version=4))
        if checks(cells):
            found.append((path, cells, checks(cells)))
    return found


def run_order(found):
    """The checks in the order they run: the visible ones first, then the hidden ones, each in order."""
    return [c for c in found if not c.hidden] + [c for c in found if c.hidden]
