"""kit.instructor.sandbox.box: what a sandboxed cell can and cannot do, with real bubblewrap.

Each test starts a real sandbox on a small kit and runs cells in it, the way
the grader does. Tests that need bubblewrap (or root, for cgroups and a real
unprivileged uid) say so when they are skipped.
"""
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kit.instructor.sandbox import cgroups
from kit.instructor.sandbox.box import SANDBOXED, GraderFailure, Sandbox
from kit.instructor.sandbox.commands import KitView
from kit.instructor.sandbox.isolation import IsolationUnavailable, Limits, choose_isolation, locate_bwrap

ROOT = os.geteuid() == 0
CGROUPS = cgroups.detect()
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="needs bubblewrap (apt-get install bubblewrap)")
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (a real unprivileged uid for the sandbox)")
needs_cgroups = pytest.mark.skipif(CGROUPS is None, reason="needs cgroups the grader can create (root)")
LIMITS = Limits(cell_timeout=4, timeout=60, memory_mb=1024, pids=64, tmp_mb=32)


@pytest.fixture
def kit(tmp_path):
    root = tmp_path / "kit"
    (root / "cs231n").mkdir(parents=True)
    (root / "cs231n/__init__.py").write_text("")
    (root / "cs231n/mod.py").write_text("VALUE = 42\n")
    for path in (root, root / "cs231n"):
        path.chmod(0o755)
    return root


def bwrap_isolation():
    return choose_isolation("bwrap", cgroups=CGROUPS)


@pytest.fixture
def sandbox(kit):
    box = Sandbox(KitView(kit), bwrap_isolation(), LIMITS)
    box.start()
    yield box
    box.close()


@needs_bwrap
def test_cells_run_next_to_the_kit_and_emit_plain_values(sandbox):
    out = sandbox.run("from cs231n.mod import VALUE\nprint('hello')\nemit(v=VALUE, a=[[1, 2], [3, 4]])")
    assert out.status == "ok", out.error
    assert out.values == {"v": {"shape": [], "data": [42.0]}, "a": {"shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]}}
    assert out.stdout == "hello\n"
    out = sandbox.run("1 / 0")
    assert out.status == "error" and "ZeroDivisionError" in out.error


@needs_bwrap
def test_no_network_not_even_loopback(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        out = sandbox.run(f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    emit(connected=1)
except OSError:
    emit(connected=0)""")
    finally:
        listener.close()
    assert out.values["connected"]["data"] == [0.0]


@needs_bwrap
def test_only_the_kit_is_visible(sandbox, tmp_path):
    secret = tmp_path / "instructor.txt"
    secret.write_text("the solution")
    source = Path(__file__).resolve().parents[1]
    paths = (secret, source / "cs231n/layers.py", source / "kit/instructor/grade/checks/grading.ipynb", "/home",
             Path.home() / ".bash_history")
    out = sandbox.run(f"""
import os
emit(seen=[os.path.exists(p) for p in {tuple(map(str, paths))!r}], kit=os.path.exists("/kit/cs231n/mod.py"))""")
    assert out.values["seen"]["data"] == [0.0] * len(paths) and out.values["kit"]["data"] == [1.0]


@needs_bwrap
@needs_root
def test_a_root_grader_runs_sandboxes_as_a_real_unprivileged_uid(kit):
    """The sandbox's user has no host-root permissions: a 0600 root file it can see stays closed."""
    private = kit / "cs231n" / "private.txt"
    private.write_text("root only")
    private.chmod(0o600)
    with Sandbox(KitView(kit), bwrap_isolation(), LIMITS) as box:
        box.start()
        out = box.run("""
import os
try:
    open("/kit/cs231n/private.txt").read()
    readable = 1
except PermissionError:
    readable = 0
emit(uid=os.getuid(), euid=os.geteuid(), readable=readable)""")
    uid = out.values["uid"]["data"][0]
    assert uid == out.values["euid"]["data"][0] and uid >= 1_000_000
    assert out.values["readable"]["data"] == [0.0]


@needs_bwrap
def test_private_tmp_is_size_limited(sandbox):
    out = sandbox.run("""
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(64):
            f.write(b"x" * 2**20)
    full = 0
except OSError:
    full = 1
emit(full=full)""")
    assert out.values["full"]["data"] == [1.0]


@needs_bwrap
@needs_cgroups
def test_memory_is_bounded_for_the_sandbox_as_a_whole(kit):
    """
    Processes that each stay under the 1024 MB per-process limit go over the sandbox's.

    Three children of 250 MB and the cell's own process of 600 MB: the kernel's
    OOM killer picks the largest, the process that runs the checks.
    """
    with Sandbox(KitView(kit), bwrap_isolation(), LIMITS) as box:
        box.start()
        out = box.run("""
import os, time
for _ in range(3):
    if os.fork() == 0:
        block = bytearray(250 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(30)
        os._exit(0)
time.sleep(1)
hog = bytearray(600 * 2**20)
for i in range(0, len(hog), 4096):
    hog[i] = 1
time.sleep(30)""", cpu_limit=20, wall_limit=60)
    assert out.status == "memory", (out.status, out.error)
    assert "1024 MB" in out.error


@needs_bwrap
@needs_cgroups
def test_fork_bomb_is_capped_and_the_tree_dies_with_the_sandbox(kit):
    with Sandbox(KitView(kit), bwrap_isolation(), LIMITS) as box:
        box.start()
        group = box.cgroup
        out = box.run("""
import os, time
n = 0
while True:
    try:
        if os.fork() == 0:
            time.sleep(1000)
        n += 1
    except OSError:
        break
emit(forked=n)""", cpu_limit=20)
        assert out.status == "ok"
        assert out.values["forked"]["data"][0] < LIMITS.pids
        assert len(group.pids()) > 10
    assert not any(d.exists() for d in group.dirs.values())


@needs_bwrap
def test_cpu_timeout_kills_every_process_of_the_sandbox(kit):
    marker = "31.4159265"
    with Sandbox(KitView(kit), bwrap_isolation(), LIMITS) as box:
        box.start()
        out = box.run(f"""
import subprocess
subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
while True:
    pass""")
        assert out.status == "timeout" and "CPU" in out.error
        assert LIMITS.cell_timeout <= out.cpu < LIMITS.cell_timeout + 3
    time.sleep(0.3)
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout
    assert left.strip() == ""


@needs_bwrap
def test_a_sleeping_cell_hits_the_wall_clock_backstop(sandbox):
    out = sandbox.run("import time\ntime.sleep(100)", cpu_limit=1, wall_limit=3)
    assert out.status == "timeout" and "did not finish: 3 s without running" in out.error


@needs_bwrap
def test_waiting_for_a_cpu_is_not_idling(kit):
    """
    On a machine crowded beyond its cores, a cell that keeps computing is not taken for a stuck one.

    The hogs run in sessions of their own: with the kernel's autogroups, a session shares the
    CPUs as one, and the sandbox has its own session too.
    """
    hogs = [subprocess.Popen(["python3", "-c", "while True: pass"], start_new_session=True) for _ in range(6)]
    time.sleep(0.5)
    try:
        with Sandbox(KitView(kit), bwrap_isolation(), Limits(cell_timeout=10, memory_mb=1024)) as box:
            box.start()
            out = box.run("""
import time
start = time.process_time()
while time.process_time() - start < 1.0:
    pass
emit(done=1)""", cpu_limit=10, wall_limit=1)
    finally:
        for hog in hogs:
            hog.kill()
    assert out.status == "ok", out.error
    assert out.wall > 2  # it took longer than its backstop, all of it computing or waiting for a CPU


@needs_bwrap
def test_cpu_time_not_wall_time_is_the_limit_under_load(kit):
    """A cell that needs 1.5 s of CPU passes a 2 s limit while two CPU-bound processes compete."""
    hogs = [subprocess.Popen(["python3", "-c", "while True: pass"]) for _ in range(2)]
    try:
        with Sandbox(KitView(kit), bwrap_isolation(), Limits(cell_timeout=2, memory_mb=1024)) as box:
            box.start()
            out = box.run("""
import time
start = time.process_time()
while time.process_time() - start < 1.5:
    pass
emit(done=1)""")
    finally:
        for hog in hogs:
            hog.kill()
    assert out.status == "ok", out.error
    assert out.wall > out.cpu  # it waited for the CPU, and that did not count


@needs_bwrap
def test_replies_for_other_cells_are_ignored_and_garbage_is_harmless(sandbox):
    """Student code can find the reply channel; it can speak only for the cell that runs."""
    forge = """
import json, os
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        os.write(fd, b'\\n{"token": "0123456789abcdef0123456789abcdef", "status": "ok", "values": {}}\\n')
        os.write(fd, b'\\n' + b'[' * 200000 + b'\\n')
        os.write(fd, b'{"token": "' + b'x' * 100 + b'\\n')
    except OSError:
        pass
emit(done=1)"""
    out = sandbox.run(forge)
    assert out.status == "ok" and out.values == {"done": {"shape": [], "data": [1.0]}}
    out = sandbox.run("emit(after=2)")
    assert out.status == "ok" and out.values == {"after": {"shape": [], "data": [2.0]}}


@needs_bwrap
def test_an_unreadable_reply_fails_only_that_cell(sandbox):
    deep = """
import os, sys
frame, token = sys._getframe(), None
while frame is not None:
    token = frame.f_locals.get("token", token) if "requests" in frame.f_locals else token
    frame = frame.f_back
line = ('{"token": "%s", "status": "ok", "values": ' % token) + "[" * 100000 + "]" * 100000 + "}"
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        os.write(fd, b"\\n" + line.encode() + b"\\n")
    except OSError:
        pass
"""
    out = sandbox.run(deep)
    assert out.status == "malformed"


@needs_bwrap
def test_a_sandbox_that_cannot_start_is_the_graders_failure(kit, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Resource temporarily unavailable' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    iso = choose_isolation("bwrap", bwrap=str(fake), cgroups=CGROUPS)
    with pytest.raises(GraderFailure, match="Resource temporarily unavailable"):
        Sandbox(KitView(kit), iso, LIMITS).start()


@needs_bwrap
def test_an_executor_that_dies_before_its_first_cell_is_the_graders_failure(kit, tmp_path):
    broken = tmp_path / "sandboxed"
    broken.mkdir()
    (broken / "launch.py").write_text((SANDBOXED / "launch.py").read_text())
    (broken / "executor.py").write_text("import os\nos._exit(0)\n")
    box = Sandbox(KitView(kit), bwrap_isolation(), LIMITS, sandboxed_dir=broken)
    with pytest.raises(GraderFailure, match="did not start"):
        box.start()


def test_no_bubblewrap_fails_closed_with_one_clear_line(tmp_path):
    with pytest.raises(IsolationUnavailable) as err:
        choose_isolation("auto", bwrap=str(tmp_path / "no-bwrap"))
    text = str(err.value)
    assert "apt-get install bubblewrap" in text and "--isolation rlimits" in text and "\n" not in text
    with pytest.raises(IsolationUnavailable):
        choose_isolation("bwrap", bwrap=str(tmp_path / "no-bwrap"))
    assert choose_isolation("rlimits").mode == "rlimits"


def test_rlimits_mode_still_unshares_the_network(kit):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    iso = choose_isolation("rlimits", cgroups=CGROUPS)
    try:
        with Sandbox(KitView(kit), iso, LIMITS) as box:
            box.start()
            out = box.run(f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    emit(connected=1)
except OSError:
    emit(connected=0)""")
    finally:
        listener.close()
    assert out.values["connected"]["data"] == [0.0]
    assert "rlimits only" in iso.describe() and "no file-system isolation" in iso.describe()
