"""Which sandbox grading may use here, and the resource limits of one submission.

Isolation modes (kit.instructor.sandbox.box starts them):
- "bwrap": no network, own pid/ipc/uts/cgroup namespaces, a read-only view
  of only the system directories, the Python installation (less the kit's own packages when they are
  pip-installed in it: kit.instructor.sandbox.commands.hidden_paths), the executor and
  this submission's kit (the pristine release with the student's files bound
  over it, at /kit), a size-limited private /tmp. When the grader runs as
  root the sandbox runs as a real unprivileged host uid, its own while it runs
  (kit.instructor.sandbox.uids); otherwise as uid 65534 of a user namespace.
- "rlimits" (only when asked for by name): a private copy of the kit, rlimits,
  the network unshared where the kernel allows it and, for a root grader, an
  unprivileged uid; no file-system isolation.
- "container" (chosen only by the Gradescope autograder, in its single-use
  container, when bubblewrap cannot start there): as "rlimits", always as an
  unprivileged host uid, which cannot read the root-only bundle, the expected
  values (in the grader's memory and private files) or the results.
- "none": the trusted reference run on the instructor's own code.
The choice fails closed: without bubblewrap nothing is graded unless the
weaker "rlimits" is asked for by name. Without bubblewrap, a root grader's
sandboxes run a Python the unprivileged uid can reach
(kit.instructor.sandbox.reach), or grading does not start.
"""
import os
import shutil
from dataclasses import dataclass

from kit.instructor.sandbox import reach

BWRAP_PLACES = ("/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap")


@dataclass(frozen=True)
class Limits:
    """
    Resource limits of one submission.

    - cell_timeout: CPU seconds one check cell may use; a cell that sleeps or
      blocks stops after 2 x cell_timeout + 5 s without running (time spent
      waiting for a CPU on a loaded machine does not count).
    - timeout: CPU seconds all the code checks of a submission may use
      together, across sandbox restarts (its CPU budget).
    - wall_timeout: seconds of wall time the code checks of a submission may
      take together, sandbox starts and restarts included, less the time its
      processes waited for a CPU (its wall budget; a loaded machine does not
      use it up). Whatever the load, the code checks stop at
      wall_timeout + WALL_EXTRA seconds of plain wall time.
    - memory_mb: memory of a sandbox as a whole (memory cgroup: processes,
      /tmp and page cache; without cgroups, the resident memory of its
      processes summed by the grader), and the address space of each process.
    - pids: tasks (processes and threads) of a sandbox (pids cgroup), and the
      process limit of its user (RLIMIT_NPROC).
    - tmp_mb: size of the sandbox's private /tmp.
    - memory_per_process: accept a bound of each process's memory alone where
      the sandbox's memory cannot be bounded as a whole (--memory-per-process).
    """
    cell_timeout: float = 20.0
    timeout: float = 90.0
    wall_timeout: float = 90.0
    memory_mb: int = 2048
    pids: int = 128
    tmp_mb: int = 256
    memory_per_process: bool = False

    def cell_wall(self, cpu):
        return 2 * cpu + 5


WALL_EXTRA = 30   # the code checks of a submission stop at wall_timeout + this many seconds, whatever the load
MEMORY_BOUNDS = {
    "cgroup": "memory bounded as a whole (memory cgroup)",
    "watch": "memory bounded as a whole by the grader (the memory of the sandbox's processes, summed "
             "every 0.05 s, shared pages once; the sandbox is killed above --memory-mb)",
    "process": "MEMORY BOUNDED PER PROCESS ONLY (asked for with --memory-per-process: many processes "
               "together can use more than --memory-mb)",
}


@dataclass(frozen=True)
class Isolation:
    """The isolation in force; made by choose_isolation."""
    mode: str                      # "bwrap", "rlimits", "container" or "none"
    bwrap: str = None              # absolute path of bubblewrap
    cgroups: object = None         # kit.instructor.sandbox.cgroups.Cgroups, or None
    root: bool = False             # the grader runs as root
    drop_uid: bool = False         # sandboxes run as an unprivileged host uid (root grader only)
    network: bool = None           # the preflight reached the network from a sandbox (None: not checked yet)
    python: str = None             # the interpreter sandboxed code runs without bubblewrap (None: the grader's)
    socket_filter: bool = False    # the network is cut by launch.py's seccomp filter, not a namespace
    memory: str = None             # how a sandbox's memory is bounded: a key of MEMORY_BOUNDS (memory_bound)

    def describe(self):
        """One line for grades.csv and results.json's extra_data: what holds and what does not."""
        if self.mode == "none":
            return "none (the instructor's reference code)"
        bounds = "pids, memory and CPU cgroups" if self.cgroups else "no cgroups"
        memory = self.memory or ("cgroup" if self.cgroups else "process")
        bounds += f"; {MEMORY_BOUNDS[memory]}; rlimits as/cpu/nproc/nofile/fsize"
        if self.mode == "bwrap":
            user = "an unprivileged host uid" if self.drop_uid else "uid 65534 in a user namespace"
            return (f"bwrap: no network, own pid/ipc/uts/cgroup namespaces, {user}, read-only view of "
                    f"this submission's kit only, private size-limited /tmp; {bounds}")
        net = self._network()
        if self.mode == "container":
            return (f"container (Gradescope's single-use container, where bubblewrap cannot start): student "
                    f"code as an unprivileged host uid that cannot read the bundle, the expected values or the "
                    f"results; no file-system sandbox (it can read the container's world-readable files) and "
                    f"no pid/ipc namespaces; {net}; {bounds}")
        user = ("an unprivileged host uid" if self.drop_uid else "the grader's own uid (not root)")
        return f"rlimits only (asked for by name): no file-system isolation; {net}; {user}; {bounds}"

    def _network(self):
        """The network part of the line, without bubblewrap: what the preflight found."""
        if self.network is None:
            return "network not checked yet"
        if self.network:
            return ("NETWORK NOT CUT (neither a network namespace nor a seccomp filter could be had here: "
                    "student code can reach the network)")
        how = ("a seccomp filter: no socket but Unix and netlink ones" if self.socket_filter
               else "own network namespace")
        return f"network cut ({how}, checked by the preflight)"

    def short(self):
        """One short line for students."""
        return {"bwrap": "Graded in a sandbox (bubblewrap).",
                "rlimits": "Graded without a file-system sandbox (resource limits only).",
                "container": "Graded in Gradescope's container as an unprivileged user (resource limits, "
                             "no file-system sandbox).",
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


def memory_bound(mode, cgroups, drop_uid, per_process=False):
    """
    How the memory of a sandbox is bounded as a whole here (a key of MEMORY_BOUNDS); fails closed.

    - "cgroup": a memory cgroup per sandbox;
    - "watch": without cgroups, where the grader can find every process of a sandbox (its pid
      namespace, under bubblewrap, or its own host uid, for a root grader): the grader sums their
      resident memory and kills the sandbox above memory_mb (kit.instructor.sandbox.box);
    - "process": each process's address space alone (RLIMIT_AS), only when asked for by name.

    Raises:
    - IsolationUnavailable when neither bound of the whole can be had and per_process is not given.
    """
    if cgroups is not None:
        return "cgroup"
    if mode == "bwrap" or drop_uid:
        return "watch"
    if per_process:
        return "process"
    raise IsolationUnavailable(
        f"isolation {mode} as a user that is not root, without cgroups: the memory of a sandbox cannot be "
        f"bounded as a whole here (its processes can leave its process tree), only each process's; run the "
        f"grader as root, use bubblewrap, or pass --memory-per-process to accept per-process bounds "
        f"(many processes together could then use more than --memory-mb)")


def choose_isolation(wanted="auto", bwrap=None, cgroups=None, per_process_memory=False):
    """
    The Isolation for `wanted` ("auto", "bwrap", "rlimits" or "container"); fails closed.

    "auto" and "bwrap" need a bubblewrap executable (the sandbox itself is
    tried by the grader's preflight before any submission runs); the weaker
    "rlimits" mode runs only when asked for by name, and "container" only when
    the Gradescope autograder asks for it (bubblewrap cannot start in its container).
    Without bubblewrap a root grader needs a Python its sandbox's uid can run
    (made reachable here when it is not, see kit.instructor.sandbox.reach).

    Raises:
    - IsolationUnavailable with one line saying what is missing and what to do.
    """
    root = os.geteuid() == 0
    if wanted in ("rlimits", "container"):
        if wanted == "container" and not root:
            raise IsolationUnavailable("isolation container runs student code as an unprivileged uid, "
                                       "so the grader must run as root (as Gradescope's run_autograder does)")
        python = None
        if root:
            try:
                python = reach.sandbox_python()
            except reach.Unreachable as err:
                raise IsolationUnavailable(f"isolation {wanted}: {err}") from None
        return Isolation(wanted, None, cgroups, root, drop_uid=root, python=python,
                         memory=memory_bound(wanted, cgroups, root, per_process_memory))
    if wanted not in ("auto", "bwrap"):
        raise IsolationUnavailable(f"unknown isolation {wanted!r}: use auto, bwrap or rlimits")
    exe = locate_bwrap(bwrap)
    if exe is None:
        where = f"at {bwrap}" if bwrap else "on PATH or in /usr/bin"
        raise IsolationUnavailable(
            f"bubblewrap (bwrap) is not installed {where}: install it (`sudo apt-get install bubblewrap`), "
            f"or pass --isolation rlimits to grade without a file-system and network sandbox "
            f"(student code could then read and change your files)")
    return Isolation("bwrap", exe, cgroups, root, drop_uid=root, memory=memory_bound("bwrap", cgroups, root))
