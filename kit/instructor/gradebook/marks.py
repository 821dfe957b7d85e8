"""Inline questions marked by hand: the marking sheet, its pages, and the merge into the grades.

`python -m kit manual GRADES_DIR` writes (or updates) GRADES_DIR/manual_marks.csv:
one row per student and inline question,

    student, question, answer, max_points, points, comment

with `points` and `comment` empty until a TA fills them; marks already given
are kept when the sheet is written again (after a regrade, or once more
students are graded). It also writes GRADES_DIR/manual/, offline pages that
show every answer to one question side by side, the way a TA marks them.

`python -m kit merge GRADES_DIR [SHEET]` (or `kit grade ... --manual SHEET`)
checks the whole sheet first: a malformed sheet, a mark above the points
available, a student or question that does not exist, or the same answer
marked twice is an error that names the row (as a spreadsheet numbers it),
and nothing is written. Then each
student's results.json gets one test per question (`name`, `score`,
`max_score`, `output`: the comment), their score and maximum grow by the marks,
and grades.csv, feedback.md and the class report are written again. An answer
not marked yet is *pending*: it counts in neither score nor maximum, and is
never a 0. Merging again replaces the earlier marks.

A question is named `<notebook stem> Q<k>` (`two_layer_net Q1`); its points
are the `"points"` metadata of its inline-question cell in the instructor's
notebook (1 when absent). The sheet is read as text a TA typed: cells that a
spreadsheet could read as a formula are written with a leading `'`, which is
taken off again when read.
"""
import csv
import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from kit.instructor.grade import report
from kit.instructor.grade.manual import questions
from kit.student.notebooks import plain_cells

SHEET = "manual_marks.csv"
PAGES = "manual"
FIELDS = ["student", "question", "answer", "max_points", "points", "comment"]
DEFAULT_POINTS = 1.0
MANUAL = "manual"                       # the extra_data key of a test marked by hand
CSP = "default-src 'none'; style-src 'unsafe-inline'"


class MarkError(ValueError):
    """The sheet cannot be merged; the message names every row that is wrong."""


@dataclass(frozen=True)
class Question:
    notebook: str     # "notebooks/two_layer_net.ipynb"
    number: int
    prompt: str
    points: float

    @property
    def name(self):
        return f"{Path(self.notebook).stem} Q{self.number}"


def source_questions(source):
    """[Question] of the instructor's notebooks under `source`, in notebook and cell order."""
    found = []
    for path in sorted((Path(source) / "notebooks").glob("*.ipynb")):
        cells = plain_cells(json.loads(path.read_text(encoding="utf-8")))
        by_id = {c["id"]: c for c in cells}
        for number, cell_id, prompt in questions(cells):
            points = by_id.get(cell_id, {}).get("metadata", {}).get("points", DEFAULT_POINTS)
            found.append(Question(f"notebooks/{path.name}", number, prompt,
                                  float(points) if isinstance(points, (int, float)) else DEFAULT_POINTS))
    return found


# ---------------------------------------------------------------------------- the sheet

def _safe(text):
    """A cell a spreadsheet will not read as a formula (a leading quote, taken off by _unsafe)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r", "'") else text


def _unsafe(text):
    text = (text or "").strip()
    return text[1:] if text[:1] == "'" and len(text) > 1 and text[1] in "=+-@\t\r'" else text


def _number_text(value):
    return f"{value:g}"


def graded_students(grades_dir):
    """{student: results dict} of the submissions with a result a student can be given (graded, empty, rejected)."""
    out = {}
    for folder in sorted(p for p in Path(grades_dir).iterdir() if p.is_dir()):
        results = report.read_results(grades_dir, folder.name)
        if results and results.get("extra_data", {}).get("status") in report.SCORED:
            out[folder.name] = results
    return out


def _answers(grades_dir, student):
    """{(notebook, question number): answer text} from the student's manual.json (see kit.instructor.grade.manual)."""
    try:
        rows = json.loads((Path(grades_dir) / student / "manual.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        answer = str(row.get("parsed_answer") or row.get("answer") or "").strip()
        explanation = str(row.get("explanation") or "").strip()
        text = answer + (f"\n\nExplanation: {explanation}" if explanation else "")
        out[(row.get("notebook"), row.get("question"))] = text[:4000]
    return out


def read_sheet(path):
    """
    The rows of a marking sheet: [(row number, {field: text})], numbered as a spreadsheet shows
    them (the header is row 1; an answer of several lines is still one row).

    Raises:
    - MarkError when the file cannot be read or lacks a column.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [name for name in FIELDS if name not in (reader.fieldnames or [])]
            if missing:
                raise MarkError(f"{path}: not a marking sheet: no column {', '.join(missing)} (its first line "
                                f"must be {','.join(FIELDS)}); `python -m kit manual` writes one")
            return [(n, {k: _unsafe(row.get(k)) for k in FIELDS}) for n, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise MarkError(f"{path}: no such marking sheet; `python -m kit manual GRADES_DIR` writes it") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise MarkError(f"{path}: cannot be read as a CSV file ({type(err).__name__}: {err})") from None


def write_sheet(grades_dir, source, log=print):
    """
    Write GRADES_DIR/manual_marks.csv and the pages of GRADES_DIR/manual/, keeping the marks already given.

    Returns:
    - The path of the sheet.
    """
    grades_dir = Path(grades_dir)
    sheet = grades_dir / SHEET
    kept = {}
    if sheet.exists():
        for _, row in read_sheet(sheet):
            if row["points"] or row["comment"]:
                kept[(row["student"], row["question"])] = row
    qs = source_questions(source)
    students = graded_students(grades_dir)
    rows = []
    for student in students:
        answers = _answers(grades_dir, student)
        for q in qs:
            mark = kept.pop((student, q.name), {})
            rows.append({"student": student, "question": q.name, "answer": answers.get((q.notebook, q.number), ""),
                         "max_points": _number_text(q.points), "points": mark.get("points", ""),
                         "comment": mark.get("comment", "")})
    for (student, question), row in kept.items():   # never lose a mark: kept, and the merge names it
        log(f"warning: {SHEET} keeps the mark of {student}, {question}, which no graded submission has now; "
            f"delete that row or grade the student before `python -m kit merge`")
        rows.append(row)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows({k: _safe(v) for k, v in row.items()} for row in rows)
    report.write_atomic(sheet, buf.getvalue())
    write_pages(grades_dir, qs, rows)
    return sheet


# ---------------------------------------------------------------------------- the pages

def _slug(question):
    return re.sub(r"[^A-Za-z0-9_-]+", "-", question.name).strip("-").lower()


def _page(title, body):
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>{html.escape(title)}</title>'
            "<style>body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}"
            "td pre{white-space:pre-wrap;margin:0;max-width:50em}.pending{color:#a60}</style></head>"
            f"<body>{body}</body></html>")


def write_pages(grades_dir, qs, rows):
    """GRADES_DIR/manual/index.html and one page per question: every answer side by side."""
    folder = Path(grades_dir) / PAGES
    folder.mkdir(exist_ok=True)
    index = []
    for q in qs:
        mine = [r for r in rows if r["question"] == q.name]
        marked = sum(1 for r in mine if r["points"])
        body = [f"<h1>{html.escape(q.name)} ({_number_text(q.points)} points)</h1>",
                f"<p><a href=\"index.html\">All questions</a></p><blockquote><pre>{html.escape(q.prompt)}</pre>"
                f"</blockquote><p>{marked} of {len(mine)} marked. Write the marks in <code>{SHEET}</code> "
                f"(columns <code>points</code>, <code>comment</code>), then <code>python -m kit merge</code>.</p>",
                "<table><thead><tr><th>student</th><th>answer</th><th>points</th><th>comment</th></tr></thead><tbody>"]
        for r in mine:
            points = (html.escape(r["points"]) if r["points"] else '<span class="pending">pending</span>')
            body.append(f"<tr><td>{html.escape(r['student'])}</td><td><pre>{html.escape(r['answer'] or '(no answer)')}"
                        f"</pre></td><td>{points} / {html.escape(r['max_points'])}</td>"
                        f"<td>{html.escape(r['comment'])}</td></tr>")
        body.append("</tbody></table>")
        report.write_atomic(folder / f"{_slug(q)}.html", _page(q.name, "\n".join(body)))
        index.append(f'<li><a href="{_slug(q)}.html">{html.escape(q.name)}</a>: {marked} of {len(mine)} marked</li>')
    report.write_atomic(folder / "index.html", _page("Inline questions", "<h1>Inline questions</h1><ul>"
                                                     + "\n".join(index) + "</ul>"))


# ---------------------------------------------------------------------------- the merge

def _parse_marks(sheet, qs, students):
    """{student: {question name: (points or None, comment)}} of a valid sheet; MarkError naming every bad row."""
    by_name = {q.name: q for q in qs}
    marks, errors = {}, []
    for line, row in read_sheet(sheet):
        where = f"{Path(sheet).name}, row {line}"
        student, question = row["student"], row["question"]
        q = by_name.get(question)
        if student not in students:
            errors.append(f"{where}: no graded submission of a student {student!r} in this folder")
            continue
        if q is None:
            errors.append(f"{where}: no question {question!r} (the questions are "
                          f"{', '.join(by_name) or 'none'})")
            continue
        points = None
        if row["points"]:
            try:
                points = float(row["points"])
            except ValueError:
                errors.append(f"{where}: points {row['points']!r} is not a number")
                continue
            if not 0 <= points <= q.points:
                errors.append(f"{where}: {points:g} points for {question}, which has {q.points:g} "
                              f"(give 0 to {q.points:g})")
                continue
        if question in marks.setdefault(student, {}):
            errors.append(f"{where}: {student}, {question} is on the sheet twice")
            continue
        marks[student][question] = (points, row["comment"][:2000])
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise MarkError("the marking sheet was not merged (nothing was written):\n" + "\n".join(shown))
    return marks


def apply_marks(results, qs, marks):
    """results.json of one student with the tests marked by hand (earlier ones replaced); returns it."""
    extra = results.setdefault("extra_data", {})
    tests = [t for t in results.get("tests", []) if not (isinstance(t, dict) and t.get("extra_data", {}).get(MANUAL))]
    auto_score = round(sum(float(t.get("score", 0)) for t in tests if isinstance(t, dict)), 2)
    auto_max = extra.setdefault("auto_max_score", extra.get("max_score", 0))
    given = available = 0.0
    pending = 0
    for q in qs:
        points, comment = marks.get(q.name, (None, ""))
        entry = {"name": f"{q.name} (marked by hand)", "max_score": q.points, "visibility": "visible",
                 "extra_data": {MANUAL: True, "exercises": f"inline question {q.number} of {q.notebook}"}}
        if points is None:
            pending += 1
            entry.update(score=0.0, output="pending: not marked yet (it counts once it is)")
            entry["extra_data"]["pending"] = True
        else:
            given, available = given + points, available + q.points
            entry.update(score=points, status="passed" if points >= q.points else "failed",
                         output=comment or "marked by hand")
        tests.append(entry)
    results["tests"] = tests
    results["score"] = round(auto_score + given, 2)
    extra.update(max_score=auto_max + available, manual_points=given, manual_pending=pending)
    return results


def merge(grades_dir, sheet=None, source=None, log=print):
    """
    Merge a marking sheet into GRADES_DIR (see the module docstring).

    Returns:
    - {"students": n, "marked": answers marked, "pending": answers not marked yet}.

    Raises:
    - MarkError naming every wrong row (nothing is written then).
    """
    from kit.instructor.grade import classreport
    from kit.instructor.grade.prepare import SOURCE

    grades_dir = Path(grades_dir)
    sheet = Path(sheet) if sheet else grades_dir / SHEET
    qs = source_questions(source or SOURCE)
    students = graded_students(grades_dir)
    marks = _parse_marks(sheet, qs, students)
    marked = pending = 0
    rows = {}
    for student, results in students.items():
        results = apply_marks(results, qs, marks.get(student, {}))
        marked += sum(1 for p, _ in marks.get(student, {}).values() if p is not None)
        pending += results["extra_data"]["manual_pending"]
        folder = grades_dir / student
        report.write_atomic(folder / "feedback.md", report.feedback_md(student, results))
        report.write_atomic(folder / "results.json", json.dumps(results, indent=1))
        rows[student] = report.row(student, results)
    old = _grades_rows(grades_dir)
    names = {r["student"] for r in old}
    report.write_tables(grades_dir, [rows.get(r["student"], r) for r in old]
                        + [r for name, r in rows.items() if name not in names])
    classreport.write_class_report(grades_dir)
    if (grades_dir / SHEET).exists():
        write_pages(grades_dir, qs, [row for _, row in read_sheet(grades_dir / SHEET)])
    log(f"merged {marked} marks into {len(students)} submissions ({pending} answers pending); wrote grades.csv, "
        f"results.json, feedback.md and report.html")
    return {"students": len(students), "marked": marked, "pending": pending}


def _grades_rows(grades_dir):
    try:
        with open(Path(grades_dir) / "grades.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return []


def main_manual(args):
    from kit.instructor.grade.prepare import SOURCE

    try:
        sheet = write_sheet(args.grades, args.source or SOURCE)
    except MarkError as err:
        print(f"manual: {err}")
        return 2
    print(f"wrote {sheet} and {Path(args.grades) / PAGES / 'index.html'}: fill in `points` and `comment`, then "
          f"`python -m kit merge {args.grades}`")
    return 0


def main_merge(args):
    try:
        merge(args.grades, args.sheet, args.source)
    except MarkError as err:
        print(f"merge: {err}")
        return 2
    return 0


def main(args):
    return main_manual(args) if args.command == "manual" else main_merge(args)
