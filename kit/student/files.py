"""Which files make up a kit, and which of them a student may change.

The allow-list of a submission is computed from a kit, never from a
submission: the `.py` files that hold student regions and the notebooks under
notebooks/.
"""
import os
import subprocess
from pathlib import Path

from kit.regions import has_regions

# Never part of a kit listing when walking a tree (outside git).
SKIP_DIRS = {".git", ".venv", "venv", "build", "__pycache__", ".pytest_cache",
             ".ipynb_checkpoints", "node_modules", ".mypy_cache", "dask-worker-space"}
NOTEBOOK_DIR = "notebooks"
PACKAGE_DIR = "cs231n"


def source_files(root):
    """
    The files of the kit at `root`, as sorted POSIX paths relative to it.

    In a git checkout: the tracked files plus the untracked ones git does not
    ignore (`git ls-files --cached --others --exclude-standard`), existing on
    disk. Elsewhere: a walk of the tree without virtualenvs, build outputs,
    caches and the content of datasets/ (its README stays).
    """
    root = Path(root)
    if (root / ".git").exists():
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=False)
        if proc.returncode == 0:
            names = [n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
            return sorted({n for n in names if (root / n).is_file() and not (root / n).is_symlink()})
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in filenames:
            path = (rel / name).as_posix()
            if path.startswith("datasets/") and name not in ("README.md", ".gitkeep"):
                continue
            if name.endswith((".pyc", ".pyo")) or (Path(dirpath) / name).is_symlink():
                continue
            found.append(path)
    return sorted(found)


def student_files(root):
    """
    The allow-list of the kit at `root`: files a student may change and submit.

    Returns:
    - Sorted relative POSIX paths: package `.py` files holding student regions,
      and the notebooks in notebooks/.
    """
    root = Path(root)
    allowed = []
    for path in sorted((root / PACKAGE_DIR).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        if has_regions(path.read_text(encoding="utf-8", errors="replace")):
            allowed.append(path.relative_to(root).as_posix())
    for path in sorted((root / NOTEBOOK_DIR).glob("*.ipynb")):
        allowed.append(path.relative_to(root).as_posix())
    return allowed


def student_modules(root):
    """The importable module names of the student `.py` files, e.g. `cs231n.layers`."""
    mods = []
    for rel in student_files(root):
        if rel.endswith(".py"):
            mod = rel[:-3].replace("/", ".")
            mods.append(mod[:-len(".__init__")] if mod.endswith(".__init__") else mod)
    return mods
