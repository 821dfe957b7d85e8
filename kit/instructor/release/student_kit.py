"""`python -m kit release DIR`: write the student kit from the instructor source.

The kit is made of the files named in kit.instructor.release.manifest, nothing else.
Student regions in `.py` files become TODO stubs, notebooks lose their
solutions and hidden cells (see kit.instructor.release.student_notebook), the Makefile loses
its instructor targets, and the student-root files (README.md, pytest.ini)
replace the instructor's. The kit is written into a temporary folder next to
DIR and moved into place only when complete and free of leaks: a refused or
failed release leaves nothing behind.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from kit.student.notebooks import checks_in
from kit.instructor.release.leaks import find_leaks
from kit.instructor.release.manifest import CHECKS_DIR, MAKEFILE_CUT, shipped_sources, student_root_files
from kit.instructor.release.student_notebook import release_notebook
from kit.student.check import REFERENCE_DIR
from kit.student.files import RELEASED, write_released
from kit.student import more_checks
from kit.student.more_checks import EXPECTED, MORE_CHECKS_USE
from kit.student.regions import has_regions, stub_regions


GRADED_TABLE = "<!-- graded-table -->"


class ReleaseError(ValueError):
    """The release was refused (a leak, a destination in use); nothing was written."""


def release_text(rel, text):
    """The student version of one text file of the instructor source."""
    if rel.endswith(".py") and has_regions(text):
        return stub_regions(text)
    if rel == "Makefile" and MAKEFILE_CUT in text:
        return text[:text.index(MAKEFILE_CUT)].rstrip() + "\n"
    return text


def graded_table(src):
    """A markdown table of the points per student file and notebook, from the checks' metadata."""
    points = {}
    for _, _, found in checks_in(Path(src) / CHECKS_DIR):
        for check in found:
            files = re.findall(r"cs231n/[\w/]+\.py", check.exercises) or ["other"]
            for rel in files:
                entry = points.setdefault(f"`{rel}`", [0.0, 0.0])
                entry[check.hidden] += check.points / len(files)
    for path, _, found in checks_in(Path(src) / "notebooks"):
        for check in found:
            entry = points.setdefault(f"`notebooks/{path.name}` (its `# Check:` cells, run again on "
                                      f"CIFAR-10 when the notebooks are graded)", [0.0, 0.0])
            entry[check.hidden] += check.points
    rows = ["| file | points (checks like the notebook's) | points (hidden checks) |", "|---|---|---|"]
    rows += [f"| {rel} | {shown:g} | {hidden:g} |" for rel, (shown, hidden) in sorted(points.items())]
    total = [sum(v[k] for v in points.values()) for k in (0, 1)]
    rows.append(f"| all | {total[0]:g} | {total[1]:g} |")
    return "\n".join(rows)


def _write_kit(src, out):
    """Write the student kit of `src` into the empty folder `out`; returns the relative paths."""
    written = []
    roots = student_root_files(src)
    for rel in shipped_sources(src):
        if rel in roots:
            continue
        source, target = src / rel, out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            released = release_notebook(nbformat.read(source, as_version=4))
            nbformat.write(released, target)
            # The self-check's copy (kit.student.check): the notebook as released, with the reference
            # outputs, whatever the student's file holds later.
            reference = out / REFERENCE_DIR / Path(rel).name
            reference.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(released, reference)
            written.append(reference.relative_to(out).as_posix())
        else:
            target.write_text(release_text(rel, source.read_text(encoding="utf-8")), encoding="utf-8")
        shutil.copymode(source, target)
        written.append(rel)
    for rel, source in roots.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if GRADED_TABLE in text:
            text = text.replace(GRADED_TABLE, graded_table(src))
        target.write_text(text, encoding="utf-8")
        written.append(rel)
    expected = write_expected(src, out)
    if expected:
        written.append(expected)
    write_released(out, written)
    return sorted(written + [RELEASED])


def write_expected(src, out):
    """
    Write the expected values of the self-check's more checks (kit.student.more_checks), computed by
    the reference solution of `src` in a fresh Python process; returns their kit path, or None when
    `src` lacks a module they use (nothing to compute them from).
    """
    if not all((Path(src) / rel).is_file() for rel in MORE_CHECKS_USE):
        return None
    target = out / EXPECTED.relative_to(EXPECTED.parents[3])
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(Path(more_checks.__file__)), "--write", str(target)], cwd=src,
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise ReleaseError(f"the reference solution of {src} fails the self-check's more checks "
                           f"(kit/student/more_checks.py):\n{proc.stderr[-2000:]}")
    return target.relative_to(out).as_posix()


def release(src, dest, check=True):
    """
    Write the student kit of the instructor source `src` into `dest`.

    Inputs:
    - src: Root of the instructor source.
    - dest: Directory to write; it must not exist or be empty.
    - check: Refuse (ReleaseError) when a line of the reference solution would ship.

    Returns:
    - The sorted list of released relative paths.
    """
    src, dest = Path(src).resolve(), Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ReleaseError(f"release: destination {dest} is not an empty directory; "
                           f"choose another one or remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        paths = _write_kit(src, tmp)
        if check:
            leaks = find_leaks(src, tmp)
            if leaks:
                shown = "\n".join(f"  {path}: {line!r}" for path, line in leaks[:20])
                raise ReleaseError(f"release refused: {len(leaks)} line(s) of the reference solution "
                                   f"would ship:\n{shown}\nNothing was written to {dest}.")
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dest.chmod(0o755)  # mkdtemp made it private
    return paths


def main(args):
    try:
        paths = release(Path.cwd() if args.source is None else args.source, args.dir)
    except ReleaseError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"released {len(paths)} files into {args.dir}")
    return 0
