"""What each student wrote: the code inside the regions of their files, as one document.

Only the code between the START / END markers counts (kit.student.regions):
the given code around the regions is everybody's. The regions of a file are
taken in the order of the scaffold's region keys (function and order inside
it), each under a comment that names it, so that the report shows where a
passage comes from. A file without markers (a public solution that dropped
them) counts whole; the released scaffold is given to the detector as
boilerplate, so its lines never count either way.

Submissions are zips (read with kit.instructor.grade.archive: only the
allow-listed files, safely); public solutions are folders (a checkout of any
layout: a file counts when its path ends with an allow-listed path), zips, or
single `.py` files named as the file they solve (`layers.py`).
"""
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kit.instructor.grade.archive import ArchiveRejected, extract
from kit.student.regions import RegionError, describe_key, find_regions, region_keys


@dataclass
class Document:
    name: str                 # the student's folder name, or "public:NAME"
    text: str                 # the code of the regions, file by file
    digest: str = ""          # sha256 of the zip (byte-identical submissions), "" for public ones
    files: list = field(default_factory=list)


def regions_text(rel, text):
    """The code inside the regions of one file, each under a `# rel: region k of F` line; the whole text without markers."""
    lines = text.splitlines()
    try:
        regions = find_regions(lines)
    except RegionError:
        regions = []
    if not regions:
        return f"# {rel} (no markers: the whole file)\n{text.rstrip()}\n"
    out = []
    for key, (s, e) in zip(region_keys(lines, regions), regions):
        body = "\n".join(lines[s + 1:e]).rstrip()
        if body.strip():
            out.append(f"# {rel}: {describe_key(key)}\n{body}\n")
    return "\n".join(out)


def _document(name, root, allowed, digest=""):
    parts, files = [], []
    for rel in sorted(allowed):
        path = Path(root) / rel
        if rel.endswith(".py") and path.is_file():
            parts.append(regions_text(rel, path.read_text(encoding="utf-8", errors="replace")))
            files.append(rel)
    return Document(name, "\n".join(p for p in parts if p), digest, files)


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def submission_documents(submissions, allowed):
    """[Document] of every <student>.zip in `submissions` (named as `kit grade` names their folders)."""
    from kit.instructor.grade.run import zip_folders

    docs = []
    with tempfile.TemporaryDirectory(prefix="kit-similarity-") as tmp:
        for folder, path in zip_folders(submissions):
            target = Path(tmp) / folder
            target.mkdir()
            try:
                extract(path, target, allowed)
            except ArchiveRejected:
                continue
            docs.append(_document(folder, target, allowed, _digest(path)))
            shutil.rmtree(target, ignore_errors=True)
    return docs


def public_documents(public, allowed):
    """[Document] named public:NAME of each entry of the folder `public` (folders, zips, .py files)."""
    docs = []
    if public is None:
        return docs
    by_name = {}
    for rel in allowed:
        by_name.setdefault(Path(rel).name, rel)
    for entry in sorted(Path(public).iterdir()):
        name = f"public:{entry.stem if entry.is_file() else entry.name}"
        if entry.is_dir():
            found = {}
            for path in sorted(entry.rglob("*.py")):
                posix = path.relative_to(entry).as_posix()
                for rel in allowed:
                    if rel.endswith(".py") and (posix == rel or posix.endswith("/" + rel)) and rel not in found:
                        found[rel] = path
            text = "\n".join(regions_text(rel, p.read_text(encoding="utf-8", errors="replace"))
                             for rel, p in sorted(found.items()))
            docs.append(Document(name, text, files=sorted(found)))
        elif entry.suffix.lower() == ".zip":
            with tempfile.TemporaryDirectory(prefix="kit-similarity-") as tmp:
                try:
                    extract(entry, tmp, allowed)
                except ArchiveRejected:
                    continue
                docs.append(_document(name, tmp, allowed))
        elif entry.suffix == ".py" and entry.name in by_name:
            rel = by_name[entry.name]
            docs.append(Document(name, regions_text(rel, entry.read_text(encoding="utf-8", errors="replace")),
                                 files=[rel]))
    return docs


def scaffold_text(source, allowed):
    """The released files whose regions students fill, as students get them (the boilerplate: never counted)."""
    from kit.instructor.release.student_kit import release_text

    return "\n".join(release_text(rel, (Path(source) / rel).read_text(encoding="utf-8"))
                     for rel in sorted(allowed) if rel.endswith(".py") and (Path(source) / rel).is_file())
