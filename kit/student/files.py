"""Which files of a kit a student may change and submit, and what the release shipped.

The allow-list of a submission is computed from a kit, never from a
submission: the `.py` files of the package that hold student regions, the
notebooks in notebooks/, and the trained models the notebooks save (SAVED_MODELS:
the grader evaluates those instead of re-running the tuning that made them). The release also writes `kit/student/released.json`,
a fingerprint of every file it shipped, so that `collect` can tell a student
which files they changed outside what is graded.
"""
import hashlib
import json
from pathlib import Path

from kit.student.regions import RegionError, find_regions, has_regions

NOTEBOOK_DIR = "notebooks"
PACKAGE_DIR = "cs231n"
RELEASED = "kit/student/released.json"
#: Files the notebooks write that are handed in: two_layer_net.ipynb saves its tuned best_net
#: there (TwoLayerNet.save), and its best_net check, run by the grader, loads it.
SAVED_MODELS = ("notebooks/best_net.npz",)


def student_files(root):
    """
    The allow-list of the kit at `root`: files a student may change and submit.

    Returns:
    - Relative POSIX paths: package `.py` files holding student regions, the
      notebooks in notebooks/ (each group sorted), then those of SAVED_MODELS
      the kit has.
    """
    root = Path(root)
    allowed = []
    for path in sorted((root / PACKAGE_DIR).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        if has_regions(path.read_text(encoding="utf-8", errors="replace")):
            allowed.append(path.relative_to(root).as_posix())
    for path in sorted((root / NOTEBOOK_DIR).glob("*.ipynb")):
        if not path.name.startswith("."):   # the self-check's passing copies (kit.student.check)
            allowed.append(path.relative_to(root).as_posix())
    return allowed + [rel for rel in SAVED_MODELS if (root / rel).is_file()]


def allowed_files(root):
    """What a submission made from the kit at `root` may hold: student_files, and every SAVED_MODELS file."""
    files = student_files(root)
    return files + [rel for rel in SAVED_MODELS if rel not in files]


def student_modules(root):
    """The importable module names of the student `.py` files, e.g. `cs231n.layers`."""
    mods = []
    for rel in student_files(root):
        if rel.endswith(".py"):
            mod = rel[:-3].replace("/", ".")
            mods.append(mod[:-len(".__init__")] if mod.endswith(".__init__") else mod)
    return mods


def scaffold_text(text):
    """The lines of a region file outside its regions (marker lines included), as one text."""
    lines = text.splitlines()
    try:
        inside = {i for s, e in find_regions(lines) for i in range(s + 1, e)}
    except RegionError:
        return text
    return "\n".join(line.rstrip() for i, line in enumerate(lines) if i not in inside)


def digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def fingerprint(path, rel):
    """What `released.json` records of one file: its whole text, or its scaffold for region files."""
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    if rel.endswith(".py") and has_regions(text):
        return {"scaffold": digest(scaffold_text(text))}
    return {"sha256": digest(text)}


def write_released(root, paths):
    """Write kit/student/released.json for the released kit at `root` (paths: what was shipped)."""
    root = Path(root)
    entries = {rel: fingerprint(root / rel, rel) for rel in sorted(paths) if rel != RELEASED
               and not rel.endswith(".ipynb")}
    (root / RELEASED).parent.mkdir(parents=True, exist_ok=True)
    (root / RELEASED).write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def changed_files(root):
    """
    The shipped files a student changed where it does not count.

    Returns:
    - (changed, scaffold_changed): shipped files (not on the allow-list) whose
      content differs from the release, and region files whose code outside
      the regions differs. Empty lists when the kit has no released.json.
    """
    root = Path(root)
    try:
        entries = json.loads((root / RELEASED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], []
    changed, scaffold = [], []
    for rel, want in sorted(entries.items()):
        path = root / rel
        if not path.is_file():
            continue
        have = fingerprint(path, rel)
        if "scaffold" in want and have.get("scaffold") != want["scaffold"]:
            scaffold.append(rel)
        elif "sha256" in want and have.get("sha256") != want["sha256"]:
            changed.append(rel)
    return changed, scaffold
