"""Unpack a submission zip safely: only allow-listed files, bounded sizes, nothing outside.

Every member is checked before a byte is written:
- its name must decode (UTF-8 flag, or plain ASCII), be relative, have no `..`
  part, backslash, drive letter or control character, and be on the allow-list;
- it must be a regular file (no symlink, device or directory entry that matters);
- declared sizes are bounded, and the actual bytes are counted while
  extracting, so that a zip bomb that lies about its size stops at the limit.
Too many members, or a total above the limit, reject the whole archive.
Files are created with O_EXCL | O_NOFOLLOW under directories made here.

A zip whose files all sit under one top-level folder (a student who zipped the
folder, not its contents: `assignment1/cs231n/layers.py`) is read as if that
folder were not there, and the feedback says so.
"""
import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

IDENTITY = "students.json"   # written by `python -m kit collect --id ID` (kit.student.collect)
MAX_IDENTITY = 4096
MAX_MEMBERS = 100
MAX_FILE = 8 * 2**20      # one member, uncompressed
MAX_MODEL = 48 * 2**20    # one saved model (.npz: the notebooks' tuned nets), uncompressed
MAX_TOTAL = 80 * 2**20    # all accepted members, uncompressed
CHUNK = 64 * 1024


class ArchiveRejected(Exception):
    """The archive as a whole cannot be graded (not a zip, too many members, too large)."""


@dataclass
class Extraction:
    files: list = field(default_factory=list)      # relative paths written
    messages: list = field(default_factory=list)   # what was ignored, and why


def _member_name(info):
    """The member's name, or None when it cannot be decoded unambiguously."""
    name = info.filename
    if not (info.flag_bits & 0x800):
        # No UTF-8 flag: Python decoded the raw bytes as cp437; accept plain ASCII only.
        try:
            name.encode("ascii")
        except UnicodeEncodeError:
            return None
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or "\udc80" <= max(name or "a") <= "\udcff":
        return None
    return name


def _is_symlink(info):
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode) if mode else False


def _safe_relative(name):
    """The normalised relative POSIX path of `name`, or None when it escapes or is absolute."""
    if not name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = PurePosixPath(name).parts
    if any(p in ("..", "") for p in parts):
        return None
    parts = [p for p in parts if p != "."]
    return "/".join(parts) if parts else None


def extract(zip_path, dest, allowed):
    """
    Extract the allow-listed members of `zip_path` into `dest`.

    Inputs:
    - zip_path: The submission archive.
    - dest: Directory to write into (existing files on the allow-list are replaced).
    - allowed: Relative POSIX paths a submission may hold.

    Returns:
    - An Extraction (files written, messages about everything ignored).

    Raises:
    - ArchiveRejected when the archive cannot be read or breaks a global limit.
    """
    dest = Path(dest).resolve()
    allowed = set(allowed)
    result = Extraction()
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ArchiveRejected(f"not a readable zip file ({err})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ArchiveRejected(f"the zip has {len(infos)} members, more than the limit of {MAX_MEMBERS}")
        folder = _enclosing_folder(infos, allowed)
        if folder:
            result.messages.append(f"your files sit in the folder {folder}/ of the zip: they were graded as "
                                   f"if they did not (`python -m kit collect` writes the zip for you)")
        chosen, total = [], 0
        for info in infos:
            raw = info.filename
            name = _member_name(info)
            if name is None:
                result.messages.append(f"ignored a member whose name cannot be decoded: {raw!r}")
                continue
            if info.is_dir():
                continue
            rel = _safe_relative(name)
            if rel is not None and folder:
                rel = rel[len(folder) + 1:] if rel.startswith(folder + "/") else None
                if rel is None:
                    result.messages.append(f"ignored {name!r}: outside the folder {folder}/")
                    continue
            if rel is None:
                result.messages.append(f"ignored {name!r}: absolute path or path outside the kit")
                continue
            if _is_symlink(info):
                result.messages.append(f"ignored {rel}: symbolic links are not accepted")
                continue
            if rel == IDENTITY:
                continue   # who handed it in: read by the roster (read_identity), not graded
            if rel not in allowed:
                result.messages.append(f"ignored {rel}: not a file you may change")
                continue
            if rel in {r for r, _ in chosen}:
                result.messages.append(f"ignored a second copy of {rel}")
                continue
            if info.file_size > max_member_size(rel):
                result.messages.append(f"ignored {rel}: {info.file_size} bytes, more than {max_member_size(rel)}")
                continue
            total += info.file_size
            chosen.append((rel, info))
        if total > MAX_TOTAL:
            raise ArchiveRejected(f"the accepted files add up to {total} bytes, more than {MAX_TOTAL}")
        written = 0
        for rel, info in chosen:
            target = dest.joinpath(*rel.split("/"))
            if dest not in target.parents:
                result.messages.append(f"ignored {rel}: outside the kit")
                continue
            ok, size = _write_member(zf, info, target, dest, min(max_member_size(rel), MAX_TOTAL - written))
            if ok:
                written += size
                result.files.append(rel)
            else:
                result.messages.append(f"ignored {rel}: larger than declared or than the limit "
                                       f"(zip bomb?), or unreadable")
    return result


def _enclosing_folder(infos, allowed):
    """
    The one folder of the zip that holds the student's files, when none sits at the top; else "".

    Only when no member is an allow-listed path as it stands, and every member
    whose name ends with an allow-listed path has the same folder in front of it
    (`assignment1/` or `Dave/assignment1/`).
    """
    folders, top = set(), False
    for info in infos:
        name = _member_name(info)
        rel = _safe_relative(name) if name is not None and not info.is_dir() else None
        if rel is None:
            continue
        if rel in allowed:
            top = True
            break
        for path in allowed:
            if rel.endswith("/" + path):
                folders.add(rel[:-len(path) - 1])
    if top or len(folders) != 1:
        return ""
    folder = folders.pop()
    return "" if folder.split("/")[0] == "__MACOSX" else folder


def read_identity(zip_path):
    """
    The roster id a student wrote into their zip with `collect --id` (students.json), or None.

    Untrusted: a small JSON object with a short string "id"; anything else is None.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = [i for i in zf.infolist() if not i.is_dir() and _safe_relative(_member_name(i) or "") and
                     _safe_relative(_member_name(i)).split("/")[-1] == IDENTITY]
            if len(names) != 1 or names[0].file_size > MAX_IDENTITY:
                return None
            data = json.loads(zf.read(names[0]).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError, RuntimeError, NotImplementedError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value.strip()[:200] if isinstance(value, str) and value.strip() else None


def max_member_size(rel):
    """The largest member `rel` may be, uncompressed."""
    return MAX_MODEL if rel.endswith(".npz") else MAX_FILE


def _make_parents(target, dest):
    """Create the parent directories of target under dest, refusing symlinked ones."""
    current = dest
    for part in target.relative_to(dest).parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise OSError(f"{current} is a symbolic link")
        current.mkdir(exist_ok=True)


def _write_member(zf, info, target, dest, limit):
    tmp = target.with_name(target.name + ".part")
    size = 0
    try:
        _make_parents(target, dest)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit or size > info.file_size:
                    raise ValueError("too large")
                out.write(chunk)
        if target.is_symlink():
            target.unlink()
        os.replace(tmp, target)
        return True, size
    except (OSError, ValueError, zipfile.BadZipFile, RuntimeError, EOFError, NotImplementedError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False, 0
