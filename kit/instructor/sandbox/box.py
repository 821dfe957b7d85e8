"""One sandbox: start it around the check executor or a Jupyter kernel, and hold it to its time limit.

A sandbox is one process tree, started by the grader (outside, trusted):

    cgroup_exec.py (joins the sandbox's cgroups)
      -> bwrap, launch.py (see kit.instructor.sandbox.commands)
        -> kit/sandboxed/executor.py (runs check cells next to the student's code)

or, for a notebook, a trusted pytest process running nbval
(kit.instructor.grade.nbval_plugin) whose kernel starts with the sandbox's
command (kernel_command) in front of it.

Both get a cgroup per sandbox where one can be made (pids, memory, one CPU,
CPU accounting), or else a memory watch (the grader sums the memory of the
sandbox's processes and kills it above its bound), rlimits, and one
time limit (TimeLimit): CPU seconds, so that a loaded machine does not turn a
correct cell into a timeout, with a backstop for code that neither runs nor
waits for a CPU, within what is left of the submission's budgets; the whole
tree is killed at the end.

The executor's replies are the student's claims: they are read with bounded
size, parsed defensively, and matched to the request by a per-cell token.
"""
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kit.instructor.sandbox import commands, procfs, uids

KIT = Path(__file__).resolve().parents[2]
SANDBOXED = KIT / "sandboxed"
CGROUP_EXEC = Path(__file__).resolve().parent / "cgroup_exec.py"
MAX_LINE = 32 * 2**20              # one reply line
MAX_QUEUED = 128 * 2**20           # all reply lines not yet read
STARTUP_WALL = 90.0                # seconds for the sandbox to start and pass its probe
PROBE = "import numpy\n"
HARD_WALL_FACTOR = 20              # a cell stops at this many times its backstop, whatever the load
IDLE_CHECK = 0.5                   # seconds between two reads of the run-queue delay
KERNEL_CPU = 3600                  # a kernel's RLIMIT_CPU backstop when its notebook's limit is not given
SANDBOX_CPUS = 1                   # CPUs a sandbox may use at once, where its cgroup can say so
WATCH_INTERVAL = 0.05              # seconds between two sums of a sandbox's memory, without a memory cgroup


class GraderFailure(Exception):
    """The grader could not run the checks (not the student's fault): retry, or report `error`."""


class Aborted(Exception):
    """The instructor stopped the run (second Ctrl-C): the submission stays ungraded."""


@dataclass
class CellOutcome:
    """
    What one cell did.

    status: "ok", "error" (the cell raised), "timeout" (CPU or wall limit),
    "dead" (the sandbox died while the cell ran), "memory" (killed for going
    over the memory bound), "malformed" (a reply that cannot be read).
    busy: its wall seconds less the time the sandbox waited for a CPU (what
    it costs the submission's wall budget); stopped: "cpu", "idle" or
    "budget" when a time limit stopped it.
    """
    status: str
    values: dict = None
    stdout: str = ""
    error: str = None
    cpu: float = 0.0
    wall: float = 0.0
    busy: float = 0.0
    stopped: str = None


class TimeLimit:
    """
    The one time limit of a sandbox's work (a cell, or a whole notebook), from now.

    - cpu: CPU seconds the sandbox may use;
    - backstop: seconds it may spend neither running nor waiting for a CPU (it
      sleeps, waits for input or is blocked); time spent waiting for a CPU on a
      loaded machine does not count;
    - and never more than HARD_WALL_FACTOR x backstop of wall-clock time;
    - busy: seconds of wall time less the time spent waiting for a CPU (what is
      left of the submission's wall budget), None for no bound; deadline: a
      time.monotonic() at which it stops whatever the load, None for none.
    """

    def __init__(self, sandbox, cpu, backstop, busy=None, deadline=None):
        self.sandbox, self.cpu, self.backstop = sandbox, cpu, backstop
        self.busy_limit, self.deadline = busy, deadline
        self.start_wall, self.start_cpu = time.monotonic(), sandbox.cpu_seconds()
        self.start_wait = sandbox.waiting_seconds()
        self.used = self.waited = self.cpu_wait = 0.0
        self._next_idle_check = self.start_wall + IDLE_CHECK

    def _read_wait(self):
        """The sandbox's wait for a CPU since the start (the largest seen: a dead sandbox reads as none)."""
        self.cpu_wait = max(self.cpu_wait, self.sandbox.waiting_seconds() - self.start_wait)
        return self.cpu_wait

    def busy(self):
        """Wall seconds so far less the time spent waiting for a CPU (read now, while the sandbox lives)."""
        self._read_wait()
        return max(0.0, time.monotonic() - self.start_wall - self.cpu_wait)

    def exceeded(self):
        """None while within the limit; "cpu", "idle" or "budget" once over it (used and waited say how far)."""
        now = time.monotonic()
        self.used, self.waited = self.sandbox.cpu_seconds() - self.start_cpu, now - self.start_wall
        idle, busy = 0.0, 0.0
        watch = self.backstop if self.busy_limit is None else min(self.backstop, self.busy_limit)
        if self.waited > watch and now >= self._next_idle_check:
            self._next_idle_check = now + IDLE_CHECK
            self.waited = time.monotonic() - self.start_wall
            self.used = self.sandbox.cpu_seconds() - self.start_cpu
            busy = self.waited - self._read_wait()
            idle = busy - self.used
        if self.used > self.cpu:
            return "cpu"
        if idle > self.backstop or self.waited > HARD_WALL_FACTOR * self.backstop:
            return "idle"
        if (self.busy_limit is not None and busy > self.busy_limit) or \
                (self.deadline is not None and now > self.deadline):
            return "budget"
        return None


class Sandbox:
    """
    One sandbox for one submission (see the module docstring).

    Inputs:
    - view: The KitView to mount at /kit (kit.instructor.sandbox.commands).
    - isolation: The Isolation in force (kit.instructor.sandbox.isolation).
    - limits: The Limits of the submission.
    - abort: A threading.Event set when the run must stop now.
    - sandboxed_dir: The folder of launch.py and executor.py (mounted at /grader).
    - scratch_root: Where temporary files go (a private folder of the run).
    """

    def __init__(self, view, isolation, limits, abort=None, sandboxed_dir=SANDBOXED, scratch_root=None):
        self.view, self.isolation, self.limits = view, isolation, limits
        self.lease = None  # the host uid of a root grader's sandbox (kit.instructor.sandbox.uids)
        self.scratch_root = scratch_root
        self.abort = abort or threading.Event()
        self.sandboxed_dir = Path(sandboxed_dir)
        self.proc = self.cgroup = self.scratch = None
        self.start_seconds = None  # from start() to a passed probe
        self.replies = queue.Queue()
        self.stderr = bytearray()
        self._readers = []
        self._pending_bytes = [0]
        self.memory_exceeded = False   # the memory watch killed it (no memory cgroup)
        self.memory_peak = 0           # the highest sum the memory watch saw, in bytes
        self._closing = threading.Event()

    # ------------------------------------------------------------------ commands

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

    def _launch(self, home, chdir=None, cpu=None):
        return commands.launch_config(self.limits, self.isolation, home,
                                      self._uid() if self.isolation.drop_uid else None, chdir, cpu)

    def _in_cgroup(self, cmd):
        """`cmd` behind cgroup_exec.py, in a new cgroup of the sandbox (when cgroups can be made here)."""
        if self.isolation.mode == "none" or self.isolation.cgroups is None:
            return cmd
        self.cgroup = self.isolation.cgroups.create(self.limits.pids, self.limits.memory_mb * 2**20,
                                                    cpus=SANDBOX_CPUS)
        return [sys.executable, "-I", "-S", str(CGROUP_EXEC), *self.cgroup.procs_files, "--", *cmd]

    def _executor_command(self):
        """(argv, working directory, environment) of the check executor in this isolation mode."""
        mode = self.isolation.mode
        if mode == "bwrap":
            prefix = commands.bwrap_prefix(self.isolation, self.limits, self.view, self.sandboxed_dir,
                                           self._launch("/tmp"))
            return prefix + [sys.executable, "-I", "-B", "/grader/executor.py", "/kit"], "/", {"PATH": "/usr/bin:/bin"}
        if mode in ("rlimits", "container"):
            self.scratch, kit, home = commands.kit_copy(self.view, self.scratch_root, self.sandboxed_dir)
            grader = self.scratch / "grader"
            cmd = commands.rlimits_prefix(grader, self._launch(str(home))) + [
                commands.sandbox_python(self.isolation), "-I", "-B", str(grader / "executor.py"), str(kit)]
            return cmd, str(kit), commands.clean_env(str(home))
        # "none": the reference run, on the instructor's code as it is
        self.scratch = Path(tempfile.mkdtemp(prefix="reference-", dir=self.scratch_root))
        cmd = [sys.executable, "-I", "-B", str(self.sandboxed_dir / "executor.py"), str(self.view.release)]
        return cmd, str(self.view.release), commands.clean_env(str(self.scratch))

    def kernel_command(self, connection_dir, cpu_limit=None):
        """
        The command that starts a Jupyter kernel in this sandbox (for nbval), without starting it.

        cpu_limit: the notebook's CPU seconds (supervise()'s limit), for the kernel's RLIMIT_CPU
        backstop; default KERNEL_CPU (the code checks' budget is no notebook's limit).

        Creates the sandbox's cgroup; the command joins it. The caller appends
        `-m ipykernel_launcher -f CONNECTION_FILE`; the connection file and the
        kernel's IPC sockets live in `connection_dir`, bound read-write. The
        process that starts the kernel is then run with supervise().

        Returns:
        - (argv prefix, environment for the launcher or None, working directory
          of the notebook on the host or None).
        """
        mode, cpu = self.isolation.mode, max(self.limits.timeout, cpu_limit or KERNEL_CPU)
        if mode == "bwrap":
            cmd = commands.bwrap_prefix(self.isolation, self.limits, self.view, self.sandboxed_dir,
                                        self._launch("/tmp", cpu=cpu), writable=[connection_dir],
                                        chdir="/kit/notebooks")
            env = cwd = None
        elif mode in ("rlimits", "container"):
            self.scratch, kit, home = commands.kit_copy(self.view, self.scratch_root, self.sandboxed_dir)
            env, cwd = commands.clean_env(str(home)), str(kit / "notebooks")
            cmd = commands.rlimits_prefix(self.scratch / "grader", self._launch(str(home), chdir=cwd, cpu=cpu))
            os.chmod(connection_dir, 0o777)
            # The kernel's uid must reach its connection folder, not list or read what lies beside it.
            os.chmod(Path(connection_dir).parent, 0o711)
        else:
            raise ValueError("kernels run in a sandbox (bwrap, rlimits or container)")
        return self._in_cgroup(cmd) + [commands.sandbox_python(self.isolation), "-I", "-B"], env, cwd

    # ------------------------------------------------------------------ start

    def start(self):
        """
        Start the check executor in the sandbox and run its probe (the interpreter and NumPy start).

        Raises:
        - GraderFailure with the reason (and the sandbox's stderr) when it does not start.
        """
        began = time.monotonic()
        try:
            cmd, cwd, env = self._executor_command()
            self.proc = subprocess.Popen(self._in_cgroup(cmd), cwd=cwd, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True)
        except (OSError, subprocess.SubprocessError, shutil.Error) as err:
            self.close()
            raise GraderFailure(f"the sandbox could not be started: {err}") from None
        self._readers = [threading.Thread(target=self._read_replies, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        self._start_watch()
        outcome = self.run(PROBE, ns="__probe__", name="probe", cpu_limit=STARTUP_WALL,
                           wall_limit=STARTUP_WALL, probe=True)
        if outcome.status != "ok":
            detail = self.stderr_text() or outcome.error or f"it ended with status {self.proc.poll()}"
            self.close()
            raise GraderFailure(f"the sandbox did not start ({outcome.status}): {detail}")
        self.start_seconds = time.monotonic() - began

    def supervise(self, cmd, cwd, env, cpu_limit, backstop, max_output=200_000):
        """
        Run `cmd`, the trusted process that starts a kernel with kernel_command(), under the time limit.

        Inputs:
        - cmd, cwd, env: The process to start (in a session of its own).
        - cpu_limit: CPU seconds of the sandbox (its cgroup, or else the process tree).
        - backstop: Seconds without running or waiting for a CPU (see TimeLimit).
        - max_output: Bytes of its merged stdout and stderr kept.

        Returns:
        - (None, or "cpu" / "idle" when it was stopped for its time limit; its output as bytes).
          The CPU seconds the sandbox used meanwhile are then in self.cpu_used.

        Raises:
        - Aborted when the abort event is set meanwhile (the process is killed).
        """
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        output = bytearray()

        def drain():
            for chunk in iter(lambda: self.proc.stdout.read(65536), b""):
                if len(output) < max_output:
                    output.extend(chunk)
        self._readers = [threading.Thread(target=drain, daemon=True)]
        self._readers[0].start()
        self._start_watch(trusted_root=True)
        limit, stopped = TimeLimit(self, cpu_limit, backstop), None
        while self.proc.poll() is None:
            if self.abort.wait(0.2):
                self.kill()
                raise Aborted()
            stopped = limit.exceeded()
            if stopped:
                self.kill()
                break
        self.proc.wait()
        self._readers[0].join(timeout=10)
        self.cpu_used = max(limit.used, self.cpu_seconds() - limit.start_cpu)
        return stopped, bytes(output)

    # ------------------------------------------------------------------ memory

    def _start_watch(self, trusted_root=False):
        """
        Without a memory cgroup, watch the sandbox's memory as a whole (Isolation.memory "watch").

        trusted_root: the process started is the grader's own (supervise(): the pytest process
        that starts the kernel), not counted; its descendants are.
        """
        if self.cgroup is None and self.isolation.memory == "watch":
            threading.Thread(target=self._watch_memory, args=(self.proc, trusted_root), daemon=True).start()

    def _watch_memory(self, proc, trusted_root=False):
        """Kill the sandbox once its processes' memory, summed, goes over memory_mb (procfs.resident, .proportional)."""
        bound = self.limits.memory_mb * 2**20
        uid = self.lease.uid if self.lease is not None and self.isolation.mode != "bwrap" else None
        while proc.poll() is None and not self._closing.is_set():
            found = procfs.resident(proc.pid, uid)
            if trusted_root:
                found.pop(proc.pid, None)
            total = sum(found.values())
            if total > bound:   # pages shared by forked processes count in each resident set: once here
                total = procfs.proportional(found)
            self.memory_peak = max(self.memory_peak, total)
            if total > bound:
                self.memory_exceeded = True
                self.kill()
                if uid is not None:   # processes that left its session: its uid is its own
                    uids.kill_uid(uid)
                return
            self._closing.wait(WATCH_INTERVAL)

    def out_of_memory(self):
        """True when the sandbox was killed for going over its memory bound (the cgroup's or the watch's)."""
        return self.memory_exceeded or (self.cgroup is not None and self.cgroup.oom_killed())

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
        return procfs.tree_cpu(self.proc.pid) if self.proc else 0.0

    def waiting_seconds(self):
        """
        Time the sandbox's threads spent ready to run but waiting for a CPU, so far.

        What a loaded machine adds to a cell's wall-clock time: the backstop for
        cells that sleep counts wall time minus CPU time minus this, so that
        other processes on the machine cannot make a correct cell look stuck.
        """
        if self.cgroup is not None:
            return procfs.run_delay(self.cgroup.pids())
        return procfs.run_delay(procfs.tree_pids(self.proc.pid)) if self.proc else 0.0

    # ------------------------------------------------------------------ cells

    def run(self, code, ns="", name="", cpu_limit=None, wall_limit=None, probe=False, busy_limit=None,
            deadline=None):
        """
        Run one cell and return its CellOutcome (never raises for the student's doing).

        cpu_limit, wall_limit: its CPU limit and backstop (TimeLimit); busy_limit, deadline: what is
        left of the submission's wall budget, and the time at which it stops whatever the load.

        Raises:
        - Aborted when the abort event is set while the cell runs.
        - GraderFailure when the sandbox dies before its probe has passed.
        """
        cpu_limit = self.limits.cell_timeout if cpu_limit is None else cpu_limit
        wall_limit = self.limits.cell_wall(cpu_limit) if wall_limit is None else wall_limit
        token = secrets.token_hex(16)
        prefix = b'{"token": "' + token.encode() + b'"'
        request = json.dumps({"token": token, "ns": ns, "code": code, "name": name}) + "\n"
        limit = TimeLimit(self, cpu_limit, wall_limit, busy_limit, deadline)
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            return self._ended("dead", limit, probe)
        started = False
        while True:
            try:
                line = self.replies.get(timeout=0.05)
            except queue.Empty:
                line = b""
            if line is None:
                self.replies.put(None)  # keep the end-of-stream mark for later calls
                return self._ended("dead", limit, probe, started)
            if line:
                self._pending_bytes[0] -= len(line)
                if not line.startswith(prefix):
                    continue
                record = _parse(line)
                if record is None:
                    return self._outcome(CellOutcome("malformed", error="the cell's reply could not be read "
                                                     "(too large or not valid JSON)"), limit)
                if record.get("started") is True:
                    started = True
                    continue
                return self._outcome(_as_outcome(record), limit)
            if self.abort.is_set():
                self.kill()
                raise Aborted()
            if not probe and self.out_of_memory():   # over the bound as a whole: the sandbox ends, not one process
                return self._ended("dead", limit, probe, started)
            stopped = limit.exceeded()
            if stopped:
                busy = limit.busy()
                self.kill()
                if probe:
                    return CellOutcome("timeout", error=f"no answer after {limit.waited:.0f} s", wall=limit.waited)
                if stopped == "cpu":
                    why = f"the cell used more than {cpu_limit:g} s of CPU (an infinite loop?)"
                elif stopped == "idle":
                    why = (f"the cell did not finish: {wall_limit:g} s without running, while using "
                           f"{limit.used:.1f} s of CPU (it sleeps, waits for input or is blocked)")
                else:
                    why = (f"the cell was stopped after {limit.waited:.0f} s: the code checks of a submission "
                           f"share a budget of wall time, and it ran out")
                return CellOutcome("timeout", error=why, cpu=limit.used, wall=limit.waited, busy=busy,
                                   stopped=stopped)

    def _ended(self, status, limit, probe, started=False):
        """
        The executor is gone: the cell's fault once it had started the cell; the grader's before.

        Raises:
        - GraderFailure when the executor ended before it acknowledged this cell (after the probe).
        """
        limit.busy()   # the wait for a CPU, while what is left of the sandbox can still be read
        self.kill(wait=True)
        if probe:
            return CellOutcome("dead", error=self.stderr_text() or "the sandbox exited at once")
        memory = self.out_of_memory()
        if not started and not memory:
            raise GraderFailure(f"the sandbox ended before it started a cell (exit status "
                                f"{self.proc.returncode}): {self.stderr_text() or 'no message'}")
        if memory:
            return self._outcome(CellOutcome("memory", error=f"the cell used more than the "
                                             f"{self.limits.memory_mb} MB of memory allowed, and was "
                                             f"stopped"), limit)
        code = self.proc.returncode
        # A process killed by a signal: a negative status, or 128 + the signal through bwrap.
        number = -code if code and code < 0 else (code - 128 if code and code > 128 else None)
        how = (f"killed by signal {number} ({signal.Signals(number).name})"
               if number in signal.valid_signals() else f"exit status {code}")
        return self._outcome(CellOutcome("dead", error=f"the Python process running the checks ended "
                                         f"while this cell ran ({how}): a crash, os._exit(), or too "
                                         f"much memory"), limit)

    def _outcome(self, outcome, limit):
        outcome.wall = time.monotonic() - limit.start_wall
        outcome.cpu = max(0.0, self.cpu_seconds() - limit.start_cpu) if self.proc else 0.0
        outcome.busy = limit.busy() if self.proc and self.proc.poll() is None else \
            max(0.0, outcome.wall - limit.cpu_wait)
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
        self._closing.set()
        self.kill()
        if self.proc is not None:
            _close(self.proc.stdin)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for reader in self._readers:
                reader.join(timeout=5)
            _close(self.proc.stdout)
            _close(self.proc.stderr)
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


def _close(stream):
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


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
