"""kit.archive: hostile zips are rejected or filtered, and nothing lands outside the target."""
import os
import struct
import zipfile

import pytest

from kit.instructor.grade import archive
from kit.instructor.grade.archive import ArchiveRejected, extract

ALLOWED = ["cs231n/layers.py", "cs231n/classifiers/neural_net.py", "notebooks/two_layer_net.ipynb"]


def make_zip(path, members):
    """members: [(name or ZipInfo, bytes)]"""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


@pytest.fixture
def box(tmp_path):
    """A target directory inside an otherwise empty sandbox directory."""
    dest = tmp_path / "box" / "kit"
    dest.mkdir(parents=True)
    return tmp_path, dest


def tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_allowed_files_are_written(box):
    tmp, dest = box
    z = make_zip(tmp / "s.zip", [("cs231n/layers.py", b"x = 1\n"), ("notebooks/two_layer_net.ipynb", b"{}")])
    result = extract(z, dest, ALLOWED)
    assert sorted(result.files) == ["cs231n/layers.py", "notebooks/two_layer_net.ipynb"]
    assert (dest / "cs231n/layers.py").read_bytes() == b"x = 1\n"
    assert result.messages == []


@pytest.mark.parametrize("name", [
    "../evil.py", "cs231n/../../evil.py", "/tmp/kit-evil.py", "C:/evil.py", "cs231n\\..\\..\\evil.py",
    "./../evil.py", "cs231n//layers.py/../../../evil.py",
])
def test_path_traversal_and_absolute_paths_are_ignored(box, name):
    tmp, dest = box
    z = make_zip(tmp / "s.zip", [(name, b"import os\n")])
    result = extract(z, dest, ALLOWED + [name])
    assert result.files == [] and result.messages
    assert tree(tmp) == ["box", "box/kit", "s.zip"]
    assert not os.path.exists("/tmp/kit-evil.py")


@pytest.mark.parametrize("name", ["conftest.py", "sitecustomize.py", "pytest.ini", "cs231n/sitecustomize.py",
                                  "cs231n/__init__.py", "kit/grade.py", "notebooks/conftest.py", ".pth"])
def test_files_outside_the_allow_list_are_ignored(box, name):
    tmp, dest = box
    z = make_zip(tmp / "s.zip", [(name, b"raise SystemExit\n"), ("cs231n/layers.py", b"x = 1\n")])
    result = extract(z, dest, ALLOWED)
    assert result.files == ["cs231n/layers.py"]
    assert any("not a file you may change" in m for m in result.messages)
    assert not (dest / name).exists()


def test_symlink_members_are_ignored(box):
    tmp, dest = box
    info = zipfile.ZipInfo("cs231n/layers.py")
    info.external_attr = (0o120777 << 16)
    z = make_zip(tmp / "s.zip", [(info, b"/etc/passwd")])
    result = extract(z, dest, ALLOWED)
    assert result.files == [] and "symbolic link" in result.messages[0]
    assert not (dest / "cs231n/layers.py").exists()


def test_existing_symlink_in_target_is_not_followed(box):
    tmp, dest = box
    outside = tmp / "outside.py"
    outside.write_text("keep\n")
    (dest / "cs231n").mkdir()
    (dest / "cs231n/layers.py").symlink_to(outside)
    result = extract(make_zip(tmp / "s.zip", [("cs231n/layers.py", b"x = 2\n")]), dest, ALLOWED)
    assert result.files == ["cs231n/layers.py"]
    assert outside.read_text() == "keep\n"
    assert not (dest / "cs231n/layers.py").is_symlink()


def test_too_many_members_rejects_the_archive(box):
    tmp, dest = box
    members = [(f"junk/{i}.txt", b"") for i in range(archive.MAX_MEMBERS + 1)]
    with pytest.raises(ArchiveRejected, match="members"):
        extract(make_zip(tmp / "s.zip", members), dest, ALLOWED)
    assert tree(dest) == []


def test_declared_too_large_member_is_ignored(box):
    tmp, dest = box
    bomb = b"\0" * (archive.MAX_FILE + 1)  # deflates to a few kB
    result = extract(make_zip(tmp / "s.zip", [("cs231n/layers.py", bomb)]), dest, ALLOWED)
    assert result.files == [] and "more than" in result.messages[0]
    assert tree(dest) == []


def _patch_sizes(path, name, size):
    """Make the zip lie: declare `size` bytes (local and central headers) for member `name`."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    local = data.find(b"PK\x03\x04")
    while local != -1:
        n = struct.unpack_from("<H", data, local + 26)[0]
        if data[local + 30:local + 30 + n] == encoded:
            struct.pack_into("<I", data, local + 22, size)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        n = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + n] == encoded:
            struct.pack_into("<I", data, central + 24, size)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_member_larger_than_declared_is_not_written(box):
    tmp, dest = box
    z = make_zip(tmp / "s.zip", [("cs231n/layers.py", b"A" * 200_000)])
    _patch_sizes(z, "cs231n/layers.py", 100)
    result = extract(z, dest, ALLOWED)
    assert result.files == []
    assert "larger than declared" in result.messages[0]
    assert tree(dest) in ([], ["cs231n"])


def test_undecodable_and_control_character_names_are_ignored(box):
    tmp, dest = box
    z = make_zip(tmp / "s.zip", [("cs231n/l\u00e9yers.py", b"x\n"), ("cs231n/\x01layers.py", b"x\n")])
    data = bytearray(z.read_bytes())
    # Clear the UTF-8 flag of every header: the non-ASCII name becomes ambiguous (cp437 or not?).
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        while pos != -1:
            flags = struct.unpack_from("<H", data, pos + off)[0]
            struct.pack_into("<H", data, pos + off, flags & ~0x800)
            pos = data.find(sig, pos + 4)
    z.write_bytes(bytes(data))
    result = extract(z, dest, ALLOWED)
    assert result.files == []
    assert len([m for m in result.messages if "cannot be decoded" in m]) == 2


def test_not_a_zip_is_rejected(box):
    tmp, dest = box
    (tmp / "s.zip").write_bytes(b"this is not a zip")
    with pytest.raises(ArchiveRejected, match="not a readable zip"):
        extract(tmp / "s.zip", dest, ALLOWED)


def test_duplicate_members_keep_the_first(box):
    tmp, dest = box
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = make_zip(tmp / "s.zip", [("cs231n/layers.py", b"first\n"), ("cs231n/layers.py", b"second\n")])
    result = extract(z, dest, ALLOWED)
    assert result.files == ["cs231n/layers.py"]
    assert (dest / "cs231n/layers.py").read_bytes() == b"first\n"


@pytest.mark.parametrize("folder", ["assignment1", "Dave Jones/assignment1"])
def test_files_under_one_top_level_folder_are_read_as_if_it_were_not_there(box, folder):
    tmp, dest = box
    z = make_zip(tmp / "s.zip", [(f"{folder}/cs231n/layers.py", b"x = 1\n"),
                                 (f"{folder}/notebooks/two_layer_net.ipynb", b"{}"),
                                 (f"__MACOSX/{folder}/cs231n/._layers.py", b"\0"),
                                 (f"{folder}/notes.txt", b"hi")])
    result = extract(z, dest, ALLOWED)
    assert sorted(result.files) == ["cs231n/layers.py", "notebooks/two_layer_net.ipynb"]
    assert (dest / "cs231n/layers.py").read_bytes() == b"x = 1\n"
    assert any(f"folder {folder}/" in m and "as if they did not" in m for m in result.messages)
    assert tree(tmp) == ["box", "box/kit", "box/kit/cs231n", "box/kit/cs231n/layers.py", "box/kit/notebooks",
                         "box/kit/notebooks/two_layer_net.ipynb", "s.zip"]


@pytest.mark.parametrize("members", [
    [("a/cs231n/layers.py", b"x = 1\n"), ("b/cs231n/classifiers/neural_net.py", b"y = 2\n")],  # two folders
    [("cs231n/layers.py", b"x = 1\n"), ("a/cs231n/classifiers/neural_net.py", b"y = 2\n")],    # one at the top
])
def test_files_in_several_folders_or_at_the_top_are_not_moved(box, members):
    tmp, dest = box
    result = extract(make_zip(tmp / "s.zip", members), dest, ALLOWED)
    assert result.files == (["cs231n/layers.py"] if members[0][0] == "cs231n/layers.py" else [])
    assert not any("as if they did not" in m for m in result.messages)
