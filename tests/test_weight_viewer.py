"""The interactive weight viewer: static HTML copy, messages, and widgets in a real kernel."""
import inspect
import io
import json
import re
import types
from pathlib import Path

import numpy as np
import pytest

from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.boundary_viewer import BoundaryExplorer, boundary_explorer
from cs231n.viewer_display import ViewerMessage
from cs231n.weight_viewer import (WeightExplorer, _weight_grid, as_run, class_votes, top_classes,
                                  weight_explorer)

ROOT = Path(__file__).resolve().parents[1]


def tiny_run(hidden_size=10, num_iters=20, learning_rate=1e-2, seed=0):
    """Train a tiny net on random 3072-dim data, with snapshots (also run in the kernel)."""
    rng = np.random.RandomState(seed)
    X = rng.randn(60, 3072)
    y = rng.randint(10, size=60)
    np.random.seed(seed)
    net = TwoLayerNet(3072, hidden_size, 10, std=1e-2)
    stats = net.train(X, y, X[:20], y[:20], num_iters=num_iters, batch_size=20,
                      learning_rate=learning_rate, learning_rate_decay=0.95, reg=0.25,
                      snapshot_every=5)
    return stats, net


@pytest.fixture(scope="module")
def runs():
    return {"default": tiny_run(), "tuned": tiny_run(hidden_size=12, num_iters=30, seed=1)}


def test_static_html_is_self_contained_with_slider_and_frames(runs):
    ex = weight_explorer(runs)
    assert isinstance(ex, WeightExplorer)
    page = ex.html
    assert re.search(r'<input class="wx-frame" type="range" min="0" max="\d+"', page)
    # one PNG per snapshot and run, embedded; no address outside the page
    assert page.count('<img class="wx-grid"') == len(runs["default"][0]["snapshot_iters"]) + \
        len(runs["tuned"][0]["snapshot_iters"])
    assert "data:image/png;base64," in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script>" in page and "wx-marker" in page
    assert len(page) < 600_000
    # iterations of all runs on one slider: 0, 5, ..., 30
    data = json.loads(re.search(r'<script type="application/json" class="wx-data">(.*?)</script>',
                                page).group(1))
    assert data["iters"] == [0, 5, 10, 15, 20, 25, 30]
    # the 20-iteration run stays at its last snapshot past its end
    assert data["runs"][0]["frame"] == [0, 1, 2, 3, 4, 4, 4]
    # ... and says so; each run names its own snapshot, the slider has no label of its own
    assert data["runs"][0]["labels"][-1] == \
        "iteration 20 (its last snapshot; this run trained 20 iterations)"
    assert data["runs"][1]["labels"][-1] == "iteration 30"
    assert len(data["runs"][1]["votes"]) == 12


def test_static_html_keeps_within_its_byte_budget(runs):
    full = weight_explorer(runs, max_frames=50, max_bytes=10_000_000).html
    small = weight_explorer(runs, max_frames=50, max_bytes=20_000).html
    assert len(small) < len(full)
    frames = lambda page: len(json.loads(re.search(
        r'class="wx-data">(.*?)</script>', page).group(1))["iters"])
    assert frames(full) == 7 and 2 <= frames(small) < 7


def test_top_classes_through_W2():
    W2 = np.zeros((2, 10))
    W2[1, [3, 5, 0]] = [0.3, 0.2, 0.1]
    assert [name for name, _ in top_classes(W2, 1)] == ["cat", "dog", "plane"]
    assert top_classes(W2, 1)[0] == ("cat", 0.3)


def test_class_votes_of_each_unit_are_its_row_of_W2(runs):
    stats, net = runs["default"]
    W2 = net.params["W2"]
    votes = page_data(weight_explorer((stats, net)).html)["runs"][0]["votes"]
    assert len(votes) == W2.shape[0]
    for unit in (0, 3):
        scale, shares = votes[unit]
        assert float(scale) == pytest.approx(np.abs(W2[unit]).max(), rel=1e-2)
        # every class, largest vote first, in percent of the largest magnitude, with its sign
        assert [c for c, _ in shares] == list(np.argsort(-W2[unit], kind="stable"))
        np.testing.assert_allclose([pct for _, pct in shares],
                                   np.sort(W2[unit])[::-1] / np.abs(W2[unit]).max() * 100, atol=0.5)
        # the first three are the strongest classes
        assert [CLASSES[c] for c, _ in shares[:3]] == [n for n, _ in top_classes(W2, unit)]
    # without a net, no votes but still a view
    assert page_data(weight_explorer(stats).html)["runs"][0]["votes"] is None
    assert "no W2 given" in weight_explorer(stats).html
    assert "no W2 given" in weight_explorer((stats, None)).html


def test_no_snapshots_gives_a_message_not_a_traceback(runs):
    stats, net = runs["default"]
    plain = {k: v for k, v in stats.items() if k not in ("snapshot_iters", "W1_snapshots")}
    msg = weight_explorer({"default": (plain, net)})
    assert isinstance(msg, ViewerMessage)
    assert "No weight snapshots in run 'default'" in str(msg)
    assert "snapshot_every" in str(msg)
    assert "snapshot_every" in msg._repr_html_()


def test_non_image_first_layer_gives_a_message_pointing_to_boundary_explorer():
    stats = {"loss_history": [1.0, 0.5], "snapshot_iters": [0, 2],
             "W1_snapshots": [np.zeros((2, 100)), np.ones((2, 100))]}
    msg = weight_explorer(stats)
    assert isinstance(msg, ViewerMessage)
    assert "(2, 100)" in str(msg) and "boundary_explorer" in str(msg)


def test_bad_arguments_raise_with_a_clear_message():
    with pytest.raises(TypeError, match="run 'x'"):
        weight_explorer({"x": 3})
    with pytest.raises(ValueError, match="at least one run"):
        weight_explorer({})


def test_solver_like_source_gives_iterations_per_epoch():
    rng = np.random.RandomState(0)
    model = types.SimpleNamespace(params={"W2": rng.randn(10, 10)})
    solver = types.SimpleNamespace(
        model=model, loss_history=list(np.linspace(2.3, 1.0, 40)),
        train_acc_history=[0.1, 0.2, 0.3], val_acc_history=[0.1, 0.15, 0.2],
        snapshot_iters=[0, 20, 40], W1_snapshots=[rng.randn(3072, 10) for _ in range(3)],
        X_train=np.zeros((100, 3072)), batch_size=5)
    run = as_run("solver", solver)
    np.testing.assert_array_equal(run.acc_iters, [0, 20, 40])
    assert isinstance(weight_explorer({"solver": solver}), WeightExplorer)


def test_shrunk_templates_average_blocks():
    W1 = np.random.default_rng(0).standard_normal((3072, 4))
    full, G = _weight_grid(W1, "channels_first")
    half, G2 = _weight_grid(W1, "channels_first", factor=2)
    assert G == G2 == 2
    assert full.shape == (65, 65, 4) and half.shape == (33, 33, 4)
    # a shrunk template is the block average of the full one (each is scaled on its own)
    blocks = first_layer_images(W1, "channels_first")[1].reshape(16, 2, 16, 2, 3).mean(axis=(1, 3))
    assert np.corrcoef(half[:16, 17:33, :3].ravel(), blocks.ravel())[0, 1] > 0.99


def spiral(n=30):
    rng = np.random.RandomState(0)
    X = np.concatenate([np.c_[np.linspace(0, 1, n) * np.sin(t), np.linspace(0, 1, n) * np.cos(t)]
                        for t in (np.linspace(j * 4, (j + 1) * 4, n) + rng.randn(n) * 0.2
                                  for j in range(3))])
    return X, np.repeat(np.arange(3), n)


def predict_linear(params, points):
    W, b = params
    return np.argmax(points @ W + b, axis=1)


def test_boundary_explorer_draws_one_frame_per_snapshot():
    X, y = spiral()
    rng = np.random.RandomState(0)
    snaps = [(rng.randn(2, 3), np.zeros(3)) for _ in range(4)]
    ex = boundary_explorer(X, y, [0, 10, 20, 30], snaps, predict_linear, h=0.1)
    assert isinstance(ex, BoundaryExplorer)
    assert len(ex.frames) == 4 and ex.labels[-1] == "iteration 30"
    assert len(set(ex.frames)) > 1
    page = ex.html
    assert page.count('<img class="wx-frame-img"') == 4 and 'type="range"' in page


def test_boundary_explorer_messages():
    X, y = spiral()
    assert "No snapshots" in str(boundary_explorer(X, y, [], [], predict_linear))
    msg = boundary_explorer(np.zeros((5, 3072)), y[:5], [0], [None], predict_linear)
    assert isinstance(msg, ViewerMessage) and "shape (N, 2)" in str(msg)


KERNEL_CODE = """
import hashlib, json, sys
sys.path.insert(0, {root!r})
import numpy as np
from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.weight_viewer import weight_explorer
from IPython.display import display

{tiny_run}
{blocky}
ex = weight_explorer({{"default": tiny_run(), "tuned": tiny_run(hidden_size=12, num_iters=30, seed=1)}})
w = ex.widget

def state():
    md5 = lambda b: hashlib.md5(bytes(b)).hexdigest()
    return dict(iteration=ex.frame_slider.value, grid=md5(ex.grid_images[0].value),
                curves=md5(ex.curve_images[0].value), unit=md5(ex.unit_images[0].value),
                snap=ex.snap_labels[0].value, top=ex.top_labels[0].value,
                tuned_grid=md5(ex.grid_images[1].value), tuned_snap=ex.snap_labels[1].value,
                readout=ex.frame_slider.readout, blocky=blocky(ex.unit_images[0].value),
                texts=[c.value for c in w.children[2].children[0].children
                       if hasattr(c, "value") and isinstance(c.value, str)])

result = {{"last": state()}}
ex.frame_slider.value = ex.frame_slider.options[0][1]   # move the slider to iteration 0
result["first"] = state()
ex.unit_sliders[0].value = 3                            # pick another hidden unit
result["unit3"] = state()
print("RESULT " + json.dumps(result))
display(ex)
"""


def test_widgets_respond_to_value_changes_in_a_real_kernel():
    jupyter_client = pytest.importorskip("jupyter_client")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    outputs = []
    try:
        reply = kc.execute_interactive(
            KERNEL_CODE.format(root=str(ROOT), tiny_run=inspect.getsource(tiny_run),
                               blocky=inspect.getsource(blocky)), timeout=240,
            output_hook=outputs.append)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert reply["content"]["status"] == "ok", (errors, text)
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    last, first, unit3 = result["last"], result["first"], result["unit3"]
    assert (last["iteration"], first["iteration"]) == (30, 0)
    # the slider moved: new templates, marker moved on the curves, new snapshot label
    assert first["grid"] != last["grid"] and first["tuned_grid"] != last["tuned_grid"]
    assert first["curves"] != last["curves"]
    # each run names its own snapshot; the slider shows no iteration of its own
    assert last["snap"] == "iteration 20 (its last snapshot; this run trained 20 iterations)"
    assert first["snap"] == "iteration 0" and last["tuned_snap"] == "iteration 30"
    assert last["readout"] is False
    assert any("current snapshot" in t for t in last["texts"])  # the marker's legend
    # another unit: its own template and classes; the grid stays
    assert unit3["unit"] != first["unit"] and unit3["grid"] == first["grid"]
    assert "unit 3: strongest classes: " in unit3["top"] and "W2 after training" in unit3["top"]
    assert unit3["top"].count("%</span>") == 10  # a share per class
    assert unit3["top"] != first["top"]
    assert not last["blocky"]  # the enlarged template is smooth
    # display(ex): the widget view (no text/html, so an export without widget state
    # shows nothing for it), then the static copy as plain text/html
    shown = [m["content"]["data"] for m in outputs if m["msg_type"] == "display_data"]
    assert len(shown) == 2
    assert "application/vnd.jupyter.widget-view+json" in shown[0] and "text/html" not in shown[0]
    assert 'class="cs231n-weight-explorer"' in shown[1]["text/html"]


def test_snapshots_as_arrays_are_accepted(runs):
    stats, net = runs["default"]
    arrays = dict(stats, snapshot_iters=np.array(stats["snapshot_iters"]),
                  W1_snapshots=np.stack(stats["W1_snapshots"]))
    assert isinstance(weight_explorer((arrays, net)), WeightExplorer)


def test_run_not_trained_yet_gives_a_message(runs):
    # e.g. best_net / best_stats still None in the student kit
    msg = weight_explorer({"default": runs["default"], "tuned": (None, None)})
    assert isinstance(msg, ViewerMessage) and "Run 'tuned' is None" in str(msg)
    assert isinstance(weight_explorer({"solver": None}), ViewerMessage)


def test_real_solver_run_with_snapshots():
    from cs231n.classifiers.fc_net import TwoLayerNet as FcTwoLayerNet
    from cs231n.solver import Solver

    rng = np.random.RandomState(0)
    data = {"X_train": rng.randn(40, 3, 32, 32), "y_train": rng.randint(10, size=40),
            "X_val": rng.randn(10, 3, 32, 32), "y_val": rng.randint(10, size=10)}
    np.random.seed(0)
    model = FcTwoLayerNet(hidden_dim=8, weight_scale=1e-2)
    kwargs = dict(optim_config={"learning_rate": 1e-2}, num_epochs=2, batch_size=10,
                  verbose=False)
    try:
        solver = Solver(model, data, snapshot_every=2, **kwargs)
    except ValueError:  # a Solver without snapshots yet: record them by hand
        solver = Solver(model, data, **kwargs)
        solver.snapshot_iters, solver.W1_snapshots = [0], [model.params["W1"].copy()]
    solver.train()
    if len(solver.W1_snapshots) == 1:
        solver.snapshot_iters.append(len(solver.loss_history))
        solver.W1_snapshots.append(model.params["W1"].copy())
    ex = weight_explorer({"solver": solver})
    assert isinstance(ex, WeightExplorer)
    run = ex.runs[0]
    # the Solver records where it took the accuracies: after iterations 1, 4 and 8
    np.testing.assert_array_equal(solver.acc_iters, [1, 4, 8])
    np.testing.assert_array_equal(run.acc_iters, [1, 4, 8])
    assert run.W2 is model.params["W2"] or np.array_equal(run.W2, model.params["W2"])
    assert 'type="range"' in ex.html


# ---------------------------------------------------------------------------
# Frames at even steps, recorded accuracy iterations, readable curves
# ---------------------------------------------------------------------------

from cs231n.viewer_display import even_steps  # noqa: E402
from cs231n.weight_viewer import TrainingRun, _Curves  # noqa: E402


@pytest.mark.parametrize("iters, max_count, expected", [
    (range(0, 1001, 50), 12, list(range(0, 1001, 100))),        # 21 recorded, 11 shown
    (range(0, 1001, 50), 21, list(range(0, 1001, 50))),         # all fit
    (list(range(0, 1000, 50)) + [997], 12, list(range(0, 1000, 100)) + [997]),  # odd last
    (range(0, 4751, 250), 12, list(range(0, 4751, 500)) + [4750]),
    (range(0, 101, 10), 1, [0, 100]),                           # never fewer than two
])
def test_even_steps(iters, max_count, expected):
    picked = even_steps(iters, max_count)
    assert picked == expected
    steps = np.diff(picked[:-1])
    assert len(set(steps)) <= 1  # even, all but the last


def snapshot_stats(num_iters=1000, every=50, H=4, seed=0):
    rng = np.random.RandomState(seed)
    iters = list(range(0, num_iters + 1, every))
    return {"loss_history": list(np.linspace(2.3, 1.5, num_iters)),
            "train_acc_history": [0.1, 0.2, 0.3], "val_acc_history": [0.1, 0.15, 0.2],
            "snapshot_iters": iters, "W1_snapshots": [rng.randn(3072, H) for _ in iters]}


def page_data(page):
    return json.loads(re.search(r'class="wx-data">(.*?)</script>', page).group(1))


def test_static_copy_shows_snapshots_at_even_steps():
    """21 snapshots every 50 iterations: the page shows every 100th, not 0, 100, 200, 250, ..."""
    data = page_data(weight_explorer(snapshot_stats(), max_frames=12, max_bytes=10**8).html)
    assert data["iters"] == list(range(0, 1001, 100))
    assert data["runs"][0]["iters"] == list(range(0, 1001, 100))


def test_boundary_frames_at_even_steps():
    X, y = spiral(10)
    snaps = [(np.eye(2, 3), np.zeros(3))] * 20
    ex = boundary_explorer(X, y, list(range(0, 4751, 250)), snaps, predict_linear, h=0.2)
    assert ex.labels == [f"iteration {it}" for it in list(range(0, 4751, 500)) + [4750]]


def test_recorded_accuracy_iterations_are_used_when_present_instead_of_a_guess():
    stats = snapshot_stats()
    guessed = TrainingRun("r", stats).acc_iters
    assert len(guessed) == 3 and not np.array_equal(guessed, [0, 400, 999])
    run = TrainingRun("r", dict(stats, acc_iters=[0, 400, 999]))
    np.testing.assert_array_equal(run.acc_iters, [0, 400, 999])
    with pytest.raises(ValueError, match="acc_iters has 2 entries but there are 3 accuracy"):
        TrainingRun("r", dict(stats, acc_iters=[0, 400]))


def test_curves_are_readable():
    """Not 320x240 with 7-point labels: a picture about 480 pixels wide, text of 10 points or more."""
    from PIL import Image

    curves = _Curves(TrainingRun("r", snapshot_stats()))
    width, height = Image.open(io.BytesIO(curves.png(100))).size
    assert width >= 480 and height >= 360
    texts = [t for t in curves.fig.findobj(lambda a: hasattr(a, "get_fontsize") and
                                           hasattr(a, "get_text")) if t.get_text()]
    assert texts and min(t.get_fontsize() for t in texts) >= 10


def test_the_class_votes_say_what_they_are():
    """Sign, scale and which weights: the row of W2 after training, not a snapshot."""
    assert "no W2 given" in weight_explorer(snapshot_stats()).html
    W2 = np.zeros((4, 10))
    W2[1, [1, 3, 9, 6]] = [0.0005, 0.00025, 0.00011, -0.001]
    net = types.SimpleNamespace(params={"W2": W2})
    data = page_data(weight_explorer((snapshot_stats(), net)).html)
    scale, shares = data["runs"][0]["votes"][1]
    assert scale == "0.001"                              # the largest magnitude, a negative vote
    assert shares[:3] == [[1, 50], [3, 25], [9, 11]]      # car, cat, truck: relative, with sign
    assert shares[-1] == [6, -100]                        # frog: lowered the most
    caption = data["caption"].format(scale=scale)
    for words in ("raises (+)", "lowers (\u2212)", "score", "row of W2 after training",
                  "W2 has no snapshots", "100% = 0.001"):
        assert words in caption
    assert data["strongest"] == "strongest classes:"
    votes, s = class_votes(W2, 1)
    assert s == 0.001 and votes[0] == ("car", 0.0005, 0.5) and votes[-1] == ("frog", -0.001, -1.0)
    assert class_votes(np.zeros((1, 3)), 0, "abc")[0] == [("a", 0.0, 0.0), ("b", 0.0, 0.0),
                                                          ("c", 0.0, 0.0)]
    # the live view's HTML says the same
    ex = weight_explorer((snapshot_stats(), net))
    from cs231n.weight_viewer import _votes_html
    live = _votes_html(ex.runs[0], 1, CLASSES)
    assert "unit 1: strongest classes: car, cat, truck" in live and "100% = 0.001" in live
    assert "+50%" in live and "\u2212100%" in live


# ---------------------------------------------------------------------------
# What a student found confusing: each fix, tested on the data the page shows
# ---------------------------------------------------------------------------

from cs231n.vis_utils import first_layer_images  # noqa: E402
from cs231n.weight_viewer import MARKER_LEGEND, snapshot_label  # noqa: E402

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def blocky(png_bytes, block=4):
    """Whether a picture is made of constant block x block squares (nearest-neighbour upscaling)."""
    import io
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB")).astype(int)
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    b = a[:h, :w].reshape(h // block, block, w // block, block, 3)
    flat = (b.max(axis=(1, 3)) == b.min(axis=(1, 3))).all(axis=-1)
    return bool(flat.mean() > 0.5)


def two_lengths():
    """A run of 1000 iterations with 11 snapshots, one of 2000 with 9 (every 250)."""
    short = snapshot_stats(num_iters=1000, every=100)
    long = snapshot_stats(num_iters=2000, every=250, seed=1)
    return {"short": short, "long": long}


def test_snapshot_label_names_the_iteration_each_run_shows():
    run = TrainingRun("r", snapshot_stats(num_iters=1000, every=100))
    assert snapshot_label(run, 500) == "iteration 500"
    assert snapshot_label(run, 1000) == "iteration 1000"
    assert snapshot_label(run, 2000) == \
        "iteration 1000 (its last snapshot; this run trained 1000 iterations)"
    assert snapshot_label(run, 750) == "iteration 700 (its last snapshot before iteration 750)"
    late = TrainingRun("r", dict(snapshot_stats(num_iters=1000, every=100),
                                 snapshot_iters=list(range(100, 1001, 100)),
                                 W1_snapshots=[np.zeros((3072, 2))] * 10))
    assert snapshot_label(late, 0) == "iteration 100 (its first snapshot)"


def test_runs_of_different_lengths_each_say_which_snapshot_they_show():
    """Not a slider that reads 2000 beside a panel that shows iteration 1000."""
    ex = weight_explorer(two_lengths(), max_frames=50, max_bytes=10**8)
    page = ex.html
    data = page_data(page)
    assert data["iters"] == sorted(set(range(0, 1001, 100)) | set(range(0, 2001, 250)))
    short, long = data["runs"]
    at = {it: k for k, it in enumerate(data["iters"])}
    assert short["labels"][at[2000]] == \
        "iteration 1000 (its last snapshot; this run trained 1000 iterations)"
    assert long["labels"][at[2000]] == "iteration 2000"
    assert long["labels"][at[1000]] == "iteration 1000"
    assert long["labels"][at[300]] == "iteration 250 (its last snapshot before iteration 300)"
    # every label names the snapshot the panel's picture is
    for run in (short, long):
        for k, label in enumerate(run["labels"]):
            assert label.startswith(f"iteration {run['iters'][run['frame'][k]]}")
    # one iteration label per panel, none for the slider
    header = page.split('<div class="wx-runs">')[0]
    assert "wx-iter" not in header and not re.search(r"iteration \d", header)
    markup = page.split('<script type="application/json"')[0]
    assert markup.count("wx-iter") == markup.count('<span class="wx-snap wx-iter">') == 2


def test_the_marker_is_at_the_shown_snapshot_and_has_a_legend():
    ex = weight_explorer(two_lengths(), max_frames=50, max_bytes=10**8)
    data = page_data(ex.html)
    short = data["runs"][0]
    k_end = data["iters"].index(1000)
    for k in range(k_end, len(data["iters"])):        # past its end: at its last snapshot
        assert short["markers"][k] == short["markers"][k_end]
    assert short["markers"][k_end] == [list(b) for b in ex._curves[0].marker_boxes(1000)]
    k = data["iters"].index(300)                       # between snapshots: at the one shown
    assert short["markers"][k] == [list(b) for b in ex._curves[0].marker_boxes(300)]
    assert data["runs"][1]["markers"][k] == [list(b) for b in ex._curves[1].marker_boxes(250)]
    assert "current snapshot" in MARKER_LEGEND
    assert ex.html.count('class="wx-legend"') == 2 and MARKER_LEGEND in ex.html


def test_empty_grid_cells_are_transparent_not_black():
    from PIL import Image

    W1 = np.random.default_rng(0).standard_normal((3072, 10)) + 5.0  # no black pixel of its own
    grid, G = _weight_grid(W1, "channels_first")
    assert G == 4 and grid.shape == (3 * 32 + 2, 4 * 32 + 3, 4)   # 3 rows: none left empty
    alpha = grid[..., 3]
    assert (alpha[66:98, 66:131] == 0).all()                    # units 10 and 11 do not exist
    assert (alpha[32, :] == 0).all() and (alpha[:, 32] == 0).all()   # padding
    assert (alpha[:32, :32] == 255).all() and (alpha[66:98, 33:65] == 255).all()  # units 0, 9
    # in the page too (palette PNG with a transparent colour)
    ex = weight_explorer({"r": {"loss_history": [1.0] * 10, "snapshot_iters": [0, 10],
                                "W1_snapshots": [W1, W1 * 2]}}, max_bytes=10**8)
    png_bytes = ex._static_frames([10], 1)[0][0][1]
    pixels = np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGBA"))
    assert (pixels[66:98, 66:131, 3] == 0).all() and (pixels[:32, :32, 3] == 255).all()


def test_enlarged_template_is_smooth_not_nearest_neighbour():
    from PIL import Image

    ex = weight_explorer(snapshot_stats())
    picture = ex.unit_png(0, 3, 1)
    assert Image.open(io.BytesIO(picture)).size == (ex.zoom_px, ex.zoom_px)
    assert not blocky(picture)
    # what the old explorer did, np.kron of the tile: blocky, so the check can fail
    tile = np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))[::4, ::4]
    old = np.kron(tile, np.ones((4, 4, 1), dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray(old).save(buf, format="PNG")
    assert blocky(buf.getvalue())
    # the static copy draws the tile on a canvas that CSS scales smoothly
    css = ex.html.split("<style>")[1].split("</style>")[0]
    rule = re.search(r"canvas\.wx-zoom \{([^}]*)\}", css).group(1)
    assert "image-rendering: auto" in rule and "pixelated" not in rule
