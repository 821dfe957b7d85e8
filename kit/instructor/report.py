"""What a grading run writes: results.json, feedback.md, grades.csv, manual_grading.csv.

- `<student>/results.json`: Gradescope's format (`score`, `execution_time`,
  `output`, `tests[]` with `name, score, max_score, status, output,
  visibility`), plus `extra_data` (`status`, `max_score`, `isolation`,
  `reason`);
- `<student>/feedback.md`: the same, for a person to read;
- `<student>/manual.json`: this submission's rows of manual_grading.csv;
- `grades.csv`: `student, score, max_score, status, isolation, reason`, one
  row per submission; status `graded`, `empty`, `rejected`, `error` (could
  not be graded: the reason says why; a rerun grades it) or `not graded`
  (the run was stopped first);
- `manual_grading.csv`: inline-question answers and explanations.
Every file is written atomically (a temporary file, then a rename).
"""
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kit.instructor import manual

GRADES_FIELDS = ["student", "score", "max_score", "status", "isolation", "reason"]
DONE = ("graded", "empty", "rejected")


@dataclass
class Outcome:
    """Everything known about one submission once it is graded (or could not be)."""
    student: str
    status: str               # graded, empty, rejected, error
    checks: list              # kit.instructor.compare.CheckResult
    max_score: float
    messages: list            # about the submission as a whole, for the student
    isolation: str            # the isolation in force (detail, for the instructor)
    isolation_short: str      # one line for the student
    seconds: float
    reason: str = ""          # why it could not be graded (status error)
    manual_rows: list = ()
    timing: dict = None       # seconds per phase (see grade._grade), for the instructor and bench/

    @property
    def score(self):
        return round(sum(c.points for c in self.checks), 2)


def write_atomic(path, text):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def results_json(outcome):
    """The Gradescope results.json of an Outcome, as a dict."""
    head = [outcome.isolation_short] + outcome.messages
    if outcome.status == "error":
        head.append(f"Could not be graded: {outcome.reason} Your instructor will grade it again.")
    tests = []
    for c in outcome.checks:
        lines = ([f"Exercises {c.exercises}."] if c.exercises else []) + c.lines
        tests.append({"name": c.name, "score": c.points, "max_score": c.max_points, "status": c.status,
                      "output": "\n".join(lines), "visibility": c.visibility})
    return {
        "score": outcome.score if outcome.status != "error" else 0,
        "execution_time": round(outcome.seconds, 2),
        "output": "\n".join(head),
        "tests": tests,
        "extra_data": {"status": outcome.status, "max_score": outcome.max_score,
                       "isolation": outcome.isolation, "reason": outcome.reason, "timing": outcome.timing or {}},
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
        mark = "passed" if t["status"] == "passed" else "FAILED"
        lines += [f"### {t['name']}: {t['score']:g} / {t['max_score']:g} ({mark})", ""]
        if t["status"] != "passed" or t["output"].startswith("Exercises"):
            lines += ["```"] + t["output"].splitlines() + ["```", ""]
    return "\n".join(lines) + "\n"


def write_submission(out_dir, outcome):
    """Write results.json, feedback.md and manual.json of one submission; returns its grades row."""
    folder = Path(out_dir) / outcome.student
    folder.mkdir(parents=True, exist_ok=True)
    results = results_json(outcome)
    write_atomic(folder / "feedback.md", feedback_md(outcome.student, results))
    write_atomic(folder / "manual.json", json.dumps(list(outcome.manual_rows)))
    write_atomic(folder / "results.json", json.dumps(results, indent=1))  # last: marks it done
    return row(outcome.student, results)


def row(student, results):
    """The grades.csv row of a results.json dict."""
    extra = results.get("extra_data", {})
    return {"student": student, "score": results.get("score", 0), "max_score": extra.get("max_score", 0),
            "status": extra.get("status", "graded"), "isolation": extra.get("isolation", ""),
            "reason": extra.get("reason", "")}


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
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
