"""What a grading run writes: results.json, feedback.md, grades.csv, manual_grading.csv.

- `<student>/results.json`: Gradescope's format (`score`, `execution_time`,
  `output`, `tests[]` with `name, score, max_score, status, output,
  visibility`), plus `extra_data` (`status`, `max_score`, `isolation`,
  `reason`);
- `<student>/feedback.md`: the same, for a person to read;
- `<student>/manual.json`: this submission's rows of manual_grading.csv;
- `<student>/executed/<notebook>.ipynb` and `.html` (with --data): each graded
  notebook as it ran in the sandbox, text and image outputs, for the TA to open;
  results.json's extra_data.notebooks gives its CPU and wall seconds;
- `grades.csv`: `student, score, max_score, status, isolation, reason, identical_to,
  manual_points, manual_pending` (the last two once marks are merged, kit.instructor.gradebook.marks), one
  row per submission; status `graded`, `empty`, `rejected`, `error` (could
  not be graded: the reason says why; a rerun grades it) or `not graded`
  (the run was stopped first);
- `manual_grading.csv`: inline-question answers and explanations.
Every file is written atomically (a temporary file, then a rename).
"""
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from cs231n._atomic import atomic_write

from kit.instructor.grade import manual
from kit.instructor.grade.nbgrade import write_executed
from kit.instructor.grade.scrub import scrub, scrub_outputs

EXECUTED_DIR = "executed"

GRADES_FIELDS = ["student", "score", "max_score", "status", "isolation", "reason", "identical_to",
                 "manual_points", "manual_pending"]
SCORED = ("graded", "empty", "rejected")      # a score of the student's own work: kept by a rerun
UNSCORED = ("error", "not graded")            # no result yet: graded again by a rerun, never a zero


@dataclass
class Outcome:
    """Everything known about one submission once it is graded (or could not be)."""
    student: str
    status: str               # graded, empty, rejected, error
    checks: list              # [kit.instructor.grade.compare.CheckResult]
    max_score: float
    messages: list            # about the submission as a whole, for the student
    isolation: str            # the isolation in force (detail, for the instructor)
    isolation_short: str      # one line for the student
    seconds: float
    reason: str = ""          # why it could not be graded (status error)
    manual_rows: list = ()
    timing: dict = None       # seconds per phase (see kit.instructor.grade.submission), for the instructor and bench/
    notebooks: dict = None    # {notebook file name: NotebookRun.summary()}: CPU and wall seconds (with --data)
    executed: dict = None     # {notebook file name: the notebook as it ran (JSON)}, kept for the instructor

    @property
    def score(self):
        return round(sum(c.points for c in self.checks), 2)


def write_atomic(path, text):
    """Write `text` (UTF-8) to `path` in one step (cs231n._atomic.atomic_write)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def test_entry(check):
    """
    The results.json entry of one scored check (a kit.instructor.grade.compare.CheckResult).

    Its output starts with what the check exercises, for the student; the same
    stays as data in its extra_data, for the class report.
    """
    lines = ([f"Exercises {check.exercises}."] if check.exercises else []) + check.lines
    test = {"name": check.name, "score": check.points, "max_score": check.max_points, "status": check.status,
            "output": "\n".join(lines), "visibility": check.visibility}
    if check.exercises:
        test["extra_data"] = {"exercises": check.exercises}
    return test


def results_json(outcome):
    """The Gradescope results.json of an Outcome, as a dict."""
    head = [outcome.isolation_short] + outcome.messages
    if outcome.status == "error":
        head.append(f"Could not be graded: {outcome.reason} Your instructor will grade it again.")
    return {
        "score": outcome.score if outcome.status != "error" else 0,
        "execution_time": round(outcome.seconds, 2),
        "output": scrub("\n".join(head)),
        "tests": [dict(entry, output=scrub(entry["output"])) for entry in map(test_entry, outcome.checks)],
        "extra_data": {"status": outcome.status, "max_score": outcome.max_score,
                       "isolation": outcome.isolation, "reason": outcome.reason, "timing": outcome.timing or {},
                       **({"notebooks": outcome.notebooks} if outcome.notebooks else {})},
    }


def feedback_md(student, results):
    extra = results["extra_data"]
    lines = [f"# Feedback for {student}", ""]
    if extra["status"] == "error":
        lines += ["**Not graded yet.**", ""]
    else:
        lines += [f"**Score: {results['score']:g} / {extra['max_score']:g}**", ""]
    lines += ["## Your submission", ""] + [f"- {m}" for m in results["output"].splitlines()] + [""]
    if results["tests"]:
        lines += ["## Checks", ""]
    for t in results["tests"]:
        if (t.get("extra_data") or {}).get("pending"):   # marked by hand, not yet (kit.instructor.gradebook.marks)
            lines += [f"### {t['name']}: not marked yet ({t['max_score']:g} points)", ""]
            continue
        mark = "passed" if t.get("status") == "passed" else "FAILED"
        lines += [f"### {t['name']}: {t['score']:g} / {t['max_score']:g} ({mark})", ""]
        if t.get("status") != "passed" or t["output"].startswith("Exercises") or (t.get("extra_data") or {}).get("manual"):
            lines += ["```"] + t["output"].splitlines() + ["```", ""]
    return "\n".join(lines) + "\n"


def write_submission(out_dir, outcome):
    """Write results.json, feedback.md and manual.json of one submission; returns its grades row."""
    folder = Path(out_dir) / outcome.student
    folder.mkdir(parents=True, exist_ok=True)
    results = results_json(outcome)
    for name, executed in (outcome.executed or {}).items():
        write_executed(scrub_outputs(executed), folder / EXECUTED_DIR, Path(name).stem)
    write_atomic(folder / "feedback.md", feedback_md(outcome.student, results))
    write_atomic(folder / "manual.json", json.dumps(list(outcome.manual_rows)))
    write_atomic(folder / "results.json", json.dumps(results, indent=1))  # last: marks it done
    return row(outcome.student, results)


def row(student, results):
    """The grades.csv row of a results.json dict."""
    extra = results.get("extra_data", {})
    return {"student": student, "score": results.get("score", 0), "max_score": extra.get("max_score", 0),
            "status": extra.get("status", "graded"), "isolation": extra.get("isolation", ""),
            "reason": extra.get("reason", ""), "identical_to": extra.get("identical_to", ""),
            "manual_points": extra.get("manual_points", ""), "manual_pending": extra.get("manual_pending", "")}


def read_results(out_dir, student):
    """The results.json of a submission as a dict, or None when absent or unreadable."""
    try:
        results = json.loads((Path(out_dir) / student / "results.json").read_text(encoding="utf-8"))
        return results if isinstance(results, dict) else None
    except (OSError, ValueError):
        return None


def copy_submission(out_dir, student, first):
    """Give `student` the result of `first`, whose zip is byte-identical; returns the grades row."""
    out_dir = Path(out_dir)
    results = read_results(out_dir, first)
    results["output"] += "\n(Identical to another submission: graded once, result copied.)"
    results.setdefault("extra_data", {})["identical_to"] = first   # the instructor's files name it
    rows = json.loads((out_dir / first / "manual.json").read_text(encoding="utf-8"))
    for r in rows:
        r["student"] = student
    folder = out_dir / student
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "feedback.md", feedback_md(student, results))
    write_atomic(folder / "manual.json", json.dumps(rows))
    write_atomic(folder / "results.json", json.dumps(results, indent=1))
    return row(student, results)


def write_tables(out_dir, rows):
    """Write grades.csv (every row, sorted by student) and manual_grading.csv."""
    out_dir = Path(out_dir)
    rows = sorted(rows, key=lambda r: r["student"])
    _write_csv(out_dir / "grades.csv", GRADES_FIELDS, rows)
    manual_rows = []
    for r in rows:
        try:
            manual_rows += json.loads((out_dir / r["student"] / "manual.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    _write_csv(out_dir / "manual_grading.csv", manual.FIELDS, manual_rows)


def _write_csv(path, fields, rows):
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())
