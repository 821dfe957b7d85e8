"""What the student kit is made of: an explicit list, never "whatever is in the tree".

The student kit holds the files of the instructor source that match SHIPPED
(and nothing that matches NEVER), plus the files in kit/instructor/release/student_root/
(a student README and pytest.ini), which take the place of the instructor's at
the kit's root. Anything else (tests/, bench/, kit/instructor/, submissions,
grades, build outputs, archives, stray files) can never ship.

Folder rule for the tooling: kit/student/ ships (it is what `python -m kit
collect` runs); kit/instructor/ and kit/sandboxed/ never do.
"""
import fnmatch
import os
from pathlib import Path, PurePosixPath

SHIPPED = (
    "cs231n/**/*.py", "cs231n/**/*.js", "cs231n/**/*.css",
    "notebooks/*.ipynb", "notebooks/sanitize.cfg",
    "get_datasets.py", "datasets/README.md",
    "Makefile", "requirements.txt",
    "kit/__init__.py", "kit/__main__.py", "kit/student/*.py",
)
# Never shipped, even when a pattern above matches (private modules of the package
# start with "_instructor"; editor and notebook leftovers).
NEVER = ("*/_instructor*", "*/.ipynb_checkpoints/*", "*/__pycache__/*", "*-checkpoint.ipynb")
STUDENT_ROOT = "kit/instructor/release/student_root"
# The check notebooks of the grader (kit/instructor/grade/): never shipped, read by the release
# for the students' table of points.
CHECKS_DIR = "kit/instructor/grade/checks"
# The Makefile ships up to this line: the targets below it are the instructor's.
MAKEFILE_CUT = "# ---- instructor targets: the student kit's Makefile ends above this line ----"


def _matches(rel, patterns):
    return any(fnmatch.fnmatchcase(rel, p) for p in patterns)


def matching_files(src, patterns):
    """
    The files of `src` that match `patterns` (globs), as sorted relative POSIX paths.

    Only regular files (no symlinks), none that matches NEVER, none with a
    part that starts with a dot.
    """
    src = Path(src)
    found = set()
    for pattern in patterns:
        for path in src.glob(pattern):
            rel = path.relative_to(src).as_posix()
            if path.is_file() and not path.is_symlink() and not _matches(rel, NEVER) \
                    and not any(part.startswith(".") for part in PurePosixPath(rel).parts):
                found.add(rel)
    return sorted(found)


def shipped_sources(src):
    """
    The files of the instructor source at `src` that ship, as sorted relative POSIX paths.

    Only regular files (no symlinks) matching SHIPPED and not NEVER; the
    student-root files are listed separately (student_root_files).
    """
    return matching_files(src, SHIPPED)


def student_root_files(src):
    """{kit path: source path} of the files that replace the instructor's at the kit root."""
    root = Path(src) / STUDENT_ROOT
    out = {}
    if root.is_dir():
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                out[path.relative_to(root).as_posix()] = path
    return dict(sorted(out.items()))


def region_sources(src):
    """The instructor files that can hold the reference solution: package `.py` files and notebooks."""
    return [rel for rel in shipped_sources(src) if rel.endswith((".py", ".ipynb"))
            and rel.startswith(("cs231n/", "notebooks/"))]
