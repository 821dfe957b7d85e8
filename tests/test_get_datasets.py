"""get_datasets.py against a real HTTP server on 127.0.0.1 that injects faults.

The server serves the offline mirror archive from ../shared/cifar10-mirror
(see its README); everything is written under tmp_path.
"""
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import get_datasets as gd  # noqa: E402
from dl_server import FaultServer  # noqa: E402

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "cifar10-mirror"
ARCHIVE = MIRROR / "cifar-10-python.tar.gz"
FAST = ["--backoff", "0", "--timeout", "2", "--quiet"]


# ----------------------------------------------------------------------------
# Fixtures and helpers
# ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mirror():
    """(bytes, md5) of the offline mirror archive."""
    if not ARCHIVE.is_file():
        pytest.skip(f"offline CIFAR-10 mirror not found at {ARCHIVE}")
    data = ARCHIVE.read_bytes()
    md5 = (MIRROR / "cifar-10-python.tar.gz.md5").read_text().split()[0]
    assert hashlib.md5(data).hexdigest() == md5
    return data, md5


@pytest.fixture
def server(mirror):
    srv = FaultServer(mirror[0])
    yield srv
    srv.stop()


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "dest"
    d.mkdir()
    return d


def md5_of(data):
    return hashlib.md5(data).hexdigest()


def run(url, md5, dest, *extra):
    return gd.main(["--url", url, "--md5", md5, "--dest", str(dest), *FAST, *extra])


def tree(root):
    """Every path under root, relative to it."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


def assert_installed(dest, md5):
    target = dest / gd.DATASET_DIRNAME
    for name in gd.REQUIRED_FILES:
        assert (target / name).is_file(), name
    assert (target / gd.MARKER_NAME).read_text().split()[0] == md5
    assert_no_leftovers(dest)


def assert_no_leftovers(dest):
    """No .part, no temporary extraction folder."""
    assert [p for p in os.listdir(dest) if p != gd.DATASET_DIRNAME] == []


def tar_bytes(members):
    """A .tar.gz in memory from [(TarInfo, bytes or None)]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name, data):
    return tarfile.TarInfo(name), data


def tiny_dataset_archive(rows=3):
    """A well-formed archive of the right layout holding tiny batches."""
    batch = pickle.dumps({"data": bytes(rows * 3072), "labels": [0] * rows})
    members = [(tarfile.TarInfo(gd.DATASET_DIRNAME), None)]
    members[0][0].type = tarfile.DIRTYPE
    members += [file_member(f"{gd.DATASET_DIRNAME}/{n}", batch) for n in gd.REQUIRED_FILES]
    return tar_bytes(members)


# ----------------------------------------------------------------------------
# Success paths
# ----------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_http_download_is_verified_and_installed(server, mirror, dest):
    assert run(server.url, mirror[1], dest) == 0
    assert_installed(dest, mirror[1])
    assert len(server.requests) == 1


@pytest.mark.timeout(60)
def test_second_run_makes_no_request(server, mirror, dest, capsys):
    assert run(server.url, mirror[1], dest) == 0
    before = len(server.requests)
    capsys.readouterr()
    assert gd.main(["--url", server.url, "--md5", mirror[1], "--dest", str(dest)]) == 0
    assert len(server.requests) == before
    assert "already" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_verified_copy_without_mirror_variables_means_nothing_to_download(
        server, mirror, dest, monkeypatch, capsys):
    """`make data` without CIFAR10_URL / CIFAR10_MD5 after a mirror install: no network at all."""
    assert run(server.url, mirror[1], dest) == 0
    monkeypatch.delenv("CIFAR10_URL", raising=False)
    monkeypatch.delenv("CIFAR10_MD5", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("get_datasets.py went to the network with a verified copy in place")

    monkeypatch.setattr(gd, "download", no_network)
    capsys.readouterr()
    assert gd.main(["--dest", str(dest)]) == 0  # the official URL, which the mirror is not
    out = capsys.readouterr().out
    assert f"verified, md5 {mirror[1]}); nothing to do" in out and "--md5" in out
    before = len(server.requests)
    assert gd.main(["--url", server.url, "--dest", str(dest)]) == 0  # a URL alone: same
    assert len(server.requests) == before


@pytest.mark.timeout(60)
def test_an_explicit_other_md5_still_replaces_a_verified_copy(server, mirror, dest, monkeypatch):
    assert run(server.url, mirror[1], dest) == 0
    server.payload = tiny_dataset_archive()
    monkeypatch.setenv("CIFAR10_MD5", md5_of(server.payload))
    assert gd.main(["--url", server.url, "--dest", str(dest), *FAST]) == 0
    assert_installed(dest, md5_of(server.payload))


@pytest.mark.timeout(60)
def test_an_incomplete_copy_is_not_taken_for_a_verified_one(server, mirror, dest):
    assert run(server.url, mirror[1], dest) == 0
    (dest / gd.DATASET_DIRNAME / "data_batch_2").unlink()
    before = len(server.requests)
    assert gd.main(["--url", server.url, "--md5", mirror[1], "--dest", str(dest), *FAST]) == 0
    assert len(server.requests) == before + 1
    assert_installed(dest, mirror[1])


@pytest.mark.timeout(60)
def test_file_url_works(mirror, dest):
    assert run(ARCHIVE.as_uri(), mirror[1], dest) == 0
    assert_installed(dest, mirror[1])


@pytest.mark.timeout(60)
def test_environment_gives_url_and_md5(server, mirror, dest, monkeypatch):
    monkeypatch.setenv("CIFAR10_URL", server.url)
    monkeypatch.setenv("CIFAR10_MD5", mirror[1])
    assert gd.main(["--dest", str(dest), *FAST]) == 0
    assert_installed(dest, mirror[1])


@pytest.mark.timeout(60)
def test_new_archive_replaces_old_copy_once_verified(server, mirror, dest):
    assert run(server.url, mirror[1], dest) == 0
    server.payload = tiny_dataset_archive()
    assert run(server.url, md5_of(server.payload), dest) == 0
    assert_installed(dest, md5_of(server.payload))
    assert (dest / gd.DATASET_DIRNAME / "data_batch_1").stat().st_size < 20000


# ----------------------------------------------------------------------------
# Network faults
# ----------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_dropped_connection_resumes_with_range(server, mirror, dest):
    server.faults = ["drop"]
    assert run(server.url, mirror[1], dest) == 0
    assert_installed(dest, mirror[1])
    assert len(server.requests) == 2
    resumed_from = server.requests[1][2]
    assert resumed_from is not None and resumed_from.startswith("bytes=")
    assert int(resumed_from[6:-1]) > 0


@pytest.mark.timeout(60)
def test_interrupted_run_resumes_next_time(server, mirror, dest, capsys):
    server.faults = ["drop"] * 2
    assert run(server.url, mirror[1], dest, "--retries", "1") == 1
    part = dest / (gd.ARCHIVE_NAME + ".part")
    assert 0 < part.stat().st_size < len(mirror[0])
    assert "run again to resume" in capsys.readouterr().err
    kept = part.stat().st_size
    assert run(server.url, mirror[1], dest) == 0
    assert server.requests[-1][2] == f"bytes={kept}-"
    assert_installed(dest, mirror[1])


@pytest.mark.timeout(60)
def test_server_errors_are_retried(server, mirror, dest):
    server.faults = ["500", "503"]
    assert run(server.url, mirror[1], dest) == 0
    assert_installed(dest, mirror[1])
    assert len(server.requests) == 3


@pytest.mark.timeout(60)
def test_server_errors_give_up_after_retries(server, mirror, dest, capsys):
    server.faults = ["503"] * 10
    assert run(server.url, mirror[1], dest, "--retries", "2") == 1
    assert len(server.requests) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: download of") and "after 3 attempts" in err
    assert not (dest / gd.DATASET_DIRNAME).exists()


@pytest.mark.timeout(60)
def test_ignored_range_starts_over_cleanly(server, mirror, dest):
    part = dest / (gd.ARCHIVE_NAME + ".part")
    part.write_bytes(b"stale bytes from an older download" * 100)
    server.honor_range = False
    assert run(server.url, mirror[1], dest) == 0
    assert_installed(dest, mirror[1])
    assert server.requests[0][2] == f"bytes={34 * 100}-"


@pytest.mark.timeout(60)
def test_dropped_then_range_ignored(server, mirror, dest):
    server.faults = ["drop", "ignore_range"]
    assert run(server.url, mirror[1], dest) == 0
    assert_installed(dest, mirror[1])
    assert server.requests[1][2] is not None


@pytest.mark.timeout(60)
def test_stall_then_success(server, mirror, dest):
    server.faults = ["stall"]
    assert run(server.url, mirror[1], dest, "--timeout", "0.5") == 0
    assert_installed(dest, mirror[1])
    assert len(server.requests) == 2


@pytest.mark.timeout(60)
def test_stalled_server_fails_within_bounds(server, mirror, dest, capsys):
    server.faults = ["stall"] * 10
    start = time.monotonic()
    assert run(server.url, mirror[1], dest, "--timeout", "0.5", "--retries", "2") == 1
    assert time.monotonic() - start < 15
    assert len(server.requests) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "after 3 attempts" in err and "Timeout" in err


@pytest.mark.timeout(60)
def test_connection_refused_fails_within_bounds(mirror, dest, capsys):
    srv = FaultServer(b"")
    url = srv.url
    srv.stop()  # nothing listens on that port any more
    assert run(url, mirror[1], dest, "--retries", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: download of") and "after 2 attempts" in err


@pytest.mark.timeout(60)
def test_not_found_is_not_retried(server, mirror, dest, capsys):
    assert run(server.url + ".missing", mirror[1], dest) == 1
    assert len(server.requests) == 1
    assert "answered 404" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# Checksums and archives
# ----------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_checksum_mismatch_keeps_good_copy_and_leaves_nothing(server, mirror, dest, capsys):
    assert run(server.url, mirror[1], dest) == 0
    good = {n: (dest / gd.DATASET_DIRNAME / n).read_bytes() for n in gd.REQUIRED_FILES}

    new_archive = tiny_dataset_archive()
    corrupt = bytearray(new_archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server.payload = bytes(corrupt)
    capsys.readouterr()
    assert run(server.url, md5_of(new_archive), dest) == 1
    err = capsys.readouterr().err
    assert err == (f"error: checksum mismatch for {server.url}: expected {md5_of(new_archive)}, "
                   f"got {md5_of(corrupt)}; the download was deleted, run again or check "
                   f"--url/--md5\n")
    assert_installed(dest, mirror[1])
    assert {n: (dest / gd.DATASET_DIRNAME / n).read_bytes() for n in gd.REQUIRED_FILES} == good

    # Nothing poisons the next run: it downloads from scratch and succeeds.
    server.payload = new_archive
    assert run(server.url, md5_of(new_archive), dest) == 0
    assert server.requests[-1][2] is None
    assert_installed(dest, md5_of(new_archive))


@pytest.mark.timeout(60)
def test_truncated_archive_is_a_clear_error(server, mirror, dest, capsys):
    server.payload = mirror[0][: len(mirror[0]) // 2]
    assert run(server.url, md5_of(server.payload), dest) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the archive") and "truncated or corrupt" in err
    assert err.count("\n") == 1
    assert os.listdir(dest) == []


@pytest.mark.timeout(60)
def test_archive_without_the_batches_is_rejected(server, dest, capsys):
    server.payload = tar_bytes([file_member("something/else.txt", b"hello")])
    assert run(server.url, md5_of(server.payload), dest) == 1
    assert "lacks cifar-10-batches-py/data_batch_1" in capsys.readouterr().err
    assert os.listdir(dest) == []


def _symlink(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _special(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


MALICIOUS = {
    "traversal": [file_member("../x", b"owned")],
    "deep traversal": [file_member("cifar-10-batches-py/../../../outside/x", b"owned")],
    "absolute": None,  # filled in the test: an absolute path under tmp_path
    "symlink": [_symlink("cifar-10-batches-py/evil", "../../outside"),
                file_member("cifar-10-batches-py/evil/x", b"owned")],
    "symlink to file": [_symlink("cifar-10-batches-py/data_batch_1", "/etc/passwd")],
    "hardlink": [_symlink("cifar-10-batches-py/data_batch_1", "/etc/passwd",
                          tarfile.LNKTYPE)],
    "fifo": [_special("cifar-10-batches-py/data_batch_1", tarfile.FIFOTYPE)],
    "device": [_special("cifar-10-batches-py/data_batch_1", tarfile.CHRTYPE)],
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(MALICIOUS))
def test_malicious_archive_is_rejected(server, tmp_path, dest, capsys, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    members = MALICIOUS[kind] or [file_member(str(outside / "x"), b"owned")]
    harmless = [file_member("cifar-10-batches-py/readme.html", b"<html></html>")]
    server.payload = tar_bytes(harmless + members)
    before = tree(tmp_path)

    assert run(server.url, md5_of(server.payload), dest) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unsafe archive: member") and err.count("\n") == 1
    assert tree(tmp_path) == before  # nothing written anywhere, dest left empty


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------

def _subprocess(args, env_extra):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, str(REPO / "get_datasets.py"), *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.timeout(90)
def test_command_line_exit_codes_and_one_line_error(server, mirror, dest):
    env = {"CIFAR10_URL": server.url, "CIFAR10_BACKOFF": "0"}
    bad = _subprocess(["--dest", str(dest), "--md5", "0" * 32], env)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: checksum mismatch for ") and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr + bad.stdout
    assert os.listdir(dest) == []

    good = _subprocess(["--dest", str(dest)], dict(env, CIFAR10_MD5=mirror[1]))
    assert good.returncode == 0, good.stderr
    assert good.stderr == ""  # not a terminal: plain progress lines on stdout
    assert "checksum OK" in good.stdout and "100%" in good.stdout
    assert_installed(dest, mirror[1])

    again = _subprocess(["--dest", str(dest)], dict(env, CIFAR10_MD5=mirror[1]))
    assert again.returncode == 0 and "already" in again.stdout


@pytest.mark.timeout(30)
@pytest.mark.parametrize("args, message", [
    (["--md5", "xyz"], "error: --md5 must be 32 hexadecimal digits"),
    (["--url", "ftp://example.org/a.tar.gz"], "error: --url must be an http://"),
    (["--url", "file:///nonexistent/cifar.tar.gz"], "error: no file at /nonexistent"),
    (["--url", "http://"], "error: --url has no host name"),
    (["--url", "http://[::1"], "error: --url is not a valid URL"),
])
def test_bad_arguments_give_one_line_error(dest, capsys, args, message):
    assert gd.main(["--dest", str(dest), "--quiet", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.timeout(30)
def test_progress_is_a_bar_on_a_terminal_and_sparse_lines_otherwise(capsys):
    terminal = _Terminal()
    bar = gd.Progress(total=1000, done=0, stream=terminal)
    for _ in range(100):
        bar.update(10)
    bar.close()
    assert "100%|" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert capsys.readouterr().out == ""

    plain = gd.Progress(total=1000, done=0, stream=io.StringIO())
    for _ in range(1000):
        plain.update(1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and lines[0].strip().startswith("10%")
    assert lines[-1].strip().startswith("100%")

    gd.Progress(total=1000, done=0, quiet=True, stream=_Terminal()).update(1000)
    assert capsys.readouterr().out == ""
