"""Per-sandbox cgroups: a process count, a memory bound, a CPU quota and CPU accounting for each sandbox.

One cgroup per sandbox (cgroup v1: one directory in each of the pids, memory,
cpuacct and, where it is mounted apart, cpu hierarchies; cgroup v2: one
directory with those controllers),
named `kit-grade-<grader pid>-<n>`, so that a later run can remove what a
killed grader left behind (see sweep_stale). Creating cgroups needs root (or
a delegated v2 subtree); without them the grader says so and relies on
rlimits alone.
"""
import itertools
import os
import signal
import threading
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("pids", "memory", "cpuacct")
V1_OPTIONAL = ("cpu",)   # the CPU quota; where cpu and cpuacct share a hierarchy, it is cpuacct's directory
PERIOD_US = 100_000
V2_PARENT = "kit-grade"
PREFIX = "kit-grade-"
_counter = itertools.count()
_lock = threading.Lock()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _read(path):
    with open(path) as f:
        return f.read()


class Cgroup:
    """One sandbox's cgroup (a directory per hierarchy)."""

    def __init__(self, version, dirs):
        self.version = version
        self.dirs = dirs  # {controller: Path} (v1) or {"": Path} (v2)

    @property
    def procs_files(self):
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _dir(self, controller):
        return self.dirs.get(controller if self.version == 1 else "")

    def cpu_seconds(self):
        """CPU time used by every process of the sandbox so far (user + system)."""
        try:
            if self.version == 1:
                return int(_read(self._dir("cpuacct") / "cpuacct.usage")) / 1e9
            for line in _read(self._dir("") / "cpu.stat").splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
        except (OSError, ValueError, TypeError):
            pass
        return None

    def oom_killed(self):
        """True when the kernel killed a process of the sandbox for going over its memory bound."""
        try:
            name = "memory.oom_control" if self.version == 1 else "memory.events"
            for line in _read(self._dir("memory") / name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError, TypeError):
            pass
        return False

    def pids(self):
        found = set()
        for d in self.dirs.values():
            try:
                found.update(int(p) for p in _read(d / "cgroup.procs").split())
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self):
        """SIGKILL every process of the sandbox, including daemons that left its session."""
        for d in self.dirs.values():
            if self.version == 2 and (d / "cgroup.kill").exists():
                try:
                    _write(d / "cgroup.kill", "1")
                except OSError:
                    pass
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)

    def remove(self):
        """Kill what is left and remove the cgroup's directories."""
        self.kill_all()
        for d in self.dirs.values():
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


class Cgroups:
    """Where and how this machine lets the grader make cgroups."""

    def __init__(self, version, parents):
        self.version = version
        self.parents = parents  # {controller: Path} (v1) or {"": Path} (v2)

    def describe(self):
        return "pids, memory and cpu cgroups" if self.version else "no cgroups"

    def create(self, pids_max, memory_bytes, cpus=None):
        """A new cgroup limited to `pids_max` tasks, `memory_bytes` of memory (swap included) and `cpus` CPUs."""
        with _lock:
            name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        dirs = {}
        try:
            for controller, parent in self.parents.items():
                d = parent / name
                d.mkdir()
                dirs[controller] = d
            group = Cgroup(self.version, dirs)
            if self.version == 1:
                _write(dirs["pids"] / "pids.max", str(pids_max))
                _write(dirs["memory"] / "memory.limit_in_bytes", str(memory_bytes))
                memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    _write(memsw, str(memory_bytes))
                quota = next((d / "cpu.cfs_quota_us" for d in (dirs.get("cpu"), dirs["cpuacct"])
                              if d is not None and (d / "cpu.cfs_quota_us").exists()), None)
                if cpus and quota is not None:
                    _write(quota.parent / "cpu.cfs_period_us", str(PERIOD_US))
                    _write(quota, str(int(cpus * PERIOD_US)))
            else:
                d = dirs[""]
                _write(d / "pids.max", str(pids_max))
                _write(d / "memory.max", str(memory_bytes))
                if (d / "memory.swap.max").exists():
                    _write(d / "memory.swap.max", "0")
                if cpus and (d / "cpu.max").exists():
                    _write(d / "cpu.max", f"{int(cpus * PERIOD_US)} {PERIOD_US}")
            return group
        except OSError:
            Cgroup(self.version, dirs).remove()
            raise


def _v1_parents():
    parents = {}
    for controller in V1_CONTROLLERS:
        base = ROOT / controller
        if not (base / "cgroup.procs").exists():
            return None
        parents[controller] = base
    for controller in V1_OPTIONAL:
        base = ROOT / controller
        if (base / "cgroup.procs").exists() and base.resolve() not in {p.resolve() for p in parents.values()}:
            parents[controller] = base
    return parents


def _v2_parent():
    if not (ROOT / "cgroup.controllers").exists():
        return None
    parent = ROOT / V2_PARENT
    try:
        parent.mkdir(exist_ok=True)
        _write(ROOT / "cgroup.subtree_control", "+pids +memory +cpu")
        _write(parent / "cgroup.subtree_control", "+pids +memory +cpu")
    except OSError:
        return None
    return parent


def detect():
    """
    The cgroups this process can make, tried for real (a cgroup is created and removed).

    Returns:
    - A Cgroups object, or None when none can be made here (not root, no
      delegation, or a read-only cgroup file system).
    """
    candidates = []
    v1 = _v1_parents()
    if v1:
        candidates.append(Cgroups(1, v1))
    v2 = _v2_parent()
    if v2:
        candidates.append(Cgroups(2, {"": v2}))
    for cgroups in candidates:
        try:
            cgroups.create(16, 64 * 2**20).remove()
            return cgroups
        except OSError:
            continue
    return None


def sweep_stale(cgroups):
    """Remove the cgroups of graders that are no longer running (a `kill -9` leaves them)."""
    if cgroups is None:
        return 0
    removed = 0
    for controller, parent in cgroups.parents.items():
        for d in parent.glob(f"{PREFIX}*"):
            owner = d.name[len(PREFIX):].split("-")[0]
            if not owner.isdigit() or _alive(int(owner)):
                continue
            Cgroup(cgroups.version, {controller: d}).remove()
            removed += 1
    return removed


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
