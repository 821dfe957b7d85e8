"""
The weight viewer in an exported notebook, opened in headless Chromium with no network.

A small notebook (written to tmp_path) trains a tiny net with snapshots and shows
weight_explorer; it is executed with nbclient (widget state stored, as
`jupyter nbconvert --execute` does), exported with nbconvert's HTMLExporter, and
opened in Chromium. Moving the slider must change the picture, and each run's panel
must say which of its own snapshots it shows (the two runs differ in length and in
snapshot count).

Screenshots are test artifacts: they go to the folder named by KIT_TEST_ARTIFACTS
(one subfolder per test) if it is set, else to the test's tmp_path.
"""
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SETUP = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.weight_viewer import weight_explorer
"""

TRAIN = """
def tiny_run(hidden_size, num_iters, learning_rate, seed, every):
    rng = np.random.RandomState(seed)
    X = rng.randn(60, 3072)
    y = rng.randint(10, size=60)
    np.random.seed(seed)
    net = TwoLayerNet(3072, hidden_size, 10, std=1e-2)
    stats = net.train(X, y, X[:20], y[:20], num_iters=num_iters, batch_size=20,
                      learning_rate=learning_rate, reg=0.25, snapshot_every=every)
    return stats, net

stats, net = tiny_run(10, 20, 1e-2, 0, every=5)     # 20 iterations, 5 snapshots
stats2, net2 = tiny_run(16, 30, 3e-2, 1, every=10)  # 30 iterations, 4 snapshots
"""

# The slider's positions: every snapshot iteration of either run.
SLIDER_ITERS = [0, 5, 10, 15, 20, 30]


@pytest.fixture
def artifacts(request, tmp_path):
    """The folder for this test's screenshots: $KIT_TEST_ARTIFACTS/<test name>, else tmp_path."""
    root = os.environ.get("KIT_TEST_ARTIFACTS")
    if not root:
        return tmp_path
    folder = Path(root) / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder

SHOW = """# NBVAL_IGNORE_OUTPUT
weight_explorer({"default": (stats, net), "tuned": (stats2, net2)})
"""


@pytest.fixture(scope="module", params=[True, False], ids=["widget-state", "no-widget-state"])
def exported_page(request, tmp_path_factory):
    """
    (executed notebook, path of its HTML export). With widget state stored (what
    `jupyter nbconvert --execute` does by default) the export also asks a CDN for
    the widget manager, which fails offline; without it the widget output is empty.
    Either way the static copy must work.
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")
    tmp = tmp_path_factory.mktemp("viewer_nb")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(TRAIN),
                nbformat.v4.new_code_cell(SHOW)]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            store_widget_state=request.param,
                            resources={"metadata": {"path": str(tmp)}}).execute()
    assert ("widgets" in nb.metadata) == request.param
    nbformat.write(nb, tmp / "viewer.ipynb")
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    page = tmp / "viewer.html"
    page.write_text(body, encoding="utf-8")
    return nb, page


def test_executed_notebook_holds_widget_and_plain_html_outputs(exported_page):
    nb, page = exported_page
    outputs = nb.cells[2].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in outputs[0].data
    assert "text/html" not in outputs[0].data
    assert 'class="cs231n-weight-explorer"' in outputs[1].data["text/html"]
    html = page.read_text(encoding="utf-8")
    assert html.count('class="cs231n-weight-explorer"') == 1
    assert "VBox(" not in html


def panel_labels(explorer):
    """The iteration label of each run's panel."""
    runs = explorer.locator(".wx-run")
    return [runs.nth(i).locator(".wx-snap").inner_text() for i in range(runs.count())]


def test_exported_page_slider_changes_the_picture_offline(exported_page, artifacts, offline_browser):
    _, page_path = exported_page
    page = offline_browser.open(page_path)
    explorer = page.locator(".cs231n-weight-explorer")
    slider = explorer.locator("input.wx-frame")
    assert explorer.is_visible() and slider.is_visible()
    page.wait_for_timeout(300)
    label_end = panel_labels(explorer)
    shot_end = artifacts / "viewer_iteration_last.png"
    explorer.screenshot(path=str(shot_end))
    grid_end = artifacts / "templates_iteration_last.png"
    explorer.locator(".wx-run").first.locator("img.wx-grid:visible").screenshot(path=str(grid_end))

    slider.focus()
    page.keyboard.press("Home")  # drag to the first snapshot
    label_start = panel_labels(explorer)
    shot_start = artifacts / "viewer_iteration_0.png"
    explorer.screenshot(path=str(shot_start))
    grid_start = artifacts / "templates_iteration_0.png"
    explorer.locator(".wx-run").first.locator("img.wx-grid:visible").screenshot(
        path=str(grid_start))

    unit = explorer.locator("input.wx-unit").first
    unit.focus()
    page.keyboard.press("ArrowRight")
    unit_label = explorer.locator(".wx-unit-label").first.inner_text()
    shot_unit = artifacts / "viewer_unit_1.png"
    explorer.screenshot(path=str(shot_unit))
    # still visible after the live-view check has given up looking
    page.wait_for_timeout(500)
    assert explorer.is_visible()
    print(f"\nscreenshots: {shot_end}\n             {shot_start}\n             {shot_unit}")
    print(f"blocked network requests: {offline_browser.blocked}")
    assert not [e for e in page.errors if "wx" in e or "cs231n" in e], page.errors
    assert label_end == ["iteration 20 (its last snapshot; this run trained 20 iterations)",
                         "iteration 30"]
    assert label_start == ["iteration 0", "iteration 0"]
    assert unit_label == "unit 1"
    assert shot_end.read_bytes() != shot_start.read_bytes()
    assert grid_end.read_bytes() != grid_start.read_bytes()  # other templates, not only labels
    assert shot_unit.read_bytes() != shot_start.read_bytes()


def test_static_copy_hides_itself_beside_a_live_widget_view(offline_browser):
    import numpy as np

    from cs231n.weight_viewer import weight_explorer

    rng = np.random.RandomState(0)
    stats = {"loss_history": [2.3, 2.2], "train_acc_history": [0.1], "val_acc_history": [0.1],
             "snapshot_iters": [0, 2], "W1_snapshots": [rng.randn(3072, 4) for _ in range(2)]}
    ex = weight_explorer(stats)
    # What a live front end renders for the widget carries ex.live_class.
    live = f'<div class="{ex.live_class}">live widgets</div>'
    page = offline_browser.open("<html><body>" + live + ex.html + "</body></html>")
    page.wait_for_timeout(800)
    assert not page.locator(".cs231n-weight-explorer").is_visible()
    page = offline_browser.open("<html><body>" + ex.html + "</body></html>")
    page.wait_for_timeout(800)
    assert page.locator(".cs231n-weight-explorer").is_visible()


def test_two_layer_net_html_copy_has_a_working_explorer_offline(tmp_path, offline_browser):
    """
    The HTML copy of notebooks/two_layer_net.ipynb as stored (executed the way
    `make run` executes it): the explorer of the default and the tuned net is
    there, and its slider changes both nets' templates with no network.
    """
    nbconvert = pytest.importorskip("nbconvert")
    body, _ = nbconvert.HTMLExporter().from_filename(str(ROOT / "notebooks/two_layer_net.ipynb"))
    page_path = tmp_path / "two_layer_net.html"
    page_path.write_text(body, encoding="utf-8")
    page = offline_browser.open(page_path)
    explorer = page.locator(".cs231n-weight-explorer")
    assert explorer.count() == 1
    explorer.scroll_into_view_if_needed()
    slider = explorer.locator("input.wx-frame")
    assert explorer.is_visible() and slider.is_visible()
    runs = explorer.locator(".wx-run")
    assert runs.count() == 2  # the default net and the tuned net, side by side

    def grids(name):
        paths = []
        for i in range(2):
            path = tmp_path / f"{name}_run{i}.png"
            runs.nth(i).locator("img.wx-grid:visible").screenshot(path=str(path))
            paths.append(path)
        return paths

    # each run's own label (the stored output may predate the per-run labels: then it
    # reads "snapshot at iteration N"; either way it names iteration 0 at the start)
    label_end = panel_labels(explorer)
    end = grids("templates_last")
    slider.focus()
    page.keyboard.press("Home")
    label_start = panel_labels(explorer)
    start = grids("templates_first")
    assert all(re.search(r"\biteration 0$", label) for label in label_start), label_start
    assert label_end != label_start, (label_start, label_end)
    for a, b in zip(start, end):
        assert a.read_bytes() != b.read_bytes()


# What the page says and draws, read in one go (no waiting on elements that may be missing).
PANELS_JS = """root => ({
  text: root.innerText,
  header: root.firstElementChild.nextElementSibling.innerText,
  runs: [...root.querySelectorAll('.wx-run')].map(run => ({
    label: run.querySelector('.wx-snap') ? run.querySelector('.wx-snap').innerText : null,
    legend: [...run.querySelectorAll('.wx-legend')].map(e => e.innerText),
    caption: [...run.querySelectorAll('.wx-caption')].map(e => e.innerText),
    strongest: [...run.querySelectorAll('.wx-strongest')].map(e => e.innerText),
    votes: run.querySelectorAll('.wx-vote').length,
    marker: [...run.querySelectorAll('.wx-marker')].map(m => m.style.left),
    zoomRendering: getComputedStyle(run.querySelector('.wx-zoom')).imageRendering,
  })),
})"""


def blocky(png_bytes, block=4):
    """Whether a picture is made of constant block x block squares (nearest-neighbour upscaling)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB")).astype(int)
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    b = a[:h, :w].reshape(h // block, block, w // block, block, 3)
    return bool(((b.max(axis=(1, 3)) == b.min(axis=(1, 3))).all(axis=-1)).mean() > 0.5)


def test_exported_page_panels_say_what_they_show_offline(exported_page, artifacts, offline_browser):
    """
    What a student found confusing, on the exported page: the slider past the shorter
    run's end, a marker without a legend, unexplained class votes, a blocky enlarged
    template, black empty cells in the grid.
    """
    import numpy as np
    from PIL import Image

    _, page_path = exported_page
    page = offline_browser.open(page_path)
    explorer = page.locator(".cs231n-weight-explorer")
    root = explorer.element_handle()
    slider = explorer.locator("input.wx-frame")
    slider.focus()
    page.keyboard.press("Home")
    seen = {}
    for k, it in enumerate(SLIDER_ITERS):     # step right, past the end of the 20-iteration run
        if k:
            page.keyboard.press("ArrowRight")
        seen[it] = root.evaluate(PANELS_JS)
    page.wait_for_timeout(200)
    explorer.screenshot(path=str(artifacts / "viewer_past_short_run.png"))
    assert not page.errors, page.errors

    # 1. each panel names its own snapshot; nothing else on the page names an iteration
    labels = {it: [run["label"] for run in state["runs"]] for it, state in seen.items()}
    assert labels[5] == ["iteration 5", "iteration 0 (its last snapshot before iteration 5)"]
    assert labels[20] == ["iteration 20", "iteration 20"]
    assert labels[30] == ["iteration 20 (its last snapshot; this run trained 20 iterations)",
                          "iteration 30"]
    for it, state in seen.items():
        rest = state["text"]
        for label in labels[it]:
            assert label in rest
            rest = rest.replace(label, "", 1)
        assert not re.search(r"\biteration \d", rest), (it, rest)  # no other iteration named
        assert not re.search(r"\d", state["header"]), state["header"]  # the slider: no number
    # the short run's marker stays at its last snapshot, where its label says it is
    assert seen[30]["runs"][0]["marker"] == seen[20]["runs"][0]["marker"]
    assert seen[30]["runs"][1]["marker"] != seen[20]["runs"][1]["marker"]
    # the other run, between two of its snapshots, marks the one it shows
    assert seen[5]["runs"][1]["marker"] == seen[0]["runs"][1]["marker"]
    assert seen[5]["runs"][0]["marker"] != seen[0]["runs"][0]["marker"]

    for run in seen[30]["runs"]:
        # 2. the red marker has a legend
        assert len(run["legend"]) == 1 and "red line: current snapshot" in run["legend"][0]
        # 3. the class votes say what they are: a bar per class and a caption
        assert run["votes"] == 10
        assert run["strongest"] and run["strongest"][0].startswith("unit 0: strongest classes: ")
        assert len(run["caption"]) == 1
        for words in ("raises (+)", "lowers (\u2212)", "W2 after training", "no snapshots",
                      "100% = "):
            assert words in run["caption"][0], (words, run["caption"][0])
        # 4. the enlarged template is scaled smoothly, not nearest-neighbour
        assert run["zoomRendering"] == "auto", run["zoomRendering"]

    # 4. ... in its pixels too: a 32x32 tile on 128x128 pixels has no constant 4x4 blocks
    zoom = explorer.locator(".wx-run").first.locator(".wx-zoom")
    zoom_shot = artifacts / "enlarged_template.png"
    zoom.screenshot(path=str(zoom_shot))
    inner = Image.open(zoom_shot).convert("RGB").crop((1, 1, 129, 129))  # inside its border
    buf = io.BytesIO()
    inner.save(buf, format="PNG")
    assert not blocky(buf.getvalue()), f"blocky enlarged template, see {zoom_shot}"

    # 5. the empty cells of the grid (10 units on 4 x 4 places) show the page, not black
    grid_shot = artifacts / "templates_default_run.png"
    explorer.locator(".wx-run").first.locator("img.wx-grid:visible").screenshot(path=str(grid_shot))
    pixels = np.asarray(Image.open(grid_shot).convert("RGB")).astype(int)
    cell = pixels.shape[1] / 4.0                         # 4 templates per row, padding included
    empty = pixels[int(2.2 * cell):int(2.8 * cell), int(3.2 * cell):int(3.8 * cell)]  # unit 15's place
    filled = pixels[int(0.2 * cell):int(0.8 * cell), int(0.2 * cell):int(0.8 * cell)]  # unit 0
    assert empty.size and empty.min() >= 240, f"empty grid cell not the page's white, see {grid_shot}"
    assert filled.std() > 10  # a template there, not background
    print(f"\nscreenshots in {artifacts}")
