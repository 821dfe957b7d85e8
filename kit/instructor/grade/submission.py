"""Grade one submission: extract -> splice -> checks -> score -> notebooks, then write its results.

1. extract: only the files a student may change, safely (kit.instructor.grade.archive);
2. lay the student's regions into the instructor's scaffold (kit.instructor.grade.splice);
3. run the check notebooks in a sandbox that sees the pristine release with
   those files over it (kit.instructor.grade.checkrun);
4. score: compare what the checks emitted with the reference run, here in the
   grader (kit.instructor.grade.compare), and gather the inline-question
   answers (kit.instructor.grade.manual);
5. with --data, run the submitted notebooks under nbval (kit.instructor.grade.nbgrade);
then write the results (kit.instructor.grade.report).

Never a silent zero: a failure of the grader (a sandbox that does not start,
one that dies before its first cell) is retried, then recorded as status
`error` with its reason. Nor an endless error: a sandbox that dies after the
student's code ran in it is the student's doing when the reference code passes
the same cells in the same conditions (kit.instructor.grade.checkrun).
"""
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kit.instructor.grade import manual, nbgrade, report
from kit.instructor.grade.archive import ArchiveRejected, extract
from kit.instructor.grade.checkrun import run_checks
from kit.instructor.grade.compare import CheckResult, score_checks
from kit.instructor.grade.splice import map_traceback, splice, syntax_message
from kit.instructor.sandbox.box import Aborted, GraderFailure, Sandbox
from kit.instructor.sandbox.commands import KitView
from kit.student.files import SAVED_MODELS


@dataclass
class Job:
    student: str
    zip_path: str
    out_dir: str


def _fresh_checks(setup, line):
    """Every check at 0 points with one line of explanation (nothing was run)."""
    return [CheckResult(c.name, 0.0, c.points, c.visibility, [line], c.exercises)
            for nb in setup.notebooks for c in nb.checks] + [
        CheckResult(gnb.test_name(c.name), 0.0, c.points, c.visibility, [line], f"the notebook {gnb.rel}")
        for gnb in setup.graded_notebooks for c in gnb.checks]


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

    Inputs:
    - setup: The run's kit.instructor.grade.prepare.Setup.
    - job: The Job (student name, zip, output folder).
    - abort: A threading.Event set when the run must stop now.

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
        if rel in SAVED_MODELS:   # a trained net the notebook saved: its checks run with --data only
            if setup.data_dir:
                (upload / rel).chmod(0o644)
                view.overlays[rel] = upload / rel
            continue
        if not rel.endswith(".py"):
            continue
        scaffold = (view.release / rel).read_text(encoding="utf-8")
        student = (upload / rel).read_text(encoding="utf-8", errors="replace")
        spliced[rel] = splice(rel, scaffold, student)
        messages += spliced[rel].messages
        problem = syntax_message(rel, spliced[rel])
        if problem:
            messages.append(f"{problem}. Python cannot read this file, so no check that uses it could run: "
                            f"fix that line (`python -m kit check` shows it) and hand in again.")
        target = work / "view" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spliced[rel].text, encoding="utf-8")
        target.chmod(0o644)
        view.overlays[rel] = target
    return view, spliced, messages


def _reference_view(setup, view, work):
    """The view of the same release (and data) with the instructor's own versions of the student's files."""
    reference = KitView(view.release, data=dict(view.data))
    for rel, text in setup.reference_files.items():
        target = work / "reference" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(0o644)
        reference.overlays[rel] = target
    return reference


def _budget_lines(setup, run):
    """What the feedback says of the checks the budgets or the student's code cut short (hidden ones counted)."""
    hidden = {c.name for nb in setup.notebooks for c in nb.checks if c.hidden}

    def named(names):
        shown = [f"`{n}`" for n in names if n not in hidden]
        more = sum(1 for n in names if n in hidden)
        return ", ".join(shown + ([f"{more} hidden"] if more else []))
    lines = []
    ended = run.ended
    if ended:
        lines.append(f"Your code ended the grading process before {len(ended)} check(s) could start "
                     f"({named(ended)}): run in the same sandbox, the instructor's code passes them, so they "
                     f"score 0.")
    if run.out_of_time:
        lines.append(f"Not run: {len(run.not_run)} check(s) ({named(run.not_run)}), because {run.out_of_time} "
                     f"(--timeout {setup.limits.timeout:g} CPU seconds and --wall-timeout "
                     f"{setup.limits.wall_timeout:g} s for all the code checks of a submission).")
    return lines


def _grade(setup, job, work, abort, start):
    timing, notebooks, executed = {}, {}, {}

    def outcome(status, checks, messages, reason="", manual_rows=()):
        return report.Outcome(job.student, status, checks, setup.max_score, messages,
                              setup.isolation.describe(), setup.isolation.short(),
                              time.monotonic() - start, reason, manual_rows,
                              {k: round(v, 4) for k, v in timing.items()}, notebooks, executed)

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
    unreadable = " and ".join(rel for rel, one in sorted(spliced.items()) if syntax_message(rel, one))

    def explain(text):
        return map_traceback(text, spliced)

    boxes = []

    def make_sandbox(kit_view=view):
        box = Sandbox(kit_view, setup.isolation, setup.limits, abort=abort, scratch_root=work,
                      **({"sandboxed_dir": setup.sandboxed_dir} if setup.sandboxed_dir else {}))
        boxes.append(box)
        return box

    reference_view = _reference_view(setup, view, work) if setup.reference_files else None
    make_reference = (lambda: make_sandbox(reference_view)) if reference_view else None

    timing["prepare"] = time.monotonic() - start
    # 3. run the check notebooks
    failures, began = [], time.monotonic()
    run = _retrying(setup, abort, failures, lambda attempt: run_checks(make_sandbox, setup.notebooks, setup.limits,
                                                                       make_reference))
    if run is None:
        return outcome("error", _fresh_checks(setup, "not graded"), messages,
                       reason=f"{failures[-1]} ({len(failures)} attempts).")
    timing.update(run=time.monotonic() - began, sandbox_start=sum(run.starts), sandboxes=len(run.starts),
                  cells_wall=sum(r.wall for recs in run.records.values() for r in recs.values()),
                  cells_cpu=sum(r.cpu for recs in run.records.values() for r in recs.values()),
                  budget_cpu=setup.limits.timeout, budget_wall=setup.limits.wall_timeout,
                  checks_cpu=run.cpu, checks_wall=run.busy, checks_not_run=len(run.not_run),
                  experiments=len(run.experiments), sandbox_start_max=max(run.starts, default=0.0),
                  memory_peak_mb=max((b.memory_peak for b in boxes), default=0) / 2**20)
    # 4. score
    scoring = time.monotonic()
    checks = []
    for nb in setup.notebooks:
        records, expected = run.records.get(nb.name, {}), setup.expected.get(nb.name, {})
        scored = score_checks(nb.checks, records, expected, explain)
        for check, result in zip(nb.checks, scored):
            if unreadable and records.get(check.index) is not None and records[check.index].status != "ok":
                result.lines = [f"not run: {unreadable} has a syntax error (see above)"]
        checks += scored
    messages += _budget_lines(setup, run)
    if not unreadable:   # with a syntax error, every failed import is that error: said once above
        messages += _setup_problems(setup, run, explain)
    manual_rows = []
    for rel, released in setup.released_nbs.items():
        if rel in extraction.files:
            manual_rows += manual.answers(job.student, rel, upload / rel, released, setup.instructor_nbs.get(rel))
            problem = manual.notebook_problem(rel, upload / rel)
            if problem:
                messages.append(problem)
    timing["score"] = time.monotonic() - scoring
    # 5. the notebooks, with --data
    began = time.monotonic()
    for gnb in setup.graded_notebooks:
        submitted = manual.read_json(upload / gnb.rel) if gnb.rel in extraction.files else None
        graded = _retrying(setup, abort, failures, lambda attempt: nbgrade.grade_notebook(
            gnb, submitted, make_sandbox, work / f"nb-{Path(gnb.rel).stem}-{attempt}", abort, setup.limits,
            submitted_files=set(extraction.files)))
        if graded is None:
            return outcome("error", _fresh_checks(setup, "not graded"), messages,
                           reason=f"{failures[-1]} ({len(failures)} attempts).")
        checks += graded.checks
        messages += graded.lines
        name = Path(gnb.rel).name
        notebooks[name] = graded.summary()
        if graded.executed is not None:
            executed[name] = graded.executed
    if setup.graded_notebooks:
        timing["notebooks"] = time.monotonic() - began
    return outcome("graded", checks, messages, manual_rows=manual_rows)
