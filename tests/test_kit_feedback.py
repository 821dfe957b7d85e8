"""What students and instructors read after grading: one message per mistake, no machine paths, exact records.

One grading run of course-style submissions: a syntax error, code that fails
inside NumPy (its traceback passes through the grading machine's Python), two
byte-identical zips, a damaged notebook graded without --data.
"""
import csv
import json
import sys
import sysconfig

import pytest

import kit_fixtures as fx
from kit.instructor.grade.run import closing_counts, grade
from kit.instructor.grade.scrub import KIT_ROOT, scrub, scrub_outputs
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
NOTEBOOK = "notebooks/two_layer_net.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feedback")
    subs, out = tmp / "subs", tmp / "out"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "syntax.zip", fx.in_region(ref, fx.LAYERS, "relu_forward", "out = (x > 0"))
    fx.write_zip(subs / "numpy_error.zip", fx.in_region(ref, fx.LAYERS, "relu_forward",
                                                        "np.reshape(x, (7, 7, 7, 7, 7))"))
    fx.write_zip(subs / "alice.zip", ref)
    fx.write_zip(subs / "bob.zip", ref)
    fx.write_zip(subs / "damaged.zip", dict(ref, **{NOTEBOOK: b'{"cells": [null, {"cell_type": 3}], "nbformat'}))
    lines = []
    run = grade(subs, out, limits=Limits(cell_timeout=10), log=lines.append)
    results = {r["student"]: json.loads((out / r["student"] / "results.json").read_text()) for r in run.rows}
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    feedback = {name: (out / name / "feedback.md").read_text() for name in results}
    return {"results": results, "rows": rows, "feedback": feedback, "log": lines}


@needs_bwrap
def test_a_syntax_error_is_one_message_with_file_line_and_what_to_do(graded):
    text = graded["feedback"]["syntax"]
    line = fx.in_region(fx.reference_files(), fx.LAYERS, "relu_forward", "out = (x > 0")[fx.LAYERS]
    number = line.decode().splitlines().index("    out = (x > 0") + 1
    assert f"cs231n/layers.py, line {number}: SyntaxError" in text
    assert text.count("SyntaxError") == 1 and "fix that line" in text
    assert "NameError" not in text and "failed:" not in text, text[:3000]
    assert text.count("not run: cs231n/layers.py has a syntax error (see above)") == \
        sum(1 for t in graded["results"]["syntax"]["tests"] if t["score"] < t["max_score"])


@needs_bwrap
def test_what_a_student_reads_names_no_path_of_the_grading_machine(graded):
    results = graded["results"]["numpy_error"]
    shown = graded["feedback"]["numpy_error"] + json.dumps([results["output"]] + [t["output"] for t in results["tests"]])
    assert "<site-packages>/numpy/" in shown            # the frame is still there, by its package
    for path in {sys.prefix, sys.base_prefix, sysconfig.get_paths()["purelib"], str(KIT_ROOT), "/kit/", "/tmp/"}:
        assert path not in shown, path
    assert 'File "cs231n/layers.py", line' in shown


@needs_bwrap
def test_grades_csv_names_the_submission_a_copy_was_graded_with(graded):
    rows = graded["rows"]
    assert (rows["alice"]["identical_to"], rows["bob"]["identical_to"]) == ("", "alice")
    assert rows["alice"]["score"] == rows["bob"]["score"] == rows["alice"]["max_score"]
    assert "alice" not in graded["feedback"]["bob"]  # the student is told it is a copy, not of whom
    assert "Identical to another submission" in graded["feedback"]["bob"]


@needs_bwrap
def test_a_damaged_notebook_is_named_without_data(graded):
    text = graded["results"]["damaged"]["output"]
    assert f"{NOTEBOOK} cannot be read as a notebook" in text and "open it in Jupyter, save it" in text
    assert float(graded["rows"]["damaged"]["score"]) == float(graded["rows"]["damaged"]["max_score"])


@needs_bwrap
def test_the_closing_line_counts_each_outcome(graded):
    assert any(line.startswith("graded 5 submissions in ") for line in graded["log"]), graded["log"]


def test_closing_counts_keep_errors_and_ungraded_apart():
    statuses = ["graded"] * 36 + ["empty", "rejected"] + ["error"] + ["not graded"] * 11
    assert closing_counts(statuses) == "graded 38 of 50 submissions (1 error, 11 not graded)"
    assert closing_counts(["graded", "empty"]) == "graded 2 submissions"


def test_executed_notebooks_lose_machine_paths_and_keep_their_images():
    site = sysconfig.get_paths()["purelib"]
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "error", "evalue": "x", "traceback": [f'File "{site}/numpy/a.py", line 3']},
        {"output_type": "stream", "text": f"opened /kit/datasets/cifar and {KIT_ROOT}/cs231n/x.py"},
        {"output_type": "display_data", "data": {"image/png": "iVBOR/kit/xx", "text/plain": f"{site}/q"}}]}]}
    outs = scrub_outputs(nb)["cells"][0]["outputs"]
    assert outs[0]["traceback"] == ['File "<site-packages>/numpy/a.py", line 3']
    assert outs[1]["text"] == "opened datasets/cifar and <grader>/cs231n/x.py"
    assert outs[2]["data"] == {"image/png": "iVBOR/kit/xx", "text/plain": "<site-packages>/q"}
    assert scrub("no paths here") == "no paths here"
