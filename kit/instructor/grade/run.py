"""`python -m kit grade SUBMISSIONS --out DIR`: autograde a directory of <student>.zip.

The whole run: before any submission, the isolation is chosen and fails
closed (no bubblewrap, no grading unless `--isolation rlimits` is asked for by
name), and what every submission shares is prepared once
(kit.instructor.grade.prepare); then each submission is graded
(kit.instructor.grade.submission), in threads (`--jobs`) or on a Dask cluster
(`--scheduler`), byte-identical zips once; then grades.csv and the class
report are written (kit.instructor.grade.report, kit.instructor.grade.classreport).

Never a silent zero: a submission that could not be graded is recorded as
status `error` with its reason, and the run exits non-zero; a rerun grades
those again. Ctrl-C stops starting submissions (the running ones finish); a
second Ctrl-C stops those too, and they stay ungraded (no result is written for
them). Temporary kits and cgroups are removed, and those of a grader that was
killed are removed by the next run.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from kit.instructor.grade import classreport, report
from kit.instructor.grade.prepare import CHECKS, RETRIES, SOURCE, SetupError, prepare
from kit.instructor.grade.submission import Job, grade_one
from kit.instructor.sandbox import cgroups as cgroups_mod
from kit.instructor.sandbox.isolation import IsolationUnavailable, Limits, choose_isolation

RUN_PREFIX = "kit-grade-run-"


@dataclass
class GradeRun:
    """What a grading run did."""
    rows: list = field(default_factory=list)
    interrupted: bool = False
    isolation: str = ""
    stopped: str = ""         # why the rest was left ungraded (e.g. no Dask worker left)

    def count(self, status):
        return sum(1 for r in self.rows if r["status"] == status)

    @property
    def exit_code(self):
        return 130 if self.interrupted else (1 if self.count("error") or self.stopped else 0)


def student_name(zip_name, taken):
    """A safe, unique folder name for the student of `zip_name`."""
    stem = zip_name[:-4] if zip_name.lower().endswith(".zip") else zip_name
    name = re.sub(r"[^A-Za-z0-9._@+-]", "_", stem).lstrip(".")[:100] or "student"
    unique, n = name, 2
    while unique.lower() in taken:
        unique, n = f"{name}-{n}", n + 1
    taken.add(unique.lower())
    return unique


def zip_folders(submissions):
    """[(folder name in --out, zip path)] of the <student>.zip files of `submissions`, in name order."""
    zips = sorted(p for p in Path(submissions).iterdir() if p.is_file() and p.name.lower().endswith(".zip"))
    taken = {"grades.csv", "manual_grading.csv", "report.html", "checks.csv", "manual", "roster.csv"}
    return [(student_name(p.name, taken), p) for p in zips]


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
          log=print, handle_sigint=False, sandboxed_dir=None, data=None, nb_timeout=None, data_url=None,
          data_md5=None, worker_wait=None, references=None):
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
    - data: A CIFAR-10 folder: the notebooks with graded check cells are run too (kit.instructor.grade.nbgrade);
      nb_timeout: CPU seconds per notebook (default three times what the reference's notebook takes
      when graded in the sandbox).
    - data_url, data_md5: With scheduler and data, where a Dask worker without a copy of `data`
      fetches its archive, and that archive's MD5 (kit.instructor.grade.dataset).
    - worker_wait: With scheduler, seconds with no worker after which the run stops (default 60).
    - references: With data, a file of the notebooks' reference runs made beforehand
      (kit.instructor.grade.nbgrade.save_references); default: they run first.

    Returns:
    - A GradeRun.

    Raises:
    - IsolationUnavailable, SetupError: nothing was graded (the message says why).
    """
    submissions, out = Path(submissions), Path(out)
    data = Path(data).resolve() if data else None   # relative to where the command runs
    if not submissions.is_dir():
        raise SetupError(f"{submissions} is not a folder of <student>.zip files")
    out.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    if (data_url or data_md5) and not (scheduler and data):
        raise SetupError("--data-url and --data-md5 tell Dask workers where to fetch the --data folder: "
                         "give them with --scheduler and --data")
    names = zip_folders(submissions)
    run, rows = GradeRun(), {}
    pending = []
    for name, path in names:
        results = report.read_results(out, name)
        status = (results or {}).get("extra_data", {}).get("status")
        redo = force or (status == "error" if retry_errors else status not in report.SCORED)
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
    if scheduler:  # before the reference run, which can take minutes
        from kit.instructor.grade import cluster

        cluster.check_scheduler(scheduler)
    found = cgroups_mod.detect()
    cgroups_mod.sweep_stale(found)
    sweep_stale_runs()
    iso = choose_isolation(isolation, bwrap=bwrap, cgroups=found, per_process_memory=limits.memory_per_process)
    if iso.mode == "rlimits":
        log("WARNING: --isolation rlimits: student code runs without a file-system sandbox and can read "
            "every file " + ("other users can read" if iso.drop_uid else "this account can read")
            + ". Use it only for code you trust.")
    run.isolation = iso.describe()
    interrupts = _Interrupts(log)
    if handle_sigint:
        interrupts.install()
    private = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))
    os.chmod(private, 0o711)
    # Without bubblewrap the sandbox's uid shares the file system: what the grader writes stays its own
    # (the notebooks with the reference outputs, the results), unless it opens a file up on purpose.
    umask = os.umask(0o077) if iso.mode in ("rlimits", "container") else None
    try:
        setup = prepare(source or SOURCE, checks_dir or CHECKS, private, limits, iso, retries, sandboxed_dir,
                        data=data, nb_timeout=nb_timeout, log=log, references=references)
        run.isolation = setup.isolation.describe()  # with what the preflight found (the network)
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
            run.stopped = _run_dask(setup, firsts, scheduler, record, interrupts, log, data_url, data_md5,
                                    worker_wait)
        else:
            _run_local(setup, firsts, max(1, jobs), record, interrupts)
        for job, first in copies:
            first_row = rows.get(first)
            if first_row and first_row["status"] in report.SCORED:
                record(report.copy_submission(out, job.student, first))
            else:
                record(dict(first_row or {"max_score": setup.max_score, "isolation": run.isolation,
                                          "score": ""}, student=job.student, status="not graded",
                            reason="graded with an identical submission that has no result yet",
                            identical_to=first))
        for job in jobs_list:
            if job.student not in rows:
                rows[job.student] = {"student": job.student, "score": "", "max_score": setup.max_score,
                                     "status": "not graded", "isolation": run.isolation,
                                     "reason": run.stopped or "the run was stopped before it started"}
        run.interrupted = interrupts.stop.is_set()
        log(f"{closing_counts([rows[job.student]['status'] for job in jobs_list])} in "
            f"{time.monotonic() - start:.1f} s; isolation: {run.isolation}")
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if umask is not None:
            os.umask(umask)
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
    if ungraded and run.stopped:
        log(f"{ungraded} not graded ({run.stopped}): rerun the same command to grade them")
    elif ungraded:
        log(f"{ungraded} submission(s) not graded: the run was stopped; run the same command again to "
            f"grade them")
    return run


def closing_counts(statuses):
    """
    The run's closing count, each kind apart: "graded 36 of 50 submissions (1 error, 13 not graded)".

    Graded means a result a student can be given (graded, empty or rejected);
    `error` (could not grade) and `not graded` (the run was stopped) are not.
    """
    statuses = list(statuses)
    done = sum(1 for s in statuses if s in report.SCORED)
    rest = [f"{n} {name}" for name in ("error", "not graded") if (n := statuses.count(name))]
    return (f"graded {done if done == len(statuses) else f'{done} of {len(statuses)}'} submissions"
            + (f" ({', '.join(rest)})" if rest else ""))


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


def _run_dask(setup, jobs, scheduler, record, interrupts, log, data_url=None, data_md5=None, worker_wait=None):
    """Grade on the Dask cluster (kit.instructor.grade.cluster); returns why some were left ungraded, or ""."""
    from kit.instructor.grade import cluster

    return cluster.run(setup, jobs, scheduler, record, interrupts, data_url=data_url, data_md5=data_md5,
                       worker_wait=cluster.WORKER_WAIT if worker_wait is None else worker_wait, log=log) or ""


def main(args):
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, wall_timeout=args.wall_timeout,
                    memory_mb=args.memory_mb, tmp_mb=args.tmp_mb, memory_per_process=args.memory_per_process)
    try:
        run = grade(args.submissions, args.out, source=args.source, checks_dir=args.checks, jobs=args.jobs,
                    scheduler=args.scheduler, force=args.force, retry_errors=args.retry_errors,
                    limits=limits, isolation=args.isolation, bwrap=args.bwrap, dedupe=not args.no_dedupe,
                    handle_sigint=True, data=args.data, nb_timeout=args.nb_timeout, data_url=args.data_url,
                    data_md5=args.data_md5, worker_wait=args.worker_wait)
    except (IsolationUnavailable, SetupError) as err:
        print(f"grade: {err}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.out) / 'grades.csv'}, manual_grading.csv, report.html and checks.csv")
    return run.exit_code
