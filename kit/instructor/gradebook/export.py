"""`python -m kit export GRADES_DIR --format canvas|csv`: the gradebook a learning management system imports.

From GRADES_DIR/roster.csv (kit.instructor.gradebook.roster: who handed in
which zip, how late) and each student's results.json (with the marks merged by
kit.instructor.gradebook.marks), one row per roster student:

- `canvas`: Canvas's gradebook import layout: `Student, ID, SIS User ID, SIS
  Login ID, Section, <assignment>`, then a `Points Possible` row. A student with
  no submission, or whose submission could not be graded (status error or not
  graded), gets an empty cell (no grade) and is listed on the screen;
- `csv`: `id, name, email, submission, status, score, max_score, days_late,
  penalty, final, pending`, for any other gradebook.

`final` is the score times (1 - penalty), rounded to 2 decimals. Answers
marked by hand that are still pending are not in the score, and the command
says how many. No cell begins with `=`, `+`, `-` or `@` (a spreadsheet would
read it as a formula): such text gets a leading `'`.
"""
import csv
import io
from pathlib import Path

from kit.instructor.grade import report
from kit.instructor.grade.roster_file import ROSTER, RosterError, read_rows

FORMATS = ("canvas", "csv")
CANVAS_HEAD = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CSV_FIELDS = ["id", "name", "email", "submission", "status", "score", "max_score", "days_late", "penalty",
              "final", "pending"]


def _safe(value):
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(text, default=0.0):
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def gradebook(grades_dir):
    """
    [{csv field: value}] of every roster student, and the points possible.

    Raises:
    - RosterError when GRADES_DIR has no roster.csv.
    """
    grades_dir = Path(grades_dir)
    if not (grades_dir / ROSTER).exists():
        raise RosterError(f"{grades_dir / ROSTER} is missing: match the roster first (`python -m kit roster "
                          f"{grades_dir} students.csv --submissions SUBMISSIONS`, or `kit grade ... --roster`)")
    rows, possible = [], 0.0
    for entry in read_rows(grades_dir):
        if not entry["id"]:
            continue   # a zip that matches nobody: listed by `kit roster`, not a gradebook row
        out = {k: entry[k] for k in ("id", "name", "email", "submission", "days_late", "penalty")}
        results = report.read_results(grades_dir, entry["submission"]) if entry["submission"] else None
        extra = (results or {}).get("extra_data", {})
        status = extra.get("status", "no submission" if not entry["submission"] else "not graded")
        out["status"] = status
        if results is not None and status in report.SCORED:
            score, max_score = _number(results.get("score")), _number(extra.get("max_score"))
            penalty = _number(entry["penalty"])
            out.update(score=f"{score:g}", max_score=f"{max_score:g}", final=f"{round(score * (1 - penalty), 2):g}",
                       pending=str(extra.get("manual_pending", 0) or 0))
            possible = max(possible, _number(extra.get("auto_max_score", max_score)) + _manual_possible(results))
        else:
            out.update(score="", max_score="", final="", pending="")
        rows.append(out)
    return rows, possible


def _manual_possible(results):
    """All the points of the questions marked by hand, pending ones included."""
    return sum(_number(t.get("max_score")) for t in results.get("tests", [])
               if isinstance(t, dict) and (t.get("extra_data") or {}).get("manual"))


def render(rows, possible, fmt, assignment):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    if fmt == "canvas":
        writer.writerow(CANVAS_HEAD + [_safe(assignment)])
        writer.writerow(["Points Possible", "", "", "", "", f"{possible:g}"])
        for r in rows:
            writer.writerow([_safe(r["name"]), _safe(r["id"]), "", _safe(r["email"]), "", r["final"]])
    else:
        writer.writerow(CSV_FIELDS)
        for r in rows:
            writer.writerow([_safe(r.get(k, "")) for k in CSV_FIELDS])
    return buf.getvalue()


def export(grades_dir, fmt="canvas", out=None, assignment="Two-layer neural network", log=print):
    """Write the gradebook of GRADES_DIR in `fmt` to `out` (default GRADES_DIR/gradebook-<fmt>.csv); returns its path."""
    if fmt not in FORMATS:
        raise RosterError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")
    rows, possible = gradebook(grades_dir)
    out = Path(out) if out else Path(grades_dir) / f"gradebook-{fmt}.csv"
    report.write_atomic(out, render(rows, possible, fmt, assignment))
    blank = [r for r in rows if r["final"] == ""]
    pending = sum(int(r["pending"] or 0) for r in rows)
    log(f"wrote {out}: {len(rows) - len(blank)} grades of {len(rows)} roster students, out of {possible:g} points"
        + ("; no grade for " + ", ".join(f"{r['id']} ({r['status']})" for r in blank) if blank else "")
        + (f"; {pending} answers marked by hand are still pending (not in the scores)" if pending else ""))
    return out


def main(args):
    try:
        export(args.grades, args.format, args.output, args.assignment)
    except RosterError as err:
        print(f"export: {err}")
        return 2
    return 0
