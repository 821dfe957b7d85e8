"""Every page the kit writes works with no network, formulas included (headless Chromium).

The notebooks' HTML copies (kit/student/html_export.py, what `make run` uses),
the explorers' own pages (save_html) and fragments written with
markdown_to_html are opened in a Chromium whose every request off the page is
blocked. A page passes when it asks for nothing from outside, raises no script
error, and shows its formulas rendered: MathML laid out as math, no raw LaTeX
left in the text. nbconvert's plain HTMLExporter, which fetches MathJax and
require.js from a CDN, is the planted failure: the same check must reject it.
"""
import re
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest

from kit.student import html_export

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

FORMULAS = """() => {
  const maths = [...document.querySelectorAll('math')];
  const bad = maths.filter(m => {
    const box = m.getBoundingClientRect();
    return !(box.width > 0 && box.height > 0 && getComputedStyle(m).display.includes('math'));
  }).map(m => m.outerHTML.slice(0, 120));
  const text = [...document.querySelectorAll('.jp-MarkdownOutput, .jp-RenderedHTMLCommon, body')]
    .map(e => e.innerText).join('\\n');
  const raw = text.match(/\\$[^$\\n]*\\\\[a-zA-Z]+[^$\\n]*\\$|\\\\(frac|sigma|alpha|beta|mu|leftarrow|sqrt|color|textit|approx|ln)\\b/g) || [];
  return {count: maths.length, bad: bad, raw: raw.slice(0, 10)};
}"""


def page_problems(page, browser, min_formulas=0):
    """What keeps a page from working offline: a list of strings (empty when it works)."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    report = page.evaluate(FORMULAS)
    problems = [f"asked the network for {url}" for url in browser.blocked]
    problems += [f"script error: {e}" for e in page.errors]
    problems += [f"formula not laid out as math: {b}" for b in report["bad"]]
    problems += [f"raw LaTeX shown: {r!r}" for r in report["raw"]]
    if report["count"] < min_formulas:
        problems.append(f"{report['count']} rendered formulas, expected at least {min_formulas}")
    return problems


def formulas_in(notebook):
    nb = nbformat.read(notebook, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return len(re.findall(r"\$[^$]+\$", md))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_html_copy_works_offline_with_formulas_rendered(notebook, tmp_path,
                                                                 offline_browser):
    page_path = html_export.export(notebook, tmp_path / f"{notebook.stem}.html")
    text = page_path.read_text(encoding="utf-8")
    assert not re.search(r'<script[^>]+src="(https?:)?//', text)
    page = offline_browser.open(page_path)
    assert page_problems(page, offline_browser, min_formulas=formulas_in(notebook)) == []
    for explorer in (".cs231n-weight-explorer", ".cs231n-boundary-explorer"):
        if page.locator(explorer).count():
            assert page.locator(explorer).first.is_visible()


@pytest.mark.timeout(300)
def test_the_check_rejects_nbconverts_default_page(tmp_path, offline_browser):
    """Planted: the HTML that `make run` wrote before: CDN scripts, formulas left to MathJax."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(ROOT / "notebooks" / "fc_net.ipynb"))
    page_path = tmp_path / "fc_net_default.html"
    page_path.write_text(body, encoding="utf-8")
    problems = page_problems(offline_browser.open(page_path), offline_browser, min_formulas=15)
    assert any("asked the network for https://cdnjs" in p for p in problems), problems
    assert any(p.startswith("raw LaTeX shown") for p in problems), problems
    assert any("rendered formulas, expected at least 15" in p for p in problems), problems


@pytest.mark.timeout(300)
def test_the_check_rejects_a_formula_that_is_not_math(offline_browser):
    page = offline_browser.open("<html><body><p>loss $\\frac{1}{N}$</p>"
                                "<math style='display:inline'><mi>x</mi></math></body></html>")
    problems = page_problems(page, offline_browser)
    assert any("not laid out as math" in p for p in problems)
    assert any("raw LaTeX shown" in p for p in problems)


@pytest.mark.timeout(300)
def test_markdown_fragments_for_hand_written_pages_render_offline(offline_browser):
    """markdown_to_html, for pages the kit writes by hand (such as the class report)."""
    fragment = html_export.markdown_to_html(
        "Mean loss $L = \\frac{1}{N} \\sum_i L_i + \\lambda R(W)$, and\n\n"
        "$$\\hat m = \\frac{m}{1 - \\beta_1^t}$$\n")
    assert "<math" in fragment and "$" not in fragment
    page = offline_browser.open(f"<html><body>{fragment}</body></html>")
    assert page_problems(page, offline_browser, min_formulas=2) == []
    boxes = page.evaluate("() => [...document.querySelectorAll('math')].map("
                          "m => m.getBoundingClientRect().height)")
    assert max(boxes) > 1.5 * min(boxes)  # the display fraction stands taller than a line


def test_latex_outputs_get_a_mathml_copy():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("Math(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/latex": "$\\displaystyle \\sigma(x) = \\frac{1}{1 + e^{-x}}$", "text/plain": "<Math>"})]
    nb.cells = [cell]
    body, _ = html_export.OfflineHTMLExporter().from_notebook_node(nb)
    assert "<math" in body and "mfrac" in body


def test_an_unknown_formula_stays_readable_and_is_reported():
    with pytest.warns(RuntimeWarning, match="formula left as LaTeX"):
        out = html_export.latex_to_mathml("\\frac{1}{")
    assert out == "<code class=\"tex-unrendered\">\\frac{1}{</code>"


@pytest.mark.timeout(300)
def test_explorer_pages_work_offline_and_their_sliders_move(tmp_path, offline_browser):
    from cs231n.boundary_viewer import boundary_explorer
    from cs231n.weight_viewer import weight_explorer

    rng = np.random.RandomState(0)
    stats = {"loss_history": list(np.linspace(2.3, 1.9, 40)), "train_acc_history": [0.1, 0.2],
             "val_acc_history": [0.1, 0.15], "snapshot_iters": [0, 20, 40],
             "W1_snapshots": [rng.randn(3072, 4) * (k + 1) for k in range(3)]}
    weights = weight_explorer(stats).save_html(tmp_path / "weights.html")
    X = rng.randn(30, 2)
    snaps = [(rng.randn(2, 3), np.zeros(3)) for _ in range(3)]
    boundary = boundary_explorer(X, rng.randint(3, size=30), [0, 10, 20], snaps,
                                 lambda p, pts: np.argmax(pts @ p[0] + p[1], axis=1), h=0.2)
    boundary_page = tmp_path / "boundary.html"
    boundary_page.write_text("<!DOCTYPE html><html><body>" + boundary.html + "</body></html>")
    for path, label in ((weights, "iteration 40"), (boundary_page, "iteration 20")):
        page = offline_browser.open(Path(path))
        assert page_problems(page, offline_browser) == []
        assert page.locator(".wx-iter").inner_text() == label
        page.locator("input.wx-frame").focus()
        page.keyboard.press("Home")
        assert page.locator(".wx-iter").inner_text() == "iteration 0"


def test_make_run_writes_the_offline_html_copy():
    dry = subprocess.run(["make", "-n", "run", "PY=python"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    # kit.student.run_notebook executes the notebook and writes its page with kit.student.html_export
    # (tests/test_kit_selfcheck.py runs it and opens what it wrote).
    assert "-m kit.student.run_notebook notebooks/two_layer_net.ipynb --out build" in dry
    assert "--to html" not in dry and "nbconvert" not in dry
