"""Download CIFAR-10 (python version) into datasets/cifar-10-batches-py/.

Usage, from the kit's root:

    python get_datasets.py                 # the official archive
    python get_datasets.py --url URL --md5 MD5    # a mirror (also CIFAR10_URL, CIFAR10_MD5)

The archive is streamed to ``<dest>/cifar-10-python.tar.gz.part`` (an interrupted
download resumes from there), its MD5 is checked before anything is extracted,
and it is extracted safely into a temporary folder that replaces
``<dest>/cifar-10-batches-py`` only once it is complete. A dataset already in
place and verified is left alone, without any network access (unless --md5 or
CIFAR10_MD5 asks for another archive than the one it came from).

Exit status 0 on success; otherwise 1 and a one-line error on stderr that says
what to do.
"""
import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import requests
import urllib3

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
DATASET_DIRNAME = "cifar-10-batches-py"
MARKER_NAME = ".verified"
REQUIRED_FILES = ["data_batch_%d" % b for b in range(1, 6)] + ["test_batch"]
DEFAULT_DEST = Path(__file__).resolve().parent / "datasets"

RETRIES = 5            # retries after the first attempt
BACKOFF = 1.0          # seconds before the first retry; doubles at each retry
CONNECT_TIMEOUT = 10.0  # seconds
READ_TIMEOUT = 30.0    # seconds without a byte from the server
CHUNK_SIZE = 1 << 16
PLAIN_PROGRESS_STEP = 10  # percent between two progress lines when not on a terminal

# Errors after which a new attempt (resuming the download) may succeed.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError,
                    ConnectionError, TimeoutError)


class DownloadError(Exception):
    """The dataset could not be fetched; the message says why and what to do."""


class TransientError(Exception):
    """One download attempt failed in a way that a retry may fix."""


class RestartDownload(Exception):
    """The partial download cannot be resumed; it was discarded."""


# ----------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------

def say(message, quiet=False):
    """Print an informational line on stdout (stderr is kept for the error)."""
    if not quiet:
        print(message, flush=True)


def file_md5(path, chunk_size=1 << 20):
    """Return the MD5 object of a file's content, ready to be updated further."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest


def remove_quietly(path):
    """Delete a file or folder if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def check_md5_argument(md5):
    """Return md5 in lower case, or raise DownloadError if it is not 32 hex digits."""
    md5 = md5.strip().lower()
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise DownloadError(f"--md5 must be 32 hexadecimal digits, got {md5!r}")
    return md5


def check_url_argument(url):
    """Return the URL's scheme (http, https or file), or raise DownloadError."""
    try:
        parsed = urlparse(url)
    except ValueError as e:
        raise DownloadError(f"--url is not a valid URL ({e}): {url!r}") from e
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"--url must be an http://, https:// or file:// URL, got {url!r}")
    if scheme != "file" and not parsed.netloc:
        raise DownloadError(f"--url has no host name: {url!r}")
    return scheme


def verified_md5(target):
    """
    The MD5 of the archive that target was extracted from, if target holds a
    complete copy that this script verified and installed; else None.
    """
    marker = Path(target) / MARKER_NAME
    try:
        recorded = marker.read_text().split()
    except OSError:
        return None
    if recorded and all((Path(target) / name).is_file() for name in REQUIRED_FILES):
        return recorded[0]
    return None


def is_verified(target, md5=None):
    """
    True if target holds a complete, verified copy: extracted from the archive
    with this MD5, or from any archive when md5 is None.
    """
    recorded = verified_md5(target)
    return recorded is not None and (md5 is None or recorded == md5)


# ----------------------------------------------------------------------------
# Progress
# ----------------------------------------------------------------------------

class Progress:
    """A tqdm bar on a terminal, a plain line every few percent otherwise."""

    def __init__(self, total, done, quiet=False, stream=None):
        self.total, self.done, self.quiet = total, done, quiet
        self.stream = sys.stderr if stream is None else stream
        self.bar = None
        self.next_step = self._step_of(done) + 1
        if not quiet and self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=ARCHIVE_NAME, file=self.stream)

    def _step_of(self, done):
        if not self.total:
            return done // (10 * 1 << 20)  # every 10 MiB when the size is unknown
        return done * 100 // self.total // PLAIN_PROGRESS_STEP

    def update(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif not self.quiet and self._step_of(self.done) >= self.next_step:
            self.next_step = self._step_of(self.done) + 1
            mib = self.done / (1 << 20)
            if self.total:
                say(f"  {self.done * 100 // self.total:3d}%  {mib:.1f} of "
                    f"{self.total / (1 << 20):.1f} MiB")
            else:
                say(f"  {mib:.1f} MiB")

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------
# Download
# ----------------------------------------------------------------------------

def parse_content_range(value):
    """Return (start, total) from 'bytes START-END/TOTAL'; total is None if '*'."""
    try:
        _unit, spec = value.split(" ", 1)
        span, total = spec.split("/", 1)
        start = int(span.split("-", 1)[0])
        return start, (None if total.strip() == "*" else int(total))
    except (ValueError, AttributeError):
        return None, None


def open_response(session, url, offset, timeout):
    """
    Send the GET request, asking for the bytes from offset on when resuming.

    Returns a tuple of:
    - response: the streaming requests.Response, status 200 or 206.
    - offset: where its body starts in the archive (0 when the server ignored
      the Range request).
    - total: size of the whole archive, or None if unknown.
    """
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    response = session.get(url, headers=headers, stream=True,
                           timeout=(CONNECT_TIMEOUT, timeout))
    status = response.status_code
    if status == 416 and offset:
        response.close()
        raise RestartDownload("the server refused to resume the download")
    if status >= 500 or status == 429:
        response.close()
        raise TransientError(f"{url} answered {status} {response.reason}")
    if status not in (200, 206):
        response.close()
        raise DownloadError(f"{url} answered {status} {response.reason}; check --url")
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if status == 206:
        start, total = parse_content_range(response.headers.get("Content-Range"))
        if start != offset:
            response.close()
            raise RestartDownload("the server answered the resume request with the wrong range")
        return response, offset, total
    return response, 0, length


def download_attempt(session, url, part, digest, timeout, quiet):
    """
    Fetch the rest of the archive into the .part file, once.

    Inputs:
    - session: a requests.Session.
    - url: http(s) URL of the archive.
    - part: Path of the .part file; its current content is kept and extended.
    - digest: MD5 object of the current content of part, updated as bytes arrive.
    - timeout: read timeout in seconds.
    - quiet: if True, no progress.

    Returns the MD5 object of the complete download. Raises TransientError when
    a retry may help, RestartDownload when the .part had to be discarded.
    """
    offset = part.stat().st_size if part.exists() else 0
    try:
        response, start, total = open_response(session, url, offset, timeout)
    except TRANSIENT_ERRORS as e:
        raise TransientError(f"{type(e).__name__}: {e}") from e
    except requests.RequestException as e:
        raise DownloadError(f"cannot request {url} ({type(e).__name__}: {e}); "
                            f"check --url") from e
    with response:
        if start != offset:
            say("the server does not resume downloads; starting over", quiet)
            digest = hashlib.md5()
        progress = Progress(total, start, quiet)
        try:
            with open(part, "r+b" if start else "wb") as f:
                f.seek(start)
                f.truncate()
                for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                    f.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
        except TRANSIENT_ERRORS as e:
            raise TransientError(f"{type(e).__name__}: {e}") from e
        finally:
            progress.close()
    size = part.stat().st_size
    if total is not None and size < total:
        raise TransientError(f"the connection closed after {size} of {total} bytes")
    return digest


def download_http(url, part, md5, retries, backoff, timeout, quiet):
    """
    Download url into part, resuming and retrying; return the MD5 hex digest.

    Connection errors, timeouts and 5xx answers are retried up to `retries`
    times, waiting backoff, 2*backoff, 4*backoff ... seconds in between.
    """
    digest = file_md5(part) if part.exists() else hashlib.md5()
    if part.exists() and digest.hexdigest() == md5:
        say(f"found a complete download in {part}", quiet)
        return md5
    if part.exists():
        say(f"resuming the download from byte {part.stat().st_size}", quiet)
    with requests.Session() as session:
        attempt = 0
        while True:
            try:
                return download_attempt(session, url, part, digest.copy(), timeout,
                                        quiet).hexdigest()
            except RestartDownload as e:
                say(f"{e}; starting over", quiet)
                remove_quietly(part)
                digest = hashlib.md5()
                error = str(e)
            except TransientError as e:
                digest = file_md5(part) if part.exists() else hashlib.md5()
                error = str(e)
            if attempt >= retries:
                raise DownloadError(
                    f"download of {url} failed after {attempt + 1} attempts ({error}); "
                    f"run again to resume, or check your connection and --url")
            delay = backoff * 2 ** attempt
            attempt += 1
            say(f"attempt {attempt} failed ({error}); retrying in {delay:g} s", quiet)
            time.sleep(delay)


def download_file_url(url, part, quiet):
    """Copy the archive named by a file:// URL into part; return its MD5 hex digest."""
    source = Path(url2pathname(unquote(urlparse(url).path)))
    if not source.is_file():
        raise DownloadError(f"no file at {source} (from {url}); check --url")
    digest = hashlib.md5()
    progress = Progress(source.stat().st_size, 0, quiet)
    try:
        with open(source, "rb") as src, open(part, "wb") as dst:
            for chunk in iter(lambda: src.read(CHUNK_SIZE), b""):
                dst.write(chunk)
                digest.update(chunk)
                progress.update(len(chunk))
    except OSError as e:
        raise DownloadError(f"cannot copy {source} into {part}: {e}") from e
    finally:
        progress.close()
    return digest.hexdigest()


def download(url, part, md5, retries=RETRIES, backoff=BACKOFF, timeout=READ_TIMEOUT,
             quiet=False):
    """
    Fetch the archive at url into part and check its MD5.

    On a checksum mismatch the download is deleted and DownloadError says so.
    """
    scheme = check_url_argument(url)
    say(f"downloading {url}", quiet)
    if scheme == "file":
        got = download_file_url(url, part, quiet)
    else:
        got = download_http(url, part, md5, retries, backoff, timeout, quiet)
    if got != md5:
        remove_quietly(part)
        raise DownloadError(
            f"checksum mismatch for {url}: expected {md5}, got {got}; "
            f"the download was deleted, run again or check --url/--md5")
    say(f"checksum OK ({md5})", quiet)


# ----------------------------------------------------------------------------
# Safe extraction
# ----------------------------------------------------------------------------

def member_path(member, root):
    """
    Where a tar member may be written inside root, or raise DownloadError.

    Only regular files and folders with relative paths that stay inside root
    are accepted: no absolute paths, no '..', no links, devices or fifos.
    """
    name = member.name
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or name.startswith(("/", "\\")):
        raise DownloadError(f"unsafe archive: member {name!r} has an absolute path")
    if ".." in pure.parts or "\\" in name:
        raise DownloadError(f"unsafe archive: member {name!r} points outside the dataset")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(f"unsafe archive: member {name!r} is a link or special file, "
                            "which a dataset never holds")
    path = Path(os.path.realpath(root / pure))
    real_root = Path(os.path.realpath(root))
    if path != real_root and real_root not in path.parents:
        raise DownloadError(f"unsafe archive: member {name!r} would be written outside "
                            f"{root}")
    return path


def extract_safely(archive, root):
    """
    Extract a .tar.gz into the folder root, checking each member before writing it.

    Inputs:
    - archive: Path of the verified archive.
    - root: An empty folder that receives the members.

    Raises DownloadError for an unsafe member or a truncated or corrupt archive;
    root may then hold part of the archive and should be deleted.
    """
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                path = member_path(member, root)
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK_SIZE)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DownloadError(f"the archive {archive.name} is truncated or corrupt "
                            f"({type(e).__name__}: {e}); check --url/--md5") from e


def replace_dir(new, target):
    """
    Put the folder new in the place of target, atomically for each step.

    An existing target is moved aside first and deleted only once new is in place;
    if that fails, it is put back.
    """
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.replace(target, old / target.name)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old / target.name, target)
        raise
    finally:
        if target.exists():
            remove_quietly(old)


def install(archive, dest, md5, quiet=False):
    """
    Extract the verified archive and move cifar-10-batches-py into dest.

    Returns the Path of the installed folder.
    """
    target = dest / DATASET_DIRNAME
    work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{DATASET_DIRNAME}.tmp-"))
    try:
        say(f"extracting into {target}", quiet)
        extract_safely(archive, work)
        new = work / DATASET_DIRNAME
        missing = [name for name in REQUIRED_FILES if not (new / name).is_file()]
        if missing:
            raise DownloadError(f"the archive {archive.name} lacks "
                                f"{DATASET_DIRNAME}/{', '.join(missing)}; check --url/--md5")
        (new / MARKER_NAME).write_text(f"{md5}  {ARCHIVE_NAME}\n")
        replace_dir(new, target)
    finally:
        remove_quietly(work)
    return target


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------

def fetch(url, md5, dest, retries=RETRIES, backoff=BACKOFF, timeout=READ_TIMEOUT,
          quiet=False):
    """
    Make sure a verified copy of CIFAR-10 is in dest/cifar-10-batches-py.

    A copy already there, verified when it was installed, is kept without any
    network access: when md5 is None whatever archive it came from (the
    official one or a mirror), else only if it came from the archive with that
    MD5 (otherwise the archive is downloaded and replaces it).

    Inputs:
    - url: http(s) or file:// URL of cifar-10-python.tar.gz.
    - md5: Expected MD5 of the archive, 32 hex digits; None: any verified copy
      in place will do, and a download must match the official archive's.
    - dest: Folder that receives cifar-10-batches-py.
    - retries, backoff, timeout: Retry policy and read timeout (seconds).
    - quiet: If True, print nothing but errors.

    Returns the Path of the dataset folder. Raises DownloadError on failure.
    """
    md5 = None if md5 is None else check_md5_argument(md5)
    check_url_argument(url)
    dest = Path(dest).resolve()
    target = dest / DATASET_DIRNAME
    if is_verified(target, md5):
        recorded = verified_md5(target)
        note = "" if md5 is not None else (
            "; to replace it with another archive, give that archive's --md5 (or CIFAR10_MD5)")
        say(f"CIFAR-10 is already in {target} (verified, md5 {recorded}); nothing to do{note}",
            quiet)
        return target
    if md5 is None:
        md5 = OFFICIAL_MD5
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create --dest {dest}: {e.strerror}") from e
    part = dest / (ARCHIVE_NAME + ".part")
    download(url, part, md5, retries, backoff, timeout, quiet)
    try:
        install(part, dest, md5, quiet)
    except DownloadError:
        remove_quietly(part)
        raise
    remove_quietly(part)
    say(f"CIFAR-10 is ready in {target}", quiet)
    return target


def number_at_least(kind, low, strict=False):
    """An argparse type: a number of the given kind, >= low (> low if strict)."""
    def parse(text):
        value = kind(text)
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low}, "
                                             f"got {text}")
        return value
    return parse


def parse_args(argv):
    """Return the parsed command line; defaults come from the environment."""
    p = argparse.ArgumentParser(
        description="Download CIFAR-10 (python version), verified and resumable.")
    p.add_argument("--dest", default=str(DEFAULT_DEST),
                   help="folder that receives cifar-10-batches-py (default: %(default)s)")
    p.add_argument("--url", default=os.environ.get("CIFAR10_URL", OFFICIAL_URL),
                   help="archive URL: http, https or file:// (default: $CIFAR10_URL or "
                        "the official one)")
    p.add_argument("--md5", default=os.environ.get("CIFAR10_MD5") or None,
                   help="expected MD5 of the archive (default: $CIFAR10_MD5, else any copy "
                        "already verified in place, else the official archive's)")
    p.add_argument("--retries", type=number_at_least(int, 0),
                   default=os.environ.get("CIFAR10_RETRIES", RETRIES),
                   help="retries after a network error (default: %(default)s)")
    p.add_argument("--backoff", type=number_at_least(float, 0),
                   default=os.environ.get("CIFAR10_BACKOFF", BACKOFF),
                   help="seconds before the first retry, doubled at each one "
                        "(default: %(default)s)")
    p.add_argument("--timeout", type=number_at_least(float, 0, strict=True),
                   default=os.environ.get("CIFAR10_TIMEOUT", READ_TIMEOUT),
                   help="seconds to wait for data from the server (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p.parse_args(argv)


def main(argv=None):
    """Run the downloader; return the exit status (0 on success)."""
    args = parse_args(argv)
    try:
        fetch(args.url, args.md5, args.dest, args.retries, args.backoff, args.timeout,
              args.quiet)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run again to resume the download", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"error: {e}; check that --dest {args.dest} is writable and has room",
              file=sys.stderr)
        return 1
    except Exception as e:  # a one-line error even for what is not foreseen above
        print(f"error: unexpected {type(e).__name__}: {e}; run again, and report it if it "
              f"persists", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
