"""`python -m kit grade SUBMISSIONS --out DIR`: autograde a directory of <student>.zip.

For each submission: a pristine copy of the student kit (released once per
run into a private directory) with only the allow-listed student files laid
over it; the check notebooks of kit/checks/ run against it in a sandbox (see
kit.sandbox); the values they emit are compared, here in the grader, with the
values the same notebooks emit on the instructor's reference code (run once,
in a separate trusted process, kept in memory only).

Writes DIR/grades.csv, DIR/<student>/results.json (Gradescope format),
DIR/<student>/feedback.md and DIR/manual_grading.csv. Resumable: a submission
with a results.json is skipped unless --force.
"""
import csv
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path


from kit import compare, manual
from kit.archive import ArchiveRejected, extract
from kit.files import student_files
from kit.release import release
from kit.sandbox import RUNNER, Limits, choose_isolation, run_checks

SOURCE = Path(__file__).resolve().parents[1]
CHECKS = Path(__file__).resolve().parent / "checks"
GRADES_FIELDS = ["student", "score", "max_score", "status", "isolation"]


@dataclass
class Job:
    """Everything one submission's grading needs (picklable, for Dask)."""
    student: str
    zip_path: str
    out_dir: str
    release_dir: str
    allowed: list
    checks: list        # [(name, notebook JSON text)]
    expected: dict      # name -> runner records on the reference code
    limits: Limits
    isolation: str
    force: bool
    instructor_nbs: dict  # notebook rel path -> instructor notebook (dict), for reference answers
    released_nbs: dict    # notebook rel path -> released notebook (dict)


def student_name(zip_name, taken):
    """A safe, unique folder name for the student of `zip_name`."""
    stem = zip_name[:-4] if zip_name.lower().endswith(".zip") else zip_name
    name = re.sub(r"[^A-Za-z0-9._@+-]", "_", stem).lstrip(".")[:100] or "student"
    unique, n = name, 2
    while unique.lower() in taken:
        unique, n = f"{name}-{n}", n + 1
    taken.add(unique.lower())
    return unique


def reference_records(source, notebook_text, cell_timeout):
    """Run a check notebook on the reference code, in a separate trusted process."""
    env = dict(os.environ, MPLBACKEND="agg", PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(RUNNER), str(source), str(cell_timeout)],
                          input="reference\n" + notebook_text, capture_output=True, text=True, cwd=source, env=env,
                          timeout=600)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return records


def prepare(source, checks_dir, workdir, limits, isolation):
    """Release the kit, load the checks and compute the expected values; returns the Job template."""
    source = Path(source).resolve()
    release_dir = Path(workdir) / "release"
    release(source, release_dir)
    checks = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(Path(checks_dir).glob("*.ipynb"))]
    if not checks:
        raise SystemExit(f"grade: no check notebooks in {checks_dir}")
    expected = {}
    for name, text in checks:
        records = reference_records(source, text, max(limits.cell_timeout, 60))
        bad = [r for r in records if r.get("status") != "ok"]
        if bad or not records:
            detail = "; ".join(f"cell {r['index']}: {r.get('error')}" for r in bad) or "no output"
            raise SystemExit(f"grade: the reference solution fails {name}: {detail}")
        expected[name] = records
    notebooks = [rel for rel in student_files(release_dir) if rel.endswith(".ipynb")]
    return dict(
        release_dir=str(release_dir), allowed=student_files(release_dir), checks=checks,
        expected=expected, limits=limits, isolation=isolation,
        instructor_nbs={rel: json.loads((source / rel).read_text()) for rel in notebooks
                        if (source / rel).is_file()},
        released_nbs={rel: json.loads((release_dir / rel).read_text()) for rel in notebooks},
    )


def _write_atomic(path, text):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _row_from_results(student, results):
    extra = results.get("extra_data", {})
    return {"student": student, "score": results.get("score", 0), "max_score": extra.get("max_score", 0),
            "status": extra.get("status", "graded"), "isolation": extra.get("isolation", "")}


def grade_one(job):
    """Grade one submission; never raises (a failure is recorded as that submission's status)."""
    out = Path(job.out_dir) / job.student
    results_path = out / "results.json"
    if results_path.exists() and not job.force:
        try:
            return _row_from_results(job.student, json.loads(results_path.read_text()))
        except (OSError, ValueError):
            pass
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="kit-grade-")
    try:
        return _grade_in(job, out, Path(work), start)
    except Exception as err:  # noqa: BLE001 - one submission must never stop the run
        results = {"score": 0, "execution_time": round(time.monotonic() - start, 2),
                   "output": f"Internal grading error: {type(err).__name__}: {err}. Ask your instructor.",
                   "tests": [], "extra_data": {"status": "error", "max_score": _max_score(job),
                                               "isolation": job.isolation}}
        _write_atomic(results_path, json.dumps(results, indent=1))
        return _row_from_results(job.student, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _max_score(job):
    return sum(float(m["points"]) for _, text in job.checks
               for _, m in compare.check_cells(json.loads(text)))


def _grade_in(job, out, work, start):
    kit_dir = work / "kit"
    shutil.copytree(job.release_dir, kit_dir, symlinks=True)
    messages, status, checks, isolation_text = [], "graded", [], job.isolation
    setup_lines, manual_rows = [], []
    try:
        extraction = extract(job.zip_path, kit_dir, job.allowed)
        messages += extraction.messages
        if not extraction.files:
            status = "empty"
            messages.append("the zip holds none of the files you may change: graded as the empty kit")
    except ArchiveRejected as err:
        status = "rejected"
        messages.append(f"submission rejected: {err}")
        extraction = None
    for root, dirs, files in os.walk(kit_dir):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    for name, text in job.checks:
        nb = json.loads(text)
        if status == "rejected":
            records = []
        else:
            run = run_checks(kit_dir, text, job.limits, job.isolation)
            records, isolation_text = run.lines, run.isolation
            if run.timed_out:
                messages.append(f"{name}: the run hit the time limit of {job.limits.timeout:g} s for a "
                                f"submission; checks not reached score 0")
        setup_lines += compare.setup_problems(nb, records)
        checks += compare.score(nb, records, job.expected[name])
    if extraction is not None:
        for rel, released in job.released_nbs.items():
            path = kit_dir / rel
            if rel in extraction.files:
                manual_rows += manual.answers(job.student, rel, path, released, job.instructor_nbs.get(rel))
    score = round(sum(c.points for c in checks), 2)
    max_score = round(sum(c.max_points for c in checks), 2)
    results = {
        "score": score,
        "execution_time": round(time.monotonic() - start, 2),
        "output": "\n".join([f"Isolation: {isolation_text}"] + messages + setup_lines),
        "tests": [{"name": c.name, "score": c.points, "max_score": c.max_points, "status": c.status,
                   "output": "\n".join(c.lines), "visibility": c.visibility} for c in checks],
        "extra_data": {"status": status, "max_score": max_score, "isolation": isolation_text},
    }
    (out / "feedback.md").write_text(feedback(job.student, results, messages, setup_lines, checks))
    _write_atomic(out / "manual.json", json.dumps(manual_rows))
    _write_atomic(out / "results.json", json.dumps(results, indent=1))
    return _row_from_results(job.student, results)


def feedback(student, results, messages, setup_lines, checks):
    lines = [f"# Feedback for {student}", "",
             f"**Score: {results['score']:g} / {results['extra_data']['max_score']:g}**", ""]
    if messages or setup_lines:
        lines += ["## Your submission", ""] + [f"- {m}" for m in messages + setup_lines] + [""]
    lines += ["## Checks", ""]
    for c in checks:
        mark = "passed" if c.status == "passed" else "FAILED"
        lines += [f"### {c.name}: {c.points:g} / {c.max_points:g} ({mark})", ""]
        if c.status != "passed":
            lines += ["```"] + c.lines + ["```", ""]
    lines += ["", f"_Graded in a sandbox: {results['extra_data']['isolation']}._", ""]
    return "\n".join(lines)


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_result(job, first):
    """Grade `job` as a byte-identical copy of the submission `first` (already graded)."""
    out, src = Path(job.out_dir) / job.student, Path(job.out_dir) / first
    results_path = out / "results.json"
    if results_path.exists() and not job.force:
        return _row_from_results(job.student, json.loads(results_path.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    results = json.loads((src / "results.json").read_text())
    results["output"] += "\n(identical to another submission: graded once, result copied)"
    rows = json.loads((src / "manual.json").read_text()) if (src / "manual.json").exists() else []
    for row in rows:
        row["student"] = job.student
    text = (src / "feedback.md").read_text().replace(f"# Feedback for {first}", f"# Feedback for {job.student}", 1)
    (out / "feedback.md").write_text(text)
    _write_atomic(out / "manual.json", json.dumps(rows))
    _write_atomic(results_path, json.dumps(results, indent=1))
    return _row_from_results(job.student, results)


def _run_jobs(jobs, n_jobs, scheduler):
    if scheduler:
        from distributed import Client, as_completed as dask_completed
        with Client(scheduler) as client:
            futures = client.map(grade_one, jobs, pure=False)
            for future in dask_completed(futures):
                yield future.result()
        return
    if n_jobs <= 1:
        for job in jobs:
            yield grade_one(job)
        return
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for future in as_completed([pool.submit(grade_one, job) for job in jobs]):
            yield future.result()


def grade(submissions, out, source=None, checks_dir=None, jobs=1, scheduler=None, force=False,
          limits=None, isolation="auto", dedupe=True, log=print):
    """
    Grade every <student>.zip in `submissions` into `out`.

    Byte-identical zips are graded once and the result copied (dedupe=False
    grades each one).

    Returns:
    - The rows of grades.csv (dicts with student, score, max_score, status, isolation).
    """
    submissions, out = Path(submissions), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    isolation = choose_isolation(isolation)
    zips = sorted(p for p in submissions.iterdir() if p.is_file() and p.name.lower().endswith(".zip"))
    taken = {"grades.csv", "manual_grading.csv"}
    names = [(student_name(p.name, taken), p) for p in zips]
    private = tempfile.mkdtemp(prefix="kit-grade-run-")
    os.chmod(private, 0o700)
    try:
        pending = [name for name, _ in names if force or not (out / name / "results.json").exists()]
        if pending:
            template = prepare(source or SOURCE, checks_dir or CHECKS, private, limits, isolation)
        else:  # everything graded already: nothing to release or run
            template = dict(release_dir="", allowed=[], checks=[], expected={}, limits=limits,
                            isolation=isolation, instructor_nbs={}, released_nbs={})
        job_list = [Job(student=name, zip_path=str(p.resolve()), out_dir=str(out.resolve()), force=force,
                        **template) for name, p in names]
        firsts, copies = [], []
        if dedupe:
            seen = {}
            for job in job_list:
                key = _digest(job.zip_path)
                if key in seen:
                    copies.append((job, seen[key]))
                else:
                    seen[key] = job.student
                    firsts.append(job)
        else:
            firsts = job_list
        rows, start = [], time.monotonic()
        graded = _run_jobs(firsts, jobs, scheduler)
        copied = (copy_result(job, first) for job, first in copies)
        for row in itertools.chain(graded, copied):
            rows.append(row)
            log(f"[{len(rows)}/{len(job_list)}] {row['student']}: {row['score']:g} / {row['max_score']:g} "
                f"({row['status']})")
        log(f"graded {len(rows)} submissions in {time.monotonic() - start:.1f} s "
            f"with isolation: {isolation}")
    finally:
        shutil.rmtree(private, ignore_errors=True)
    rows.sort(key=lambda r: r["student"])
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=GRADES_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    manual_rows = []
    for row in rows:
        path = out / row["student"] / "manual.json"
        if path.exists():
            manual_rows += json.loads(path.read_text())
    with open(out / "manual_grading.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=manual.FIELDS)
        writer.writeheader()
        writer.writerows(manual_rows)
    return rows


def main(args):
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory_mb)
    grade(args.submissions, args.out, source=args.source, checks_dir=args.checks, jobs=args.jobs,
          scheduler=args.scheduler, force=args.force, limits=limits, isolation=args.isolation,
          dedupe=not args.no_dedupe)
    print(f"wrote {Path(args.out) / 'grades.csv'} and {Path(args.out) / 'manual_grading.csv'}")
    return 0
