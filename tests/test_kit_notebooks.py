"""kit.student.notebooks: the one reader of cells and check metadata, and its visibility rules in every stage."""
import json

import nbformat
import numpy as np
import pytest

from kit.instructor.grade.checkrun import CheckNotebook
from kit.instructor.grade.compare import compare_value
from kit.instructor.gradescope.bundle import check_visibilities
from kit.student.notebooks import HIDDEN, VISIBILITIES, Check, checks, is_hidden, plain_cells, run_order
from kit.instructor.release.manifest import CHECKS_DIR
from kit.instructor.release.student_kit import graded_table
from nbval_run import KIT_ROOT


def code(source, **meta):
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": [], "execution_count": None}


def test_plain_cells_survive_any_json():
    nb = {"cells": [None, "text", {"cell_type": 3, "source": 12, "metadata": None, "id": 5},
                    {"cell_type": "code", "source": ["a = 1\n", 2, "b = 2"], "metadata": {"tags": "x"}},
                    {"cell_type": "code", "source": "x", "metadata": {"tags": ["solution", 7]}, "id": "c1"}]}
    cells = plain_cells(nb)
    assert [c["cell_type"] for c in cells] == ["", "code", "code"]
    assert cells[0] == {"cell_type": "", "source": "", "metadata": {}, "tags": set(), "id": None}
    assert cells[1]["source"] == "a = 1\nb = 2" and cells[1]["tags"] == set()
    assert cells[2]["tags"] == {"solution"} and cells[2]["id"] == "c1"
    for junk in (None, [], {"cells": None}, {"cells": {"a": 1}}, 3):
        assert plain_cells(junk) == []


def test_checks_are_code_cells_with_points_named_by_metadata_or_title():
    cells = [code("import numpy", tags=["setup"]),
             code("# Check: toy loss\nemit(loss=1)", points=2, check="toy loss", exercises="TwoLayerNet.loss"),
             code("# Check: best_net\nprint('ok')", points="3"),
             code("best_net = None", points=1, tags=["solution"]),        # a solution cell is never a check
             {"cell_type": "markdown", "source": "# Check: not code", "metadata": {"points": 1}},
             code("# Check: hidden one\nemit(x=1)", points=1, visibility="after_published")]
    found = checks(plain_cells({"cells": cells}))
    assert [(c.index, c.name, c.points, c.visibility, c.exercises) for c in found] == [
        (1, "toy loss", 2.0, "visible", "TwoLayerNet.loss"), (2, "best_net", 3.0, "visible", ""),
        (5, "hidden one", 1.0, "after_published", "")]
    assert [c.hidden for c in found] == [False, False, True]
    assert [c.name for c in run_order(found[::-1])] == ["best_net", "toy loss", "hidden one"]
    assert found[0].meta["exercises"] == "TwoLayerNet.loss" and found[0].source.startswith("# Check: toy loss")


def test_the_real_notebooks_name_every_check_by_its_title():
    paths = sorted((KIT_ROOT / CHECKS_DIR).glob("*.ipynb")) + sorted((KIT_ROOT / "notebooks").glob("*.ipynb"))
    seen = 0
    for path in paths:
        for check in checks(plain_cells(json.loads(path.read_text()))):
            assert check.source.startswith(f"# Check: {check.name}\n"), (path.name, check.name)
            assert check.visibility in VISIBILITIES and check.points > 0
            seen += 1
    assert seen > 20


@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_every_stage_applies_one_visibility_rule(tmp_path, visibility):
    """A check is hidden in the release's table, in the order checks run and in its feedback, or in none."""
    hidden = is_hidden(visibility)
    assert hidden == (visibility in HIDDEN) == (visibility in ("hidden", "after_published"))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("# Check: first\nemit(x=1)", metadata={"check": "first", "points": 1,
                                                                         "visibility": visibility,
                                                                         "exercises": "x in cs231n/layers.py"}),
        nbformat.v4.new_code_cell("# Check: second\nemit(x=1)", metadata={"check": "second", "points": 2,
                                                                          "exercises": "y in cs231n/optim.py"})])
    folder = tmp_path / CHECKS_DIR
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "grading.ipynb")
    (tmp_path / "notebooks").mkdir()
    # the release: the students' table of points
    table = graded_table(tmp_path)
    assert f"| `cs231n/layers.py` | {0 if hidden else 1} | {1 if hidden else 0} |" in table, table
    # the grader: the order checks run in
    order = [c.name for c in CheckNotebook.read(folder / "grading.ipynb").checks]
    assert order == (["second", "first"] if hidden else ["first", "second"])
    # the feedback: expected values shown or not
    _, line = compare_value("x", np.array([2.0]), np.array([1.0]), {}, hidden=Check(0, "first", 1, visibility,
                                                                                     "", "").hidden)
    assert ("expected [1.]" in line) != hidden, line
    # the Gradescope bundle accepts every one of Gradescope's visibilities
    assert check_visibilities(tmp_path) == ({visibility: 1, "visible": 1} if visibility != "visible"
                                            else {"visible": 2})
