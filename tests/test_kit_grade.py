"""`python -m kit grade`: planted bugs cost their points, attacks gain none, nothing crashes.

One grading run (module fixture) covers the planted submissions: the reference
solution, each course bug, empty and unexecuted work, and each attack on the
archive, the sandbox, the reply channel and the comparison. Attacks that
would only pay off if the sandbox leaked (reading the instructor source or
other students' work, the network) are planted in svm_loss's region: it
returns the right answer only when the attack succeeds, so the svm checks must
stay at zero. The grader grades only the code inside the student regions, so
every plant that must run sits inside one.
"""
import csv
import json
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import kit_fixtures as fx
from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

SOURCE = fx.SOURCE
SVM = fx.SVM_CHECKS
LIMITS = Limits(cell_timeout=3, timeout=150, memory_mb=1024)
pytestmark = pytest.mark.skipif(locate_bwrap() is None,
                                reason="grading needs bubblewrap (apt-get install bubblewrap)")


@pytest.fixture(scope="module")
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(50)
    yield sock.getsockname()[1]
    sock.close()


def notebook_with_broken_cells(files):
    """The reference notebook as JSON with cells whose fields are null or of the wrong type."""
    rel = "notebooks/two_layer_net.ipynb"
    nb = json.loads(files[rel])
    nb["cells"][0]["metadata"] = None
    nb["cells"][1]["source"] = 12345
    nb["cells"].insert(2, "not a cell")
    nb["cells"][3]["outputs"] = None
    return dict(files, **{rel: json.dumps(nb).encode()})


def plant_all(subs, out, release_dir, port):
    ref, stub = fx.reference_files(), fx.released_files(release_dir)
    plants = {"correct": ref, "empty": {}, "unexecuted": stub}
    for name, bug in fx.BUGS.items():
        plants[f"bug_{name}"] = fx.apply(ref, bug)
    plants["syntax_error"] = fx.in_region(ref, fx.LAYERS, "relu_forward", "def broken(:\n    pass")
    plants["outside_regions"] = fx.append_code(ref, fx.LAYERS, "raise SystemExit('module code ran')")
    plants["tamper_files"] = dict(stub, **{name: b"import numpy\nnumpy.allclose = lambda *a, **k: True\n"
                                          for name in ("conftest.py", "sitecustomize.py", "usercustomize.py",
                                                       "pytest.ini", "cs231n/__init__.py", "cs231n/sitecustomize.py",
                                                       "notebooks/conftest.py")})
    plants["monkeypatch"] = fx.in_region(stub, fx.LAYERS, "affine_forward", fx.MONKEYPATCH)
    plants["always_equal"] = fx.in_region(ref, fx.NET, "TwoLayerNet.loss", fx.ALWAYS_EQUAL)
    # The reply channel: forged replies (old tokens, made-up tokens, deep or huge lines) and a
    # replaced emit that claims a trained loss; train() itself does nothing and reports a fake history.
    plants["forge_replies"] = fx.in_region(
        fx.in_region(ref, fx.NET, "TwoLayerNet.train", "return {'loss_history': [0.001] * num_iters, "
                                                        "'train_acc_history': [1.0], 'val_acc_history': [1.0]}"),
        fx.LAYERS, "affine_forward", FORGE)
    plants["numerical_backward"] = fx.in_region(ref, fx.NET, "TwoLayerNet.loss", NUMERICAL_BACKWARD, k=2)
    plants["huge_values"] = fx.in_region(ref, fx.LAYERS, "svm_loss", HUGE_VALUES)
    plants["deep_stdout"] = fx.in_region(ref, fx.LAYERS, "svm_loss", DEEP_STDOUT)
    plants["broken_notebook"] = notebook_with_broken_cells(ref)
    plants["read_source"] = fx.wrap_svm(ref, f"""
readable = []
for path in ({str(SOURCE / 'cs231n/layers.py')!r}, {str(SOURCE / 'kit/instructor/grade/checks/grading.ipynb')!r},
             {str(SOURCE / 'kit/instructor/grade/run.py')!r}):
    try:
        open(path).read()
        readable.append(path)
    except OSError:
        pass
if not readable:
    return -1.0, None""")
    plants["read_others"] = fx.wrap_svm(ref, f"""
import os
try:
    open({str(subs / 'correct.zip')!r}, 'rb').read()
except OSError:
    try:
        os.listdir({str(out)!r})
    except OSError:
        return -1.0, None""")
    plants["network"] = fx.wrap_svm(ref, f"""
import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()
except OSError:
    return -1.0, None""")
    plants["infinite_loop"] = fx.wrap_svm(ref, "while True:\n    pass")
    plants["sleeper"] = fx.wrap_svm(ref, "import time\ntime.sleep(1000)")
    plants["memory_bomb"] = fx.wrap_svm(ref, "hog = []\nwhile True:\n    hog.append(bytearray(100 * 2**20))")
    plants["tmp_filler"] = fx.wrap_svm(ref, """
try:
    with open("/tmp/fill", "wb") as f:
        while True:
            f.write(b"x" * 2**24)
except OSError:
    return -1.0, None""")
    plants["os_exit"] = fx.wrap_svm(ref, "import os\nos._exit(3)")
    plants["segfault"] = fx.wrap_svm(ref, "import ctypes\nctypes.string_at(0)")
    plants["flood"] = fx.wrap_svm(ref, """
import os
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        for _ in range(64):
            os.write(fd, b'{"token": "' + b"x" * 2**20)
    except OSError:
        pass
return -1.0, None""")
    plants["fork_bomb"] = fx.wrap_svm(ref, """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        pass""")
    plants["daemon"] = fx.wrap_svm(ref, f"""
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(3)
    try:
        open({str(out / 'grades.csv')!r}, 'w').write('student,score\\nmallory,100\\n')
    except OSError:
        pass
    os._exit(0)
return -1.0, None""")
    for name, files in plants.items():
        fx.write_zip(subs / f"{name}.zip", files)
    (subs / "not_a_zip.zip").write_bytes(b"PK\x03\x04 truncated nonsense")
    fx.write_zip(subs / "traversal.zip", ref)
    with zipfile.ZipFile(subs / "traversal.zip", "a") as zf:
        zf.writestr("../../kit-evil.py", "x = 1\n")
        zf.writestr("/tmp/kit-evil-abs.py", "x = 1\n")
        zf.writestr("cs231n/../../kit-evil2.py", "x = 1\n")
    return sorted(list(plants) + ["not_a_zip", "traversal"])


FORGE = '''
import json as _json, os as _os, sys as _sys
_frame = _sys._getframe(1)
_fake = {"W1": {"shape": [1, 1], "data": [0.0]}, "final_loss": {"shape": [], "data": [0.001]}}
for _fd in map(int, _os.listdir("/proc/self/fd")):
    for _token in ("reference", "0" * 32, "f" * 32):
        try:
            _os.write(_fd, ("\\n" + _json.dumps({"token": _token, "status": "ok", "values": _fake,
                                                  "index": 12, "nonce": _token}) + "\\n").encode())
        except OSError:
            pass
while _frame is not None:
    _g = _frame.f_globals
    if "emit" in _g and not getattr(_g["emit"], "forged", False):
        _real = _g["emit"]
        def _forged(**values):
            values["final_loss"] = 0.001
            values["trained_loss"] = 0.001
            return _real(**values)
        _forged.forged = True
        _g["emit"] = _forged
    _frame = _frame.f_back
_json.dumps = lambda *a, **k: '{"status": "ok"}'
'''

NUMERICAL_BACKWARD = '''
from cs231n.gradient_check import eval_numerical_gradient as _numerical
if getattr(self, "_numerical", False):
    return loss, {}
self._numerical = True
try:
    for _name in self.params:
        grads[_name] = _numerical(lambda _w: self.loss(X, y, reg)[0], self.params[_name], verbose=False)
finally:
    self._numerical = False
return loss, grads
'''

HUGE_VALUES = '''
import numpy as _np
return 10 ** 400, _np.zeros([1] * 40)
'''

DEEP_STDOUT = '''
import os as _os
print("[" * 200000)
for _fd in map(int, _os.listdir("/proc/self/fd")):
    try:
        _os.write(_fd, b"\\n" + b'{"token": "' + b"[" * 200000 + b"\\n")
    except OSError:
        pass
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory, released_kit, listener):
    base = tmp_path_factory.mktemp("grade")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    names = plant_all(subs, out, released_kit, listener)
    start = time.monotonic()
    run = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    elapsed = time.monotonic() - start
    time.sleep(4)  # a daemon that escaped would write grades.csv 3 s after its cell
    results = {n: json.loads((out / n / "results.json").read_text()) for n in names}
    return {"run": run, "rows": {r["student"]: r for r in run.rows}, "results": results, "out": out,
            "subs": subs, "names": names, "elapsed": elapsed, "base": base}


def check_scores(results):
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"]}


def lost(results):
    return {name for name, (s, m) in check_scores(results).items() if s < m}


def test_every_submission_has_a_row_and_outputs(graded):
    out = graded["out"]
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == graded["names"]
    assert set(rows[0]) == {"student", "score", "max_score", "status", "isolation", "reason", "identical_to"}
    for name in graded["names"]:
        results = graded["results"][name]
        assert {"score", "execution_time", "output", "tests"} <= set(results)
        for test in results["tests"]:
            assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert (out / name / "feedback.md").read_text().startswith(f"# Feedback for {name}")
    assert graded["run"].exit_code == 0 and graded["run"].count("error") == 0


def test_reference_solution_gets_full_marks(graded):
    row = graded["rows"]["correct"]
    assert float(row["score"]) == float(row["max_score"]) > 0
    assert row["status"] == "graded"


@pytest.mark.parametrize("bug", sorted(fx.BUGS))
def test_each_bug_costs_its_checks_only(graded, bug):
    results = graded["results"][f"bug_{bug}"]
    assert lost(results) == fx.BUG_CHECKS[bug], json.dumps(results["tests"], indent=1)[:3000]
    assert 0 < results["score"] < graded["rows"]["correct"]["max_score"]


def test_feedback_names_the_check_the_code_and_expected_vs_got(graded):
    text = (graded["out"] / "bug_relu_backward" / "feedback.md").read_text()
    assert "### relu layer: 1 / 2 (FAILED)" in text
    assert "Exercises relu_forward and relu_backward in cs231n/layers.py." in text
    assert "WRONG dx: expected [" in text and "got [" in text
    assert "ok    out: matches" in text


def test_hidden_checks_show_no_expected_values(graded):
    results = graded["results"]["bug_relu_backward"]
    hidden = [t for t in results["tests"] if t["visibility"] != "visible" and t["status"] == "failed"]
    assert hidden
    for test in hidden:
        assert "expected [" not in test["output"] and "does not match the expected values" in test["output"]


@pytest.mark.parametrize("name", ["empty", "unexecuted", "tamper_files", "monkeypatch", "not_a_zip"])
def test_no_points_without_a_solution(graded, name):
    assert graded["results"][name]["score"] == 0, json.dumps(graded["results"][name], indent=1)[:3000]


def test_empty_and_rejected_zips_say_so_once(graded):
    for name, status in (("empty", "empty"), ("not_a_zip", "rejected")):
        results = graded["results"][name]
        assert graded["rows"][name]["status"] == status
        assert len(results["output"].splitlines()) == 2, results["output"]  # isolation line + the message
        assert {t["output"].splitlines()[-1] for t in results["tests"]} == {
            "not run: the submission holds none of your files" if name == "empty" else "not run: the zip was rejected"}
    assert "not a readable zip" in graded["results"]["not_a_zip"]["output"]


def test_files_off_the_allow_list_are_ignored_and_named(graded):
    output = graded["results"]["tamper_files"]["output"]
    for name in ("conftest.py", "sitecustomize.py", "pytest.ini", "cs231n/__init__.py"):
        assert f"ignored {name}: not a file you may change" in output


def test_a_syntax_error_names_the_students_file_and_line(graded):
    results = graded["results"]["syntax_error"]
    text = fx.in_region(fx.reference_files(), fx.LAYERS, "relu_forward", "def broken(:\n    pass")[fx.LAYERS]
    line = text.decode().splitlines().index("    def broken(:") + 1
    assert f"cs231n/layers.py, line {line}: SyntaxError" in results["output"], results["output"]
    assert results["score"] < graded["rows"]["correct"]["max_score"]


def test_code_outside_the_regions_never_runs(graded):
    assert graded["results"]["outside_regions"]["score"] == graded["rows"]["correct"]["max_score"]


def test_always_equal_object_is_not_a_score(graded):
    results = graded["results"]["always_equal"]
    scores = check_scores(results)
    assert scores["toy scores"][0] == 0 and scores["predict"][0] == 0
    assert "could not be read as numbers" in next(t["output"] for t in results["tests"] if t["name"] == "toy scores")


def test_forged_replies_and_a_fake_training_history_gain_nothing(graded):
    results = graded["results"]["forge_replies"]
    scores = check_scores(results)
    assert scores["toy training"][0] == 0, json.dumps(results["tests"], indent=1)[:3000]
    training = next(t["output"] for t in results["tests"] if t["name"] == "toy training")
    assert "trained_loss: expected a value below 0.02" in training
    assert results["score"] <= graded["rows"]["correct"]["max_score"] - 1


def test_a_numerical_gradient_is_not_an_analytic_one(graded):
    results = graded["results"]["numerical_backward"]
    assert {"toy gradients", "scores, loss and gradients with other seeds and sizes",
            "TwoLayerNet.loss's backward pass at full size"} <= lost(results), \
        json.dumps(results["tests"], indent=1)[:3000]
    assert not lost(results) & {"toy scores", "toy loss", "affine layer", "predict"}


def test_values_that_are_not_plain_arrays_fail_only_their_check(graded):
    results = graded["results"]["huge_values"]
    assert lost(results) == SVM, json.dumps(results["tests"], indent=1)[:3000]
    svm = next(t["output"] for t in results["tests"] if t["name"] == "svm loss")
    assert "could not be read as numbers" in svm or "malformed value" in svm
    assert graded["rows"]["huge_values"]["status"] == "graded"


@pytest.mark.parametrize("name", ["deep_stdout", "broken_notebook", "traversal"])
def test_hostile_output_and_files_crash_nothing(graded, name):
    assert graded["rows"][name]["status"] == "graded"
    assert graded["results"][name]["score"] == graded["rows"]["correct"]["max_score"], \
        json.dumps(graded["results"][name], indent=1)[:3000]


@pytest.mark.parametrize("name", ["infinite_loop", "sleeper", "memory_bomb", "tmp_filler", "os_exit", "segfault",
                                  "flood", "fork_bomb", "daemon"])
def test_runaway_code_costs_only_the_affected_checks(graded, name):
    results = graded["results"][name]
    assert lost(results) == SVM, json.dumps(results["tests"], indent=1)[:3000]
    assert graded["rows"][name]["status"] == "graded"


def test_runaway_code_is_explained(graded):
    def svm(name):
        return next(t["output"] for t in graded["results"][name]["tests"] if t["name"] == "svm loss")
    assert "more than 3 s of CPU" in svm("infinite_loop")
    assert "without running" in svm("sleeper")
    assert "MemoryError" in svm("memory_bomb") or "memory" in svm("memory_bomb")
    assert "exit status 3" in svm("os_exit")
    assert "SIGSEGV" in svm("segfault")


def test_a_daemon_dies_with_its_sandbox(graded):
    with open(graded["out"] / "grades.csv") as f:
        assert "mallory" not in f.read()


@pytest.mark.parametrize("name", ["read_source", "read_others", "network"])
def test_sandbox_hides_source_other_students_and_network(graded, name):
    results = graded["results"][name]
    assert lost(results) == SVM, json.dumps(results["tests"], indent=1)[:3000]
    assert results["extra_data"]["isolation"].startswith("bwrap")
    assert results["output"].startswith("Graded in a sandbox (bubblewrap).")


def test_traversal_writes_nothing_outside(graded):
    results = graded["results"]["traversal"]
    assert "absolute path or path outside the kit" in results["output"]
    base = graded["base"]
    assert not list(base.rglob("kit-evil*")) and not Path("/tmp/kit-evil-abs.py").exists()
    assert not (base.parent / "kit-evil.py").exists()
    assert sorted(p.name for p in graded["out"].iterdir()) == sorted(
        graded["names"] + ["grades.csv", "manual_grading.csv", "report.html", "checks.csv"])


def test_manual_grading_gathers_answers_and_explanations(graded):
    with open(graded["out"] / "manual_grading.csv") as f:
        rows_all = list(csv.DictReader(f))
    rows = {r["student"]: r for r in rows_all if r["notebook"] == "notebooks/two_layer_net.ipynb"}
    assert rows["correct"]["parsed_answer"] == rows["correct"]["reference_answer"] != ""
    assert rows["correct"]["explanation"]
    assert rows["unexecuted"]["parsed_answer"] == "None"
    assert "Fill this in" in rows["unexecuted"]["explanation"]
    fc = [r for r in rows_all if r["student"] == "correct" and r["notebook"] == "notebooks/fc_net.ipynb"]
    assert fc and [r["parsed_answer"] for r in fc] == [r["reference_answer"] for r in fc]


def test_rerun_keeps_graded_submissions_unless_forced(graded):
    out, subs = graded["out"], graded["subs"]
    before = {name: (out / name / "results.json").stat().st_mtime_ns for name in graded["names"]}
    run = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    assert {name: (out / name / "results.json").stat().st_mtime_ns for name in graded["names"]} == before
    assert {r["student"]: r["score"] for r in run.rows} == {n: r["score"] for n, r in graded["rows"].items()}


def test_command_line(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    fx.write_zip(subs / "bob.zip", fx.apply(fx.reference_files(), fx.BUGS["half_l2"]))
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out), "--jobs", "2",
                           "--cell-timeout", "6"], cwd=SOURCE, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bob:" in proc.stdout and "grades.csv" in proc.stdout
    with open(out / "grades.csv") as f:
        assert next(csv.DictReader(f))["status"] == "graded"
