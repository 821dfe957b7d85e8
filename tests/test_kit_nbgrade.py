"""Notebook grading with nbval (`kit grade --data DIR`): the students' solution cells, the instructor's checks.

One grading run on the offline CIFAR-10 mirror (module fixture) with planted
submissions: the reference solution with the best_net its tuning saves; a
poor saved best_net; the same with the best_net check's assert and stored
output edited to pass; a saved best_net whose weights were changed after
training; none saved; a tuning cell that never ends (the grader does not run
it); an answer cell that never ends, kills the kernel, or writes more than the
sandbox's file size limit. Each must get exactly the points its own work
earns, with the cause named. The notebooks run in the sandbox with the real
nbval plugin; outputs are compared in the trusted pytest process.
"""
import io
import json
import os
import subprocess
import sys

import nbformat
import numpy as np
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


MODEL = "notebooks/best_net.npz"


def answer_cell(cells):
    return [c for c in cells if c["cell_type"] == "code" and "inline-question" in c["metadata"].get("tags", [])][0]


def tampered_model(model):
    """The model file with W2 changed after training: its record no longer leads to its weights."""
    with np.load(io.BytesIO(model), allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files}
    arrays["W2"] = arrays["W2"] * 1.5
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def plant(src, subs, model, poor_model):
    ref = fx.reference_files()
    ref[NOTEBOOK] = (src / NOTEBOOK).read_bytes()
    ref[MODEL] = model
    fx.write_zip(subs / "reference.zip", ref)
    fx.write_zip(subs / "poor_best_net.zip", dict(ref, **{MODEL: poor_model}))

    def tampered(cells):
        check = cell(cells, "# Check: best_net")
        check["source"] = "# Check: best_net\nprint('best_net: OK (validation accuracy above the target for this dataset)')\n"
        check["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "anything\n"}]
    fx.write_zip(subs / "edited_check.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], tampered),
                                                         MODEL: poor_model}))
    fx.write_zip(subs / "tampered_model.zip", dict(ref, **{MODEL: tampered_model(model)}))
    fx.write_zip(subs / "no_model.zip", {k: v for k, v in ref.items() if k != MODEL})

    def endless_tuning(cells):  # the tuning cell is not run by the grader: it costs nothing
        solution(cells)["source"] = "# NBVAL_IGNORE_OUTPUT\nwhile True:\n    pass\n"
    fx.write_zip(subs / "endless_tuning.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], endless_tuning)}))

    def endless(cells):
        answer_cell(cells)["source"] = "while True:\n    pass\n"
    fx.write_zip(subs / "endless_answer.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], endless)}))

    def kills_kernel(cells):
        answer_cell(cells)["source"] = "import os\nos._exit(1)\n"
    fx.write_zip(subs / "kills_kernel.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], kills_kernel)}))

    def big_file(cells):  # more than the sandbox's file size limit (Limits.tmp_mb)
        answer_cell(cells)["source"] = ("with open('/tmp/big', 'wb') as f:\n"
                                        "    f.write(bytes(300 * 2**20))\ninline_question_answer = [1, 3]\n")
    fx.write_zip(subs / "big_file.zip", dict(ref, **{NOTEBOOK: with_cells(ref[NOTEBOOK], big_file)}))
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
    plant(src, subs, fx.saved_model(DATA), fx.saved_model(DATA, num_iters=2))
    logs = []
    run = grade(subs, out, source=src, checks_dir=src / "kit/instructor/grade/checks", jobs=2, limits=Limits(),
                data=DATA, nb_timeout=60, log=logs.append)
    results = {r["student"]: json.loads((out / r["student"] / "results.json").read_text()) for r in run.rows}
    return {"run": run, "results": results, "logs": logs, "src": src, "out": out}


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
def test_the_reference_is_confirmed_in_the_sandbox_and_sets_the_limit(graded):
    logs = "\n".join(graded["logs"])
    assert "saved notebooks/best_net.npz" in logs
    assert "graded in the sandbox, the reference earns all 13 points" in logs
    summary = graded["results"]["reference"]["extra_data"]["notebooks"]["two_layer_net.ipynb"]
    assert 0 < summary["cpu_seconds"] <= summary["wall_seconds"] * 2 + 5 and summary["slowest_cells"]


@needs_bwrap
@needs_data
def test_the_executed_notebook_is_kept_for_the_instructor(graded):
    folder = graded["out"] / "reference" / "executed"
    nb = json.loads((folder / "two_layer_net.ipynb").read_text())
    check = next(c for c in nb["cells"] if "".join(c["source"]).startswith("# Check: best_net"))
    assert "best_net: OK" in "".join(o.get("text", "") for o in check["outputs"])
    page = (folder / "two_layer_net.html").read_text()
    assert "best_net: OK" in page and "<script src=\"http" not in page
    kinds = {k for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] for k in o.get("data", {})}
    assert kinds <= {"text/plain", "image/png", "image/jpeg"}   # no student HTML or script


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
def test_weights_changed_after_training_are_caught_by_the_rerun(graded):
    results = graded["results"]["tampered_model"]
    assert lost(results) == {BEST}
    assert "does not give its weights (W2 differs" in notebook_tests(results)[BEST]["output"]


@needs_bwrap
@needs_data
def test_a_submission_without_its_saved_model_is_told_which_file(graded):
    results = graded["results"]["no_model"]
    assert lost(results) == {BEST}
    assert "notebooks/best_net.npz is not in your submission" in results["output"]
    assert "is empty" in notebook_tests(results)[BEST]["output"]


@needs_bwrap
@needs_data
def test_the_tuning_cell_is_not_run_by_the_grader(graded):
    results = graded["results"]["endless_tuning"]
    assert lost(results) == set(), json.dumps(list(notebook_tests(results).values()), indent=1)[:3000]


@needs_bwrap
@needs_data
def test_an_endless_cell_loses_only_what_did_not_run(graded):
    results = graded["results"]["endless_answer"]
    tests = notebook_tests(results)
    assert lost(results) == {"two_layer_net.ipynb: answer format"}, json.dumps(list(tests.values()), indent=1)[:3000]
    assert tests["two_layer_net.ipynb: answer format"]["output"].splitlines()[-1].startswith("not run")
    assert "60 s of CPU" in results["output"]
    assert graded["run"].exit_code == 0 and results["extra_data"]["status"] == "graded"


@needs_bwrap
@needs_data
def test_a_solution_cell_that_kills_the_kernel_costs_what_follows(graded):
    results = graded["results"]["kills_kernel"]
    tests = notebook_tests(results)
    assert lost(results) == {"two_layer_net.ipynb: answer format"}, json.dumps(list(tests.values()), indent=1)[:3000]
    assert results["extra_data"]["status"] == "graded"


@needs_bwrap
@needs_data
def test_a_sandbox_limit_that_fails_a_cell_is_named_in_the_feedback(graded):
    results = graded["results"]["big_file"]
    answer = notebook_tests(results)["two_layer_net.ipynb: answer format"]
    assert lost(results) == {answer["name"]}
    assert "An earlier cell failed: code cell" in answer["output"]
    limit = "The cell filled the sandbox's /tmp or /dev/shm (256 MiB)."   # Limits.tmp_mb
    assert limit in answer["output"]
    assert limit in (graded["out"] / "big_file" / "feedback.md").read_text()
    page = (graded["out"] / "report.html").read_text()
    losses = page.split('id="notebook-losses"')[1].split("</table>")[0]
    row = next(r for r in losses.split("<tr>") if "<td>big_file</td>" in r)
    assert "/tmp or /dev/shm (256 MiB)" in row and 'href="big_file/executed/two_layer_net.html"' in row


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
    fx.write_zip(subs / "alice.zip", dict(fx.reference_files(), **{MODEL: b"a saved net, not used"}))
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


@needs_bwrap
def test_a_relative_data_folder_is_taken_from_where_the_command_runs(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    fx.write_zip(subs / "a.zip", fx.reference_files())
    (tmp_path / "mine").mkdir()
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", "subs", "--out", "out", "--data", "mine"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(SOURCE)))
    assert proc.returncode == 2
    assert f"--data {tmp_path / 'mine'} is not a CIFAR-10 folder" in proc.stderr, proc.stderr
    assert "python get_datasets.py" in proc.stderr and "\x1b[" not in proc.stderr
    assert not (tmp_path / "out" / "a").exists()


@needs_bwrap
@needs_data
def test_a_reference_that_loses_points_in_the_sandbox_stops_grading_with_the_reason(tmp_path):
    """A limit too small for the data (here the CPU limit) would cost correct submissions those points."""
    subs = tmp_path / "subs"
    subs.mkdir()
    fx.write_zip(subs / "a.zip", fx.reference_files())
    with pytest.raises(SetupError) as err:
        grade(subs, tmp_path / "out", data=DATA, nb_timeout=1, log=lambda *a: None)
    message = str(err.value)
    assert "the reference solution loses" in message and "Nothing was graded" in message
    assert "best_net: not run: the notebook used more than its 1 s of CPU" in message
    assert "--nb-timeout" in message
    assert not (tmp_path / "out" / "a").exists()


def test_make_grade_passes_the_data_folder():
    def dry_run(*args):
        return subprocess.run(["make", "-n", "grade", *args], cwd=SOURCE, capture_output=True, text=True,
                              check=True).stdout
    assert "--data /courses/cifar-10-batches-py" in dry_run("DATA=/courses/cifar-10-batches-py")
    assert ("--data datasets/cifar-10-batches-py" in dry_run()) == (DATA / "batches.meta").is_file()


@needs_data
def test_a_reference_that_fails_on_the_data_is_refused_without_terminal_codes(tmp_path):
    from kit.instructor.grade.nbgrade import NotebookSetupError, prepare_notebooks

    (tmp_path / "cs231n").mkdir()
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "# Check: data\nraise ValueError('the data has the wrong shape')", metadata={"points": 1})])
    nbformat.write(nb, tmp_path / "notebooks" / "t.ipynb")
    with pytest.raises(NotebookSetupError) as err:
        prepare_notebooks(tmp_path, DATA, log=lambda *a: None, scratch=tmp_path)
    assert "the reference solution of t.ipynb does not run" in str(err.value)
    assert "ValueError: the data has the wrong shape" in str(err.value) and "\x1b[" not in str(err.value)
    assert not (tmp_path / "notebooks" / "best_net.npz").exists()


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
