"""`python -m kit report DIR`: the class report of a grading folder.

Reads what a grading run wrote into DIR (grades.csv and every
<student>/results.json, see kit.instructor.grade.report) and writes

- DIR/report.html: one self-contained page (inline CSS, the plot embedded as
  a PNG data: URI, no script, a Content-Security-Policy that allows nothing
  else): the status counts, the isolation in force, the score histogram, the
  checks sorted by how many submissions failed them (mean points, pass rate,
  what each exercises, the most common failure message with its count and an
  example), every notebook point lost (student, check, cause, and a link to
  the student's executed notebook), the submissions that could not be graded
  (status error or not graded: they are not zeros), and anything in DIR that
  could not be read; and a table of the students (their page, the roster's name
  and lateness when `kit roster` wrote roster.csv, the submission an identical
  zip was graded with, their executed notebooks);
- DIR/<student>/feedback.html: each student's page (kit.instructor.grade.student_page);
- DIR/checks.csv: one row per student of grades.csv (student, status, total,
  then the points of each check, in check order), for a gradebook; the cells
  of submissions without a result (error, not graded) are empty.

The files are read as untrusted data (their text comes from student code):
every field is checked before use, a missing or malformed file is reported
in the page instead of stopping it, and all text is escaped. Both files are
written atomically. The grader writes them at the end of every run.
"""
import csv
import html
import io
import json
import math
import re
import sys
from base64 import b64encode
from collections import Counter
from dataclasses import dataclass, field
from itertools import dropwhile
from pathlib import Path
from urllib.parse import quote

from kit.instructor.grade.report import SCORED, UNSCORED, write_atomic
from kit.instructor.grade.roster_file import RosterError, read_rows
from kit.instructor.grade.student_page import PAGE, write_page

STATUSES = SCORED + UNSCORED
MAX_RESULTS_BYTES = 20 * 2**20
SHOWN_CHARS = 400                             # of an example message or a reason
MAX_LOSS_ROWS = 1000                          # rows of the notebook-losses table
STUDENT_NAME = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,99}")   # the folders grade.py makes
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass
class Test:
    """One check of one submission, as its results.json has it."""
    name: str
    score: float
    max_score: float
    passed: bool
    output: str
    exercises: str = ""


@dataclass
class Student:
    name: str
    status: str
    score: float = None       # None: no usable score (unscored status, or unreadable)
    max_score: float = None
    reason: str = ""
    isolation: str = ""
    message: str = ""         # what results.json's output tells the student (empty, rejected)
    tests: list = None        # [Test]; None when results.json was not read
    identical_to: str = ""    # the submission whose identical zip was graded for this one
    late: str = ""            # from roster.csv (kit.instructor.gradebook.roster): "2 days (-20%)"
    roster: str = ""          # the roster's id and name matched to this submission
    page: bool = False        # <student>/feedback.html is written (kit.instructor.grade.student_page)
    results: dict = None      # its results.json, for that page


@dataclass
class CheckStats:
    name: str
    exercises: str
    max_points: float
    order: int
    count: int = 0            # graded submissions that have this check
    passed: int = 0
    points: float = 0.0
    failures: Counter = field(default_factory=Counter)   # failure key -> submissions
    examples: dict = field(default_factory=dict)         # failure key -> (student, message)

    @property
    def failed(self):
        return self.count - self.passed

    @property
    def mean(self):
        return self.points / self.count if self.count else None

    def top_failure(self):
        """(key, count, student, example message) of the most common failure, or None."""
        if not self.failures:
            return None
        key, n = max(self.failures.items(), key=lambda kv: kv[1])   # first seen wins a tie
        return (key, n) + self.examples[key]


@dataclass
class ClassData:
    folder: Path
    students: list            # [Student], in grades.csv order
    checks: list              # check names, in check order
    problems: list            # what could not be read, one line each

    def scored(self):
        return [s for s in self.students if s.score is not None]   # only scored statuses keep one


# ---------------------------------------------------------------------------- reading

def _number(value):
    """A finite float from a JSON or CSV value, or None (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _text(value, limit=100_000):
    return value[:limit] if isinstance(value, str) else ""


def read_grades(folder, problems):
    """The rows of grades.csv as dicts (first row of each student), or None when there is none."""
    path = folder / "grades.csv"
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "student" not in reader.fieldnames:
                problems.append("grades.csv has no `student` column: the students are taken from the "
                                "folders that hold a results.json.")
                return None
            rows, seen = [], set()
            for n, row in enumerate(reader, start=2):
                name = (row.get("student") or "").strip()
                if not name:
                    problems.append(f"grades.csv, line {n}: no student name; the row is left out.")
                elif name in seen:
                    problems.append(f"grades.csv, line {n}: {name} again; only the first row is used.")
                else:
                    seen.add(name)
                    rows.append(row)
            return rows
    except FileNotFoundError:
        problems.append("grades.csv is missing: the students are taken from the folders that hold a "
                        "results.json.")
    except (OSError, csv.Error) as err:
        problems.append(f"grades.csv could not be read ({type(err).__name__}: {err}): the students are "
                        f"taken from the folders that hold a results.json.")
    return None


def read_results(folder, name, problems):
    """The results.json of `name` as a dict, or None (with the reason in `problems`)."""
    path = folder / name / "results.json"
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            problems.append(f"{name}: results.json is larger than {MAX_RESULTS_BYTES >> 20} MiB; not read.")
            return None
        results = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as err:
        problems.append(f"{name}: results.json could not be read ({type(err).__name__}).")
        return None
    if not isinstance(results, dict):
        problems.append(f"{name}: results.json is not a JSON object.")
        return None
    return results


def parse_tests(name, results, problems):
    """[Test] of a results.json dict (entries that are not well formed are left out and reported)."""
    tests = results.get("tests", [])
    if not isinstance(tests, list):
        problems.append(f"{name}: results.json's `tests` is not a list; its checks are left out.")
        return []
    out, seen = [], Counter()
    for i, t in enumerate(tests, start=1):
        score = _number(t.get("score")) if isinstance(t, dict) else None
        max_score = _number(t.get("max_score")) if isinstance(t, dict) else None
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or score is None or max_score is None:
            problems.append(f"{name}: check {i} of results.json is malformed (it needs a name, a score and "
                            f"a max_score); it is left out.")
            continue
        if isinstance(t.get("extra_data"), dict) and t["extra_data"].get("pending") is True:
            continue   # an inline question not marked yet: not a 0 (kit.instructor.gradebook.marks)
        check = t["name"][:200]
        seen[check] += 1
        if seen[check] > 1:   # two checks of one name: keep both, apart
            check = f"{check} ({seen[check]})"
        output = _text(t.get("output"))
        status = t.get("status")
        passed = status == "passed" if status in ("passed", "failed") else score >= max_score
        extra = t.get("extra_data")
        exercises = _text(extra.get("exercises")) if isinstance(extra, dict) else ""
        out.append(Test(check, score, max_score, passed, output, exercises))
    return out


def _exercises(line):
    return line.startswith("Exercises ")


def read_folder(out_dir):
    """Everything the report shows, read from a grading folder (a ClassData); never raises on its contents."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    problems = []
    rows = read_grades(folder, problems)
    if rows is None:
        rows = [{"student": p.parent.name} for p in sorted(folder.glob("*/results.json"))]
    students = []
    for row in rows:
        name = row["student"].strip()
        status = (row.get("status") or "").strip()
        student = Student(name, status, reason=_text(row.get("reason")), isolation=_text(row.get("isolation")),
                          score=_number(row.get("score")), max_score=_number(row.get("max_score")),
                          identical_to=_text(row.get("identical_to"), 100))
        results = None
        if not STUDENT_NAME.fullmatch(name):
            problems.append(f"{name}: not a name the grader gives a student folder; its results were not read.")
        else:
            results = read_results(folder, name, problems)
        if results is not None:
            extra = results.get("extra_data") if isinstance(results.get("extra_data"), dict) else {}
            found = extra.get("status") if isinstance(extra.get("status"), str) else ""
            if not status:       # no grades.csv: results.json is all there is
                status = student.status = found or "graded"
                student.score, student.max_score = _number(results.get("score")), _number(extra.get("max_score"))
                student.reason = _text(extra.get("reason"))
            elif found and found != status:
                problems.append(f"{name}: results.json says status {found}, grades.csv {status}; grades.csv "
                                f"is used.")
            student.isolation = _text(extra.get("isolation")) or student.isolation
            student.message = "\n".join(_text(results.get("output")).splitlines()[1:])
            student.tests = parse_tests(name, results, problems)
            student.results = results
        elif status in SCORED and STUDENT_NAME.fullmatch(name):
            problems.append(f"{name}: status {status} in grades.csv but no readable results.json; its checks "
                            f"are left out.")
        if status not in STATUSES:
            problems.append(f"{name}: unknown status {status!r}; listed with the submissions not graded.")
        elif status in SCORED and student.score is None:
            problems.append(f"{name}: status {status} without a score; left out of the histogram.")
        if status not in SCORED:
            student.score = None
        students.append(student)
    _add_roster(folder, students, problems)
    return ClassData(folder, students, check_order(students), problems)


def _add_roster(folder, students, problems):
    """The roster's id, name and lateness of each submission, when `kit roster` wrote roster.csv."""
    if not (folder / "roster.csv").exists():
        return
    try:
        rows = {r["submission"]: r for r in read_rows(folder) if r["submission"]}
    except RosterError as err:
        problems.append(f"roster.csv could not be read ({err}); the students table has no roster columns.")
        return
    for s in students:
        row = rows.get(s.name)
        if row is None:
            continue
        s.roster = f"{row['id']} {row['name']}".strip() if row["id"] else "(matches nobody on the roster)"
        days, penalty = _number(row["days_late"]), _number(row["penalty"])
        if days:
            s.late = f"{days:g} day{'s' * (days != 1)} (-{(penalty or 0):.0%})"


def check_order(students):
    """The check names in check order: the longest list of one submission, then any others."""
    lists = sorted(([t.name for t in s.tests] for s in students if s.tests), key=len, reverse=True)
    return list(dict.fromkeys(name for names in lists for name in names))


# ---------------------------------------------------------------------------- failures

_ARRAY = re.compile(r"\[[^\[\]]*\]")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_WORDS = re.compile(r"(?<![\w.])[-+]?(?:nan|inf)(?![\w])")


def failure_line(output):
    """
    The line of a failed check's output that says what went wrong (for a person).

    The first WRONG value (with its wrapped continuation lines); else, for an
    error ("your code raised an error:", "FAILED: the cell raised an error:"),
    that announcement followed by the last line of its traceback (the
    exception); else the first line (with its continuation lines).
    """
    lines = [line for line in dropwhile(_exercises, output.splitlines()) if line.strip()]
    if not lines:
        return "(no output)"
    entries = []
    for line in lines:
        if entries and line[:1].isspace():
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    for entry in entries:
        if entry.startswith("WRONG "):
            return " ".join(entry.split())
    head = lines[0]
    if "error:" in head and len(entries) > 1:
        last = next(line.strip() for line in reversed(lines) if not line[:1].isspace())
        return " ".join(f"{head[:head.index('error:') + len('error')]}: {last}".split())
    return " ".join(entries[0].split())


def failure_key(line):
    """`line` with what differs between two submissions making the same mistake masked (numbers, arrays)."""
    for _ in range(8):   # innermost first: [[1, 2], [3]] -> [\0, \0] -> \0
        line, n = _ARRAY.subn("\0", line)
        if not n:
            break
    line = line.replace("\0", "[…]")
    line = _HEX.sub("0x…", line)
    line = _WORDS.sub("#", _NUMBER.sub(lambda m: "#." if m.group().endswith(".") else "#", line))
    return " ".join(line.split())[:300]


def check_stats(data):
    """[CheckStats] over the graded submissions, the most failed first (then in check order)."""
    stats = {name: CheckStats(name, "", 0.0, i) for i, name in enumerate(data.checks)}
    for s in data.students:
        if s.status != "graded" or not s.tests:
            continue
        for t in s.tests:
            c = stats[t.name]
            c.exercises = c.exercises or t.exercises
            c.max_points = max(c.max_points, t.max_score)
            c.count += 1
            c.points += t.score
            if t.passed:
                c.passed += 1
            else:
                line = failure_line(t.output)
                key = failure_key(line)
                c.failures[key] += 1
                c.examples.setdefault(key, (s.name, line[:SHOWN_CHARS]))
    return sorted(stats.values(), key=lambda c: (-c.failed, c.order))


# ---------------------------------------------------------------------------- the histogram

def histogram_png(data):
    """PNG bytes of the score histogram (graded, and empty or rejected, stacked)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    scored = data.scored()
    top = max([s.max_score for s in scored if s.max_score] + [s.score for s in scored] + [1.0])
    bins = max(1, min(20, math.ceil(top)))
    edges = [top * i / bins for i in range(bins + 1)]
    groups = [[min(max(s.score, 0.0), top) for s in scored if s.status == "graded"],
              [min(max(s.score, 0.0), top) for s in scored if s.status != "graded"]]
    fig = Figure(figsize=(7.5, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(groups, bins=edges, stacked=True, color=["#3b6ea8", "#c8963e"], edgecolor="white",
            label=["graded", "empty or rejected"])
    ax.set_xlim(0, top)
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Scores of {len(scored)} submission{'s' * (len(scored) != 1)}", fontsize=11)
    if groups[1]:
        ax.legend(loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})   # same data, same bytes
    return buf.getvalue()


# ---------------------------------------------------------------------------- the page

def _e(value):
    return html.escape(str(value), quote=True)


def _pts(value):
    """A number of points for a person or a gradebook: 27.63, 2, 0.5 (never 1e+06)."""
    return "" if value is None else (f"{value:.4f}".rstrip("0").rstrip(".") or "0")


STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b;
       max-width: 1180px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #d4d9e0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; } tbody tr:nth-child(even) { background: #f8f9fb; }
#checks td:first-child { min-width: 10em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { display: block; height: 6px; background: #e2e6eb; margin-top: 3px; width: 90px; }
.bar span { display: block; height: 100%; background: #3b8a55; }
code, .msg { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
             white-space: pre-wrap; overflow-wrap: anywhere; }
.example { color: #5b6470; font-size: 0.92em; }
.warn { background: #fff4e0; border-left: 4px solid #d08a18; padding: 6px 10px; }
.muted { color: #5b6470; }
img.plot { max-width: 100%; height: auto; }
"""


def _table(table_id, head, rows, numeric=()):
    out = [f'<table id="{table_id}"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                                    for i, cell in enumerate(row)) + "</tr>")
    return "\n".join(out + ["</tbody></table>"])


def render_html(data, stats, png):
    """The page, as a str (every text from the folder escaped)."""
    scored, counts = data.scored(), Counter(s.status for s in data.students)
    parts = [f"<h1>Class report</h1><p class=\"muted\">Grading folder <code>{_e(data.folder.resolve())}</code>: "
             f"{len(data.students)} submission{'s' * (len(data.students) != 1)}.</p>"]
    if data.problems:
        parts.append(f'<div class="warn" id="problems"><strong>{len(data.problems)} problem'
                     f'{"s" * (len(data.problems) != 1)} reading the folder</strong> (what they touch is left '
                     f'out, the rest is shown):<ul>' + "".join(f"<li>{_e(p)}</li>" for p in data.problems)
                     + "</ul></div>")

    parts.append("<h2>Status</h2>")
    others = sorted(set(counts) - set(STATUSES))
    parts.append(_table("status-counts", ["status", "submissions"],
                        [[_e(s), counts.get(s, 0)] for s in STATUSES + tuple(others)], numeric=(1,)))
    if scored:
        values = sorted(s.score for s in scored)
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        parts.append(f"<p>Scores of the {len(scored)} graded, empty or rejected submissions: mean "
                     f"{_pts(round(sum(values) / len(values), 2))}, median {_pts(median)}, lowest "
                     f"{_pts(values[0])}, highest {_pts(values[-1])}.</p>")

    parts.append("<h2>Isolation</h2>")
    lines = Counter(s.isolation for s in data.students if s.isolation)
    if not lines:
        parts.append('<p id="isolation">No isolation is recorded in this folder.</p>')
    else:
        parts.append('<ul id="isolation">' + "".join(f"<li><code>{_e(line)}</code> ({n} submission"
                                                     f"{'s' * (n != 1)})</li>" for line, n in lines.most_common())
                     + "</ul>")
        if any(not line.startswith("bwrap") for line in lines):
            parts.append('<p class="warn">Some submissions were graded without the bubblewrap sandbox.</p>')

    parts.append("<h2>Score histogram</h2>")
    parts.append(f'<img class="plot" id="histogram" alt="Histogram of the scores of {len(scored)} submissions" '
                 f'src="data:image/png;base64,{b64encode(png).decode("ascii")}">')

    parts += _students_table(data)

    graded = counts.get("graded", 0)
    parts.append(f"<h2>Checks</h2><p>Over the {graded} graded submission{'s' * (graded != 1)} (empty and "
                 f"rejected ones are left out here), the most failed first.</p>")
    rows = []
    for c in stats:
        rate = c.passed / c.count if c.count else 0.0
        top = c.top_failure()
        if top:
            key, n, student, example = top
            others = len(c.failures) - 1
            failure = (f'<span class="msg">{_e(key)}</span><br><span class="count">{n} of {c.failed} failed '
                       f"submission{'s' * (c.failed != 1)}</span>"
                       + (f" ({others} other message{'s' * (others != 1)})" if others else "")
                       + f'<br><span class="example">e.g. {_e(student)}: <span class="msg">{_e(example)}'
                       f"</span></span>")
        else:
            failure = ""
        rows.append([_e(c.name), _e(c.exercises), _pts(c.max_points),
                     _pts(None if c.mean is None else round(c.mean, 2)),
                     f"{c.passed} / {c.count} ({rate:.0%})"
                     f'<span class="bar"><span style="width: {rate * 100:.0f}%"></span></span>',
                     c.failed, failure])
    parts.append(_table("checks", ["check", "exercises", "points", "mean", "passed", "failed",
                                   "most common failure"], rows, numeric=(2, 3, 4, 5)))

    parts += _notebook_losses(data)

    apart = [s for s in data.students if s.status not in SCORED]
    parts.append(f"<h2>Not graded ({len(apart)})</h2><p>Status error or not graded: these have no score yet "
                 f"(they are not zeros). Fix the cause, then run the grader again (<code>--retry-errors</code>"
                 f" for the errors).</p>")
    if apart:
        parts.append(_table("not-graded", ["student", "status", "reason"],
                            [[_e(s.name), _e(s.status), _e(s.reason[:SHOWN_CHARS])] for s in apart]))
    empty = [s for s in data.students if s.status in ("empty", "rejected")]
    if empty:
        parts.append(f"<h2>Empty or rejected ({len(empty)})</h2>")
        parts.append(_table("empty-rejected", ["student", "status", "what the student is told"],
                            [[_e(s.name), _e(s.status), f'<span class="msg">{_e(s.message[:SHOWN_CHARS])}</span>']
                             for s in empty]))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>Class report: {_e(data.folder.resolve().name)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _students_table(data):
    """One row per submission: its page, the roster's name, status, total, lateness, identical-to, notebooks."""
    rows = []
    for s in data.students:
        name = (f'<a href="{quote(s.name)}/{PAGE}">{_e(s.name)}</a>' if s.page else _e(s.name))
        executed = data.folder / s.name / "executed"
        notebooks = " ".join(f'<a href="{quote(s.name)}/executed/{quote(p.name)}">{_e(p.stem)}</a>'
                             for p in sorted(executed.glob("*.html"))) if s.page and executed.is_dir() else ""
        total = "" if s.score is None else f"{_pts(s.score)} / {_pts(s.max_score)}"
        rows.append([name, _e(s.roster), _e(s.status), total, _e(s.late), _e(s.identical_to), notebooks])
    return [f"<h2>Students ({len(rows)})</h2><p>Each name opens that student's page (checks, messages, marks "
            f"given by hand).</p>",
            _table("students", ["submission", "roster", "status", "total", "late", "identical to", "notebooks"],
                   rows, numeric=(3,))]


# ---------------------------------------------------------------------------- checks.csv

def _notebook_losses(data, limit=MAX_LOSS_ROWS):
    """
    The section listing every notebook point lost: student, check, points, the cause, and a link to
    the student's executed notebook (<student>/executed/<notebook>.html, written by the grader).
    """
    rows = []
    for s in data.students:
        if s.status != "graded" or not s.tests:
            continue
        for t in s.tests:
            notebook, _, _ = t.name.partition(".ipynb: ")
            if t.passed or not _ or "/" in notebook:
                continue
            page = f"{notebook}.html"
            link = (f'<a href="{quote(s.name)}/executed/{quote(page)}">{_e(page)}</a>'
                    if (data.folder / s.name / "executed" / page).is_file() else "")
            rows.append([_e(s.name), _e(t.name), f"{_pts(t.score)} / {_pts(t.max_score)}",
                         f'<span class="msg">{_e(failure_line(t.output)[:SHOWN_CHARS])}</span>', link])
    parts = [f"<h2>Notebook points lost ({len(rows)})</h2><p>Each notebook check a graded submission did not "
             f"pass, with its cause, and the notebook as it ran in the sandbox.</p>"]
    if rows:
        parts.append(_table("notebook-losses", ["student", "check", "points", "cause", "executed notebook"],
                            rows[:limit]))
        if len(rows) > limit:
            parts.append(f"<p>... and {len(rows) - limit} more (see each student's feedback.md).</p>")
    return parts


def _cell(text):
    """Text that a spreadsheet will not read as a formula (OWASP: a leading quote)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def checks_csv(data):
    """checks.csv as a str: student, status, total, then one column per check (points)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", "status", "total"] + [_cell(c) for c in data.checks])
    for s in data.students:
        points = {t.name: t.score for t in s.tests or ()} if s.status in SCORED else {}
        writer.writerow([_cell(s.name), _cell(s.status), _pts(s.score)] + [_pts(points.get(c)) for c in data.checks])
    return buf.getvalue()


def write_class_report(out_dir):
    """
    Write DIR/report.html and DIR/checks.csv from what a grading run left in DIR.

    Inputs:
    - out_dir: The grading folder (grades.csv, <student>/results.json).

    Returns:
    - The ClassData read (its `problems` list what could not be read).

    Raises:
    - NotADirectoryError when out_dir is not a folder; nothing else for its contents.
    """
    data = read_folder(out_dir)
    for s in data.students:   # each student's page first, so that the report links only pages that exist
        if s.results is not None:
            try:
                write_page(data.folder, s.name, s.results)
                s.page = True
            except OSError as err:
                data.problems.append(f"{s.name}: {PAGE} could not be written ({err}).")
    stats = check_stats(data)
    write_atomic(data.folder / "checks.csv", checks_csv(data))
    write_atomic(data.folder / "report.html", render_html(data, stats, histogram_png(data)))
    return data


def main(args):
    folder = Path(args.dir)
    if not folder.is_dir() or not ((folder / "grades.csv").is_file() or any(folder.glob("*/results.json"))):
        print(f"report: {folder} is not a grading folder (no grades.csv, no <student>/results.json)",
              file=sys.stderr)
        return 2
    data = write_class_report(folder)
    print(f"wrote {folder / 'report.html'} and {folder / 'checks.csv'} ({len(data.students)} submissions)")
    if data.problems:
        print(f"{len(data.problems)} problem(s) reading {folder}; the report lists them", file=sys.stderr)
    return 0
