"""The grader's own failures never become a student's zero, and grading fails closed.

Each test plants a failure of the grader's side (a sandbox that cannot start,
a full process table, an executor that exits at once or dies before its first
cell, no bubblewrap, Ctrl-C, `kill -9`) and checks that the submissions it
hits get status `error` (or stay ungraded) with the reason, that a rerun
grades them, and that nothing is left behind. The failures are planted for
"victim" submissions only (their code holds a marker), through a bubblewrap
wrapper or a copy of the sandbox's executor, so that the other submissions
of the same run show that only the planted failure counts.
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import kit_fixtures as fx
from kit.instructor.sandbox import cgroups
from kit.instructor.grade.run import RUN_PREFIX, grade
from kit.instructor.sandbox.box import SANDBOXED
from kit.instructor.sandbox.isolation import IsolationUnavailable, Limits, locate_bwrap

SOURCE = fx.SOURCE
LIMITS = Limits(cell_timeout=6, timeout=120, memory_mb=1024)
MARKER = "# VICTIM of a planted grader failure"
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None,
                                 reason="grading needs bubblewrap (apt-get install bubblewrap)")


def plant(subs, names, victims=(), slow=0.0):
    """Correct, byte-distinct submissions; victims carry MARKER inside a region; slow ones sleep in svm_loss."""
    ref = fx.reference_files()
    for name in names:
        files = fx.append_code(ref, fx.LAYERS, f"# {name}")
        if name in victims:
            files = fx.in_region(files, fx.LAYERS, "affine_forward", MARKER)
        if slow:
            files = fx.in_region(files, fx.LAYERS, "svm_loss", f"import time\ntime.sleep({slow})")
        fx.write_zip(subs / f"{name}.zip", files)


def fake_bwrap(tmp_path, fail_first_only=False):
    """A bubblewrap that fails like a full process table for sandboxes whose kit holds MARKER."""
    counter = tmp_path / "failures"
    script = tmp_path / "bwrap"
    script.write_text(f"""#!/bin/sh
for arg in "$@"; do
    case "$arg" in
        */view/cs231n/layers.py)
            if grep -q "VICTIM" "$arg"; then
                if [ {int(fail_first_only)} = 0 ] || ! grep -qx "$arg" {counter} 2>/dev/null; then
                    echo "$arg" >> {counter}
                    echo "bwrap: Creating new namespace failed: Resource temporarily unavailable" >&2
                    exit 1
                fi
            fi;;
    esac
done
exec {locate_bwrap()} "$@"
""")
    script.chmod(0o755)
    return str(script)


def executor_copy(tmp_path, anchor, insert):
    """A copy of kit/sandboxed/ whose executor runs `insert` (for victims) just before `anchor`."""
    folder = tmp_path / "sandboxed"
    shutil.copytree(SANDBOXED, folder)
    source = (folder / "executor.py").read_text()
    assert source.count(anchor) == 1, f"the executor no longer has {anchor!r}"
    indent = anchor[:len(anchor) - len(anchor.lstrip())]
    victim = (f'{indent}if "VICTIM" in open(os.path.join(root, "cs231n/layers.py")).read():\n'
              f'{indent}    {insert}\n')
    (folder / "executor.py").write_text(source.replace(anchor, victim + anchor))
    return folder


def read_rows(out):
    with open(out / "grades.csv") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def assert_full_marks(rows, names):
    for name in names:
        assert rows[name]["status"] == "graded", rows[name]
        assert float(rows[name]["score"]) == float(rows[name]["max_score"]) > 0, rows[name]


@needs_bwrap
def test_a_full_process_table_is_an_error_with_the_reason_and_a_rerun_grades_it(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["alice", "bob", "carol"], victims=("bob",))
    logs = []
    run = grade(subs, out, jobs=2, limits=LIMITS, bwrap=fake_bwrap(tmp_path), log=logs.append)
    rows = read_rows(out)
    assert_full_marks(rows, ["alice", "carol"])
    assert rows["bob"]["status"] == "error" and rows["bob"]["score"] in ("0", "0.0")
    assert "Resource temporarily unavailable" in rows["bob"]["reason"] and "3 attempts" in rows["bob"]["reason"]
    results = json.loads((out / "bob" / "results.json").read_text())
    assert "Could not be graded" in results["output"] and "grade it again" in results["output"]
    assert run.exit_code == 1
    assert any("1 submission(s) could not be graded" in line and "--retry-errors" in line for line in logs)
    before = (out / "alice" / "results.json").stat().st_mtime_ns
    run = grade(subs, out, jobs=2, limits=LIMITS, retry_errors=True, log=lambda *a: None)
    assert run.exit_code == 0
    assert_full_marks(read_rows(out), ["alice", "bob", "carol"])
    assert (out / "alice" / "results.json").stat().st_mtime_ns == before  # only errors were graded again


@needs_bwrap
def test_a_grader_failure_that_goes_away_is_retried_within_the_run(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["dave", "erin"], victims=("erin",))
    run = grade(subs, out, jobs=2, limits=LIMITS, bwrap=fake_bwrap(tmp_path, fail_first_only=True),
                log=lambda *a: None)
    assert run.exit_code == 0
    assert_full_marks(read_rows(out), ["dave", "erin"])


@needs_bwrap
@pytest.mark.parametrize("how, anchor, insert", [
    ("exits at once", "    import numpy as np\n", "os._exit(0)"),
    ("killed before its first cell", '        reply({"token": token, "started": True})\n',
     'os.kill(os.getpid(), 9) if request.get("ns") != "__probe__" else None'),
])
def test_an_executor_that_fails_before_any_student_cell_is_an_error(tmp_path, how, anchor, insert):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["frank", "grace"], victims=("grace",))
    run = grade(subs, out, jobs=2, limits=LIMITS, sandboxed_dir=executor_copy(tmp_path, anchor, insert),
                log=lambda *a: None)
    rows = read_rows(out)
    assert_full_marks(rows, ["frank"])
    assert rows["grace"]["status"] == "error", rows["grace"]
    assert "sandbox" in rows["grace"]["reason"], rows["grace"]
    assert run.exit_code == 1
    grade(subs, out, jobs=2, limits=LIMITS, retry_errors=True, log=lambda *a: None)
    assert_full_marks(read_rows(out), ["frank", "grace"])


@needs_bwrap
def test_a_sandbox_that_never_starts_stops_grading_before_any_submission(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["heidi"])
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out), "--bwrap",
                           str(broken)], cwd=SOURCE, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "the sandbox does not start" in proc.stderr and "No permissions" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "heidi").exists()


def test_without_bubblewrap_auto_refuses_to_grade(tmp_path, monkeypatch):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["ivan"])
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out), "--bwrap",
                           str(tmp_path / "nowhere" / "bwrap")], cwd=SOURCE, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install bubblewrap" in lines[0] and "--isolation rlimits" in lines[0]
    assert not (out / "ivan").exists()
    import kit.instructor.sandbox.isolation as isolation
    monkeypatch.setattr(isolation, "BWRAP_PLACES", ())
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(IsolationUnavailable, match="not installed on PATH"):
        grade(subs, out, isolation="auto", log=lambda *a: None)
    with pytest.raises(IsolationUnavailable):
        grade(subs, out, isolation="bwrap", log=lambda *a: None)


def _leftovers(pid):
    runs = list(Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}{pid}-*"))
    found = cgroups.detect()
    groups = [d for parent in (found.parents.values() if found else ()) for d in parent.glob(f"kit-grade-{pid}-*")]
    return runs + groups


def _start_cli(subs, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out), "--jobs", "2",
                             "--cell-timeout", "6", *extra], cwd=SOURCE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_results(proc, count, timeout=240):
    """Read the grader's log until `count` submissions are done; returns the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum(1 for l in lines if l.startswith("[")) >= count:
            return lines
    raise AssertionError("the grader did not get that far:\n" + "".join(lines))


@needs_bwrap
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_loses_no_grade_and_leaves_nothing_behind(tmp_path, presses):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    names = [f"s{i:02d}" for i in range(10)]
    plant(subs, names, slow=1.5)
    proc = _start_cli(subs, out)
    _wait_for_results(proc, 1)
    proc.send_signal(signal.SIGINT)
    if presses == 2:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert "Interrupted" in rest and "Traceback" not in rest
    rows = read_rows(out)
    assert set(rows) == set(names)
    graded = [n for n, r in rows.items() if r["status"] == "graded"]
    ungraded = [n for n, r in rows.items() if r["status"] == "not graded"]
    assert graded and ungraded and len(graded) + len(ungraded) == len(names), rows
    assert_full_marks(rows, graded)
    for name in ungraded:
        assert rows[name]["score"] == "" and not (out / name / "results.json").exists()
    assert _leftovers(proc.pid) == []
    run = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    assert run.exit_code == 0
    assert_full_marks(read_rows(out), names)


@needs_bwrap
def test_kill_9_then_resume_grades_the_rest_and_cleans_up(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    names = [f"k{i:02d}" for i in range(8)]
    plant(subs, names, slow=1.5)
    proc = _start_cli(subs, out)
    _wait_for_results(proc, 1)
    # Its private folder is there while it runs. Once it is killed, the next grading run removes it;
    # that may be another test's run, beside this one, so it is looked for before the kill.
    assert _leftovers(proc.pid), "a running grader has its private folder"
    proc.kill()
    proc.wait(timeout=30)
    run = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    assert run.exit_code == 0
    assert_full_marks(read_rows(out), names)
    assert _leftovers(proc.pid) == []


@needs_bwrap
def test_bubblewrap_outside_usr_bin_and_a_python_started_through_a_symlink_work(tmp_path):
    venv_python = SOURCE / ".venv" / "bin" / "python"
    if Path(sys.prefix).resolve() != (SOURCE / ".venv").resolve():
        pytest.skip("needs the kit's own .venv (make env)")
    bindir = tmp_path / "opt" / "bin"
    bindir.mkdir(parents=True)
    shutil.copy2(locate_bwrap(), bindir / "bwrap")
    link = tmp_path / "link"
    link.symlink_to(SOURCE, target_is_directory=True)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["judy"])
    env = dict(os.environ, PATH=f"{bindir}:/usr/bin:/bin")
    proc = subprocess.run([str(link / venv_python.relative_to(SOURCE)), "-m", "kit", "grade", str(subs),
                           "--out", str(out)], cwd=link, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_full_marks(read_rows(out), ["judy"])


def test_rlimits_says_plainly_when_the_network_could_not_be_cut(tmp_path):
    folder = tmp_path / "sandboxed"
    shutil.copytree(SANDBOXED, folder)
    launch = (folder / "launch.py").read_text()
    anchor = 'filter_net = config.get("unshare_net") and not unshare_network()'
    assert launch.count(anchor) == 1, "launch.py no longer cuts the network there"
    (folder / "launch.py").write_text(launch.replace(anchor, "filter_net = False"))
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["kate"])
    logs = []
    run = grade(subs, out, limits=LIMITS, isolation="rlimits", sandboxed_dir=folder, log=logs.append)
    assert any(line.startswith("WARNING: the network could not be cut") for line in logs), logs
    assert "NETWORK NOT CUT" in read_rows(out)["kate"]["isolation"]
    assert run.exit_code == 0


@needs_bwrap
def test_a_bubblewrap_that_reaches_the_network_stops_grading(tmp_path):
    leaky = tmp_path / "bwrap"
    leaky.write_text("#!/bin/sh\nfor a in \"$@\"; do shift; [ \"$a\" = --unshare-net ] || set -- \"$@\" \"$a\"; done\n"
                     f"exec {locate_bwrap()} \"$@\"\n")
    leaky.chmod(0o755)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, ["liam"])
    with pytest.raises(IsolationUnavailable, match="reached this machine's network"):
        grade(subs, out, limits=LIMITS, bwrap=str(leaky), log=lambda *a: None)
    assert not (out / "liam").exists()
