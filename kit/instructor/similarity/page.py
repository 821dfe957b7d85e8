"""The similarity report: pairs.csv, an offline index.html ranking the pairs, a page per pair side by side.

Nothing here accuses anyone: the pages say what matched and how much, for a
person to read. Student text is escaped; the pages load nothing and run no
script.
"""
import csv
import html
import io
from pathlib import Path


from kit.instructor.grade.report import write_atomic
from kit.instructor.similarity.detect import CLUSTER_AT, COMMON_MIN, COMMON_SHARE, K

CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
         "padding:.3em .6em;text-align:left;vertical-align:top}.side{display:flex;gap:1em}.side>div{flex:1;"
         "min-width:0}pre{white-space:pre-wrap;background:#f8f8f8;padding:.5em;font-size:.85em}"
         "mark{background:#fd7}.muted{color:#666}")
SHOWN_PAIRS = 300


def _e(text):
    return html.escape(str(text), quote=True)


def _page(title, body):
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f'content="{CSP}"><title>{_e(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n')


def _safe(text):
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def highlighted(text, slices):
    """`text` escaped, with the character ranges of `slices` (2 x n) in <mark>."""
    if not len(slices) or slices.shape[-1] == 0:
        return _e(text)
    out, at = [], 0
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist())):
        start, end = max(start, at), max(end, at)
        out.append(_e(text[at:start]) + "<mark>" + _e(text[start:end]) + "</mark>")
        at = end
    return "".join(out) + _e(text[at:])


def pairs_csv(pairs):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["a", "b", "similarity"])
    for p in pairs:
        writer.writerow([_safe(p.a), _safe(p.b), f"{p.similarity:.4f}"])
    return buf.getvalue()


def write_report(out, pairs, docs, groups, same, common_count, seconds=None):
    """Write pairs.csv, index.html and pairs/<rank>.html into `out`; returns the index path."""
    out = Path(out)
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    write_atomic(out / "pairs.csv", pairs_csv(pairs))
    text = {d.name: d.text for d in docs}
    rows = []
    for rank, p in enumerate(pairs[:SHOWN_PAIRS], start=1):
        page = f"pairs/{rank:04d}.html"
        body = (f'<p><a href="../index.html">All pairs</a></p><h1>{_e(p.a)} and {_e(p.b)}</h1>'
                f"<p>{p.share_a:.0%} of {_e(p.a)}'s code and {p.share_b:.0%} of {_e(p.b)}'s code match "
                f"(marked). Matching code is not proof of copying: read it.</p><div class=\"side\">"
                f"<div><h2>{_e(p.a)}</h2><pre>{highlighted(text.get(p.a, ''), p.slices_a)}</pre></div>"
                f"<div><h2>{_e(p.b)}</h2><pre>{highlighted(text.get(p.b, ''), p.slices_b)}</pre></div></div>")
        write_atomic(out / page, _page(f"{p.a} and {p.b}", body))
        rows.append(f'<tr><td>{rank}</td><td><a href="{page}">{_e(p.a)}</a></td><td>{_e(p.b)}</td>'
                    f"<td>{p.similarity:.0%}</td><td>{p.share_a:.0%} / {p.share_b:.0%}</td></tr>")
    students = sum(1 for d in docs if not d.name.startswith("public:"))
    parts = [f"<h1>Similarity</h1><p>{students} submissions and {len(docs) - students} public solutions; "
             f"{len(pairs)} pairs share code. Only the code inside the regions counts; the released scaffold "
             f"and {common_count} passages found in more than {COMMON_SHARE:.0%} of the submissions (at least "
             f"{COMMON_MIN}; the short lines every correct solution has) are left out. A pair's similarity is "
             f"the larger share of either's code that matches (runs of {K}+ characters after names, strings, "
             f"comments and layout are normalised).</p>"
             f'<p class="muted">This ranks and shows; it does not decide. Read each pair.</p>']
    if same:
        parts.append("<h2>Byte-identical submissions</h2><ul id=\"identical\">"
                     + "".join(f"<li>{_e(', '.join(g))}</li>" for g in same) + "</ul>")
    if groups:
        parts.append(f"<h2>Clusters of three or more (pairs at {CLUSTER_AT:.0%} or more)</h2><ul id=\"clusters\">"
                     + "".join(f"<li>{_e(', '.join(g))}</li>" for g in groups) + "</ul>")
    parts.append("<h2>Pairs, most similar first</h2><table id=\"pairs\"><thead><tr><th>rank</th><th>a</th>"
                 "<th>b</th><th>similarity</th><th>share of a / b</th></tr></thead><tbody>"
                 + "\n".join(rows) + "</tbody></table>"
                 + (f"<p>... {len(pairs) - SHOWN_PAIRS} more in pairs.csv.</p>" if len(pairs) > SHOWN_PAIRS else ""))
    if seconds is not None:
        parts.append(f'<p class="muted">Computed in {seconds:.1f} s.</p>')
    write_atomic(out / "index.html", _page("Similarity", "\n".join(parts)))
    return out / "index.html"
