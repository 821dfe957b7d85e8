r"""The student version of a notebook, and what its instructor version keeps secret.

Cell conventions (metadata tags):
- "solution": reference solution code; the lines between the course markers
  (or, without markers, the whole cell but its leading comments) are the secret.
- "hidden": instructor-only cells, removed from the student version.
- "inline-question": a cell holding a machine-readable answer (`name = value`);
  the markdown cell right after it holds the free-text explanation. A code cell
  tagged "solution" that only assigns literals counts as one too.
- markdown cells tagged "solution" (or right after an inline question) hold
  free-text answers: only their labels (`**Your explanation:**`,
  `$\color{blue}{\textit Your Answer:}$`) stay, each with a placeholder.
Check cells start with `# Check:`; their reference outputs stay, so that
students self-check with `pytest --nbval`.
"""
import ast
import copy
import re
import warnings

from nbval.plugin import find_comment_markers, find_metadata_tags

from kit.student.notebooks import (ANSWER_STUB, EXPLANATION_PLACEHOLDER, cell_metadata, cell_source, cell_tags,
                                   is_hidden_cell)
from kit.instructor.pyparse import parse
from kit.student.regions import find_regions, has_regions, stub_regions

ANSWER_LABEL = re.compile(r"^\s*(\*\*[^*\n]+\*\*|\$\\color\{[^}]*\}\{\\textit [^}]*\}\$)")


def tags(cell):
    return cell_tags(cell)


def nbval_compares(cell):
    """
    True where `pytest --nbval` compares the cell's outputs with the stored ones.

    nbval's own reader of its markers (`# NBVAL_...` comment lines and "nbval-..."
    tags) decides; cells that it skips or that must raise keep no outputs either.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # nbval warns about conflicting markers; the last one wins
        options = dict(find_metadata_tags(cell_metadata(cell)))
        options.update(find_comment_markers(cell_source(cell)))
    return options.get("check", True) and not options.get("skip") and not options.get("check_exception")


def _leading_comments(lines):
    head = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            break
        head.append(line)
    return head


def stub_solution_source(source):
    """The student version of a solution cell's source."""
    if has_regions(source):
        return stub_regions(source)
    lines = source.splitlines()
    head = _leading_comments(lines)
    body = []
    try:
        tree = parse(source)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in tree.body:
            if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                body.append(" = ".join(t.id for t in node.targets) + ANSWER_STUB)
    if not body:
        body = ["# TODO: write your code here.", "pass"]
    return "\n".join(head + body)


def stub_explanation(source):
    """Keep the labels of a free-text answer cell (e.g. `**Your explanation:**`), drop the answer."""
    labels = [m.group(1) for m in map(ANSWER_LABEL.match, source.splitlines()) if m]
    return "\n\n".join(f"{label} {EXPLANATION_PLACEHOLDER}" for label in labels) or EXPLANATION_PLACEHOLDER


def is_inline_question(cell):
    """A cell holding a machine-readable answer: tagged, or a solution cell that only assigns literals."""
    if cell.get("cell_type") != "code":
        return False
    if "inline-question" in tags(cell):
        return True
    if "solution" not in tags(cell):
        return False
    try:
        body = parse(cell_source(cell)).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return bool(body) and all(isinstance(n, ast.Assign) and _is_literal(n.value) for n in body)


def _is_literal(node):
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False


def is_free_text_answer(cells, i):
    """Markdown cell i holds a free-text answer: tagged solution, or right after an inline question."""
    cell = cells[i]
    return cell.get("cell_type") == "markdown" and (
        "solution" in tags(cell) or (i > 0 and is_inline_question(cells[i - 1])))


def explanation_indices(cells):
    """Indices of the markdown cells that hold free-text answers."""
    return [i for i in range(len(cells)) if is_free_text_answer(cells, i)]


def release_notebook(nb):
    """
    The student version of notebook `nb` (an nbformat v4 NotebookNode); `nb` is not changed.

    Hidden cells are removed; solution cells are stubbed and their outputs
    cleared; explanation cells after inline questions keep only their label;
    outputs are kept only where nbval compares them (check cells and other
    compared cells that are not solutions). Execution counts are renumbered
    1, 2, ... over the code cells, and kept only on cells with outputs: nbval
    refuses a cell that has outputs but no execution count ("unrun reference
    cell"), and cells without outputs are not compared.
    """
    nb = copy.deepcopy(nb)
    explanations = set(explanation_indices(nb.cells))
    cells = []
    count = 0
    for i, cell in enumerate(nb.cells):
        if is_hidden_cell(cell):
            continue
        if i in explanations:
            cell.source = stub_explanation(cell.source)
        if cell.cell_type == "code":
            count += 1
            cell.metadata.pop("execution", None)
            if "solution" in tags(cell):
                cell.source = stub_solution_source(cell.source)
                cell.outputs = []
            elif not nbval_compares(cell):
                cell.outputs = []
            cell.execution_count = count if cell.outputs else None
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = cell.execution_count
        cells.append(cell)
    nb.cells = cells
    return nb


def split_lines(nb):
    """
    Split the cell sources of an instructor notebook into (secret, public) lines.

    Secret: region lines of code cells, the non-comment body of solution cells
    without markers, and the explanation cells after inline questions. Public:
    every other line (hidden cells count as neither: they are removed whole).
    """
    secret, public = [], []
    explanations = set(explanation_indices(nb.cells))
    for i, cell in enumerate(nb.cells):
        if is_hidden_cell(cell):
            continue
        lines = cell.get("source", "").splitlines()
        if i in explanations:
            hidden = set(range(len(lines)))
        elif cell.get("cell_type") == "code" and has_regions(cell.source):
            hidden = {j for s, e in find_regions(lines) for j in range(s + 1, e)}
        elif cell.get("cell_type") == "code" and "solution" in tags(cell):
            hidden = set(range(len(_leading_comments(lines)), len(lines)))
        else:
            hidden = set()
        for j, line in enumerate(lines):
            (secret if j in hidden else public).append(line)
    return secret, public
