"""What run_autograder runs on Gradescope: grade /autograder/submission with `kit grade`'s code.

    python -B -m kit.instructor.gradescope.autograder --root /autograder     (from /autograder/source)
    python -B -m kit.instructor.gradescope.autograder --prepare --root /autograder   (setup.sh, once)

Once, when Gradescope builds the image (setup.sh, --prepare): the notebooks'
reference run on the bundle's CIFAR-10 (the whole notebook with its tuning:
minutes on the full data), kept in /autograder/source/REFERENCES, which
protect() makes root-only with the rest of the bundle. Each submission then
only confirms the reference in the sandbox (seconds) instead of running it again.

For each submission, in a fresh container:
1. protect the bundle: /autograder/source and everything in it owned by root and
   readable by root only; only kit/sandboxed/ (the executor the sandbox runs, no
   secret) stays readable, and the folders above it searchable, for the sandbox's uid;
2. turn /autograder/submission into one <student>.zip: the zip itself when the
   student uploaded `python -m kit collect`'s submission.zip, otherwise the
   uploaded files (Gradescope extracts an uploaded zip): regular files only, never
   a symbolic link, so that a link cannot hand the grader a file of the bundle;
3. choose the isolation (kit.instructor.gradescope.container): bubblewrap, or,
   for a bundle of `--isolation auto` in a container where bubblewrap cannot
   start, the single-use container mode; and grade the zip with
   kit.instructor.grade.run.grade, as `python -m kit grade` does, the notebooks
   too on the CIFAR-10 copy setup.sh downloaded (as `kit grade --data`);
4. copy its results.json to /autograder/results/results.json (a root-only
   folder while grading), with Gradescope's visibility fields and the one line
   that says what the isolation did and did not hold (the grader's log on stdout
   stays hidden from students).

Never a silent zero: when the submission could not be graded (status error, a
sandbox that does not start, a setup failure) the reason is printed on stdout,
which Gradescope shows to the instructor, no results.json is written, and the
exit status is non-zero: Gradescope then reports an autograder failure that can
be rerun. Empty and rejected submissions get their results (0, with the message).

Exit status: 0 results written; 1 the submission could not be graded; 2 grading
could not start (settings, isolation, the reference run).
"""
import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from kit.instructor.grade import report
from kit.instructor.grade.archive import MAX_MEMBERS, max_member_size
from kit.instructor.grade.prepare import SetupError
from kit.instructor.grade.run import grade
from kit.instructor.gradescope.bundle import CONFIG
from kit.instructor.gradescope.container import isolation_here
from kit.student.notebooks import VISIBILITIES
from kit.instructor.sandbox.isolation import IsolationUnavailable, Limits
from kit.student.files import allowed_files

ROOT = "/autograder"
REFERENCES = "kit-references.pickle"   # in the bundle's folder: the notebooks' reference runs (--prepare)
ROOT_ENV = "KIT_AUTOGRADER_ROOT"
STUDENT = "submission"
READABLE = "kit/sandboxed"       # the only part of the bundle the sandbox's uid may read
NOISE = ("__MACOSX", "__pycache__")
ISOLATION_HINT = ("Gradescope's containers may not allow bubblewrap's namespaces. A bundle built with the "
                  "default `python -m kit gradescope OUT.zip` (--isolation auto) then grades in the "
                  "single-use container mode (see the bundle's README.md); upload that one.")
DATASET = "cifar-10-batches-py"


class CannotGrade(Exception):
    """Nothing can be graded in this container (settings, isolation); the message says why."""


def log(*parts):
    print(*parts, flush=True)


# ---------------------------------------------------------------------------- the bundle

def load_config(source):
    """The bundle's settings (gradescope.json) with their defaults."""
    try:
        settings = json.loads((Path(source) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CannotGrade(f"the bundle's {CONFIG} cannot be read ({err}); build it with "
                          f"`python -m kit gradescope OUT.zip`") from None
    defaults = Limits()
    limits = {"cell_timeout": defaults.cell_timeout, "timeout": defaults.timeout,
              "wall_timeout": defaults.wall_timeout, "memory_mb": defaults.memory_mb}
    try:
        limits.update(settings.get("limits") or {})
        settings["limits"] = Limits(cell_timeout=float(limits["cell_timeout"]), timeout=float(limits["timeout"]),
                                    wall_timeout=float(limits["wall_timeout"]), memory_mb=int(limits["memory_mb"]))
    except (TypeError, ValueError) as err:
        raise CannotGrade(f"the bundle's {CONFIG} has unreadable limits {limits!r} ({err})") from None
    settings.setdefault("isolation", "auto")
    settings.setdefault("bwrap", None)
    settings.setdefault("data_dir", None)
    settings.setdefault("nb_timeout", None)
    settings.setdefault("visibility", "visible")
    if settings["visibility"] not in VISIBILITIES:
        raise CannotGrade(f"the bundle's {CONFIG} asks for visibility {settings['visibility']!r}; "
                          f"Gradescope knows {', '.join(VISIBILITIES)}")
    return settings


def protect(source):
    """
    Make the bundle at `source` root-only (when run as root: owner root too).

    Folders 0700 and files 0600 (0700 when executable), except kit/sandboxed/
    (0755 / 0644: the sandbox's uid runs it) and the folders above it (0711:
    searchable, not listable). Symbolic links are neither followed nor changed.

    Returns:
    - The number of entries changed.
    """
    source = Path(source)
    readable = source / READABLE
    above = {source, *[p for p in readable.parents if source in p.parents]}
    root, changed = os.geteuid() == 0, 0
    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        shared = here == readable or readable in here.parents
        for path, is_dir in [(here, True)] + [(here / n, False) for n in dirnames + filenames]:
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode) or (is_dir is False and stat.S_ISDIR(info.st_mode)):
                continue  # links: left alone; folders: done when os.walk enters them
            if root and (info.st_uid, info.st_gid) != (0, 0):
                os.lchown(path, 0, 0)
                changed += 1
            if is_dir:
                mode = 0o755 if shared else (0o711 if path in above else 0o700)
            else:
                executable = info.st_mode & 0o111
                mode = (0o755 if executable else 0o644) if shared else (0o700 if executable else 0o600)
            if stat.S_IMODE(info.st_mode) != mode:
                os.chmod(path, mode)
                changed += 1
    return changed


# ---------------------------------------------------------------------------- the submission

def _skipped(name):
    return name.startswith(".") or name in NOISE


def _uploaded(submission):
    """
    (relative path, host path, is a regular file) of what the student uploaded, links included.

    At most MAX_MEMBERS + 1 entries: one more than a zip may hold, so that the
    grader rejects a larger upload as it rejects a larger zip.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(submission):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        here = Path(dirpath)
        for name in sorted(n for n in dirnames + filenames if not _skipped(n)):
            path = here / name
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                continue  # os.walk enters it (a link to a folder is listed below, not entered)
            found.append((path.relative_to(submission).as_posix(), path, stat.S_ISREG(mode)))
            if len(found) > MAX_MEMBERS:
                return found
    return found


def _read_regular(path, limit):
    """The bytes of the regular file `path` (never through a link), at most `limit` + 1 of them."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError("not a regular file")
        return f.read(limit + 1)


def _placed(uploaded, allowed):
    """The uploaded entries, top-level files named like exactly one allow-listed file moved there."""
    by_name = {}
    for rel in allowed:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    present = {rel for rel, _, _ in uploaded}
    placed, notes = [], []
    for rel, path, regular in uploaded:
        targets = by_name.get(rel, []) if "/" not in rel and rel not in allowed else []
        if regular and len(targets) == 1 and targets[0] not in present:
            notes.append(f"took {rel} as {targets[0]} (it was uploaded without its folder)")
            rel = targets[0]
        placed.append((rel, path, regular))
    return placed, notes


def submission_zip(submission, allowed, dest):
    """
    Write the student's upload in `submission` as one zip `dest`, for the grader.

    - The student uploaded the zip of `python -m kit collect` (and none of the files
      it holds): that zip, as it is.
    - Otherwise the uploaded files, each under its path: the allow-listed ones whole
      (at most archive.max_member_size bytes each), the others as empty members, so that the
      grader names them as ignored without reading them; dot-files and folders
      (.git, .ipynb_checkpoints), __MACOSX and __pycache__ are left out, and so
      is anything that is not a regular file (a link is never followed). A file
      dropped without its folder (`layers.py` at the top) takes the allow-listed
      path of that name (`cs231n/layers.py`) when it is the only one and that
      path was not uploaded too.

    Returns:
    - (what was uploaded, in words; notes for the student about what was moved or left out).
    """
    submission, allowed = Path(submission), set(allowed)
    if not submission.is_dir():
        raise CannotGrade(f"{submission} does not exist: Gradescope puts the submission there")
    uploaded, notes = _placed(_uploaded(submission), allowed)
    zips = [(rel, path) for rel, path, regular in uploaded if regular and "/" not in rel
            and rel.lower().endswith(".zip")]
    if len(zips) == 1 and not any(rel in allowed for rel, _, _ in uploaded):
        rel, path = zips[0]
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return f"the zip {rel}", []
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, path, regular in uploaded:
            if not regular:
                notes.append(f"ignored {rel}: not a regular file (a symbolic link?)")
                continue
            if rel not in allowed:
                zf.writestr(rel, b"")
                continue
            try:
                data = _read_regular(path, max_member_size(rel))
            except OSError as err:
                notes.append(f"ignored {rel}: it cannot be read ({err.strerror or err})")
                continue
            if len(data) > max_member_size(rel):
                notes.append(f"ignored {rel}: more than {max_member_size(rel)} bytes")
                continue
            zf.writestr(rel, data)
    files = sum(1 for _, _, regular in uploaded if regular)
    return f"{files} file{'s' if files != 1 else ''}", notes


# ---------------------------------------------------------------------------- the results

def gradescope_results(results, settings, notes, seconds, upload):
    """The grader's results.json, with Gradescope's top-level fields, as the student will see it."""
    out = dict(results)
    if notes:
        out["output"] = "\n".join([results.get("output", "")] + notes)
    out["execution_time"] = round(seconds, 2)
    out["visibility"] = settings["visibility"]
    out["stdout_visibility"] = "hidden"   # the grader's log: for the instructor only
    out["tests"] = [dict(t, visibility=t.get("visibility") if t.get("visibility") in VISIBILITIES else "hidden")
                    for t in results.get("tests", [])]
    out["extra_data"] = dict(results.get("extra_data", {}), upload=upload,
                             source_commit=settings.get("source_commit"))
    isolation = out["extra_data"].get("isolation")
    if isolation:
        out["output"] = f"{out.get('output', '')}\nIsolation: {isolation}".lstrip("\n")
    return out


def data_folder(settings):
    """The CIFAR-10 folder setup.sh made (gradescope.json's data_dir), or None when the bundle has no data."""
    if not settings.get("data_dir"):
        return None
    folder = Path(settings["data_dir"]) / DATASET
    if not (folder / "batches.meta").is_file():
        raise CannotGrade(f"the bundle grades the notebooks on CIFAR-10, but {folder} is missing: setup.sh "
                          f"downloads it when Gradescope builds the image; see its output there")
    return folder


def protect_results(results_dir):
    """
    The results folder, root-only while student code runs (as root; created when missing); the
    Gradescope root above it searchable, for the sandbox's uid to reach the executor in the bundle.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(results_dir, 0, 0)
        os.chmod(results_dir, 0o700)
        root = results_dir.parent
        os.chmod(root, stat.S_IMODE(os.stat(root).st_mode) | 0o001)


def run(root=ROOT):
    """
    Grade the submission of the Gradescope root `root`; returns the exit status.

    Writes root/results/results.json only when the submission got a result.
    """
    began = time.monotonic()
    root = Path(root)
    source, submission, results_dir = root / "source", root / "submission", root / "results"
    try:
        settings = load_config(source)
        log(f"kit autograder: bundle of {settings.get('source_commit') or 'an unknown commit'}; "
            f"isolation asked for: {settings['isolation']}")
        changed = protect(source)
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()} (not root: the owner stays as it is)"
        log(f"protected {source}: owner {who}, readable by it only ({changed} changes); "
            f"{READABLE}/ stays readable for the sandbox")
        protect_results(results_dir)
        data = data_folder(settings)
        log(f"notebooks: graded on {data}" if data else "notebooks: not graded (the bundle has no data_url)")
        isolation = isolation_here(settings["isolation"], settings.get("bwrap"), log)
    except CannotGrade as err:
        log(f"autograder failure: {err}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="kit-gradescope-"))
    try:
        subs, out = work / "submissions", work / "grades"
        subs.mkdir()
        try:
            upload, notes = submission_zip(submission, allowed_files(source), subs / f"{STUDENT}.zip")
        except CannotGrade as err:
            log(f"autograder failure: {err}")
            return 2
        log(f"submission: {upload}" + "".join(f"\n  {n}" for n in notes))
        references = source / REFERENCES if data and (source / REFERENCES).is_file() else None
        if data and references is None:
            log(f"notebooks: no {REFERENCES} from setup.sh: the reference run is made now, for this submission")
        try:
            graded = grade(subs, out, source=source, jobs=1, limits=settings["limits"], isolation=isolation,
                           bwrap=settings.get("bwrap"), log=log, data=data, nb_timeout=settings["nb_timeout"],
                           references=references)
        except IsolationUnavailable as err:
            log(f"autograder failure: {err}" + (f"\n{ISOLATION_HINT}" if isolation == "bwrap" else ""))
            return 2
        except SetupError as err:
            log(f"autograder failure: {err}")
            return 2
        row = next((r for r in graded.rows if r["student"] == STUDENT), None)
        log(f"isolation in force: {graded.isolation}")
        if row is None or row["status"] not in report.SCORED:
            reason = (row or {}).get("reason") or "the run was stopped"
            log(f"autograder failure: the submission could not be graded ({(row or {}).get('status')}): "
                f"{reason}\nNo results.json was written, so that this is not a 0: rerun the autograder "
                f"on this submission once the cause is fixed.")
            return 1
        results = json.loads((out / STUDENT / "results.json").read_text(encoding="utf-8"))
        final = gradescope_results(results, settings, notes, time.monotonic() - began, upload)
        results_dir.mkdir(parents=True, exist_ok=True)
        report.write_atomic(results_dir / "results.json", json.dumps(final, indent=1))
        log(f"result: {final['score']:g} / {row['max_score']:g} ({row['status']}); wrote "
            f"{results_dir / 'results.json'} in {time.monotonic() - began:.1f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_references(root=ROOT):
    """
    Run the notebooks' reference solution once on the bundle's CIFAR-10 and keep it (setup.sh).

    Returns:
    - The exit status: 0 done (or nothing to do: the bundle has no data), 2 it failed (printed).
    """
    from kit.instructor.grade import nbgrade

    source = Path(root) / "source"
    try:
        settings = load_config(source)
        data = data_folder(settings)
        if data is None:
            log("notebooks: the bundle has no data_url, no reference run to prepare")
            return 0
        with tempfile.TemporaryDirectory(prefix="kit-references-") as scratch:
            graded = nbgrade.prepare_notebooks(source, data, settings["nb_timeout"], log=log, scratch=scratch)
        nbgrade.save_references(graded, source / REFERENCES)
    except (CannotGrade, nbgrade.NotebookSetupError) as err:
        log(f"the notebooks' reference run failed: {err}")
        return 2
    log(f"kept the reference runs of {len(graded)} notebook(s) in {source / REFERENCES} (root-only when grading)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.instructor.gradescope.autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV, ROOT),
                        help=f"the Gradescope root (default ${ROOT_ENV} or {ROOT})")
    parser.add_argument("--prepare", action="store_true",
                        help="make the notebooks' reference run once (setup.sh does, when the image is built)")
    args = parser.parse_args(argv)
    return prepare_references(args.root) if args.prepare else run(args.root)


if __name__ == "__main__":
    sys.exit(main())
