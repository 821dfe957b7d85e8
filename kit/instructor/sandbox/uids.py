"""Host uids for the sandboxes of a root grader: one per running sandbox, unique on the machine.

A grader that runs as root starts each sandbox as a real unprivileged host uid
(see kit.instructor.sandbox.box). Two sandboxes must never share one, even when
they belong to different grading runs (two instructors, a Dask worker beside
a local run): the process limit (RLIMIT_NPROC) counts per uid, so a fork bomb
in one would starve the other, and processes of the same uid may signal each
other. A uid is leased by taking an exclusive lock on its file in a
root-only folder; the kernel drops the lock when the holder dies, so a
`kill -9` leaks nothing. On release, any process still running as that uid
is killed first.
"""
import fcntl
import os
import pwd
import signal
import stat
import time
from pathlib import Path

BASE = 1_900_000_000   # unlikely to be any account's; every uid is checked against the passwd database
COUNT = 4096
LOCK_DIRS = (Path("/run/kit-grade-uids"), Path("/var/tmp/kit-grade-uids"))


class UidError(OSError):
    """No sandbox uid could be leased."""


def _lock_dir():
    for folder in LOCK_DIRS:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
            return folder
    raise UidError("no root-only folder for the sandbox uid locks (tried "
                   + ", ".join(str(f) for f in LOCK_DIRS) + ")")


class Lease:
    """A uid held for one sandbox; release() frees it."""

    def __init__(self, uid, fd):
        self.uid, self.fd = uid, fd

    def release(self):
        if self.fd is None:
            return
        kill_uid(self.uid)
        os.close(self.fd)  # drops the lock
        self.fd = None


def acquire():
    """Lease a free sandbox uid (its gid is the same number)."""
    folder = _lock_dir()
    for uid in range(BASE, BASE + COUNT):
        try:
            pwd.getpwuid(uid)
            continue  # a real account: never a sandbox's
        except KeyError:
            pass
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        kill_uid(uid)  # leftovers of a sandbox whose grader was killed
        return Lease(uid, fd)
    raise UidError(f"all {COUNT} sandbox uids from {BASE} are in use")


def kill_uid(uid, rounds=50):
    """SIGKILL every process whose real uid is `uid` (root only; a no-op otherwise)."""
    if os.geteuid() != 0:
        return
    for _ in range(rounds):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                os.kill(int(entry), signal.SIGKILL)
                found = True
            except OSError:
                continue
        if not found:
            return
        time.sleep(0.02)
