"""One offline page per student: `<student>/feedback.html`, linked from the class report.

It shows what the student's results.json holds: the score and status, the
messages about the submission, each check with its points and feedback, the
inline questions marked by hand (or pending), and links to the notebooks as
they ran (`executed/*.html`). It is the page a TA opens beside a student's
question, and one that can be handed to the student: hidden checks show no
expected values there either (results.json never holds them).

The text comes from student code: every field is escaped, the page loads
nothing (a Content-Security-Policy that allows only its inline style) and has
no script.
"""
import html
from pathlib import Path
from urllib.parse import quote

from kit.instructor.grade.report import write_atomic

PAGE = "feedback.html"
CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}h2{margin-top:1.5em}"
         "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;margin:.3em 0 1em}"
         ".passed{color:#060}.failed{color:#a00}.pending{color:#a60}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}")


def _e(value):
    return html.escape(str(value), quote=True)


def _num(value):
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return "?"


def render(student, results, executed=()):
    """The page of one student, as a str (results: their results.json dict; executed: notebook page names)."""
    extra = results.get("extra_data") if isinstance(results.get("extra_data"), dict) else {}
    status = str(extra.get("status", ""))
    tests = [t for t in results.get("tests", []) if isinstance(t, dict)]
    auto = [t for t in tests if not (t.get("extra_data") or {}).get("manual")]
    manual = [t for t in tests if (t.get("extra_data") or {}).get("manual")]
    score = ("not graded yet" if status in ("error", "not graded")
             else f"{_num(results.get('score'))} / {_num(extra.get('max_score'))}")
    parts = [f"<h1>{_e(student)}</h1>", f'<p id="score"><strong>{_e(score)}</strong> (status {_e(status)})</p>',
             '<p><a href="../report.html">Class report</a></p>']
    output = str(results.get("output", "")).splitlines()
    if output:
        parts.append('<h2>About the submission</h2><ul id="messages">'
                     + "".join(f"<li>{_e(line)}</li>" for line in output) + "</ul>")
    if executed:
        parts.append('<h2>Notebooks as they ran</h2><ul id="executed">' + "".join(
            f'<li><a href="executed/{quote(name)}">{_e(name)}</a></li>' for name in executed) + "</ul>")
    if auto:
        parts.append('<h2>Checks</h2><table id="checks"><thead><tr><th>check</th><th>points</th><th>feedback</th>'
                     "</tr></thead><tbody>")
        for t in auto:
            ok = "passed" if t.get("status") == "passed" else "failed"
            parts.append(f'<tr><td>{_e(t.get("name", ""))}</td><td class="{ok}">{_num(t.get("score"))} / '
                         f'{_num(t.get("max_score"))}</td><td><pre>{_e(t.get("output", ""))}</pre></td></tr>')
        parts.append("</tbody></table>")
    if manual:
        parts.append('<h2>Marked by hand</h2><table id="manual"><thead><tr><th>question</th><th>points</th>'
                     "<th>comment</th></tr></thead><tbody>")
        for t in manual:
            pending = (t.get("extra_data") or {}).get("pending")
            points = ('<span class="pending">pending</span>' if pending
                      else f"{_num(t.get('score'))} / {_num(t.get('max_score'))}")
            parts.append(f'<tr><td>{_e(t.get("name", ""))}</td><td>{points}</td>'
                         f'<td>{"" if pending else _e(t.get("output", ""))}</td></tr>')
        parts.append("</tbody></table>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>{_e(student)}: feedback</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_page(folder, student, results):
    """Write folder/<student>/feedback.html; returns its path."""
    base = Path(folder) / student
    executed = sorted(p.name for p in (base / "executed").glob("*.html")) if (base / "executed").is_dir() else []
    path = base / PAGE
    write_atomic(path, render(student, results, executed))
    return path
