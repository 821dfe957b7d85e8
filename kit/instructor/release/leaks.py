"""Find lines of the reference solution in a released kit.

A secret line is a non-trivial line of a student region (or of a notebook's
solution / explanation text) in the instructor source that does not also
appear outside the regions: the release must contain none of them. Every
released file is checked, and a file that is not UTF-8 text (which could hide
anything) counts as a leak by itself.
"""
from pathlib import Path

import nbformat

from kit.instructor.release.manifest import region_sources
from kit.instructor.release.student_notebook import split_lines
from kit.student.regions import find_regions, has_regions

MIN_LENGTH = 8  # shorter lines (`pass`, `N = 3`, `else:`) say nothing about the solution
LONG = 20       # secret lines this long are also found inside longer released lines


def _norm(line):
    return " ".join(line.split())


def secret_lines(src):
    """The set of normalised secret lines of the instructor source at `src`."""
    secret, public = set(), set()
    for rel in region_sources(src):
        path = Path(src) / rel
        if rel.endswith(".ipynb"):
            s, p = split_lines(nbformat.read(path, as_version=4))
        else:
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            inside = {i for a, b in find_regions(lines) for i in range(a + 1, b)} if has_regions(text) else set()
            s = [lines[i] for i in sorted(inside)]
            p = [line for i, line in enumerate(lines) if i not in inside]
        secret.update(_norm(line) for line in s)
        public.update(_norm(line) for line in p)
    return {line for line in secret - public if len(line) >= MIN_LENGTH}


def find_leaks(src, released):
    """
    Every (relative path, secret line) pair where a released file contains a secret line.

    A released line leaks when, normalised, it equals a secret line or contains
    one (secret lines of LONG characters and more only, to avoid chance matches).
    A released file that is not UTF-8 text is reported as a leak of its own.
    """
    secrets = secret_lines(src)
    long_secrets = [s for s in secrets if len(s) >= LONG]
    leaks = []
    released = Path(released)
    for path in sorted(p for p in released.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(released).as_posix()
        try:
            if path.is_symlink():
                raise ValueError("a symbolic link")
            text = path.read_bytes().decode("utf-8")
        except (ValueError, OSError) as err:
            leaks.append((rel, f"<not a text file that can be checked: {err}>"))
            continue
        if path.suffix == ".ipynb":
            nb = nbformat.reads(text, as_version=4)
            text = "\n".join(c.get("source", "") for c in nb.cells) + "\n" + text
        for line in text.splitlines():
            norm = _norm(line)
            if norm in secrets:
                leaks.append((rel, norm))
            elif len(norm) >= LONG:
                leaks.extend((rel, s) for s in long_secrets if s in norm)
    return leaks
