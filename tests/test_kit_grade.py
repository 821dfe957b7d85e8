"""`python -m kit grade`: planted bugs cost their points, attacks gain none, nothing crashes.

One grading run (module fixture) covers the planted submissions: the reference
solution, each course bug, empty / unexecuted work, and each attack on the
archive, the sandbox and the comparison. Attacks that would only pay off if
the sandbox leaked (reading the instructor source or other students' work,
the network) are planted in svm_loss: it returns the right answer only when
the attack succeeds, so the svm check must stay at zero.
"""
import csv
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kit_fixtures as fx
from kit.grade import grade
from kit.sandbox import Limits, bwrap_available

SOURCE = fx.SOURCE
SVM = "svm loss"
LIMITS = Limits(cell_timeout=6, timeout=150, memory_mb=2048)


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    dest = tmp_path_factory.mktemp("rel") / "kit"
    subprocess.run([sys.executable, "-m", "kit", "release", str(dest)], cwd=SOURCE, check=True,
                   capture_output=True)
    return dest


@pytest.fixture(scope="module")
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(50)
    yield sock.getsockname()[1]
    sock.close()


def plant_all(subs, out, release_dir, port):
    ref, stub = fx.reference_files(), fx.released_files(release_dir)
    plants = {"correct": ref, "empty": {}, "unexecuted": stub}
    for name, bug in fx.BUGS.items():
        plants[f"bug_{name}"] = fx.apply(ref, bug)
    plants["syntax_error"] = fx.append_code(ref, fx.LAYERS, "def broken(:\n    pass")
    plants["tamper_files"] = dict(stub, **{name: fx.TAMPER.encode() for name in (
        "conftest.py", "sitecustomize.py", "usercustomize.py", "pytest.ini", "cs231n/__init__.py",
        "cs231n/sitecustomize.py", "notebooks/conftest.py")})
    plants["monkeypatch"] = fx.append_code(stub, fx.LAYERS, fx.MONKEYPATCH)
    plants["always_equal"] = fx.append_code(ref, fx.NET, fx.ALWAYS_EQUAL)
    plants["forge_output"] = fx.append_code(stub, fx.LAYERS, fx.FORGE)
    plants["read_source"] = fx.wrap_svm(ref, f"""
readable = []
for path in ({str(SOURCE / 'cs231n/layers.py')!r}, {str(SOURCE / 'kit/checks/grading.ipynb')!r},
             {str(SOURCE / 'kit/grade.py')!r}):
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
    plants["memory_bomb"] = fx.wrap_svm(ref, "hog = []\nwhile True:\n    hog.append(bytearray(100 * 2**20))")
    plants["os_exit"] = fx.wrap_svm(ref, "import os\nos._exit(3)")
    plants["segfault"] = fx.wrap_svm(ref, "import ctypes\nctypes.string_at(0)")
    plants["flood"] = fx.wrap_svm(ref, """
import os
with open(f"/proc/{os.getppid()}/fd/1", "w") as f:
    while True:
        f.write('{"index": 3, ' + "x" * 2**20)""")
    plants["fork_bomb"] = fx.wrap_svm(ref, """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)""")
    plants["import_loop"] = fx.append_code(ref, fx.LAYERS, "while True:\n    pass")
    for name, files in plants.items():
        fx.write_zip(subs / f"{name}.zip", files)
    (subs / "not_a_zip.zip").write_bytes(b"PK\x03\x04 truncated nonsense")
    fx.write_zip(subs / "traversal.zip", ref, infos=[])
    import zipfile
    with zipfile.ZipFile(subs / "traversal.zip", "a") as zf:
        zf.writestr("../../kit-evil.py", "x = 1\n")
        zf.writestr("/tmp/kit-evil-abs.py", "x = 1\n")
        zf.writestr("cs231n/../../kit-evil2.py", "x = 1\n")
    return sorted(list(plants) + ["not_a_zip", "traversal"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory, release_dir, listener):
    base = tmp_path_factory.mktemp("grade")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    names = plant_all(subs, out, release_dir, listener)
    start = time.monotonic()
    rows = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    elapsed = time.monotonic() - start
    results = {n: json.loads((out / n / "results.json").read_text()) for n in names}
    return {"rows": {r["student"]: r for r in rows}, "results": results, "out": out, "subs": subs,
            "names": names, "elapsed": elapsed, "base": base}


def check_scores(results):
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"]}


def lost(results):
    return {name for name, (s, m) in check_scores(results).items() if s < m}


def test_every_submission_has_a_row_and_outputs(graded):
    out = graded["out"]
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == graded["names"]
    assert set(rows[0]) == {"student", "score", "max_score", "status", "isolation"}
    for name in graded["names"]:
        results = graded["results"][name]
        assert {"score", "execution_time", "output", "tests"} <= set(results)
        for test in results["tests"]:
            assert {"name", "score", "max_score", "status", "output"} <= set(test)
        assert (out / name / "feedback.md").read_text().startswith(f"# Feedback for {name}")


def test_reference_solution_gets_full_marks(graded):
    row = graded["rows"]["correct"]
    assert float(row["score"]) == float(row["max_score"]) > 0
    assert row["status"] == "graded"


@pytest.mark.parametrize("bug", sorted(fx.BUGS))
def test_each_bug_costs_its_checks_only(graded, bug):
    results = graded["results"][f"bug_{bug}"]
    assert lost(results) == fx.BUG_CHECKS[bug], json.dumps(results["tests"], indent=1)[:3000]
    assert 0 < results["score"] < graded["rows"]["correct"]["max_score"]


def test_feedback_names_the_check_and_expected_vs_got(graded):
    text = (graded["out"] / "bug_relu_backward" / "feedback.md").read_text()
    assert "### relu layer: 1 / 2 (FAILED)" in text
    assert "WRONG dx: expected [" in text and "got [" in text
    assert "ok    out: matches" in text


@pytest.mark.parametrize("name", ["empty", "unexecuted", "tamper_files", "monkeypatch", "forge_output",
                                  "syntax_error", "import_loop", "not_a_zip"])
def test_no_points_without_a_solution(graded, name):
    assert graded["results"][name]["score"] == 0, json.dumps(graded["results"][name], indent=1)[:3000]


def test_statuses_and_messages(graded):
    rows, results = graded["rows"], graded["results"]
    assert rows["empty"]["status"] == "empty"
    assert rows["not_a_zip"]["status"] == "rejected"
    assert "not a readable zip" in results["not_a_zip"]["output"]
    output = results["tamper_files"]["output"]
    for name in ("conftest.py", "sitecustomize.py", "pytest.ini", "cs231n/__init__.py"):
        assert f"ignored {name}: not a file you may change" in output
    assert "SyntaxError" in results["syntax_error"]["output"]


def test_always_equal_object_is_not_a_score(graded):
    results = graded["results"]["always_equal"]
    scores = check_scores(results)
    assert scores["toy scores"][0] == 0 and scores["predict"][0] == 0
    assert "could not be read as numbers" in next(t["output"] for t in results["tests"]
                                                   if t["name"] == "toy scores")


@pytest.mark.parametrize("name", ["infinite_loop", "memory_bomb", "os_exit", "segfault", "flood",
                                  "fork_bomb"])
def test_runaway_code_costs_only_the_affected_check(graded, name):
    results = graded["results"][name]
    assert lost(results) == {SVM}, json.dumps(results["tests"], indent=1)[:3000]
    svm = next(t for t in results["tests"] if t["name"] == SVM)
    assert svm["output"].startswith(("timeout", "dead", "error")), svm["output"]


@pytest.mark.skipif(not bwrap_available(), reason="file-system and network isolation need bubblewrap")
@pytest.mark.parametrize("name", ["read_source", "read_others", "network"])
def test_sandbox_hides_source_other_students_and_network(graded, name):
    results = graded["results"][name]
    assert lost(results) == {SVM}, json.dumps(results["tests"], indent=1)[:3000]
    assert results["output"].startswith("Isolation: bwrap")


def test_traversal_writes_nothing_outside(graded):
    results = graded["results"]["traversal"]
    assert results["score"] == graded["rows"]["correct"]["max_score"]
    assert "absolute path or path outside the kit" in results["output"]
    base = graded["base"]
    assert not list(base.rglob("kit-evil*")) and not Path("/tmp/kit-evil-abs.py").exists()
    assert not (base.parent / "kit-evil.py").exists()
    assert sorted(p.name for p in graded["out"].iterdir()) == sorted(
        graded["names"] + ["grades.csv", "manual_grading.csv"])


def test_manual_grading_gathers_answers_and_explanations(graded):
    with open(graded["out"] / "manual_grading.csv") as f:
        rows_all = list(csv.DictReader(f))
    rows = {r["student"]: r for r in rows_all if r["notebook"] == "notebooks/two_layer_net.ipynb"}
    assert rows["correct"]["parsed_answer"] == "[1, 3]" == rows["correct"]["reference_answer"]
    assert "larger dataset" in rows["correct"]["explanation"]
    assert rows["unexecuted"]["parsed_answer"] == "None"
    assert "Fill this in" in rows["unexecuted"]["explanation"]
    fc = [r for r in rows_all if r["student"] == "correct" and r["notebook"] == "notebooks/fc_net.ipynb"]
    assert [r["parsed_answer"] for r in fc] == [r["reference_answer"] for r in fc]
    assert fc and all(r["explanation"] for r in fc)


def test_rerun_skips_graded_submissions_unless_forced(graded):
    out, subs = graded["out"], graded["subs"]
    before = (out / "correct" / "results.json").stat().st_mtime_ns
    start = time.monotonic()
    rows = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    assert time.monotonic() - start < 10
    assert (out / "correct" / "results.json").stat().st_mtime_ns == before
    assert {r["student"]: r["score"] for r in rows} == {n: r["score"] for n, r in graded["rows"].items()}


@pytest.mark.parametrize("isolation", ["auto", "rlimits"])
def test_submission_time_limit_kills_the_whole_tree(release_dir, tmp_path, isolation):
    """Past the per-submission limit the sandbox dies with everything it started."""
    from kit.sandbox import choose_isolation, run_checks

    kit = tmp_path / "kit"
    shutil.copytree(release_dir, kit)
    marker = "987.654321" if isolation == "auto" else "987.654322"
    layers = kit / fx.LAYERS
    layers.write_text((SOURCE / fx.LAYERS).read_text() + f"""
import subprocess as _sp, time as _t
_sp.Popen(["sleep", "{marker}"])
_t.sleep(1000)
""")
    notebook = (SOURCE / "kit/checks/grading.ipynb").read_text()
    start = time.monotonic()
    run = run_checks(kit, notebook, Limits(cell_timeout=60, timeout=8), choose_isolation(isolation))
    assert run.timed_out and time.monotonic() - start < 30
    assert all(r["check"] is None for r in run.lines)  # only the first setup cell got through
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "a process of the sandbox survived it"
