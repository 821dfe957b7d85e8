"""Notebook grading with nbval (`kit grade --data DIR`): the students' solution cells, the instructor's checks.

One grading run on the offline CIFAR-10 mirror (module fixture) with planted
notebooks: the reference solution; a tuning cell that stores a poor
best_net; the same with the best_net check's assert and stored output edited
to pass; a tuning cell that never ends. Each must get exactly the points its
own solution cells earn. The notebooks run in the sandbox with the real
nbval plugin; outputs are compared in the trusted pytest process.
"""
import json

import nbformat
import pytest

import kit_fixtures as fx
from kit.instructor.grade.prepare import SetupError
from kit.instructor.grade.run import grade
from kit.instructor.grade.nbgrade import build_notebook, verify_data, DataError
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

SOURCE = fx.SOURCE
NOTEBOOK = "notebooks/two_layer_net.ipynb"
DATA = SOURCE / "datasets" / "cifar-10-batches-py"
BEST = "two_layer_net.ipynb: best_net"
needs_data = pytest.mark.skipif(not (DATA / "data_batch_1").exists(),
                                reason="needs CIFAR-10 in datasets/ (make data)")
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")


def points_of(title):
    nb = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    return next(c.metadata["points"] for c in nb.cells if c.cell_type == "code"
                and c.source.startswith(f"# Check: {title}\n"))


def with_cells(nb_bytes, change):
    """The notebook (bytes) with `change(cells)` applied to its parsed cells."""
    nb = json.loads(nb_bytes)
    change(nb["cells"])
    return json.dumps(nb).encode()


def cell(cells, start):
    hits = [c for c in cells if "".join(c["source"]).startswith(start) or start in "".join(c["source"])[:400]]
    assert len(hits) >= 1, start
    return hits[0]


def solution(cells):
    return [c for c in cells if c["cell_type"] == "code" and "solution" in c["metadata"].get("tags", [])
            and "best_net" in "".join(c["source"])][0]


POOR_TUNING = ("# NBVAL_IGNORE_OUTPUT\nbest_net = TwoLayerNet(X_train.shape[1], 10, 10)\n"
               "best_stats = best_net.train(X_train, y_train, X_val, y_val, num_iters=2)\nbest_val = 0.1\n")


def plant(src, subs):
    ref = fx.reference_files()
    ref[NOTEBOOK] = (src / NOTEBOOK).read_bytes()
    fx.write_zip(subs / "reference.zip", ref)

    def poor(cells):
        solution(cells)["source"] = POOR_TUNING
    fx.write_zip(subs / "poor_best_net.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], poor)}))

    def tampered(cells):
        poor(cells)
        check = cell(cells, "# Check: best_net")
        check["source"] = "# Check: best_net\nprint('best_net: OK (validation accuracy above the target for this dataset)')\n"
        check["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "anything\n"}]
    fx.write_zip(subs / "edited_check.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], tampered)}))

    def endless(cells):
        solution(cells)["source"] = "# NBVAL_IGNORE_OUTPUT\nwhile True:\n    pass\n"
    fx.write_zip(subs / "endless_tuning.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], endless)}))
    def kills_kernel(cells):
        solution(cells)["source"] = "import os\nos._exit(1)\n"
    fx.write_zip(subs / "kills_kernel.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], kills_kernel)}))
    files = dict(ref)
    del files[NOTEBOOK]
    fx.write_zip(subs / "no_notebook.zip", files)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if locate_bwrap() is None or not (DATA / "data_batch_1").exists():
        pytest.skip("needs bubblewrap and CIFAR-10 in datasets/")
    base = tmp_path_factory.mktemp("nbgrade")
    src = SOURCE
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    plant(src, subs)
    logs = []
    run = grade(subs, out, source=src, checks_dir=src / "kit/instructor/grade/checks", jobs=2, limits=Limits(),
                data=DATA, nb_timeout=60, log=logs.append)
    results = {r["student"]: json.loads((out / r["student"] / "results.json").read_text()) for r in run.rows}
    return {"run": run, "results": results, "logs": logs, "src": src}


def notebook_tests(results):
    return {t["name"]: t for t in results["tests"] if t["name"].startswith("two_layer_net.ipynb: ")}


def lost(results):
    return {name for name, t in notebook_tests(results).items() if t["score"] < t["max_score"]}


@needs_bwrap
@needs_data
def test_the_reference_gets_every_notebook_point(graded):
    results = graded["results"]["reference"]
    tests = notebook_tests(results)
    assert len(tests) >= 8 and BEST in tests
    assert lost(results) == set(), json.dumps(list(tests.values()), indent=1)[:3000]
    assert results["score"] == results["extra_data"]["max_score"]
    assert any("reference run of two_layer_net.ipynb" in line for line in graded["logs"])


@needs_bwrap
@needs_data
def test_a_poor_best_net_loses_exactly_the_best_net_points(graded):
    results = graded["results"]["poor_best_net"]
    assert lost(results) == {BEST}, json.dumps(list(notebook_tests(results).values()), indent=1)[:3000]
    best = notebook_tests(results)[BEST]
    assert best["score"] == 0 and best["max_score"] == points_of("best_net") > 1
    assert "AssertionError" in best["output"] and "best_net reaches" in best["output"]


@needs_bwrap
@needs_data
def test_an_edited_check_cell_is_restored_and_gains_nothing(graded):
    results = graded["results"]["edited_check"]
    assert lost(results) == {BEST}
    assert results["score"] == graded["results"]["poor_best_net"]["score"]
    assert "restored 1 cell(s) you had changed to the original" in results["output"]
    assert "'best_net'" in results["output"]


@needs_bwrap
@needs_data
def test_an_endless_cell_loses_only_what_did_not_run(graded):
    results = graded["results"]["endless_tuning"]
    tests = notebook_tests(results)
    order = list(tests)
    first_lost = order.index(BEST)
    assert lost(results) == set(order[first_lost:]), json.dumps(list(tests.values()), indent=1)[:3000]
    assert all(tests[name]["output"].splitlines()[-1].startswith("not run") for name in order[first_lost:])
    assert "60 s of CPU" in results["output"]
    assert graded["run"].exit_code == 0 and results["extra_data"]["status"] == "graded"


@needs_bwrap
@needs_data
def test_a_solution_cell_that_kills_the_kernel_costs_what_follows(graded):
    results = graded["results"]["kills_kernel"]
    tests = notebook_tests(results)
    order = list(tests)
    assert lost(results) == set(order[order.index(BEST):]), json.dumps(list(tests.values()), indent=1)[:3000]
    assert results["extra_data"]["status"] == "graded"


@needs_bwrap
@needs_data
def test_a_missing_notebook_scores_its_checks_zero_and_says_so(graded):
    results = graded["results"]["no_notebook"]
    tests = notebook_tests(results)
    assert all(t["score"] == 0 and "not in your submission" in t["output"] for t in tests.values())
    assert {t["name"] for t in results["tests"] if t["score"] < t["max_score"]} == set(tests)  # code checks pass


@needs_bwrap
def test_without_data_the_notebooks_are_skipped_with_one_line(tmp_path):
    src = SOURCE
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    fx.write_zip(subs / "alice.zip", fx.reference_files())
    logs = []
    run = grade(subs, out, source=src, checks_dir=src / "kit/instructor/grade/checks", limits=Limits(), log=logs.append)
    assert [line for line in logs if "notebook grading skipped" in line] == [
        "notebook grading skipped: pass --data DIR (a CIFAR-10 folder) to grade the notebooks too; "
        "the code checks run"]
    row = run.rows[0]
    assert row["status"] == "graded" and float(row["score"]) == float(row["max_score"]) > 0
    results = json.loads((out / "alice" / "results.json").read_text())
    assert not notebook_tests(results)


def test_a_folder_that_is_not_cifar10_is_refused(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="lacks data_batch_2"):
        verify_data(tmp_path)
    for name in ("data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"):
        (tmp_path / name).write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot be loaded"):
        verify_data(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    fx.write_zip(subs / "a.zip", fx.reference_files())
    if locate_bwrap() is not None:
        with pytest.raises(SetupError, match="not a CIFAR-10 folder|cannot be loaded"):
            grade(subs, tmp_path / "out", data=tmp_path / "subs", log=lambda *a: None)


def test_only_solution_cells_come_from_the_student(tmp_path):
    """build_notebook keeps the student's solution cells (by id, else by order) and nothing else."""
    from kit.instructor.grade.nbgrade import GradedNotebook

    ref = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["setup"]}),
        nbformat.v4.new_code_cell("answer = None", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("# Check: answer\nassert answer == 2\nprint('ok')", metadata={"points": 1},
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="ok\n")],
                                  execution_count=3),
    ])
    data = json.loads(nbformat.writes(ref))
    gnb = GradedNotebook("notebooks/t.ipynb", data, [(2, "answer", 1.0, "visible")],
                         [(1, data["cells"][1]["id"])], 1.0, 10.0)
    student = json.loads(json.dumps(data))
    student["cells"][1]["source"] = "answer = 2"
    student["cells"][2]["source"] = "# Check: answer\nprint('ok')"
    student["cells"][2]["outputs"] = []
    student["cells"].append({"cell_type": "code", "source": "import os; os.system('rm -rf /')", "metadata": {},
                             "outputs": [], "id": "extra"})
    nb, lines = build_notebook(gnb, student)
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources == ["x = 1", "answer = 2", "# Check: answer\nassert answer == 2\nprint('ok')"]
    assert "".join(nb["cells"][2]["outputs"][0]["text"]) == "ok\n"  # the reference's output, not the student's
    assert "restored 1 cell(s)" in lines[0] and "'answer'" in lines[0]
    for cell_ in student["cells"]:
        cell_["id"] = None  # a notebook without ids: solution cells are matched by their order
    nb, _ = build_notebook(gnb, student)
    assert "".join(nb["cells"][1]["source"]) == "answer = 2"
    nb, lines = build_notebook(gnb, {"cells": "garbage"})
    assert "".join(nb["cells"][1]["source"]) == "" and "were not found" in lines[-1]
