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
  the network unshared and an unprivileged uid where the platform allows it;
  no file-system isolation.
- "none": the trusted reference run on the instructor's own code.
The choice fails closed: without bubblewrap nothing is graded unless the
weaker "rlimits" is asked for by name.
"""
import os
import shutil
import sys
from dataclasses import dataclass

BWRAP_PLACES = ("/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap")


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
    cgroups: object = None         # kit.instructor.sandbox.cgroups.Cgroups, or None
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
