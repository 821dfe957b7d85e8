"""Find lines of the reference solution in a released kit.

A secret line is a non-trivial line of a student region (or of a notebook's
solution / explanation text) in the instructor source that does not also
appear outside the regions: the release must contain none of them.
"""
from pathlib import Path

import nbformat

from kit.files import source_files
from kit.nbrelease import split_lines
from kit.regions import find_regions, has_regions

MIN_LENGTH = 8  # shorter lines (`pass`, `N = 3`, `else:`) say nothing about the solution


def _norm(line):
    return " ".join(line.split())


def secret_lines(src):
    """The set of normalised secret lines of the instructor source at `src`."""
    secret, public = set(), set()
    for rel in source_files(src):
        path = Path(src) / rel
        if rel.endswith(".ipynb"):
            try:
                s, p = split_lines(nbformat.read(path, as_version=4))
            except Exception:
                continue
        elif rel.endswith(".py"):
            text = path.read_text(encoding="utf-8", errors="replace")
            lines = text.splitlines()
            inside = {i for a, b in find_regions(lines) for i in range(a + 1, b)} if has_regions(text) else set()
            s = [lines[i] for i in sorted(inside)]
            p = [line for i, line in enumerate(lines) if i not in inside]
        else:
            continue
        secret.update(_norm(line) for line in s)
        public.update(_norm(line) for line in p)
    return {line for line in secret - public if len(line) >= MIN_LENGTH}


def find_leaks(src, released):
    """
    Every (relative path, secret line) pair where a released file contains a secret line.

    A released line leaks when, normalised, it equals a secret line or contains
    one (secret lines of 20 characters and more only, to avoid chance matches).
    """
    secrets = secret_lines(src)
    long_secrets = [s for s in secrets if len(s) >= 20]
    leaks = []
    released = Path(released)
    for path in sorted(p for p in released.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            try:
                nb = nbformat.reads(text, as_version=4)
                text = "\n".join(c.get("source", "") for c in nb.cells) + "\n" + text
            except Exception:
                pass
        for line in text.splitlines():
            norm = _norm(line)
            if norm in secrets:
                leaks.append((path.relative_to(released).as_posix(), norm))
            elif len(norm) >= 20:
                leaks.extend((path.relative_to(released).as_posix(), s) for s in long_secrets if s in norm)
    return leaks
