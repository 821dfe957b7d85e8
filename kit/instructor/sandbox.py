"""Run the check runner against one submission's code, isolated and limited.

Isolation, best first:
- "bwrap": bubblewrap with every namespace unshared (no network, own pids,
  ipc, uts), running as uid 65534, with a read-only view of only the system
  directories, the Python installation, the runner and this submission's kit
  copy (mounted at /kit), and a private tmpfs /tmp. The instructor source,
  the check notebooks (sent on stdin, cell by cell to the kernel), the expected
  values and other students' work are not in its file system.
- "rlimits": a private temporary directory and the same resource limits, for
  machines without bubblewrap; no network or file-system isolation.
Both: RLIMIT_AS / CPU / NPROC / NOFILE / FSIZE, a pids cgroup when one can be
made, its own session (process group) killed as a whole on the per-submission
timeout, and a clean environment.
"""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
LIMITS = HERE / "limits.py"
NOBODY = 65534
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
PIDS_CGROUPS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")
MAX_OUTPUT = 64 * 2**20   # all records of one run
MAX_LINE = 16 * 2**20     # one record


@dataclass
class Limits:
    cell_timeout: float = 20.0
    timeout: float = 180.0
    memory_mb: int = 2048
    nproc: int = 256
    pids: int = 128


@dataclass
class RunResult:
    lines: list
    returncode: int
    timed_out: bool
    stderr: str
    isolation: str
    seconds: float


def bwrap_available():
    """True when bubblewrap exists and can make a sandbox here."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        proc = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def choose_isolation(wanted="auto"):
    if wanted == "rlimits":
        return "rlimits"
    if bwrap_available():
        return "bwrap"
    if wanted == "bwrap":
        raise RuntimeError("bubblewrap (bwrap) is not installed or cannot create namespaces here")
    return "rlimits"


def _python_dirs():
    dirs = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(sys.executable).resolve().parent.parent}
    return sorted(str(d) for d in dirs)


def _clean_env(home):
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
        "MPLBACKEND": "agg", "MPLCONFIGDIR": f"{home}/mpl", "IPYTHONDIR": f"{home}/ipython",
        "JUPYTER_RUNTIME_DIR": f"{home}/runtime", "JUPYTER_DATA_DIR": f"{home}/data",
        "JUPYTER_PLATFORM_DIRS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    return env


def _make_cgroup(limit):
    """A fresh pids cgroup limited to `limit` tasks; returns (dir, procs file) or (None, "-")."""
    for base in PIDS_CGROUPS:
        if not os.path.exists(os.path.join(base, "pids.max")) and not os.path.exists(
                os.path.join(base, "cgroup.procs")):
            continue
        path = os.path.join(base, f"kit-grade-{uuid.uuid4().hex[:12]}")
        try:
            os.mkdir(path)
            with open(os.path.join(path, "pids.max"), "w") as f:
                f.write(str(limit))
            return path, os.path.join(path, "cgroup.procs")
        except OSError:
            try:
                os.rmdir(path)
            except OSError:
                pass
    return None, "-"


def _remove_cgroup(path):
    if not path:
        return
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            except OSError:
                return
            time.sleep(0.05)


def describe(isolation, cgroup):
    base = ("bwrap: no network, own pid/ipc/uts namespaces, uid 65534, read-only view of this "
            "submission only, private /tmp" if isolation == "bwrap" else
            "rlimits only: private temp dir, no network or file-system isolation")
    return f"{base}; rlimits as/cpu/nproc/nofile/fsize" + ("; pids cgroup" if cgroup else "")


def bwrap_command(kit_dir, home="/tmp"):
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox",
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for d in SYSTEM_DIRS:
        if os.path.exists(d):
            cmd += ["--ro-bind", d, d] if not os.path.islink(d) else ["--symlink", os.readlink(d), d]
    for d in _python_dirs():
        cmd += ["--ro-bind", d, d]
    cmd += ["--ro-bind", str(kit_dir), "/kit", "--ro-bind", str(RUNNER), "/grader/runner.py",
            "--chdir", "/kit"]
    return cmd


def run_checks(kit_dir, notebook_json, limits=Limits(), isolation="bwrap"):
    """
    Run the check notebook (JSON text) against the kit copy at `kit_dir`.

    Returns:
    - A RunResult; `lines` holds the runner's parsed per-cell records.
    """
    import json

    cgroup_dir, procs = _make_cgroup(limits.pids)
    wrapper = [sys.executable, "-S", str(LIMITS), str(limits.memory_mb),
               str(int(limits.timeout) + 5), str(limits.nproc), procs, "--"]
    scratch = None
    if isolation == "bwrap":
        env = _clean_env("/tmp")
        cmd = wrapper + bwrap_command(kit_dir) + ["--clearenv"]
        for k, v in env.items():
            cmd += ["--setenv", k, v]
        cmd += [sys.executable, "/grader/runner.py", "/kit", str(limits.cell_timeout)]
        cwd = "/"
    else:
        scratch = tempfile.mkdtemp(prefix="kit-sandbox-")
        env = _clean_env(scratch)
        cmd = wrapper + [sys.executable, str(RUNNER), str(kit_dir), str(limits.cell_timeout)]
        cwd = str(kit_dir)
    nonce = secrets.token_hex(16)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    out_lines, err_buf = [], bytearray()
    readers = [threading.Thread(target=_drain_records, args=(proc.stdout, out_lines), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err_buf, 64 * 1024), daemon=True)]
    for t in readers:
        t.start()
    timed_out = False
    try:
        try:
            proc.stdin.write((nonce + "\n" + notebook_json).encode())
            proc.stdin.close()
        except OSError:
            pass
        proc.wait(timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
        _remove_cgroup(cgroup_dir)  # kills whatever is left in the cgroup
        proc.wait()
        for t in readers:
            t.join(timeout=10)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    err = bytes(err_buf)
    lines = []
    for raw in out_lines:
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if (isinstance(record, dict) and record.get("nonce") == nonce
                and isinstance(record.get("index"), int)):
            lines.append(record)
    return RunResult(lines, proc.returncode, timed_out, err[-4000:].decode("utf-8", "replace"),
                     describe(isolation, cgroup_dir), time.monotonic() - start)


def _drain_records(stream, lines, max_line=MAX_LINE, max_total=MAX_OUTPUT):
    """Collect the lines of `stream` that look like runner records, bounded in size.

    Anything else (a flood written into the runner's stdout by student code)
    is read and dropped, so it can neither fill the grader's memory nor crowd
    out the runner's later records.
    """
    partial, dropping, total = bytearray(), False, 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return
        pieces = chunk.split(b"\n")
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            if not dropping:
                partial.extend(piece)
                if len(partial) > max_line:
                    partial.clear()
                    dropping = True
            if last:
                break
            if not dropping and partial.startswith(b'{"index"') and total + len(partial) <= max_total:
                lines.append(bytes(partial))
                total += len(partial)
            partial.clear()
            dropping = False


def _drain(stream, buf, cap):
    """Read `stream` to its end, keeping at most `cap` bytes (a flood must not fill the grader)."""
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return
        if len(buf) < cap:
            buf.extend(chunk[:cap - len(buf)])


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
