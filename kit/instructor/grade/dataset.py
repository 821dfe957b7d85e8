"""The CIFAR-10 copy a Dask worker grades the notebooks on: the very data of the instructor's --data.

The instructor's machine sends a DataSpec (spec): the SHA-256 of the batch
files of its --data folder, that folder's path, and where a worker may fetch
the archive (`--data-url`, `--data-md5`). A worker (local_copy) takes the
first of these whose batches have that fingerprint:

1. the folder named by the environment variable KIT_GRADE_DATA on the worker;
2. a folder at the same path as the instructor's --data;
3. its own download of --data-url, made once per machine with
   get_datasets.fetch (resumable, MD5-checked, extracted safely) into
   $KIT_GRADE_CACHE, by default ~/.cache/cs231n-kit/.

The reference outputs come from the instructor's data, so a worker never grades
on other data, even another verified copy of CIFAR-10 (such as the test mirror).
"""
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from kit.instructor.grade.nbgrade import BATCHES, verify_data


class DataUnavailable(Exception):
    """This worker has no copy of the instructor's CIFAR-10 and cannot fetch one."""


@dataclass(frozen=True)
class DataSpec:
    """Which CIFAR-10 the notebooks are graded on, and where a worker may find it."""
    fingerprint: str       # SHA-256 over the batch files (fingerprint)
    path: str              # the instructor's --data folder
    url: str = None        # --data-url: the archive (http, https or file://)
    md5: str = None        # --data-md5: its MD5 (None: the official archive's)


def fingerprint(folder):
    """
    The SHA-256 of the CIFAR-10 batch files in `folder`, in a fixed order.

    Returns:
    - 64 hex digits, or None when a batch file is missing.
    """
    digest = hashlib.sha256()
    for name in BATCHES:
        path = Path(folder) / name
        if not path.is_file():
            return None
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def spec(folder, url=None, md5=None):
    """The DataSpec of the instructor's --data `folder` (already verified by the run's prepare)."""
    if md5 is not None:
        import get_datasets

        try:
            md5 = get_datasets.check_md5_argument(md5)
        except get_datasets.DownloadError as err:
            raise ValueError(f"--data-md5: {err}") from None
    return DataSpec(fingerprint(folder), str(Path(folder).resolve()), url, md5)


def cache_root():
    """Where a worker keeps the archives it fetched: $KIT_GRADE_CACHE, else ~/.cache/cs231n-kit."""
    return Path(os.environ.get("KIT_GRADE_CACHE") or Path.home() / ".cache" / "cs231n-kit")


def fetch(url, md5, root=None):
    """
    Fetch and extract the archive at `url` once per machine (a lock keeps two workers from both doing it).

    Returns:
    - The path of its cifar-10-batches-py folder.

    Raises:
    - DataUnavailable with get_datasets' reason.
    """
    import get_datasets

    dest = Path(root or cache_root()) / f"cifar10-{md5 or get_datasets.OFFICIAL_MD5}"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with open(dest / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return get_datasets.fetch(url, md5, dest, quiet=True)
    except (get_datasets.DownloadError, OSError) as err:
        raise DataUnavailable(f"--data-url {url} could not be fetched into {dest}: {err}") from None


def local_copy(data, log=print):
    """
    This machine's copy of the CIFAR-10 described by `data` (a DataSpec).

    Returns:
    - The path of a folder whose batches have data.fingerprint (loaded once, which writes its cache).

    Raises:
    - DataUnavailable saying what was tried and what to do.
    """
    tried = []
    candidates = [("KIT_GRADE_DATA", os.environ.get("KIT_GRADE_DATA")), ("the path of --data", data.path)]
    for what, folder in candidates:
        if not folder:
            continue
        found = fingerprint(folder)
        if found == data.fingerprint:
            return _loaded(folder)
        tried.append(f"{what} {folder}: " + ("no CIFAR-10 batches there" if found is None
                                             else "other data than the instructor's --data"))
    if data.url:
        folder = fetch(data.url, data.md5)
        if fingerprint(folder) == data.fingerprint:
            log(f"CIFAR-10 from {data.url} is in {folder}")
            return _loaded(folder)
        tried.append(f"--data-url {data.url}: its batches differ from those of the instructor's --data "
                     f"(give the URL of the archive --data was extracted from)")
    else:
        tried.append("no --data-url to fetch it from")
    raise DataUnavailable("no copy of the instructor's CIFAR-10 (--data) here: " + "; ".join(tried)
                          + ". Pass --data-url URL (and --data-md5 MD5 for a mirror), or set KIT_GRADE_DATA "
                            "on the worker to a copy of the same cifar-10-batches-py folder")


def _loaded(folder):
    verify_data(folder)  # as the instructor's run did: loads it once, writes its cache when it can
    return str(Path(folder).resolve())
