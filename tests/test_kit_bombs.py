"""Hostile submissions cost a bounded share of the grader, and cannot turn their zero into an `error`.

Each bomb is the reference solution with a few lines planted at the start of
affine_forward (bench/bench_bombs.py holds them, and measures the wall time
of each at the default limits). They are graded with real bubblewrap beside
a correct submission, with small budgets so that the tests stay short, and
the tests assert on what the grader recorded (the CPU and wall seconds it
charged to the budgets, the checks it did not run, the memory it saw), never
on the wall clock; the wall time of each is printed (pytest -s shows it).

- `killer`: the executor is killed just before it acknowledges the next
  request. The experiment (the reference code in the same sandbox) passes,
  so the submission is `graded` and loses those checks; a planted grader
  failure that kills the reference's sandbox too stays an `error`.
- `spinner`, `fork`, `sleeper`, `memory`: each costs at most its budgets,
  also with two CPU-bound processes beside, and the neighbour keeps every point.
- Without cgroups (disabled, or a grader that is not root), the memory of a
  sandbox is still bounded as a whole, or grading is refused with the flag
  that accepts per-process bounds named.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

import kit_fixtures as fx
from kit.instructor.grade import run as run_mod
from kit.instructor.grade.run import grade
from kit.instructor.sandbox import reach
from kit.instructor.sandbox.isolation import IsolationUnavailable, Isolation, Limits, locate_bwrap, memory_bound
from kit.instructor.sandbox.box import SANDBOXED
from test_kit_failures import read_rows

sys.path.insert(0, str(fx.SOURCE / "bench"))
from bench_bombs import bomb_files, used_memory  # noqa: E402

SOURCE = fx.SOURCE
# Small budgets: the same code as the defaults (90 CPU s, 90 s), in a fraction of the time.
LIMITS = Limits(cell_timeout=4, timeout=12, wall_timeout=12, memory_mb=1024)
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to run the grader as another user)")


def hogs(count):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
             for _ in range(count)]
    return procs


def results_of(out, name):
    return json.loads((out / name / "results.json").read_text())


def lines_of(results):
    return {t["name"]: t["output"] for t in results["tests"]}


def write_subs(subs, kinds, neighbours=("neighbour",)):
    subs.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        fx.write_zip(subs / f"{kind}.zip", bomb_files(kind))
    for name in neighbours:
        fx.write_zip(subs / f"{name}.zip", fx.append_code(fx.reference_files(), fx.LAYERS, f"# {name}"))


def assert_full_marks(row):
    assert row["status"] == "graded" and float(row["score"]) == float(row["max_score"]) > 0, row


def report(out, names):
    """Print the wall time and the budgets each submission used (pytest -s)."""
    for name in names:
        results = results_of(out, name)
        timing = results["extra_data"]["timing"]
        print(f"\n{name}: {results['execution_time']:.1f} s of wall time; charged {timing['checks_cpu']:.1f} CPU s "
              f"of {timing['budget_cpu']:g}, {timing['checks_wall']:.1f} wall s of {timing['budget_wall']:g}; "
              f"{timing['checks_not_run']} checks not run; {timing['experiments']} experiments; "
              f"memory peak seen {timing['memory_peak_mb']:.0f} MB")


# ---------------------------------------------------------------------------- whose fault a dead sandbox is

@needs_bwrap
@pytest.mark.parametrize("load", [0, 2])
def test_code_that_ends_the_grader_loses_only_its_checks_and_is_graded(tmp_path, load):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_subs(subs, ["killer"])
    procs = hogs(load)
    try:
        run = grade(subs, out, jobs=2, limits=Limits(cell_timeout=6, memory_mb=1024), log=lambda *a: None)
    finally:
        for proc in procs:
            proc.kill()
    rows = read_rows(out)
    assert_full_marks(rows["neighbour"])
    assert rows["killer"]["status"] == "graded", rows["killer"]
    assert 0 < float(rows["killer"]["score"]) < float(rows["killer"]["max_score"])
    assert run.exit_code == 0
    results = results_of(out, "killer")
    ended = [name for name, text in lines_of(results).items()
             if "\nstopped: your code ended the grading process" in text]
    assert ended and "Your code ended the grading process before" in results["output"]
    assert all(t["score"] == 0 for t in results["tests"] if t["name"] in ended)
    assert 1 <= results["extra_data"]["timing"]["experiments"] <= 3   # the cost of the experiments is bounded
    report(out, ["killer", "neighbour"])


@needs_bwrap
def test_the_grader_is_at_fault_when_the_reference_code_ends_the_sandbox_too(tmp_path):
    """A failure planted in the executor itself, for every code, before the cell `toy loss`: status error."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_subs(subs, [], neighbours=("olivia",))
    folder = tmp_path / "sandboxed"
    shutil.copytree(SANDBOXED, folder)
    source = (folder / "executor.py").read_text()
    anchor = '        reply({"token": token, "started": True})\n'
    assert source.count(anchor) == 1, "the executor no longer acknowledges a request there"
    (folder / "executor.py").write_text(source.replace(
        anchor, '        if request.get("name") == "toy loss":\n            os.kill(os.getpid(), 9)\n' + anchor))
    run = grade(subs, out, limits=Limits(cell_timeout=6, memory_mb=1024), sandboxed_dir=folder,
                log=lambda *a: None)
    row = read_rows(out)["olivia"]
    assert row["status"] == "error", row
    assert "the reference code, run in its place in the same sandbox, ended it too" in row["reason"]
    assert run.exit_code == 1


# ---------------------------------------------------------------------------- budgets

@needs_bwrap
@pytest.mark.parametrize("load", [0, 2])
def test_each_bomb_costs_at_most_its_budgets_and_the_neighbour_keeps_every_point(tmp_path, load):
    subs, out = tmp_path / "subs", tmp_path / "out"
    kinds = ["spinner", "fork", "sleeper", "memory"]
    write_subs(subs, kinds)
    procs = hogs(load)
    try:
        grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    finally:
        for proc in procs:
            proc.kill()
    rows = read_rows(out)
    assert_full_marks(rows["neighbour"])
    for kind in kinds:
        assert rows[kind]["status"] == "graded", rows[kind]
        results = results_of(out, kind)
        timing = results["extra_data"]["timing"]
        assert (timing["budget_cpu"], timing["budget_wall"]) == (LIMITS.timeout, LIMITS.wall_timeout)
        # A check stops when it goes over what is left (its wall time less its wait for a CPU is read
        # every 0.5 s); a sandbox start and the kill of a sandbox are charged once done: that is all
        # the budgets can be gone over by (the kill: a few tenths of a second, 3 s allowed under load).
        assert timing["checks_cpu"] <= LIMITS.timeout + 1.5, (kind, timing)
        assert timing["checks_wall"] <= LIMITS.wall_timeout + 0.5 + timing["sandbox_start_max"] + 3, (kind, timing)
        lost = lines_of(results)
        assert float(rows[kind]["score"]) < float(rows[kind]["max_score"])
        if kind != "memory":
            assert timing["checks_not_run"] > 0 and "Not run: " in results["output"], (kind, results["output"])
            assert any("\nnot run: the " in text for text in lost.values()), lost
        else:
            assert any("memory" in text for text in lost.values()), lost
    report(out, kinds + ["neighbour"])


@needs_bwrap
def test_the_budgets_are_limits_with_flags_and_the_feedback_says_which_checks_were_not_run(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_subs(subs, ["sleeper"], neighbours=())
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out), "--cell-timeout",
                           "2", "--timeout", "30", "--wall-timeout", "10"], cwd=SOURCE, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = results_of(out, "sleeper")
    timing = results["extra_data"]["timing"]
    assert (timing["budget_cpu"], timing["budget_wall"]) == (30, 10)
    assert "the 10 s of wall time that the code checks of a submission may take were used up" in results["output"]
    assert "--wall-timeout 10 s" in results["output"]
    assert "hidden" in results["output"]  # hidden checks are counted, never named


# ---------------------------------------------------------------------------- memory as a whole, without cgroups

def test_the_memory_bound_fails_closed():
    assert memory_bound("bwrap", object(), True) == "cgroup"
    assert memory_bound("bwrap", None, False) == "watch"           # a pid namespace holds every process
    assert memory_bound("container", None, True) == "watch"        # a host uid of its own
    with pytest.raises(IsolationUnavailable, match="--memory-per-process"):
        memory_bound("rlimits", None, False)
    assert memory_bound("rlimits", None, False, per_process=True) == "process"
    line = Isolation("rlimits", memory="process").describe()
    assert "MEMORY BOUNDED PER PROCESS ONLY" in line
    assert "memory bounded as a whole by the grader" in Isolation("bwrap", "/usr/bin/bwrap", memory="watch").describe()


@needs_bwrap
def test_without_cgroups_a_memory_bomb_is_bounded_as_a_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(run_mod.cgroups_mod, "detect", lambda: None)
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_subs(subs, ["memory"])
    watch = MemoryWatch()
    with watch:
        grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    rows = read_rows(out)
    assert_full_marks(rows["neighbour"])
    assert rows["memory"]["status"] == "graded"
    assert "memory bounded as a whole by the grader" in rows["memory"]["isolation"]
    results = results_of(out, "memory")
    lost = lines_of(results)
    assert any(f"more than the {LIMITS.memory_mb} MB of memory" in text for text in lost.values()), lost
    peak = results["extra_data"]["timing"]["memory_peak_mb"]
    assert LIMITS.memory_mb < peak < 2 * LIMITS.memory_mb
    report(out, ["memory"])
    print(f"memory in use on the machine at most {watch.peak / 2**20:.0f} MB above the start")


class MemoryWatch:
    """The highest MemTotal - MemAvailable while it runs, above what it was at the start (other tests count)."""

    def __enter__(self):
        self.stop, self.base, self.peak = threading.Event(), used_memory(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, used_memory() - self.base)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.fixture
def open_tmp():
    """A folder any user can use (pytest's tmp_path is root's own)."""
    path = Path(tempfile.mkdtemp(prefix="kit-bombs-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_nobody(python, args, open_tmp, timeout=600):
    """`python -m kit ARGS` as the user nobody, from a copy of the instructor source that nobody can read
    (this checkout may sit in a private home folder: nobody could not even enter it)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(open_tmp), "TMPDIR": str(open_tmp), "LANG": "C.UTF-8"}
    runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    if runuser is None:
        pytest.skip("needs runuser (util-linux) to run the grader as another user")
    source = Path(python).parents[2] / "source"
    return subprocess.run([runuser, "-u", "nobody", "--", python, "-m", "kit", *args], cwd=source, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def nobody_python():
    """
    A virtualenv the user nobody can run, with this one's packages in it (hard links), as a grader
    that is not root has: under bubblewrap, the sandbox sees the grader's interpreter and its prefix.
    Beside it, `source/`: a copy of the instructor source that nobody can read (see as_nobody).
    """
    if os.geteuid() != 0:
        pytest.skip("needs root (to run the grader as another user)")
    base = reach.reachable_base(reach.describe(sys.executable))
    if base is None:
        pytest.skip("no Python of this version that another user can run")
    folder = Path(tempfile.mkdtemp(prefix="kit-bombs-venv-"))
    folder.chmod(0o755)
    venv = folder / "venv"
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        for lib in sorted(Path(sys.prefix, "lib").glob("python3*/site-packages")):
            reach.link_tree(lib, venv / "lib" / lib.parent.name / "site-packages")
        shutil.copytree(SOURCE, folder / "source", symlinks=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "datasets", "build", "submissions", "grades", "__pycache__", ".pytest_cache"))
        for path in [folder / "source", *(folder / "source").rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        yield str(venv / "bin" / "python")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@needs_bwrap
@needs_root
def test_a_grader_that_is_not_root_bounds_a_memory_bomb_as_a_whole(open_tmp, nobody_python):
    subs, out = open_tmp / "subs", open_tmp / "out"
    write_subs(subs, ["memory"])
    for path in [subs, *subs.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with MemoryWatch() as watch:
        proc = as_nobody(nobody_python, ["grade", str(subs), "--out", str(out), "--jobs", "2", "--cell-timeout", "4",
                                         "--timeout", "12", "--wall-timeout", "12", "--memory-mb", "1024"], open_tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = read_rows(out)
    assert_full_marks(rows["neighbour"])
    assert rows["memory"]["status"] == "graded"
    assert "no cgroups; memory bounded as a whole by the grader" in rows["memory"]["isolation"]
    results = results_of(out, "memory")
    assert any("more than the 1024 MB of memory" in text for text in lines_of(results).values())
    assert 1024 < results["extra_data"]["timing"]["memory_peak_mb"] < 2048
    report(out, ["memory"])
    print(f"memory in use on the machine at most {watch.peak / 2**20:.0f} MB above the start "
          f"(16 processes of 400 MB each were asked for)")


@needs_root
def test_a_grader_that_is_not_root_without_bubblewrap_is_refused_unless_per_process_bounds_are_accepted(
        open_tmp, nobody_python):
    subs, out = open_tmp / "subs", open_tmp / "out"
    write_subs(subs, [], neighbours=("pat",))
    proc = as_nobody(nobody_python, ["grade", str(subs), "--out", str(out), "--isolation", "rlimits"], open_tmp)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--memory-per-process" in proc.stderr and "cannot be bounded as a whole" in proc.stderr
    assert not (out / "pat").exists()


@needs_root
def test_without_cgroups_or_bubblewrap_a_root_graders_sandbox_uid_bounds_memory_as_a_whole(tmp_path, monkeypatch):
    """--isolation rlimits as root: no pid namespace, but the sandbox's processes are those of its own uid."""
    mirrors = Path(tempfile.mkdtemp(prefix="kit-bombs-mirrors-"))
    mirrors.chmod(0o755)
    monkeypatch.setenv(reach.MIRRORS_ENV, str(mirrors))
    monkeypatch.setattr(run_mod.cgroups_mod, "detect", lambda: None)
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_subs(subs, ["memory"])
    try:
        grade(subs, out, jobs=2, limits=LIMITS, isolation="rlimits", log=lambda *a: None)
    finally:
        shutil.rmtree(mirrors, ignore_errors=True)
    rows = read_rows(out)
    assert_full_marks(rows["neighbour"])
    assert rows["memory"]["status"] == "graded"
    assert "memory bounded as a whole by the grader" in rows["memory"]["isolation"]
    results = results_of(out, "memory")
    assert any(f"more than the {LIMITS.memory_mb} MB of memory" in text for text in lines_of(results).values())
    assert LIMITS.memory_mb < results["extra_data"]["timing"]["memory_peak_mb"] < 2 * LIMITS.memory_mb
    report(out, ["memory"])
