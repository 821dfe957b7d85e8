"""`python -m kit grade SUBMISSIONS --out DIR`: autograde a directory of <student>.zip.

The pipeline, for each submission:
1. extract: only the files a student may change, safely (kit.instructor.archive);
2. lay the student's regions into the instructor's scaffold (kit.instructor.splice);
3. run the check notebooks in a sandbox that sees the pristine release with
   those files over it (kit.instructor.checkrun, kit.instructor.sandbox);
4. score: compare what the checks emitted with the reference run, here in the
   grader (kit.instructor.compare); write the results (kit.instructor.report).

Before any submission: the isolation is chosen and fails closed (no
bubblewrap, no grading unless `--isolation rlimits` is asked for by name), the
student kit is released privately from the instructor source (its explicit
manifest, whatever else lies in the tree), the check notebooks run once on
the reference solution (the expected values, kept in memory), and a sandbox
is started as a preflight.

Never a silent zero: a failure of the grader (a sandbox that does not start,
one that dies before its first cell) is retried, then recorded as status
`error` with its reason, and the run exits non-zero; a rerun grades those
again. Ctrl-C stops starting submissions (the running ones finish); a second
Ctrl-C stops those too, and they stay ungraded (no result is written for
them). Temporary kits and cgroups are removed, and those of a grader that was
killed are removed by the next run.
"""
import compileall
import dataclasses
import hashlib
import os
import py_compile
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from kit.instructor import cgroups as cgroups_mod
from kit.instructor import classreport, manual, nbgrade, report
from kit.instructor.archive import ArchiveRejected, extract
from kit.instructor.checkrun import CheckNotebook, run_checks
from kit.instructor.compare import CheckResult, score_check
from kit.instructor.release import release
from kit.instructor.sandbox import (Aborted, GraderFailure, Isolation, IsolationUnavailable, KitView,
                                    Limits, Sandbox, choose_isolation)
from kit.instructor.splice import map_traceback, splice, syntax_message
from kit.student.files import student_files

SOURCE = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).resolve().parent / "checks"
RUN_PREFIX = "kit-grade-run-"
RETRIES = 2


class SetupError(Exception):
    """Grading cannot start (the reference fails its checks, no check notebooks, ...)."""


@dataclass
class Setup:
    """What every submission of a run shares (picklable, for Dask workers)."""
    release_dir: str
    work_root: str
    allowed: list
    notebooks: list          # [CheckNotebook]
    expected: dict           # notebook name -> {cell index: Record} of the reference run
    limits: Limits
    isolation: Isolation
    released_nbs: dict       # rel -> released notebook (parsed JSON)
    instructor_nbs: dict     # rel -> instructor notebook (parsed JSON)
    retries: int = RETRIES
    sandboxed_dir: str = None
    graded_notebooks: list = field(default_factory=list)  # [nbgrade.GradedNotebook], with --data
    data_dir: str = None

    @property
    def max_score(self):
        code = sum(float(c["metadata"]["points"]) for nb in self.notebooks for _, c in nb.check_cells())
        return round(code + sum(gnb.max_score for gnb in self.graded_notebooks), 2)


@dataclass
class Job:
    student: str
    zip_path: str
    out_dir: str


@dataclass
class GradeRun:
    """What a grading run did."""
    rows: list = field(default_factory=list)
    interrupted: bool = False
    isolation: str = ""

    def count(self, status):
        return sum(1 for r in self.rows if r["status"] == status)

    @property
    def exit_code(self):
        return 130 if self.interrupted else (1 if self.count("error") else 0)


# ---------------------------------------------------------------------------- names

def student_name(zip_name, taken):
    """A safe, unique folder name for the student of `zip_name`."""
    stem = zip_name[:-4] if zip_name.lower().endswith(".zip") else zip_name
    name = re.sub(r"[^A-Za-z0-9._@+-]", "_", stem).lstrip(".")[:100] or "student"
    unique, n = name, 2
    while unique.lower() in taken:
        unique, n = f"{name}-{n}", n + 1
    taken.add(unique.lower())
    return unique


# ---------------------------------------------------------------------------- one submission

def _fresh_checks(setup, line):
    """Every check at 0 points with one line of explanation (nothing was run)."""
    return [CheckResult(str(c["metadata"].get("check", "check")), 0.0, float(c["metadata"]["points"]),
                        c["metadata"].get("visibility", "visible"), [line],
                        str(c["metadata"].get("exercises", "")))
            for nb in setup.notebooks for _, c in nb.check_cells()] + [
        CheckResult(gnb.test_name(title), 0.0, points, visibility, [line], f"the notebook {gnb.rel}")
        for gnb in setup.graded_notebooks for _, title, points, visibility in gnb.checks]


def _setup_problems(setup, run, explain):
    lines = []
    for nb in setup.notebooks:
        for i, cell in nb.setup_cells():
            record = run.records.get(nb.name, {}).get(i)
            if record is not None and record.status != "ok":
                first = cell["source"].strip().splitlines()[-1][:80] if cell["source"].strip() else ""
                error = explain(record.error or record.status).strip().splitlines()
                lines.append(f"`{first}` failed: " + " | ".join(error[-3:]))
    return lines


def grade_one(setup, job, abort=None):
    """
    Grade one submission and write its results; never raises.

    Returns:
    - Its grades.csv row; status "not graded" (and nothing written) when the
      run was stopped while it ran.
    """
    abort = abort or threading.Event()
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{job.student}-", dir=setup.work_root))
    os.chmod(work, 0o711)  # the sandbox's uid of --isolation rlimits enters its kit copy in here
    try:
        outcome = _grade(setup, job, work, abort, start)
    except Aborted:
        return {"student": job.student, "score": "", "max_score": setup.max_score, "status": "not graded",
                "isolation": setup.isolation.describe(), "reason": "the run was stopped"}
    except Exception as err:  # noqa: BLE001 - the grader's own failure: never the student's zero
        outcome = report.Outcome(job.student, "error", _fresh_checks(setup, "not graded"), setup.max_score,
                                 [], setup.isolation.describe(), setup.isolation.short(),
                                 time.monotonic() - start, reason=f"internal grader error "
                                 f"({type(err).__name__}: {err})."[:500])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report.write_submission(job.out_dir, outcome)


def _retrying(setup, abort, failures, attempt_once):
    """
    attempt_once() again after a GraderFailure, up to setup.retries more times.

    Returns:
    - Its result, or None when every attempt failed (the reasons are appended to `failures`).
    """
    for attempt in range(setup.retries + 1):
        try:
            return attempt_once(attempt)
        except GraderFailure as err:
            failures.append(str(err))
            if abort.wait(min(1 + 2 * attempt, 5)):
                raise Aborted() from None
    return None


def _lay_out(setup, extraction, upload, work):
    """The sandbox's view of one submission: its regions spliced into the release. (view, spliced, messages)"""
    view = KitView(Path(setup.release_dir))
    if setup.data_dir:
        view.data[nbgrade.DATA_MOUNT] = Path(setup.data_dir)
    spliced, messages = {}, []
    for rel in extraction.files:
        if not rel.endswith(".py"):
            continue
        scaffold = (view.release / rel).read_text(encoding="utf-8")
        student = (upload / rel).read_text(encoding="utf-8", errors="replace")
        spliced[rel] = splice(rel, scaffold, student)
        messages += spliced[rel].messages
        problem = syntax_message(rel, spliced[rel])
        if problem:
            messages.append(problem)
        target = work / "view" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spliced[rel].text, encoding="utf-8")
        target.chmod(0o644)
        view.overlays[rel] = target
    return view, spliced, messages


def _grade(setup, job, work, abort, start):
    timing = {}

    def outcome(status, checks, messages, reason="", manual_rows=()):
        return report.Outcome(job.student, status, checks, setup.max_score, messages,
                              setup.isolation.describe(), setup.isolation.short(),
                              time.monotonic() - start, reason, manual_rows,
                              {k: round(v, 4) for k, v in timing.items()})

    # 1. extract
    upload = work / "upload"
    upload.mkdir()
    try:
        extraction = extract(job.zip_path, upload, setup.allowed)
    except ArchiveRejected as err:
        return outcome("rejected", _fresh_checks(setup, "not run: the zip was rejected"),
                       [f"Your submission was rejected: {err}. Make it again with `python -m kit collect`."])
    messages = list(extraction.messages)
    if not extraction.files:
        return outcome("empty", _fresh_checks(setup, "not run: the submission holds none of your files"),
                       messages + ["The zip holds none of the files you may change; make it with "
                                   "`python -m kit collect` from the kit's folder."])
    # 2. splice
    view, spliced, lines = _lay_out(setup, extraction, upload, work)
    messages += lines

    def explain(text):
        return map_traceback(text, spliced)

    def make_sandbox():
        return Sandbox(view, setup.isolation, setup.limits, abort=abort, scratch_root=work,
                       **({"sandboxed_dir": setup.sandboxed_dir} if setup.sandboxed_dir else {}))

    timing["prepare"] = time.monotonic() - start
    # 3. run the check notebooks
    failures, began = [], time.monotonic()
    run = _retrying(setup, abort, failures, lambda attempt: run_checks(make_sandbox, setup.notebooks, setup.limits))
    if run is None:
        return outcome("error", _fresh_checks(setup, "not graded"), messages,
                       reason=f"{failures[-1]} ({len(failures)} attempts).")
    timing.update(run=time.monotonic() - began, sandbox_start=sum(run.starts), sandboxes=len(run.starts),
                  cells_wall=sum(r.wall for recs in run.records.values() for r in recs.values()),
                  cells_cpu=sum(r.cpu for recs in run.records.values() for r in recs.values()))
    # 4. score
    scoring = time.monotonic()
    checks = []
    for nb in setup.notebooks:
        records, expected = run.records.get(nb.name, {}), setup.expected.get(nb.name, {})
        for i, cell in nb.check_cells():
            checks.append(score_check(cell["metadata"], records.get(i), expected.get(i), explain))
    if run.out_of_time:
        messages.append(f"Your code used up the {setup.limits.timeout:g} s of CPU time a submission may use; "
                        f"the checks after that were not run.")
    messages += _setup_problems(setup, run, explain)
    manual_rows = []
    for rel, released in setup.released_nbs.items():
        if rel in extraction.files:
            manual_rows += manual.answers(job.student, rel, upload / rel, released, setup.instructor_nbs.get(rel))
    timing["score"] = time.monotonic() - scoring
    # 5. the notebooks, with --data
    began = time.monotonic()
    for gnb in setup.graded_notebooks:
        submitted = manual.read_json(upload / gnb.rel) if gnb.rel in extraction.files else None
        graded = _retrying(setup, abort, failures, lambda attempt: nbgrade.grade_notebook(
            gnb, submitted, make_sandbox, work / f"nb-{Path(gnb.rel).stem}-{attempt}", abort, setup.limits))
        if graded is None:
            return outcome("error", _fresh_checks(setup, "not graded"), messages,
                           reason=f"{failures[-1]} ({len(failures)} attempts).")
        checks += graded[0]
        messages += graded[1]
    if setup.graded_notebooks:
        timing["notebooks"] = time.monotonic() - began
    return outcome("graded", checks, messages, manual_rows=manual_rows)


# ---------------------------------------------------------------------------- the run

def sweep_stale_runs(tmp=None):
    """Remove the private folders of grading runs whose process is gone (e.g. after `kill -9`)."""
    removed = 0
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{RUN_PREFIX}*"):
        owner = path.name[len(RUN_PREFIX):].split("-")[0]
        if owner.isdigit() and not cgroups_mod._alive(int(owner)):
            for mount in _mounts_under(path):  # a notebook's connection folder (see nbgrade)
                subprocess.run(["umount", "-l", mount], capture_output=True)
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _mounts_under(path):
    try:
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f]
    except OSError:
        return []
    prefix = str(Path(path).resolve()) + "/"
    return sorted((p for p in points if p.startswith(prefix)), reverse=True)


def reference_run(source, notebooks, limits, work_root):
    """Run the check notebooks on the instructor's code (trusted); returns {notebook: {index: Record}}."""
    scratch_limits = Limits(cell_timeout=max(limits.cell_timeout, 60), timeout=max(limits.timeout, 600),
                            memory_mb=limits.memory_mb, pids=limits.pids, tmp_mb=limits.tmp_mb)
    try:
        run = run_checks(lambda: Sandbox(KitView(Path(source)), Isolation("none"), scratch_limits,
                                         scratch_root=work_root),
                         notebooks, scratch_limits)
    except GraderFailure as err:
        raise SetupError(f"the reference run could not start: {err}") from None
    for nb in notebooks:
        records = run.records.get(nb.name, {})
        for i, cell in nb.code_cells():
            record = records.get(i)
            if record is None or record.status != "ok" or ("points" in cell["metadata"] and not record.values):
                what = cell["metadata"].get("check") or cell["source"].strip().splitlines()[0][:60]
                detail = (record.error or record.status) if record else "not run"
                raise SetupError(f"the reference solution fails {nb.name}, cell {i} ({what}): {detail}")
    return run.records


def preflight(release_dir, isolation, limits, work_root, sandboxed_dir=None, log=print):
    """
    Start a sandbox on the pristine release before any submission, and see whether it reaches the network.

    Returns:
    - The Isolation, with `network` set to what the probe found.

    Raises:
    - IsolationUnavailable when the sandbox does not start, or when bubblewrap's reaches the network.
    """
    box = Sandbox(KitView(release_dir), isolation, limits, scratch_root=work_root,
                  **({"sandboxed_dir": sandboxed_dir} if sandboxed_dir else {}))
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        box.start()
        probe = box.run(f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', "
                        f"{listener.getsockname()[1]}), timeout=3).close()\n    emit(reached=1)\n"
                        f"except OSError:\n    emit(reached=0)\n", cpu_limit=30, wall_limit=30)
    except GraderFailure as err:
        raise IsolationUnavailable(f"the sandbox does not start on this machine, so nothing was graded: "
                                   f"{err}") from None
    finally:
        listener.close()
        box.close()
    reached = (probe.values or {}).get("reached", {}).get("data") != [0.0]
    if reached and isolation.mode == "bwrap":
        raise IsolationUnavailable("the bubblewrap sandbox reached this machine's network in the preflight, "
                                   "so nothing was graded")
    if reached:
        log("WARNING: the network could not be cut in --isolation rlimits (the kernel refused to unshare it): "
            "student code can reach this machine's network")
    return dataclasses.replace(isolation, network=reached)


def prepare(source, checks_dir, work_root, limits, isolation, retries, sandboxed_dir=None, data=None,
            nb_timeout=None, log=print):
    """Release the kit privately, read the checks, run them on the reference, and start a sandbox."""
    source = Path(source).resolve()
    release_dir = Path(work_root) / "release"
    release(source, release_dir)
    if data:
        (release_dir / nbgrade.DATA_MOUNT[len("/kit/"):]).mkdir(parents=True, exist_ok=True)
    compileall.compile_dir(str(release_dir), quiet=1,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    for dirpath, dirnames, filenames in os.walk(release_dir):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    paths = sorted(Path(checks_dir).glob("*.ipynb"))
    if not paths:
        raise SetupError(f"no check notebooks in {checks_dir}")
    notebooks = [CheckNotebook.read(p) for p in paths]
    if str(source) not in sys.path:
        sys.path.insert(0, str(source))  # the measures use the instructor's own code
    expected = reference_run(source, notebooks, limits, work_root)
    isolation = preflight(release_dir, isolation, limits, work_root, sandboxed_dir, log)
    graded_notebooks = []
    if data:
        try:
            graded_notebooks = nbgrade.prepare_notebooks(source, data, nb_timeout, log=log)
        except nbgrade.DataError as err:
            raise SetupError(str(err)) from None
    elif any("points" in c.get("metadata", {}) for p in sorted((source / "notebooks").glob("*.ipynb"))
             for c in nbformat.read(p, as_version=4).cells):
        log("notebook grading skipped: pass --data DIR (a CIFAR-10 folder) to grade the notebooks too; "
            "the code checks run")
    allowed = student_files(release_dir)
    nbs = [rel for rel in allowed if rel.endswith(".ipynb")]
    return Setup(
        release_dir=str(release_dir), work_root=str(work_root), allowed=allowed, notebooks=notebooks,
        expected=expected, limits=limits, isolation=isolation,
        released_nbs={rel: nbformat.read(release_dir / rel, as_version=4) for rel in nbs},
        instructor_nbs={rel: nbformat.read(source / rel, as_version=4) for rel in nbs
                        if (source / rel).is_file()},
        retries=retries, sandboxed_dir=str(sandboxed_dir) if sandboxed_dir else None,
        graded_notebooks=graded_notebooks, data_dir=str(Path(data).resolve()) if data else None)


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Interrupts:
    """Ctrl-C once: start nothing new; twice: stop the running submissions too."""

    def __init__(self, log):
        self.stop, self.abort, self.log, self.previous = threading.Event(), threading.Event(), log, None

    def handler(self, signum, frame):
        if not self.stop.is_set():
            self.stop.set()
            self.log("Interrupted: no new submission starts; the running ones finish "
                     "(Ctrl-C again to stop them now; they stay ungraded).")
        elif not self.abort.is_set():
            self.abort.set()
            self.log("Stopping the running submissions; they stay ungraded (run again to grade them).")

    def install(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.handler)

    def remove(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def grade(submissions, out, source=None, checks_dir=None, jobs=1, scheduler=None, force=False,
          retry_errors=False, limits=None, isolation="auto", bwrap=None, dedupe=True, retries=RETRIES,
          log=print, handle_sigint=False, sandboxed_dir=None, data=None, nb_timeout=None):
    """
    Grade every <student>.zip in `submissions` into `out`.

    Inputs:
    - submissions, out: Folder of zips; output folder.
    - source, checks_dir: Instructor source root and check notebooks (defaults: this kit's).
    - jobs: Submissions graded at the same time; scheduler: a Dask scheduler address instead.
    - force: Grade again every submission; retry_errors: grade again only those with status error.
      Otherwise, submissions with a result (graded, empty, rejected) are kept and the others graded.
    - limits: Limits; isolation: "auto", "bwrap" or "rlimits"; bwrap: path of bubblewrap.
    - dedupe: Grade byte-identical zips once and copy the result.
    - retries: Attempts after a grader failure, per submission.
    - handle_sigint: Install the two-step Ctrl-C handler (the command line does).
    - sandboxed_dir: Another folder of launch.py / executor.py (tests).
    - data: A CIFAR-10 folder: the notebooks with graded check cells are run too (kit.instructor.nbgrade);
      nb_timeout: CPU seconds per notebook (default three times the reference's runtime).

    Returns:
    - A GradeRun.

    Raises:
    - IsolationUnavailable, SetupError: nothing was graded (the message says why).
    """
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise SetupError(f"{submissions} is not a folder of <student>.zip files")
    out.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    zips = sorted(p for p in submissions.iterdir() if p.is_file() and p.name.lower().endswith(".zip"))
    taken = {"grades.csv", "manual_grading.csv", "report.html", "checks.csv"}
    names = [(student_name(p.name, taken), p) for p in zips]
    run, rows = GradeRun(), {}
    pending = []
    for name, path in names:
        results = report.read_results(out, name)
        status = (results or {}).get("extra_data", {}).get("status")
        redo = force or (status == "error" if retry_errors else status not in report.DONE)
        if redo:
            pending.append((name, path))
        elif results is not None:
            rows[name] = report.row(name, results)
    if not pending:
        run.rows = [rows[n] for n, _ in names if n in rows]
        report.write_tables(out, run.rows)
        _class_report(out, log)
        log("nothing to grade: every submission has a result (use --force to grade again)")
        return run
    found = cgroups_mod.detect()
    cgroups_mod.sweep_stale(found)
    sweep_stale_runs()
    iso = choose_isolation(isolation, bwrap=bwrap, cgroups=found)
    if iso.mode == "rlimits":
        log("WARNING: --isolation rlimits: student code runs without a file-system sandbox and can read "
            "every file this account can read. Use it only for code you trust.")
    run.isolation = iso.describe()
    interrupts = _Interrupts(log)
    if handle_sigint:
        interrupts.install()
    private = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))
    os.chmod(private, 0o711)
    try:
        setup = prepare(source or SOURCE, checks_dir or CHECKS, private, limits, iso, retries, sandboxed_dir,
                        data=data, nb_timeout=nb_timeout, log=log)
        if interrupts.stop.is_set():
            raise KeyboardInterrupt
        jobs_list = [Job(name, str(path.resolve()), str(out.resolve())) for name, path in pending]
        firsts, copies = jobs_list, []
        if dedupe:
            seen, firsts = {}, []
            for job in jobs_list:
                key = _digest(job.zip_path)
                if key in seen:
                    copies.append((job, seen[key]))
                else:
                    seen[key] = job.student
                    firsts.append(job)
        total, start = len(names), time.monotonic()

        def record(row):
            rows[row["student"]] = row
            score = "" if row["status"] in ("error", "not graded") else f"{float(row['score']):g} / "
            log(f"[{len(rows)}/{total}] {row['student']}: {score}{row['max_score']:g} ({row['status']})"
                + (f": {row['reason']}" if row.get("reason") else ""))

        if scheduler:
            _run_dask(setup, firsts, scheduler, record, interrupts)
        else:
            _run_local(setup, firsts, max(1, jobs), record, interrupts)
        for job, first in copies:
            first_row = rows.get(first)
            if first_row and first_row["status"] in report.DONE:
                record(report.copy_submission(out, job.student, first))
            else:
                record(dict(first_row or {"max_score": setup.max_score, "isolation": run.isolation,
                                          "score": ""}, student=job.student, status="not graded",
                            reason="graded with an identical submission that has no result yet"))
        for job in jobs_list:
            if job.student not in rows:
                rows[job.student] = {"student": job.student, "score": "", "max_score": setup.max_score,
                                     "status": "not graded", "isolation": run.isolation,
                                     "reason": "the run was stopped before it started"}
        run.interrupted = interrupts.stop.is_set()
        log(f"graded {len(pending)} submissions in {time.monotonic() - start:.1f} s; isolation: {run.isolation}")
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        shutil.rmtree(private, ignore_errors=True)
    run.rows = [rows[n] for n, _ in names if n in rows]
    try:
        report.write_tables(out, run.rows)
        _class_report(out, log)
    finally:
        interrupts.remove()  # only now: a late Ctrl-C must not cut the tables short
    errors, ungraded = run.count("error"), run.count("not graded")
    if errors:
        log(f"{errors} submission(s) could not be graded (status error in grades.csv, with the reason): "
            f"fix the cause, then rerun with --retry-errors")
    if ungraded:
        log(f"{ungraded} submission(s) not graded: the run was stopped; run the same command again to "
            f"grade them")
    return run


def _class_report(out, log):
    """report.html and checks.csv beside grades.csv; a failure to write them loses no grade."""
    try:
        classreport.write_class_report(out)
    except OSError as err:
        log(f"report.html not written ({err}); `python -m kit report {out}` writes it")


def _run_local(setup, jobs, n_jobs, record, interrupts):
    todo = iter(jobs)
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        running = {}

        def submit():
            if interrupts.stop.is_set():
                return
            job = next(todo, None)
            if job is not None:
                running[pool.submit(grade_one, setup, job, interrupts.abort)] = job

        for _ in range(n_jobs):
            submit()
        while running:
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                record(future.result())
                submit()


def _run_dask(setup, jobs, scheduler, record, interrupts):
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        remote_setup = client.scatter(setup, broadcast=True)
        futures = [client.submit(grade_one, remote_setup, job, pure=False) for job in jobs]
        for future in as_completed(futures):
            if interrupts.stop.is_set():
                client.cancel([f for f in futures if not f.done()])
                break
            record(future.result())


def main(args):
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory_mb)
    try:
        run = grade(args.submissions, args.out, source=args.source, checks_dir=args.checks, jobs=args.jobs,
                    scheduler=args.scheduler, force=args.force, retry_errors=args.retry_errors,
                    limits=limits, isolation=args.isolation, bwrap=args.bwrap, dedupe=not args.no_dedupe,
                    handle_sigint=True, data=args.data, nb_timeout=args.nb_timeout)
    except (IsolationUnavailable, SetupError) as err:
        print(f"grade: {err}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.out) / 'grades.csv'}, manual_grading.csv, report.html and checks.csv")
    return run.exit_code
