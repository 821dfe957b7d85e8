"""Notebook grading on a full-size CIFAR-10: 50,000 + 10,000 images of the real shape (synthetic).

On the full data, the notebook's training set is 602 MB of float32: the
grader must still give a correct submission every notebook point, within the
sandbox's limits (memory, /tmp, file size), without running the student's
tuning again (minutes of CPU per submission). One grading run, as
`kit grade --data` makes it: the trusted reference run (the whole notebook,
its tuning included, once), the reference graded in the sandbox (which sets
the CPU limit), then a submission with the best_net its tuning saved.

The instructor source graded from is a copy whose tuning trains 500
iterations instead of 4,000 on the full data (minutes of CPU less, once):
what is tested here, the graded runs in the sandbox, is the same.
"""
import json
import shutil

import pytest

import kit_fixtures as fx
from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

NOTEBOOK = "notebooks/two_layer_net.ipynb"
MODEL = "notebooks/best_net.npz"

pytestmark = pytest.mark.skipif(locate_bwrap() is None,
                                reason="grading needs bubblewrap (apt-get install bubblewrap)")


FULL_TUNING = "num_iters = 4000 if full_data else 250"


def quicker_source(folder):
    """A copy of the instructor source whose reference tuning trains 500 iterations on the full data."""
    shutil.copytree(fx.SOURCE, folder, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "datasets", "build", "__pycache__", ".pytest_cache", "*.npz"))
    notebook = folder / NOTEBOOK
    text = notebook.read_text()
    assert text.count(FULL_TUNING) == 1, "the reference tuning changed: update this test"
    notebook.write_text(text.replace(FULL_TUNING, "num_iters = 500 if full_data else 250"))
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("fullsize")
    source = quicker_source(base / "source")
    data = base / "cifar-10-batches-py"
    fx.write_synthetic_cifar(data, signal=0.08)
    files = fx.reference_files()
    files[NOTEBOOK] = (fx.SOURCE / NOTEBOOK).read_bytes()
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    fx.write_zip(subs / "student.zip", dict(files, **{MODEL: fx.saved_model(data, num_iters=500)}))
    logs = []
    run = grade(subs, out, source=source, checks_dir=source / "kit/instructor/grade/checks", data=data, jobs=1,
                limits=Limits(), log=logs.append)
    results = json.loads((out / "student" / "results.json").read_text())
    return {"run": run, "results": results, "logs": "\n".join(logs), "out": out}


def test_the_reference_earns_every_notebook_point_in_the_sandbox(graded):
    assert "saved notebooks/best_net.npz" in graded["logs"]
    assert "graded in the sandbox, the reference earns all 13 points" in graded["logs"], graded["logs"]


def test_a_correct_submission_gets_every_point_on_the_full_data(graded):
    results = graded["results"]
    lost = {t["name"]: t["output"] for t in results["tests"] if t["score"] < t["max_score"]}
    assert lost == {} and results["score"] == results["extra_data"]["max_score"] == 57, lost
    executed = json.loads((graded["out"] / "student" / "executed" / "two_layer_net.ipynb").read_text())
    shapes = "".join(o.get("text", "") for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    assert "Train data shape:  (49000, 3072)" in shapes      # the full-data branch of the notebook ran


def test_the_tuning_is_not_run_again_for_a_submission(graded):
    executed = json.loads((graded["out"] / "student" / "executed" / "two_layer_net.ipynb").read_text())
    tuning = [c for c in executed["cells"] if "skip-when-grading" in c["metadata"].get("tags", [])]
    assert tuning and all("search(" not in "".join(c["source"]) for c in tuning)
    summary = graded["results"]["extra_data"]["notebooks"]["two_layer_net.ipynb"]
    assert summary["cpu_seconds"] > 0 and summary["slowest_cells"]
