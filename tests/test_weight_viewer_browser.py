"""
The weight viewer in an exported notebook, opened in headless Chromium with no network.

A small notebook (written to tmp_path) trains a tiny net with snapshots and shows
weight_explorer; it is executed with nbclient (widget state stored, as
`jupyter nbconvert --execute` does), exported with nbconvert's HTMLExporter, and
opened in Chromium. Moving the slider must change the picture.
"""
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
def tiny_run(hidden_size, num_iters, learning_rate, seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(60, 3072)
    y = rng.randint(10, size=60)
    np.random.seed(seed)
    net = TwoLayerNet(3072, hidden_size, 10, std=1e-2)
    stats = net.train(X, y, X[:20], y[:20], num_iters=num_iters, batch_size=20,
                      learning_rate=learning_rate, reg=0.25, snapshot_every=5)
    return stats, net

stats, net = tiny_run(10, 20, 1e-2, 0)
stats2, net2 = tiny_run(16, 30, 3e-2, 1)
"""

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


def test_exported_page_slider_changes_the_picture_offline(exported_page, tmp_path, offline_browser):
    _, page_path = exported_page
    page = offline_browser.open(page_path)
    explorer = page.locator(".cs231n-weight-explorer")
    slider = explorer.locator("input.wx-frame")
    assert explorer.is_visible() and slider.is_visible()
    page.wait_for_timeout(300)
    label_end = explorer.locator(".wx-iter").inner_text()
    shot_end = tmp_path / "viewer_iteration_last.png"
    explorer.screenshot(path=str(shot_end))
    grid_end = tmp_path / "templates_iteration_last.png"
    explorer.locator(".wx-run").first.locator("img.wx-grid:visible").screenshot(path=str(grid_end))

    slider.focus()
    page.keyboard.press("Home")  # drag to the first snapshot
    label_start = explorer.locator(".wx-iter").inner_text()
    shot_start = tmp_path / "viewer_iteration_0.png"
    explorer.screenshot(path=str(shot_start))
    grid_start = tmp_path / "templates_iteration_0.png"
    explorer.locator(".wx-run").first.locator("img.wx-grid:visible").screenshot(
        path=str(grid_start))

    unit = explorer.locator("input.wx-unit").first
    unit.focus()
    page.keyboard.press("ArrowRight")
    unit_label = explorer.locator(".wx-unit-label").first.inner_text()
    shot_unit = tmp_path / "viewer_unit_1.png"
    explorer.screenshot(path=str(shot_unit))
    # still visible after the live-view check has given up looking
    page.wait_for_timeout(500)
    assert explorer.is_visible()
    print(f"\nscreenshots: {shot_end}\n             {shot_start}\n             {shot_unit}")
    print(f"blocked network requests: {offline_browser.blocked}")
    assert not [e for e in page.errors if "wx" in e or "cs231n" in e], page.errors
    assert (label_end, label_start) == ("iteration 30", "iteration 0")
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

    label_end = explorer.locator(".wx-iter").inner_text()
    end = grids("templates_last")
    slider.focus()
    page.keyboard.press("Home")
    label_start = explorer.locator(".wx-iter").inner_text()
    start = grids("templates_first")
    assert label_start == "iteration 0" and label_end != label_start, (label_start, label_end)
    for a, b in zip(start, end):
        assert a.read_bytes() != b.read_bytes()
