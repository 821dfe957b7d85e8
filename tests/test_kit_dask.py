"""`kit grade --scheduler` on a real Dask cluster: `dask scheduler` and `dask worker` processes on 127.0.0.1.

The workers run from a virtualenv of their own where the kit is pip-installed
(its dependencies are those of this test run, through a .pth file), in a
working folder outside the checkout, with no PYTHONPATH: what a worker needs
must come from the installed kit and from Dask's messages. The grader itself
runs as the instructor runs it, `python -m kit grade` from the checkout.

These tests wait on conditions with generous deadlines and assert results,
never times. Student code runs under --isolation rlimits: the bwrap sandbox
mounts only the worker's Python installation, and this one borrows its
packages from the test run's.
"""
import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

import kit_fixtures as fx
from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(cell_timeout=5, timeout=120, memory_mb=1024)
FAST = ["--isolation", "rlimits", "--cell-timeout", "5", "--timeout", "120", "--memory-mb", "1024"]
WORKER_WAIT = "4"
DEADLINE = 240  # seconds: a generous bound for anything to happen on a loaded machine
# Inside svm_loss's region: two seconds of sleep the first time a sandbox calls it (no CPU used).
SLOW = ("import os as _os, time as _time\n"
        "_flag = _os.path.join(_os.environ.get('HOME', '/tmp'), '.slow')\n"
        "if not _os.path.exists(_flag):\n"
        "    open(_flag, 'w').close()\n"
        "    _time.sleep(2)\n")


def wait_for(condition, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what} after {deadline} s")


# ---------------------------------------------------------------------------- a worker's environment

@pytest.fixture(scope="module")
def worker_python(tmp_path_factory):
    """The Python of a new virtualenv where the kit is pip-installed from a copy of the checkout."""
    base = tmp_path_factory.mktemp("worker-env")
    src = base / "src"
    src.mkdir()
    for name in ("cs231n", "kit"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "get_datasets.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    has_backend = subprocess.run([str(python), "-c", "import setuptools, sys; "
                                  "sys.exit(tuple(map(int, setuptools.__version__.split('.')[:2])) < (70, 1))"],
                                 capture_output=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if has_backend.returncode:  # setuptools that builds wheels by itself, from the package registry
        subprocess.run(pip + ["setuptools>=70.1"], check=True)
    subprocess.run(pip + ["--no-deps", "--no-build-isolation", str(src)], check=True)
    shutil.rmtree(src)  # the workers must not need it
    found = subprocess.run([str(python), "-c", "import kit, cs231n; print(kit.__file__, cs231n.__file__)"],
                           cwd=base, check=True, capture_output=True, text=True).stdout.split()
    assert all(path.startswith(str(venv)) for path in found), found
    return python


class Cluster:
    """A `dask scheduler` and `dask worker` processes of worker_python, each in a process group of its own."""

    def __init__(self, python, folder):
        self.python, self.folder = python, folder
        self.folder.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.scheduler_file = folder / "scheduler.json"
        self.procs, self.workers = [], {}
        self.scheduler = self._start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                     "--port", "0", "--no-dashboard", "--scheduler-file", str(self.scheduler_file))
        wait_for(lambda: self.scheduler_file.is_file() and self.scheduler_file.stat().st_size, "the scheduler")
        time.sleep(0.2)  # the file is written in one go, but be sure it is complete
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        self.client = distributed.Client(self.address, timeout=60, set_as_default=False)

    def _start(self, name, module, *args):
        log = open(self.folder / f"{name}.log", "wb")
        proc = subprocess.Popen([str(self.python), "-m", module, *args], cwd=self.folder, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def start_workers(self, *names):
        for name in names:
            self.workers[name] = self._start(
                name, "distributed.cli.dask_worker", "--scheduler-file", str(self.scheduler_file),
                "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1", "--name", name,
                "--local-directory", str(self.folder / name))
        self.client.wait_for_workers(len(self.workers), timeout=DEADLINE)

    def kill(self, proc):
        """SIGKILL a process and everything it started (a machine that goes away)."""
        try:
            family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def kill_worker(self, name):
        self.kill(self.workers.pop(name))
        wait_for(lambda: len(self.client.nthreads()) == len(self.workers), f"the scheduler to lose {name}")

    def close(self):
        try:
            self.client.close(timeout=5)
        finally:
            for proc in reversed(self.procs):
                if proc.poll() is None:
                    self.kill(proc)


@pytest.fixture
def cluster(worker_python, tmp_path):
    made = Cluster(worker_python, tmp_path / "cluster")
    try:
        yield made
    finally:
        made.close()


# ---------------------------------------------------------------------------- helpers

def submissions(folder, kinds):
    """Zips of planted submissions: {name: kind}, kind "correct", "slow", "empty" or one of fx.BUGS."""
    folder.mkdir()
    ref = fx.reference_files()
    for name, kind in kinds.items():
        if kind == "empty":
            files = {}
        elif kind == "slow":
            files = fx.append_code(fx.in_region(ref, fx.LAYERS, "svm_loss", SLOW), fx.LAYERS, f"# {name}")
        else:
            files = ref if kind == "correct" else fx.apply(ref, fx.BUGS[kind])
        fx.write_zip(folder / f"{name}.zip", files)
    return folder


def kit_grade(subs, out, cluster, *extra):
    """`python -m kit grade ... --scheduler` as the instructor runs it, started (a Popen)."""
    log = open(out.parent / f"{out.name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out), "--scheduler",
                             cluster.address, "--worker-wait", WORKER_WAIT, *FAST, *extra],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def finish(proc, out):
    proc.wait(timeout=DEADLINE * 2)
    return proc.returncode, (out.parent / f"{out.name}.log").read_text()


def read_grades(out):
    with open(out / "grades.csv") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def graded(out):
    return sorted(p.parent.name for p in out.glob("*/results.json"))


# ---------------------------------------------------------------------------- the tests

def test_a_cluster_of_installed_workers_grades_like_the_local_engine(cluster, tmp_path):
    kinds = {"correct": "correct", "relu_backward": "relu_backward", "half_l2": "half_l2", "empty": "empty"}
    subs, out = submissions(tmp_path / "subs", kinds), tmp_path / "out"
    cluster.start_workers("w1", "w2")
    code, log = finish(kit_grade(subs, out, cluster), out)
    assert code == 0, log
    local = grade(subs, tmp_path / "local", limits=LIMITS, isolation="rlimits", log=lambda *a: None)
    on_cluster = read_grades(out)
    assert {r["student"]: (float(r["score"]), r["status"]) for r in local.rows} == \
        {name: (float(r["score"]), r["status"]) for name, r in on_cluster.items()}
    assert float(on_cluster["correct"]["score"]) == float(on_cluster["correct"]["max_score"]) > 0
    assert 0 < float(on_cluster["half_l2"]["score"]) < float(on_cluster["half_l2"]["max_score"])
    for name in kinds:  # the same feedback, test by test
        mine = json.loads((out / name / "results.json").read_text())
        theirs = json.loads((tmp_path / "local" / name / "results.json").read_text())
        assert [(t["name"], t["score"]) for t in mine["tests"]] == [(t["name"], t["score"]) for t in theirs["tests"]]
        assert (out / name / "feedback.md").is_file() and (out / name / "manual.json").is_file()


def test_a_cluster_without_the_kit_installed_is_refused_with_what_to_do(tmp_path):
    """The bug of before: scheduler and workers that could not import kit lost the whole run."""
    subs, out = submissions(tmp_path / "subs", {"correct": "correct"}), tmp_path / "out"
    bare = Cluster(Path(sys.executable), tmp_path / "cluster")  # this test run's Python: no kit outside the checkout
    try:
        bare.start_workers("w1")
        code, log = finish(kit_grade(subs, out, bare), out)
    finally:
        bare.close()
    assert code == 2, log
    assert "pip install this kit where the scheduler and every worker run" in log
    assert not (out / "correct").exists()


def test_no_scheduler_at_the_address_stops_before_the_reference_run(tmp_path, monkeypatch):
    import socket

    from kit.instructor.grade import cluster
    from kit.instructor.grade.prepare import SetupError

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2)
    subs, logs = submissions(tmp_path / "subs", {"correct": "correct"}), []
    with pytest.raises(SetupError, match=f"no Dask scheduler answers at tcp://127.0.0.1:{port}.*start one with"):
        grade(subs, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", isolation="rlimits", log=logs.append)
    assert logs == []  # not even the rlimits warning: nothing was prepared


def test_a_worker_killed_mid_run_loses_no_submission(cluster, tmp_path):
    names = [f"s{i}" for i in range(4)]
    subs, out = submissions(tmp_path / "subs", {n: "slow" for n in names}), tmp_path / "out"
    cluster.start_workers("w1", "w2")
    proc = kit_grade(subs, out, cluster)
    wait_for(lambda: graded(out) or proc.poll() is not None, "a first result")
    cluster.kill_worker("w1")
    code, log = finish(proc, out)
    assert code == 0, log
    grades = read_grades(out)
    assert sorted(grades) == names
    assert all(r["status"] == "graded" and float(r["score"]) == float(r["max_score"]) > 0
               for r in grades.values()), grades


def test_when_every_worker_is_gone_the_run_stops_and_a_rerun_grades_the_rest(cluster, tmp_path):
    names = [f"s{i}" for i in range(5)]
    subs, out = submissions(tmp_path / "subs", {n: "slow" for n in names}), tmp_path / "out"
    cluster.start_workers("w1", "w2")
    proc = kit_grade(subs, out, cluster)
    wait_for(lambda: graded(out) or proc.poll() is not None, "a first result")
    cluster.kill_worker("w1")
    cluster.kill_worker("w2")
    code, log = finish(proc, out)
    kept = {name: (out / name / "results.json").stat().st_mtime_ns for name in graded(out)}
    grades = read_grades(out)
    missing = [n for n in names if grades[n]["status"] == "not graded"]
    assert code != 0 and kept and missing, log
    assert f"{len(missing)} not graded (no Dask worker left): rerun the same command to grade them" in log
    assert sorted(kept) == sorted(set(names) - set(missing))
    assert all(grades[n]["status"] == "graded" for n in kept)

    cluster.start_workers("w3", "w4")
    code, log = finish(kit_grade(subs, out, cluster), out)
    assert code == 0, log
    grades = read_grades(out)
    assert all(r["status"] == "graded" and float(r["score"]) == float(r["max_score"]) for r in grades.values())
    assert {name: (out / name / "results.json").stat().st_mtime_ns for name in kept} == kept  # not graded again


# Run by the worker's Python: which of its installed packages have files, outside and inside a bwrap sandbox.
HIDDEN_PROBE = """
import os, subprocess, sys, sysconfig, tempfile
from kit.instructor.sandbox import commands
from kit.instructor.sandbox.box import SANDBOXED
from kit.instructor.sandbox.isolation import Isolation, Limits, locate_bwrap

lib, names = sysconfig.get_paths()["purelib"], ["cs231n", "kit", "pip"]
print(sorted(n for n in names if os.listdir(os.path.join(lib, n))), flush=True)
iso = Isolation("bwrap", locate_bwrap(), None, os.geteuid() == 0)
cmd = commands.bwrap_prefix(iso, Limits(), commands.KitView(tempfile.mkdtemp()), SANDBOXED,
                            commands.launch_config(Limits(), iso, "/tmp"))
inside = "import os, sys; print(sorted(n for n in sys.argv[2:] if os.listdir(os.path.join(sys.argv[1], n))))"
subprocess.run(cmd + [sys.executable, "-I", "-S", "-c", inside, lib, *names], check=True)
"""


@pytest.mark.skipif(locate_bwrap() is None, reason="needs bubblewrap (apt-get install bubblewrap)")
def test_the_bwrap_sandbox_of_an_installed_kit_sees_neither_the_reference_nor_the_checks(worker_python, tmp_path):
    """pip put the reference solution and the check notebooks in the worker's Python, which the sandbox mounts."""
    probe = tmp_path / "probe.py"
    probe.write_text(HIDDEN_PROBE)
    shown = subprocess.run([str(worker_python), str(probe)], cwd=tmp_path, check=True, capture_output=True,
                           text=True).stdout.splitlines()
    assert shown == ["['cs231n', 'kit', 'pip']", "['pip']"]  # outside, then inside the sandbox


# ---------------------------------------------------------------------------- a worker's CIFAR-10

MIRROR = ROOT.parent / "shared" / "cifar10-mirror" / "cifar-10-python.tar.gz"
needs_mirror = pytest.mark.skipif(not MIRROR.is_file(), reason=f"offline CIFAR-10 mirror not found at {MIRROR}")


@pytest.fixture
def instructor_data(tmp_path, monkeypatch):
    """(DataSpec, MD5) of the instructor's --data, extracted from the mirror; the worker's cache in tmp_path."""
    import get_datasets
    from kit.instructor.grade import dataset

    md5 = (MIRROR.parent / "cifar-10-python.tar.gz.md5").read_text().split()[0]
    folder = get_datasets.fetch(MIRROR.as_uri(), md5, tmp_path / "instructor", quiet=True)
    monkeypatch.setenv("KIT_GRADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KIT_GRADE_DATA", raising=False)
    return dataset.spec(folder, MIRROR.as_uri(), md5), md5


@needs_mirror
def test_a_worker_fetches_the_instructors_data_once_from_data_url(instructor_data, tmp_path, monkeypatch):
    import get_datasets
    from kit.instructor.grade import dataset

    spec, md5 = instructor_data
    elsewhere = dataclasses.replace(spec, path=str(tmp_path / "not-on-this-worker"))
    folder = dataset.local_copy(elsewhere, log=lambda *a: None)
    assert folder.startswith(str(tmp_path / "cache")) and dataset.fingerprint(folder) == spec.fingerprint

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded a second time")
    monkeypatch.setattr(get_datasets, "download", no_download)
    assert dataset.local_copy(elsewhere, log=lambda *a: None) == folder
    assert dataset.local_copy(spec, log=lambda *a: None) == spec.path  # a copy at the same path comes first


@needs_mirror
def test_a_worker_never_grades_on_other_data_and_says_what_to_do(instructor_data, tmp_path):
    from kit.instructor.grade import dataset

    spec, _ = instructor_data
    other = dataclasses.replace(spec, fingerprint="0" * 64)
    with pytest.raises(dataset.DataUnavailable, match="differ from those of the instructor's --data"):
        dataset.local_copy(other, log=lambda *a: None)
    with pytest.raises(dataset.DataUnavailable, match="Pass --data-url URL"):
        dataset.local_copy(dataclasses.replace(spec, path=str(tmp_path / "none"), url=None), log=lambda *a: None)
    with pytest.raises(dataset.DataUnavailable, match="could not be fetched"):
        dataset.local_copy(dataclasses.replace(spec, path=str(tmp_path / "none"), md5="0" * 32),
                           log=lambda *a: None)


# ---------------------------------------------------------------------------- the packed Setup

def test_a_packed_setup_unpacks_with_nothing_of_the_instructors_paths(tmp_path, request):
    import pickle

    from kit.instructor.grade import portable, remote
    from kit.instructor.grade.nbgrade import GradedNotebook
    from kit.instructor.grade.prepare import CHECKS, SOURCE, prepare
    from kit.instructor.sandbox.isolation import choose_isolation

    # The run's private folder, as `kit grade` makes it: the sandbox's uid (rlimits) enters it, which
    # it cannot under pytest's tmp_path (/tmp/pytest-of-root is private).
    mine = Path(tempfile.mkdtemp(prefix="kit-instructor-"))
    os.chmod(mine, 0o711)
    setup = prepare(SOURCE, CHECKS, mine, LIMITS, choose_isolation("rlimits"), 0, log=lambda *a: None)
    (mine / "sanitize.cfg").write_text("[x]\nregex: \\d+\nreplace: N\n")
    setup = dataclasses.replace(setup, graded_notebooks=[GradedNotebook(
        "notebooks/spiral.ipynb", {}, [], [], 1.0, 3.0, sanitize=str(mine / "sanitize.cfg"))])
    released = {p.relative_to(setup.release_dir): p.read_bytes() for p in Path(setup.release_dir).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    digest, blob = portable.pack(setup)
    shutil.rmtree(mine)  # a worker has none of it

    worker = Path(tempfile.mkdtemp(prefix="kit-worker-"))   # as remote.setup_for makes it
    os.chmod(worker, 0o711)
    request.addfinalizer(lambda: shutil.rmtree(worker, ignore_errors=True))
    theirs = portable.unpack(pickle.loads(blob), worker / "setup", log=lambda *a: None)
    for path in (theirs.release_dir, theirs.work_root, theirs.graded_notebooks[0].sanitize):
        assert Path(path).is_relative_to(worker)
    assert Path(theirs.graded_notebooks[0].sanitize).read_text() == "[x]\nregex: \\d+\nreplace: N\n"
    assert {p.relative_to(theirs.release_dir): p.read_bytes() for p in Path(theirs.release_dir).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts} == released
    assert theirs.isolation.mode == "rlimits" and theirs.expected == setup.expected
    assert theirs.max_score == setup.max_score

    other = pickle.dumps(dataclasses.replace(pickle.loads(blob), kit="0" * 64))
    with pytest.raises(remote.WorkerSetupError, match="not the version of the instructor's"):
        remote.setup_for("another kit", other)
