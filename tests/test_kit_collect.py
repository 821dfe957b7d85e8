"""`python -m kit collect` (student side, in a released kit): checks, then submission.zip."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap
from kit.student.files import student_files

SOURCE = Path(__file__).resolve().parents[1]


@pytest.fixture
def released(released_kit):
    return released_kit


def collect(kit, *args):
    """`python -m kit collect` without its self-check (tests/test_kit_selfcheck.py runs collect with it)."""
    return subprocess.run([sys.executable, "-m", "kit", "collect", "--no-check", *args], cwd=kit,
                          capture_output=True, text=True, timeout=300)


def mark_executed(kit, error_in=None, model=True):
    """
    Pretend every notebook ran: execution counts on all code cells (an error in one, optionally),
    and the tuned net saved (unless model is False).
    """
    if model:
        (kit / "notebooks" / "best_net.npz").write_bytes(b"a saved net")
    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        n = 0
        for cell in nb.cells:
            if cell.cell_type == "code":
                n += 1
                cell.execution_count = n
                if error_in and error_in in cell.source and path.name == "two_layer_net.ipynb":
                    cell.outputs = [nbformat.v4.new_output("error", ename="TypeError", evalue="boom",
                                                           traceback=[])]
        nbformat.write(nb, path)


def test_unexecuted_notebooks_are_refused_with_the_cell(released, tmp_path):
    proc = collect(released)
    assert proc.returncode == 1
    assert "notebooks/two_layer_net.ipynb: code cell 1" in proc.stderr
    assert "was not executed" in proc.stderr
    assert not (released / "submission.zip").exists()


def test_collect_writes_exactly_the_student_files(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    (kit / "conftest.py").write_text("x = 1\n")
    (kit / "cs231n" / "extra.py").write_text("x = 1\n")
    proc = collect(kit)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(kit / "submission.zip") as zf:
        names = sorted(zf.namelist())
    assert names == sorted(student_files(kit)) == sorted(student_files(released) + ["notebooks/best_net.npz"])
    assert "cs231n/layers.py" in names and "notebooks/two_layer_net.ipynb" in names
    assert "conftest.py" not in names and "cs231n/extra.py" not in names


def test_a_missing_saved_net_is_named_and_the_rest_is_collected(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit, model=False)
    proc = collect(kit)
    assert proc.returncode == 0, proc.stderr
    assert ("warning: notebooks/best_net.npz is missing: run the tuning cells of notebooks/two_layer_net.ipynb"
            in proc.stdout)
    with zipfile.ZipFile(kit / "submission.zip") as zf:
        assert "notebooks/best_net.npz" not in zf.namelist() and "cs231n/layers.py" in zf.namelist()


def test_error_outputs_are_refused(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit, error_in="# Check: toy loss")
    proc = collect(kit)
    assert proc.returncode == 1
    assert "two_layer_net.ipynb: code cell" in proc.stderr and "TypeError: boom" in proc.stderr


def test_a_syntax_error_is_named_with_file_and_line(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    path = kit / "cs231n" / "layers.py"
    lines = path.read_text().splitlines()
    lines.append("def broken(:")
    path.write_text("\n".join(lines) + "\n")
    proc = collect(kit)
    assert proc.returncode == 1
    assert f"cs231n/layers.py, line {len(lines)}: SyntaxError:" in proc.stderr, proc.stderr
    assert "def broken(:" in proc.stderr
    assert not (kit / "submission.zip").exists()


def test_code_nested_too_deeply_is_named_not_a_crash(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    path = kit / "cs231n" / "layers.py"
    path.write_text(path.read_text() + "\nx = " + "-" * 100_000 + "1\n")
    proc = collect(kit)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cs231n/layers.py: the code is nested too deeply" in proc.stderr, proc.stderr
    assert not (kit / "submission.zip").exists()


def test_code_that_does_not_import_is_refused(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    path = kit / "cs231n" / "layers.py"
    path.write_text(path.read_text() + "\nimport no_such_module_here\n")
    proc = collect(kit)
    assert proc.returncode == 1
    assert "cs231n.layers does not import" in proc.stderr and "no_such_module_here" in proc.stderr


def test_changes_that_are_not_graded_get_a_warning(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    data_utils = kit / "cs231n" / "data_utils.py"
    data_utils.write_text(data_utils.read_text() + "\n# my change\n")
    layers = kit / "cs231n" / "layers.py"
    text = layers.read_text()
    layers.write_text(text.replace("import numpy as np", "import numpy as np  # outside a region", 1))
    proc = collect(kit)
    assert proc.returncode == 0, proc.stderr
    assert ("warning: you changed cs231n/data_utils.py, which is not part of your submission"
            in proc.stdout), proc.stdout
    assert "warning: you changed lines of cs231n/layers.py outside the START / END" in proc.stdout
    assert "neural_net.py" not in proc.stdout.split("wrote")[0]


def test_code_inside_the_regions_gets_no_warning(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    layers = kit / "cs231n" / "layers.py"
    layers.write_text(layers.read_text().replace("    # TODO: write your code here.\n    pass",
                                                 "    out = None  # my answer", 1))
    proc = collect(kit)
    assert proc.returncode == 0, proc.stderr
    assert "warning: you changed" not in proc.stdout, proc.stdout


def test_partial_work_is_collected_with_what_is_not_finished(released, tmp_path):
    """A student who is stuck hands in what works: --partial writes the zip and lists the rest."""
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    refused = collect(kit)
    assert refused.returncode == 1 and "collect --partial" in refused.stderr
    proc = collect(kit, "--partial")
    assert proc.returncode == 0, proc.stderr
    assert "not finished: notebooks/two_layer_net.ipynb: code cell 1" in proc.stdout, proc.stdout
    assert "(partial work: the grader gives points for what passes)" in proc.stdout
    with zipfile.ZipFile(kit / "submission.zip") as zf:
        assert "cs231n/layers.py" in zf.namelist()


@pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
def test_partial_work_is_graded_for_what_it_does(released, tmp_path):
    """Stuck after the layers: the zip of --partial gets the layers' points, and only those."""
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    (kit / "cs231n" / "layers.py").write_bytes((SOURCE / "cs231n" / "layers.py").read_bytes())
    mark_executed(kit, error_in="TwoLayerNet(", model=False)
    assert collect(kit).returncode == 1
    assert collect(kit, "--partial").returncode == 0
    subs = tmp_path / "subs"
    subs.mkdir()
    (kit / "submission.zip").rename(subs / "stuck.zip")
    run = grade(subs, tmp_path / "out", limits=Limits(cell_timeout=10), log=lambda *a: None)
    assert run.rows[0]["status"] == "graded"
    tests = {t["name"]: t for t in json.loads((tmp_path / "out" / "stuck" / "results.json").read_text())["tests"]}
    for name in ("affine layer", "relu layer", "softmax loss", "svm loss", "softmax stability with large scores"):
        assert tests[name]["score"] == tests[name]["max_score"] > 0, (name, tests[name])
    for name in ("toy scores", "toy loss", "predict", "fc_net gradients"):
        assert tests[name]["score"] == 0, (name, tests[name])


def test_unanswered_inline_questions_are_listed_until_answered(released, tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["cp", "-r", str(released), str(kit)], check=True)
    mark_executed(kit)
    proc = collect(kit)
    assert proc.returncode == 0, proc.stderr
    unanswered = [line for line in proc.stdout.splitlines() if "inline question" in line]
    assert any("two_layer_net.ipynb: an inline question's answer" in line for line in unanswered), proc.stdout
    assert any("two_layer_net.ipynb: an inline question's explanation" in line and "*Fill this in.*" in line
               for line in unanswered), proc.stdout
    path = kit / "notebooks" / "two_layer_net.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("inline_question_answer = None  # TODO: your answer",
                                          "inline_question_answer = [1, 3]")
        cell.source = cell.source.replace("*Fill this in.*", "More data and more regularization.")
    nbformat.write(nb, path)
    proc = collect(kit)
    assert not [line for line in proc.stdout.splitlines() if "two_layer_net.ipynb: an inline question" in line], \
        proc.stdout
