"""`python -m kit gradescope OUT.zip`: the autograder bundle for Gradescope's "Zip file upload".

Gradescope extracts the bundle into /autograder/source, runs its setup.sh once
when it builds the image, and runs its run_autograder for every submission
(see kit/instructor/gradescope/files/README.md, which ships in the bundle).

The bundle holds the files named in BUNDLED (what `kit grade` needs: the
release manifest's files, the instructor's tools and check notebooks, the
sandboxed executor) and nothing else: never tests/, bench/, .git, datasets,
submissions, grades or build outputs, whatever lies in the tree. At its root:
setup.sh, run_autograder and README.md (from files/), gradescope.json
(the settings chosen here: the isolation, the limits, and the CIFAR-10 archive
that setup.sh downloads for the notebooks to be graded, --data-url / --data-md5)
and, with --wheels, a wheelhouse that setup.sh installs from without the
network. The expected values are not in the bundle:
the grader computes them from the reference solution at the start of each run,
as `kit grade` does.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from cs231n._atomic import atomic_write
from kit.student.notebooks import VISIBILITIES, checks_in
from kit.instructor.release.manifest import CHECKS_DIR, SHIPPED, STUDENT_ROOT, matching_files
from kit.instructor.sandbox.isolation import Limits

SOURCE = Path(__file__).resolve().parents[3]
FILES = Path(__file__).resolve().parent / "files"
CONFIG = "gradescope.json"
WHEELS = "wheels"
# What grading needs, beyond the release manifest (SHIPPED): the instructor's stages that grade
# (release, grade, sandbox, this bundle's own code; not the grading week's gradebook/ and
# similarity/, run on the instructor's machine), the check notebooks, the student-root files of
# the release, and the executor that runs inside the sandbox. files/ goes to the bundle's root.
GRADING_STAGES = ("release", "grade", "sandbox", "gradescope")
BUNDLED = SHIPPED + ("kit/instructor/*.py",) + tuple(f"kit/instructor/{stage}/*.py" for stage in GRADING_STAGES) + (
    f"{CHECKS_DIR}/*.ipynb", f"{STUDENT_ROOT}/*", "kit/sandboxed/*.py")
ROOT_FILES = {"setup.sh": 0o755, "run_autograder": 0o755, "README.md": 0o644}
VENV = "/opt/kit-venv"
DATA_DIR = "/opt/kit-data"   # setup.sh puts cifar-10-batches-py here, readable by every user
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"   # as get_datasets.py
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)   # every member: the same bytes for the same source


class BundleError(ValueError):
    """The bundle cannot be built (a bad option, a check with an unknown visibility)."""


def bundle_files(source):
    """{name in the bundle: path} of the instructor source's files that the bundle holds."""
    source = Path(source)
    return {rel: source / rel for rel in matching_files(source, BUNDLED)}


def check_visibilities(source):
    """
    Raise BundleError unless every check cell's visibility is one of Gradescope's.

    Returns:
    - {visibility: number of checks}.
    """
    counts, bad = {}, []
    for path, _, found in checks_in(Path(source) / CHECKS_DIR):
        for check in found:
            counts[check.visibility] = counts.get(check.visibility, 0) + 1
            if check.visibility not in VISIBILITIES:
                bad.append(f"{path.name}: check {check.name!r} has visibility {check.visibility!r}")
    if bad:
        raise BundleError("gradescope: Gradescope knows the visibilities " + ", ".join(VISIBILITIES)
                          + ":\n  " + "\n  ".join(bad))
    if not counts:
        raise BundleError(f"gradescope: no check cells in {Path(source) / CHECKS_DIR}")
    return counts


def source_commit(source):
    """The git commit of the instructor source (with "-dirty" when it has changes), or None."""
    try:
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def config(source, isolation="auto", limits=None, venv=VENV, visibility="visible", bwrap=None,
           data_url=OFFICIAL_URL, data_md5=OFFICIAL_MD5, data_dir=DATA_DIR, nb_timeout=None):
    """The settings run_autograder reads (gradescope.json); data_url None: no notebook grading."""
    limits = limits or Limits()
    return {"isolation": isolation, "bwrap": bwrap, "venv": venv, "python": f"{venv}/bin/python",
            "limits": {"cell_timeout": limits.cell_timeout, "timeout": limits.timeout,
                       "wall_timeout": limits.wall_timeout, "memory_mb": limits.memory_mb},
            "visibility": visibility, "source_commit": source_commit(source),
            "data_url": data_url, "data_md5": data_md5 if data_url else None,
            "data_dir": data_dir if data_url else None, "nb_timeout": nb_timeout}


def _wheels(directory):
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"gradescope: --wheels {directory} is not a folder")
    found = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith((".whl", ".tar.gz")))
    if not any(p.name.endswith(".whl") for p in found):
        raise BundleError(f"gradescope: --wheels {directory} holds no .whl file; make it with "
                          f"`pip download -r requirements.txt -d {directory}` on the image's Python")
    return found


def _add(zf, name, mode, path=None, data=None):
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    if data is not None:
        zf.writestr(info, data)
        return
    with open(path, "rb") as src, zf.open(info, "w") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def build(out, source=None, isolation="auto", limits=None, wheels=None, venv=VENV, visibility="visible",
          bwrap=None, data_url=OFFICIAL_URL, data_md5=OFFICIAL_MD5, nb_timeout=None):
    """
    Write the Gradescope autograder bundle of the instructor source to the zip `out`.

    Inputs:
    - out: The zip to write (replaced when it exists; written whole or not at all).
    - source: The instructor source root (default: the one holding this kit).
    - isolation: "auto" (bubblewrap, the default; fails closed), "bwrap" or "rlimits" (weaker,
      only when asked for by name), recorded in gradescope.json; limits: Limits of each submission.
    - wheels: A folder of wheels for setup.sh to install from, without the network.
    - venv: Where setup.sh makes the grading virtualenv (readable by other users).
    - visibility: Gradescope's visibility of the whole result; stdout is always hidden.
    - bwrap: The path of bubblewrap on the image (default: found on PATH).
    - data_url, data_md5: The CIFAR-10 archive setup.sh downloads and verifies (get_datasets.py) for
      the notebooks to be graded as `kit grade --data` does (default: the official one); data_url
      None grades the code checks only. nb_timeout: CPU seconds per notebook (as --nb-timeout).

    Returns:
    - The sorted names of the bundle's members.

    Raises:
    - BundleError with the reason; nothing is written then.
    """
    source = Path(source or SOURCE).resolve()
    out = Path(out).absolute()
    if isolation not in ("auto", "bwrap", "rlimits"):
        raise BundleError(f"gradescope: unknown isolation {isolation!r}: use auto, bwrap or rlimits")
    if visibility not in VISIBILITIES:
        raise BundleError(f"gradescope: unknown visibility {visibility!r}: use one of {', '.join(VISIBILITIES)}")
    if data_url is not None and not (data_md5 and len(data_md5) == 32 and
                                     all(c in "0123456789abcdef" for c in data_md5.lower())):
        raise BundleError(f"gradescope: --data-md5 {data_md5!r} is not an MD5 (32 hexadecimal digits): give "
                          f"the MD5 of the archive at {data_url}")
    if data_url is not None and data_url.split(":", 1)[0] not in ("http", "https", "file"):
        raise BundleError(f"gradescope: --data-url {data_url!r}: use an http://, https:// or file:// URL")
    if not out.name.endswith(".zip"):
        raise BundleError(f"gradescope: {out} must be a .zip file (Gradescope's \"Zip file upload\")")
    if not (source / CHECKS_DIR).is_dir():
        raise BundleError(f"gradescope: {source} is not an instructor source (no {CHECKS_DIR})")
    check_visibilities(source)
    files = bundle_files(source)
    clash = sorted(set(files) & (set(ROOT_FILES) | {CONFIG}))
    if clash:
        raise BundleError(f"gradescope: the bundle's own {', '.join(clash)} would replace the source's")
    extra = _wheels(wheels) if wheels else []
    settings = config(source, isolation, limits, venv, visibility, bwrap, data_url,
                      data_md5.lower() if data_url else None, nb_timeout=nb_timeout)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = []

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            for name, mode in ROOT_FILES.items():
                _add(zf, name, mode, FILES / name)
            _add(zf, CONFIG, 0o644, data=json.dumps(settings, indent=1) + "\n")
            for rel, path in files.items():
                _add(zf, rel, 0o755 if os.access(path, os.X_OK) else 0o644, path)
            for path in extra:
                _add(zf, f"{WHEELS}/{path.name}", 0o644, path)
            names.extend(zf.namelist())
    atomic_write(out, write)
    return sorted(names)


def main(args):
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, wall_timeout=args.wall_timeout,
                    memory_mb=args.memory_mb)
    args.data_url = args.data_url or OFFICIAL_URL
    args.data_md5 = args.data_md5 or (OFFICIAL_MD5 if args.data_url == OFFICIAL_URL else None)
    try:
        names = build(args.out, source=args.source, isolation=args.isolation, limits=limits,
                      wheels=args.wheels, venv=args.venv, visibility=args.visibility,
                      data_url=None if args.no_data else args.data_url, data_md5=args.data_md5,
                      nb_timeout=args.nb_timeout)
    except BundleError as err:
        print(err, file=sys.stderr)
        return 1
    wheels = sum(1 for n in names if n.startswith(f"{WHEELS}/"))
    print(f"wrote {args.out}: {len(names)} files" + (f" ({wheels} wheels)" if wheels else "")
          + f"; isolation {args.isolation}")
    print("notebooks: not graded (--no-data), code checks only" if args.no_data else
          f"notebooks: graded on {args.data_url} (MD5 {args.data_md5}), which setup.sh downloads into "
          f"{DATA_DIR} when Gradescope builds the image")
    if args.isolation == "auto":
        print("isolation auto: bubblewrap where it starts; in a Gradescope container where it cannot, student "
              "code runs as an unprivileged uid without a file-system sandbox (the log and results.json say "
              "which); --isolation bwrap fails instead")
    if args.isolation == "rlimits":
        print("WARNING: --isolation rlimits: student code runs without a file-system sandbox on Gradescope; "
              "the bundle's files are readable by root only, and the sandbox's uid is not root.")
    print("Upload it as the assignment's autograder (Configure Autograder > Zip file upload).")
    return 0
