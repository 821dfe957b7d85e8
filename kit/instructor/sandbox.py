"""Start a sandbox around the check executor and run check cells in it, from the trusted side.

A sandbox is one process tree, started by the grader (outside, trusted):

    cgroup_exec.py (joins the sandbox's cgroups)
      -> bwrap (namespaces, a read-only view of the system, Python and one kit)
        -> kit/sandboxed/launch.py (drops to an unprivileged uid, sets rlimits)
          -> kit/sandboxed/executor.py (runs cells next to the student's code)

Isolation modes:
- "bwrap": no network, own pid/ipc/uts/cgroup namespaces, a read-only view
  of only the system directories, the Python installation, the executor and
  this submission's kit (the pristine release with the student's files bound
  over it, at /kit), a size-limited private /tmp. When the grader runs as
  root the sandbox runs as a real unprivileged host uid, its own while it runs
  (kit.instructor.uids); otherwise as uid 65534 of a user namespace.
- "rlimits" (only when asked for by name): a private copy of the kit, rlimits,
  the network unshared and an unprivileged uid where the platform allows it;
  no file-system isolation.
- "none": the trusted reference run on the instructor's own code.
Both sandboxed modes: a cgroup per sandbox where one can be made (pids,
memory, CPU accounting), rlimits, timeouts measured in CPU seconds (so that
a loaded machine does not turn a correct cell into a timeout) with a
wall-clock backstop, and the whole tree killed at the end.

The executor's replies are the student's claims: they are read with bounded
size, parsed defensively, and matched to the request by a per-cell token.
"""
import json
import os
import pwd
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kit.instructor import uids

KIT = Path(__file__).resolve().parents[1]
SANDBOXED = KIT / "sandboxed"
CGROUP_EXEC = Path(__file__).resolve().parent / "cgroup_exec.py"
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/fonts", "/etc/alternatives", "/etc/mime.types")
BWRAP_PLACES = ("/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap")
NOBODY = 65534
MAX_LINE = 32 * 2**20              # one reply line
MAX_QUEUED = 128 * 2**20           # all reply lines not yet read
PASS_ENV = ("OPENBLAS_CORETYPE",)  # machine settings the sandbox keeps
STARTUP_WALL = 90.0                # seconds for the sandbox to start and pass its probe
PROBE = "import numpy\n"
HARD_WALL_FACTOR = 20              # a cell stops at this many times its backstop, whatever the load


class GraderFailure(Exception):
    """The grader could not run the checks (not the student's fault): retry, or report `error`."""


class Aborted(Exception):
    """The instructor stopped the run (second Ctrl-C): the submission stays ungraded."""


@dataclass(frozen=True)
class Limits:
    """
    Resource limits of one submission.

    - cell_timeout: CPU seconds one check cell may use; a cell that sleeps or
      blocks stops after 2 x cell_timeout + 5 s without running (time spent
      waiting for a CPU on a loaded machine does not count).
    - timeout: CPU seconds all cells of a submission may use together.
    - memory_mb: memory of a sandbox as a whole (memory cgroup: processes,
      /tmp and page cache), and the address space of each process.
    - pids: tasks (processes and threads) of a sandbox (pids cgroup), and the
      process limit of its user (RLIMIT_NPROC).
    - tmp_mb: size of the sandbox's private /tmp.
    """
    cell_timeout: float = 20.0
    timeout: float = 180.0
    memory_mb: int = 2048
    pids: int = 128
    tmp_mb: int = 256

    def cell_wall(self, cpu):
        return 2 * cpu + 5


@dataclass(frozen=True)
class Isolation:
    """The isolation in force; made by choose_isolation."""
    mode: str                      # "bwrap", "rlimits" or "none"
    bwrap: str = None              # absolute path of bubblewrap
    cgroups: object = None         # kit.instructor.cgroups.Cgroups, or None
    root: bool = False             # the grader runs as root
    drop_uid: bool = False         # sandboxes run as an unprivileged host uid (root grader only)
    network: bool = False          # the preflight reached the network from a sandbox (rlimits only)

    def describe(self):
        """One line for grades.csv and results.json's extra_data."""
        if self.mode == "none":
            return "none (the instructor's reference code)"
        if self.mode == "bwrap":
            user = "an unprivileged host uid" if self.drop_uid else "uid 65534 in a user namespace"
            base = (f"bwrap: no network, own pid/ipc/uts/cgroup namespaces, {user}, read-only view of "
                    f"this submission's kit only, private size-limited /tmp")
        else:
            user = ("an unprivileged host uid" if self.drop_uid else
                    "the grader's own uid" + (" (root: the Python installation is not readable by "
                                              "other users)" if self.root else ""))
            net = ("NETWORK NOT CUT (the kernel refused to unshare it)" if self.network
                   else "network unshared (checked by the preflight)")
            base = f"rlimits only (asked for by name): no file-system isolation; {net}; {user}"
        bounds = "pids, memory and CPU cgroups" if self.cgroups else "no cgroups (memory bounded per process only)"
        return f"{base}; {bounds}; rlimits as/cpu/nproc/nofile/fsize"

    def short(self):
        """One short line for students."""
        return {"bwrap": "Graded in a sandbox (bubblewrap).",
                "rlimits": "Graded without a file-system sandbox (resource limits only).",
                "none": "Reference run."}[self.mode]


class IsolationUnavailable(Exception):
    """The isolation asked for cannot be had here; grading must not start."""


def locate_bwrap(path=None):
    """The absolute path of a bubblewrap executable (`path` if given), or None."""
    candidates = [path] if path else [shutil.which("bwrap")] + list(BWRAP_PLACES)
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def choose_isolation(wanted="auto", bwrap=None, cgroups=None):
    """
    The Isolation for `wanted` ("auto", "bwrap" or "rlimits"); fails closed.

    "auto" and "bwrap" need a bubblewrap executable (the sandbox itself is
    tried by the grader's preflight before any submission runs); the weaker
    "rlimits" mode runs only when asked for by name.

    Raises:
    - IsolationUnavailable with one line saying what is missing and what to do.
    """
    root = os.geteuid() == 0
    if wanted == "rlimits":
        return Isolation("rlimits", None, cgroups, root, drop_uid=root and _usable_by_others())
    if wanted not in ("auto", "bwrap"):
        raise IsolationUnavailable(f"unknown isolation {wanted!r}: use auto, bwrap or rlimits")
    exe = locate_bwrap(bwrap)
    if exe is None:
        where = f"at {bwrap}" if bwrap else "on PATH or in /usr/bin"
        raise IsolationUnavailable(
            f"bubblewrap (bwrap) is not installed {where}: install it (`sudo apt-get install bubblewrap`), "
            f"or pass --isolation rlimits to grade without a file-system and network sandbox "
            f"(student code could then read and change your files)")
    return Isolation("bwrap", exe, cgroups, root, drop_uid=root)


@dataclass
class KitView:
    """What the sandbox sees at /kit: the release, with some files replaced by the student's."""
    release: Path
    overlays: dict = field(default_factory=dict)   # relative path -> host path of the student's version
    data: dict = field(default_factory=dict)       # sandbox path -> host directory, read-only


@dataclass
class CellOutcome:
    """
    What one cell did.

    status: "ok", "error" (the cell raised), "timeout" (CPU or wall limit),
    "dead" (the sandbox died while the cell ran), "memory" (killed for going
    over the memory bound), "malformed" (a reply that cannot be read).
    """
    status: str
    values: dict = None
    stdout: str = ""
    error: str = None
    cpu: float = 0.0
    wall: float = 0.0


def _usable_by_others():
    """True when another user can run this interpreter and read its packages (mode bits)."""
    paths = [os.path.realpath(sys.executable), os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)]
    for path in paths:
        current = "/"
        for part in path.strip("/").split("/"):
            current = os.path.join(current, part)
            try:
                mode = os.stat(current).st_mode
            except OSError:
                return False
            if not mode & 0o001 or (current == path and not mode & 0o004):
                return False
    return True


def _python_paths():
    """(path in the sandbox, host path) pairs that make this interpreter and its packages work."""
    pairs = {}
    for d in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))}:
        real = os.path.realpath(d)
        pairs[d] = real
        pairs[real] = real
    return sorted(pairs.items())


def _parents(paths):
    """The directories above `paths` (not "/", not the paths themselves), outermost first."""
    found, own = set(), set(paths)
    for path in paths:
        parent = os.path.dirname(path.rstrip("/"))
        while parent not in ("", "/") and parent not in own:
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted(found, key=lambda p: (p.count("/"), p))


def _clean_env(home):
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
           "USER": "sandbox", "LOGNAME": "sandbox", "MPLBACKEND": "agg",
           "MPLCONFIGDIR": f"{home}/matplotlib", "IPYTHONDIR": f"{home}/ipython",
           "JUPYTER_RUNTIME_DIR": f"{home}/runtime", "JUPYTER_PLATFORM_DIRS": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    return env


class Sandbox:
    """
    One running sandbox for one submission (see the module docstring).

    Inputs:
    - view: The KitView to mount at /kit.
    - isolation: The Isolation in force.
    - limits: The Limits of the submission.
    - abort: A threading.Event set when the run must stop now.
    - sandboxed_dir: The folder of launch.py and executor.py (mounted at /grader).
    - scratch_root: Where temporary files go (a private folder of the run).
    """

    def __init__(self, view, isolation, limits, abort=None, sandboxed_dir=SANDBOXED, scratch_root=None):
        self.view, self.isolation, self.limits = view, isolation, limits
        self.lease = None  # the host uid of a root grader's sandbox (kit.instructor.uids)
        self.scratch_root = scratch_root
        self.abort = abort or threading.Event()
        self.sandboxed_dir = Path(sandboxed_dir)
        self.proc = self.cgroup = self.scratch = None
        self.start_seconds = None  # from start() to a passed probe
        self.tree_root = None      # without a cgroup: the process whose tree is the sandbox (kernel mode)
        self.replies = queue.Queue()
        self.stderr = bytearray()
        self._readers = []
        self._pending_bytes = [0]

    # ------------------------------------------------------------------ start

    def _launch_config(self, home):
        lim = self.limits
        config = {"home": home, "rlimits": {
            "AS": lim.memory_mb * 2**20, "CPU": int(lim.timeout) + 10, "NPROC": lim.pids * 2,
            "NOFILE": 512, "FSIZE": lim.tmp_mb * 2**20}}
        if self.isolation.drop_uid:
            uid = self._uid()
            config.update(uid=uid, gid=uid)
        if self.isolation.mode == "rlimits":
            config["unshare_net"] = True
        return config

    def _bwrap_prefix(self, writable=(), chdir="/kit"):
        """bubblewrap and launch.py, up to the interpreter to run; `writable`: host dirs bound read-write."""
        iso, lim = self.isolation, self.limits
        cmd = [iso.bwrap, "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid",
               "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        if iso.root:
            # No user namespace (it would map the sandbox to host root): launch.py switches to a
            # real unprivileged uid, with only the capabilities needed for that.
            cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                    "--cap-add", "CAP_CHOWN"]
        else:
            cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", str(lim.tmp_mb * 2**20), "--tmpfs", "/tmp",
                "--perms", "1777", "--size", str(lim.tmp_mb * 2**20), "--tmpfs", "/dev/shm"]
        binds = []  # (host, inside), read-only, in this order (later ones cover earlier ones)
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                cmd += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                binds.append((d, d))
        binds += [(os.path.realpath(p), p) for p in SYSTEM_ETC if os.path.exists(p)]
        binds += [(host, inside) for inside, host in _python_paths()]
        binds.append((str(self.view.release), "/kit"))
        binds += [(str(host), f"/kit/{rel}") for rel, host in sorted(self.view.overlays.items())]
        binds += [(str(host), inside) for inside, host in sorted(self.view.data.items())]
        binds.append((str(self.sandboxed_dir), "/grader"))
        # bwrap makes missing parent directories private (0700): make them readable first.
        for d in _parents([inside for _, inside in binds] + [str(d) for d in writable]):
            cmd += ["--perms", "0755", "--dir", d]
        for host, inside in binds:
            cmd += ["--ro-bind", host, inside]
        for d in writable:
            cmd += ["--bind", str(d), str(d)]
        cmd += ["--chdir", chdir, "--clearenv"]
        for key, value in _clean_env("/tmp").items():
            cmd += ["--setenv", key, value]
        launch = json.dumps(self._launch_config("/tmp"))
        return cmd + [sys.executable, "-I", "-S", "/grader/launch.py", launch, "--"]

    def _bwrap_command(self):
        cmd = self._bwrap_prefix() + [sys.executable, "-I", "-B", "/grader/executor.py", "/kit"]
        return cmd, "/", None

    def _kit_copy(self):
        """A private copy of the kit with the student's files, for the rlimits mode; (kit, home)."""
        self.scratch = Path(tempfile.mkdtemp(prefix="sandbox-", dir=self.scratch_root))
        kit, home = self.scratch / "kit", self.scratch / "home"
        shutil.copytree(self.view.release, kit, symlinks=True)
        for rel, host in self.view.overlays.items():
            shutil.copyfile(host, kit / rel)
        for inside, host in self.view.data.items():
            target = kit / Path(inside).relative_to("/kit")
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            target.symlink_to(host, target_is_directory=True)
        home.mkdir()
        for dirpath, dirnames, filenames in os.walk(self.scratch):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):  # never follow a link out of the copy
                    os.chmod(path, 0o644)
        return kit, home

    def _rlimits_prefix(self, home):
        launch = json.dumps(self._launch_config(str(home)))
        return [sys.executable, "-I", "-S", str(self.sandboxed_dir / "launch.py"), launch, "--"]

    def _rlimits_command(self):
        kit, home = self._kit_copy()
        cmd = self._rlimits_prefix(home) + [sys.executable, "-I", "-B", str(self.sandboxed_dir / "executor.py"),
                                            str(kit)]
        return cmd, str(kit), _clean_env(str(home))

    def _reference_command(self):
        cmd = [sys.executable, "-I", "-B", str(self.sandboxed_dir / "executor.py"), str(self.view.release)]
        home = tempfile.mkdtemp(prefix="reference-", dir=self.scratch_root)
        self.scratch = Path(home)
        return cmd, str(self.view.release), _clean_env(home)

    def _uid(self):
        if self.lease is None:
            try:
                self.lease = uids.acquire()
            except uids.UidError as err:
                raise GraderFailure(str(err)) from None
        return self.lease.uid

    def host_user(self):
        """[uid, gid] of the host user the sandbox runs as when it is not this process's, else None."""
        if self.isolation.drop_uid:
            uid = self._uid()
            return [uid, uid]
        return None

    def kernel_command(self, connection_dir):
        """
        The command that starts a Jupyter kernel in this sandbox (for nbval), without starting it.

        Creates the sandbox's cgroup; the command joins it. The caller appends
        `-m ipykernel_launcher -f CONNECTION_FILE`; the connection file and the
        kernel's IPC sockets live in `connection_dir`, bound read-write.

        Returns:
        - (argv prefix, environment for the launcher or None, working directory
          of the notebook on the host or None).
        """
        mode = self.isolation.mode
        if mode == "bwrap":
            cmd, env, cwd = self._bwrap_prefix(writable=[connection_dir], chdir="/kit/notebooks"), None, None
        elif mode == "rlimits":
            kit, home = self._kit_copy()
            env = dict(_clean_env(str(home)), IPYTHONDIR=f"{home}/ipython", JUPYTER_RUNTIME_DIR=f"{home}/runtime")
            cmd, cwd = self._rlimits_prefix(home), str(kit / "notebooks")
            os.chmod(connection_dir, 0o777)
        else:
            raise ValueError("kernels run in a sandbox (bwrap or rlimits)")
        if self.isolation.cgroups is not None:
            self.cgroup = self.isolation.cgroups.create(self.limits.pids, self.limits.memory_mb * 2**20)
            cmd = [sys.executable, "-I", "-S", str(CGROUP_EXEC), *self.cgroup.procs_files, "--", *cmd]
        return cmd + [sys.executable, "-I", "-B"], env, cwd

    def start(self):
        """
        Start the sandbox and run its probe (the interpreter and NumPy start).

        Raises:
        - GraderFailure with the reason (and the sandbox's stderr) when it does not start.
        """
        mode, began = self.isolation.mode, time.monotonic()
        try:
            if mode == "bwrap":
                cmd, cwd, env = self._bwrap_command()
                env = {"PATH": "/usr/bin:/bin"}
            elif mode == "rlimits":
                cmd, cwd, env = self._rlimits_command()
            else:
                cmd, cwd, env = self._reference_command()
            if mode != "none" and self.isolation.cgroups is not None:
                self.cgroup = self.isolation.cgroups.create(self.limits.pids, self.limits.memory_mb * 2**20)
                cmd = [sys.executable, "-I", "-S", str(CGROUP_EXEC), *self.cgroup.procs_files, "--", *cmd]
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True)
        except (OSError, subprocess.SubprocessError, shutil.Error) as err:
            self.close()
            raise GraderFailure(f"the sandbox could not be started: {err}") from None
        self._readers = [threading.Thread(target=self._read_replies, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        outcome = self.run(PROBE, ns="__probe__", name="probe", cpu_limit=STARTUP_WALL,
                           wall_limit=STARTUP_WALL, probe=True)
        if outcome.status != "ok":
            detail = self.stderr_text() or outcome.error or f"it ended with status {self.proc.poll()}"
            self.close()
            raise GraderFailure(f"the sandbox did not start ({outcome.status}): {detail}")
        self.start_seconds = time.monotonic() - began

    # ------------------------------------------------------------------ I/O

    def _read_replies(self):
        """Queue the reply lines of the executor; drop anything too long or too much."""
        stream, partial, dropping = self.proc.stdout, bytearray(), False
        while True:
            chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
            if not chunk:
                break
            pieces = chunk.split(b"\n")
            for k, piece in enumerate(pieces):
                if not dropping:
                    partial += piece
                    if len(partial) > MAX_LINE:
                        partial, dropping = bytearray(), True
                if k == len(pieces) - 1:
                    break
                if not dropping and partial.startswith(b'{"token": "') and \
                        self._pending_bytes[0] + len(partial) <= MAX_QUEUED:
                    self._pending_bytes[0] += len(partial)
                    self.replies.put(bytes(partial))
                partial, dropping = bytearray(), False
        self.replies.put(None)

    def _read_stderr(self, cap=16 * 1024):
        while True:
            chunk = self.proc.stderr.read1(1 << 16)
            if not chunk:
                return
            if len(self.stderr) < cap:
                self.stderr += chunk[:cap - len(self.stderr)]

    def stderr_text(self):
        """What the sandbox wrote on stderr; once it has exited, all of it (the reader is waited for)."""
        if self.proc is not None and self.proc.poll() is not None and len(self._readers) > 1:
            self._readers[1].join(timeout=2)  # an exit can be seen before its last message is read
        return bytes(self.stderr).decode("utf-8", "replace").strip()[-2000:]

    def cpu_seconds(self):
        """CPU used by the sandbox's processes so far (cgroup, or this process tree)."""
        if self.cgroup is not None:
            used = self.cgroup.cpu_seconds()
            if used is not None:
                return used
        root = self.proc.pid if self.proc else self.tree_root
        return _tree_cpu(root) if root else 0.0

    def waiting_seconds(self):
        """
        Time the sandbox's threads spent ready to run but waiting for a CPU, so far.

        What a loaded machine adds to a cell's wall-clock time: the backstop for
        cells that sleep counts wall time minus CPU time minus this, so that
        other processes on the machine cannot make a correct cell look stuck.
        """
        root = self.proc.pid if self.proc else self.tree_root
        pids = self.cgroup.pids() if self.cgroup is not None else (_tree_pids(root) if root else ())
        return _run_delay(pids)

    def idle_since(self, start_wall, start_cpu, start_wait):
        """(wall, CPU, idle) seconds since a start: idle is neither running nor waiting for a CPU."""
        waited = time.monotonic() - start_wall
        used = self.cpu_seconds() - start_cpu
        return waited, used, waited - used - (self.waiting_seconds() - start_wait)

    # ------------------------------------------------------------------ cells

    def run(self, code, ns="", name="", cpu_limit=None, wall_limit=None, probe=False):
        """
        Run one cell and return its CellOutcome (never raises for the student's doing).

        Raises:
        - Aborted when the abort event is set while the cell runs.
        - GraderFailure when the sandbox dies before its probe has passed.
        """
        cpu_limit = self.limits.cell_timeout if cpu_limit is None else cpu_limit
        wall_limit = self.limits.cell_wall(cpu_limit) if wall_limit is None else wall_limit
        token = secrets.token_hex(16)
        prefix = b'{"token": "' + token.encode() + b'"'
        request = json.dumps({"token": token, "ns": ns, "code": code, "name": name}) + "\n"
        start_wall, start_cpu, start_wait = time.monotonic(), self.cpu_seconds(), self.waiting_seconds()
        next_idle_check = start_wall + 0.5
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            return self._ended("dead", start_wall, start_cpu, probe)
        started = False
        while True:
            try:
                line = self.replies.get(timeout=0.05)
            except queue.Empty:
                line = b""
            if line is None:
                self.replies.put(None)  # keep the end-of-stream mark for later calls
                return self._ended("dead", start_wall, start_cpu, probe, started)
            if line:
                self._pending_bytes[0] -= len(line)
                if not line.startswith(prefix):
                    continue
                record = _parse(line)
                if record is None:
                    return self._outcome(CellOutcome("malformed", error="the cell's reply could not be read "
                                                     "(too large or not valid JSON)"), start_wall, start_cpu)
                if record.get("started") is True:
                    started = True
                    continue
                return self._outcome(_as_outcome(record), start_wall, start_cpu)
            if self.abort.is_set():
                self.kill()
                raise Aborted()
            used, waited = self.cpu_seconds() - start_cpu, time.monotonic() - start_wall
            idle = 0.0
            if waited > wall_limit and time.monotonic() >= next_idle_check:
                next_idle_check = time.monotonic() + 0.5
                waited, used, idle = self.idle_since(start_wall, start_cpu, start_wait)
            stuck = idle > wall_limit or waited > HARD_WALL_FACTOR * wall_limit
            if used > cpu_limit or stuck:
                self.kill()
                if probe:
                    return CellOutcome("timeout", error=f"no answer after {waited:.0f} s", wall=waited)
                why = (f"the cell used more than {cpu_limit:g} s of CPU (an infinite loop?)" if used > cpu_limit
                       else f"the cell did not finish: {wall_limit:g} s without running, while using {used:.1f} s "
                            f"of CPU (it sleeps, waits for input or is blocked)")
                return CellOutcome("timeout", error=why, cpu=used, wall=waited)

    def _ended(self, status, start_wall, start_cpu, probe, started=False):
        """
        The executor is gone: the cell's fault once it had started the cell; the grader's before.

        Raises:
        - GraderFailure when the executor ended before it acknowledged this cell (after the probe).
        """
        self.kill(wait=True)
        if probe:
            return CellOutcome("dead", error=self.stderr_text() or "the sandbox exited at once")
        if not started:
            raise GraderFailure(f"the sandbox ended before it started a cell (exit status "
                                f"{self.proc.returncode}): {self.stderr_text() or 'no message'}")
        memory = self.cgroup is not None and self.cgroup.oom_killed()
        if memory:
            return self._outcome(CellOutcome("memory", error=f"the cell used more than the "
                                             f"{self.limits.memory_mb} MB of memory allowed, and was "
                                             f"stopped"), start_wall, start_cpu)
        code = self.proc.returncode
        # A process killed by a signal: a negative status, or 128 + the signal through bwrap.
        number = -code if code and code < 0 else (code - 128 if code and code > 128 else None)
        how = (f"killed by signal {number} ({signal.Signals(number).name})"
               if number in signal.valid_signals() else f"exit status {code}")
        return self._outcome(CellOutcome("dead", error=f"the Python process running the checks ended "
                                         f"while this cell ran ({how}): a crash, os._exit(), or too "
                                         f"much memory"), start_wall, start_cpu)

    def _outcome(self, outcome, start_wall, start_cpu):
        outcome.wall = time.monotonic() - start_wall
        outcome.cpu = max(0.0, self.cpu_seconds() - start_cpu) if self.proc else 0.0
        return outcome

    # ------------------------------------------------------------------ end

    def kill(self, wait=False):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if wait and self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        """Kill the sandbox and everything it started; remove its cgroup and scratch files."""
        self.kill()
        if self.proc is not None:
            for stream in (self.proc.stdin,):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for reader in self._readers:
                reader.join(timeout=5)
            for stream in (self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _parse(line):
    """A reply line as a dict, or None when it cannot be read (too deep, not JSON, not an object)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError, MemoryError):
        return None
    return record if isinstance(record, dict) else None


def _as_outcome(record):
    status = record.get("status")
    values = record.get("values")
    stdout, error = record.get("stdout"), record.get("error")
    return CellOutcome(status if status in ("ok", "error") else "malformed",
                       values if isinstance(values, dict) else None,
                       stdout[-3000:] if isinstance(stdout, str) else "",
                       error[-3000:] if isinstance(error, str) else (
                           None if status == "ok" else "the cell's reply could not be read"))


_TICK = os.sysconf("SC_CLK_TCK")


def _tree_pids(root_pid):
    """`root_pid` and its descendants (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    children.setdefault(int(f.read().rsplit(b")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def _run_delay(pids):
    """Seconds the threads of `pids` have waited on a run queue (/proc/*/task/*/schedstat), 0 without it."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def _tree_cpu(root_pid):
    """CPU seconds of `root_pid` and its descendants (from /proc), for machines without cgroups."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / _TICK
    total, todo, seen = 0.0, [root_pid], set()
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total
