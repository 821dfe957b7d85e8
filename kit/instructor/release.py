"""`python -m kit release DIR`: write the student kit from the instructor source.

Student regions in `.py` files become TODO stubs, notebooks lose their solutions
and hidden cells (see kit.nbrelease), and the instructor-only parts of the tree
(tests, benchmarks, CI, grading code and check notebooks) are left out. The
release is refused if any line of the reference solution would reach it.
"""
import shutil
from pathlib import Path

import nbformat

from kit.files import source_files
from kit.leaks import find_leaks
from kit.nbrelease import release_notebook
from kit.regions import has_regions, stub_regions

# Instructor-only parts of the tree (prefixes of relative paths).
EXCLUDED = ("tests/", "bench/", ".ci/", ".github/", "kit/")
# The part of kit/ that students need: `python -m kit collect` and what it imports.
STUDENT_TOOLS = ("kit/__init__.py", "kit/__main__.py", "kit/regions.py", "kit/files.py", "kit/collect.py")


def released_paths(src):
    """The relative paths of the instructor source that go into the student kit."""
    paths = [p for p in source_files(src) if not p.startswith(EXCLUDED)]
    paths += [p for p in STUDENT_TOOLS if (Path(src) / p).is_file()]
    return sorted(set(paths))


def release_text(rel, text):
    """The student version of one text file."""
    if rel.endswith(".py") and has_regions(text):
        return stub_regions(text)
    return text


def release(src, dest, check=True):
    """
    Write the student kit of the instructor source `src` into `dest`.

    Inputs:
    - src: Root of the instructor source (a git checkout or a plain tree).
    - dest: Directory to write; it must not exist or be empty.
    - check: Refuse (ValueError) when a line of the reference solution leaks.

    Returns:
    - The sorted list of released relative paths.
    """
    src, dest = Path(src).resolve(), Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"release: destination {dest} is not empty")
    paths = released_paths(src)
    for rel in paths:
        source, target = src / rel, dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            nb = nbformat.read(source, as_version=4)
            nbformat.write(release_notebook(nb), target)
        elif rel.endswith((".py", ".md", ".txt", ".cfg", ".ini", ".toml", ".json", ".yml", ".yaml")):
            target.write_text(release_text(rel, source.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        shutil.copymode(source, target)
    if check:
        leaks = find_leaks(src, dest)
        if leaks:
            shown = "\n".join(f"  {path}: {line!r}" for path, line in leaks[:20])
            raise ValueError(f"release: {len(leaks)} line(s) of the reference solution leak:\n{shown}")
    return paths


def main(args):
    paths = release(Path.cwd() if args.source is None else args.source, args.dir)
    print(f"released {len(paths)} files into {args.dir}")
    return 0
