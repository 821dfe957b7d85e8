"""What a Dask worker runs for `kit grade --scheduler`: one submission in, its results out.

grade_remote gets the run's packed Setup (kit.instructor.grade.portable), the
student's name and the bytes of the zip. The first task of a run on a worker
process unpacks the Setup into a private folder (kit-grade-worker-<pid>-*,
in the worker's temporary folder), finds its CIFAR-10 copy when the
notebooks are graded (kit.instructor.grade.dataset) and runs the sandbox
preflight; the later ones reuse it. Each submission is graded by grade_one in
a folder of its own, and what grade_one wrote (results.json, feedback.md,
manual.json) goes back to the instructor's machine as bytes: nothing is
shared but Dask's messages.
"""
import atexit
import os
import pickle
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from kit.instructor.grade import dataset, portable
from kit.instructor.grade.submission import Job, grade_one
from kit.instructor.sandbox import cgroups as cgroups_mod
from kit.instructor.sandbox.isolation import IsolationUnavailable

PREFIX = "kit-grade-worker-"
KEEP = 2                 # runs whose unpacked Setup a worker keeps
_setups = {}             # digest -> (root, Setup, or the WorkerSetupError it raised), oldest first
_lock = threading.Lock()
_kit = portable.kit_digest()   # the version of the kit this process runs (read when it was imported)


class WorkerSetupError(Exception):
    """This worker cannot grade the run (no sandbox, no data): the message says what to do there."""


def _where():
    try:
        from distributed import get_worker

        return f"Dask worker {get_worker().address} ({socket.gethostname()})"
    except (ImportError, ValueError):
        return f"{socket.gethostname()}"


def _sweep_stale():
    """Remove the folders of worker processes that are gone (killed with their machine's work unfinished)."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = path.name[len(PREFIX):].split("-")[0]
        if owner.isdigit() and int(owner) != os.getpid() and not cgroups_mod._alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)


def _remove_all():
    for root, _ in list(_setups.values()):
        if root:
            shutil.rmtree(root, ignore_errors=True)


def _unpack(blob):
    packed = pickle.loads(blob)
    if packed.kit != _kit:
        return None, WorkerSetupError(
            f"{_where()} cannot grade: the kit installed there ({portable.KIT}) is not the version of the "
            f"instructor's: pip install the same kit checkout there again, and restart the worker")
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    os.chmod(root, 0o711)  # the sandbox's uid of --isolation rlimits enters its kit copy in here
    try:
        data_dir = dataset.local_copy(packed.data) if packed.data else None
        return root, portable.unpack(packed, root, data_dir)
    except (IsolationUnavailable, dataset.DataUnavailable) as err:
        return root, WorkerSetupError(f"{_where()} cannot grade: {err}")


def setup_for(digest, blob):
    """
    The Setup of the run `digest` on this worker, unpacked from `blob` the first time.

    Raises:
    - WorkerSetupError: this worker cannot grade that run (every later call says so too).
    """
    with _lock:
        if digest not in _setups:
            if not _setups:
                _sweep_stale()
                atexit.register(_remove_all)
            _setups[digest] = _unpack(blob)
            while len(_setups) > KEEP:
                old_root, _ = _setups.pop(next(iter(_setups)))
                if old_root:
                    shutil.rmtree(old_root, ignore_errors=True)
        setup = _setups[digest][1]
    if isinstance(setup, WorkerSetupError):
        raise setup
    return setup


def packed(blob):
    """The packed Setup itself (a Dask task: its result lives on the workers, and is made again if lost)."""
    return blob


def grade_remote(digest, blob, student, zip_bytes):
    """
    Grade one submission on this worker (a Dask task).

    Inputs:
    - digest, blob: The run's packed Setup (kit.instructor.grade.portable.pack).
    - student: The student's folder name in the output.
    - zip_bytes: The submitted zip.

    Returns:
    - (row, files): its grades.csv row, and {relative path: bytes} of what it
      wrote into its output folder (nothing when it was stopped).

    Raises:
    - WorkerSetupError: this worker cannot grade (no sandbox, no data): the message says why.
    """
    setup = setup_for(digest, blob)
    scratch = Path(tempfile.mkdtemp(prefix="submission-", dir=setup.work_root))
    try:
        zip_path = scratch / "submission.zip"
        zip_path.write_bytes(zip_bytes)
        row = grade_one(setup, Job(student, str(zip_path), str(scratch / "out")))
        folder = scratch / "out" / student
        files = {p.relative_to(folder).as_posix(): p.read_bytes()
                 for p in sorted(folder.rglob("*")) if p.is_file()} if folder.is_dir() else {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return row, files
