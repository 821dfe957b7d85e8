"""kit.instructor.sandbox.uids: every running sandbox of a root grader has a host uid of its own.

Each test leases from a lock folder of its own and a uid range of its own, so
that the sandboxes of other test processes (which lease from the real ones)
neither interfere nor get killed by a release here.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.instructor.sandbox import uids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox uids are leased by a root grader only")
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_BASE = uids.BASE + 50_000_000


@pytest.fixture
def locks(tmp_path, monkeypatch):
    folder = tmp_path / "locks"
    monkeypatch.setattr(uids, "LOCK_DIRS", (folder,))
    monkeypatch.setattr(uids, "BASE", TEST_BASE)
    return folder


def test_leases_are_distinct_and_reused_after_release(locks):
    a, b = uids.acquire(), uids.acquire()
    assert a.uid != b.uid and TEST_BASE <= min(a.uid, b.uid)
    b.release()
    c = uids.acquire()
    assert c.uid == b.uid  # the lowest free one
    c.release()
    a.release()
    assert oct(os.stat(locks).st_mode & 0o777) == "0o700"


def test_a_uid_held_by_another_grader_is_skipped_and_freed_when_it_dies(locks):
    holder = subprocess.Popen(
        [sys.executable, "-c", "from pathlib import Path; from kit.instructor.sandbox import uids; import time; "
         f"uids.LOCK_DIRS = (Path({str(locks)!r}),); uids.BASE = {TEST_BASE}; lease = uids.acquire(); print(lease.uid, flush=True); "
         "time.sleep(60)"], cwd=SOURCE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(holder.stdout.readline())
        mine = uids.acquire()
        assert mine.uid != held
    finally:
        holder.kill()
        holder.wait()
    again = uids.acquire()
    assert again.uid == held  # kill -9 left no lock behind
    again.release()
    mine.release()


def test_a_lock_folder_others_can_write_to_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "open"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    monkeypatch.setattr(uids, "LOCK_DIRS", (folder,))
    with pytest.raises(uids.UidError, match="root-only folder"):
        uids.acquire()


def test_release_kills_what_still_runs_as_that_uid(locks):
    lease = uids.acquire()
    proc = subprocess.Popen(["setpriv", f"--reuid={lease.uid}", f"--regid={lease.uid}", "--clear-groups",
                             "sleep", "300"])
    time.sleep(0.3)
    lease.release()
    assert proc.wait(timeout=10) == -9
