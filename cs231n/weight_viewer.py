"""
See what the first layer learns during training, and how: weight_explorer.

    from cs231n.weight_viewer import weight_explorer
    weight_explorer({"default": (stats, net)})   # stats = net.train(..., snapshot_every=50)
    weight_explorer({"solver": solver})          # Solver(..., snapshot_every=50)

It shows the first-layer weights of one or more training runs as 32x32x3
templates, one picture per snapshot taken during training, with a slider over
the snapshots. Each run names the iteration of the snapshot it shows (runs may
differ in length: a shorter one stays at its last snapshot and says so), marks
it on its loss and accuracy curves (a red line, with a legend), and enlarges one
hidden unit, with a bar per class for how that unit votes through W2 after
training (W2 has no snapshots; the caption says so). In a live kernel it is made of ipywidgets; in an exported notebook
it is a self-contained HTML copy (see cs231n.viewer_display, and its JavaScript
and CSS in cs231n/viewer_assets/). For networks on 2-D inputs (the spiral) see
cs231n.boundary_viewer.
"""
import html
import json

import numpy as np

from cs231n.vis_utils import first_layer_images, visualize_grid
from cs231n.viewer_display import (ViewerMessage, asset, data_uri, display_live_and_static,
                                   even_steps, figure_png, new_id, png, standalone_page)

CIFAR10_CLASSES = ("plane", "car", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


# ---------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------

class TrainingRun(object):
    """
    One training run, in the form the explorer uses.

    Attributes:
    - name: A label for the run.
    - iters: List of S iterations at which W1 was recorded.
    - W1s: List of S arrays of shape (D, H), the matching copies of W1.
    - loss_history: List of losses, one per iteration.
    - train_acc_history, val_acc_history: Lists of accuracies, one per epoch.
    - acc_iters: Array of the iterations at which the accuracies were taken:
      stats["acc_iters"] when training recorded them, else computed from the
      iterations per epoch, else estimated from the lengths of the histories.
    - W2: Array of shape (H, C) of the final network, or None.
    """

    source_missing = False  # True for a run given as None (not trained yet)

    def __init__(self, name, stats, net=None, iterations_per_epoch=None):
        self.name = str(name)
        iters, W1s = stats.get("snapshot_iters"), stats.get("W1_snapshots")
        self.iters = [] if iters is None else [int(it) for it in iters]
        self.W1s = [] if W1s is None else list(W1s)
        if len(self.iters) != len(self.W1s):
            raise ValueError(f"run {self.name!r}: snapshot_iters has {len(self.iters)} entries "
                             f"but W1_snapshots has {len(self.W1s)}")
        history = lambda key: np.asarray(stats.get(key) if stats.get(key) is not None else [],  # noqa: E731
                                         dtype=np.float64)
        self.loss_history = history("loss_history")
        self.train_acc_history = history("train_acc_history")
        self.val_acc_history = history("val_acc_history")
        params = getattr(net, "params", None) or {}
        self.W2 = params.get("W2")
        num_acc = max(len(self.train_acc_history), len(self.val_acc_history))
        acc_iters = stats.get("acc_iters")
        if acc_iters is not None:
            self.acc_iters = np.asarray(acc_iters, dtype=np.float64)
            if self.acc_iters.shape != (num_acc,):
                raise ValueError(f"run {self.name!r}: acc_iters has {len(self.acc_iters)} entries "
                                 f"but there are {num_acc} accuracy records")
            return
        if iterations_per_epoch is None:
            iterations_per_epoch = stats.get("iterations_per_epoch")
        if iterations_per_epoch is None:
            # Older stats without acc_iters: TwoLayerNet.train records accuracies at
            # iterations 0, e, 2e, ... below len(loss_history), so e lies between
            # L / n and L / (n - 1); take the middle.
            L = max(len(self.loss_history), 1)
            iterations_per_epoch = L / max(num_acc - 0.5, 1.0)
        self.acc_iters = np.arange(num_acc) * float(iterations_per_epoch)

    @property
    def last_iter(self):
        return max([len(self.loss_history)] + self.iters[-1:])

    def index_at(self, iteration):
        """Index of the last snapshot taken at or before `iteration` (0 if none)."""
        i = int(np.searchsorted(self.iters, iteration, side="right")) - 1
        return max(i, 0)


def as_run(name, source):
    """
    Turn what training returned into a TrainingRun.

    Inputs:
    - name: A label for the run.
    - source: One of
      - (stats, net): stats from TwoLayerNet.train(..., snapshot_every=k), net the
        trained network (its W2 gives the classes of each hidden unit);
      - stats alone;
      - a Solver after solver.train() with snapshots (attributes snapshot_iters,
        W1_snapshots, loss_history, train_acc_history, val_acc_history,
        acc_iters, model);
      - a TrainingRun.

    Returns:
    - A TrainingRun.
    """
    if isinstance(source, TrainingRun):
        return source
    if source is None or (isinstance(source, tuple) and source and source[0] is None):
        run = TrainingRun(name, {})
        run.source_missing = True
        return run
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], dict):
        return TrainingRun(name, source[0], source[1])
    if isinstance(source, dict):
        return TrainingRun(name, source)
    if hasattr(source, "loss_history") and hasattr(source, "model"):
        stats = {key: getattr(source, key, None) for key in
                 ("snapshot_iters", "W1_snapshots", "loss_history",
                  "train_acc_history", "val_acc_history", "acc_iters")}
        ipe = None
        if hasattr(source, "X_train") and hasattr(source, "batch_size"):
            ipe = max(len(source.X_train) // source.batch_size, 1)
        return TrainingRun(name, stats, source.model, iterations_per_epoch=ipe)
    raise TypeError(f"run {name!r}: expected (stats, net), a stats dict or a Solver, "
                    f"got {type(source).__name__}")


def _as_runs(runs):
    """A list of TrainingRuns from one run or a dict {name: run}."""
    if isinstance(runs, dict) and not ("loss_history" in runs or "W1_snapshots" in runs):
        if not runs:
            raise ValueError("weight_explorer: expected at least one run, got an empty dict; "
                             "pass {name: (stats, net)} or {name: solver}")
        return [as_run(name, source) for name, source in runs.items()]
    return [as_run("run", runs)]


def _check_runs(runs):
    """A ViewerMessage saying why runs cannot be shown as templates, or None."""
    for run in runs:
        if run.source_missing:
            return ViewerMessage(f"Run {run.name!r} is None: train it first (with "
                                 f"snapshot_every=k), then show it.")
        if not run.W1s:
            return ViewerMessage(
                f"No weight snapshots in run {run.name!r}: nothing to step through. Train with "
                f"snapshots, e.g. stats = net.train(..., snapshot_every=50) or "
                f"Solver(..., snapshot_every=50), then pass (stats, net) or the solver.")
        shape = np.shape(run.W1s[0])
        if len(shape) != 2 or shape[0] != 3 * 32 * 32:
            return ViewerMessage(
                f"Run {run.name!r}: W1 has shape {shape}, so its columns are not 32x32x3 "
                f"images and cannot be drawn as templates. For a network on 2-D inputs "
                f"(the spiral), draw its decision boundary at each snapshot with "
                f"cs231n.boundary_viewer.boundary_explorer(X, y, snapshot_iters, snapshots, "
                f"predict).")
    return None


# ---------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------

def _weight_grid(W1, layout, padding=1, factor=1):
    """
    The templates of W1 as one uint8 grid image, on a transparent background.

    Inputs:
    - W1: Weights of shape (3072, H).
    - layout: See first_layer_images.
    - padding: Pixels between templates.
    - factor: Shrink each 32x32 template by this factor (averaging blocks).

    Returns a tuple of:
    - grid: Array of shape (R*S + (R-1)*padding, G*S + (G-1)*padding, 4), S = 32 // factor,
      R = ceil(H / G) rows of templates: RGBA, opaque on the templates; the padding and
      the empty cells after the last unit are transparent (the page's background
      shows through), not black.
    - G: Number of templates per row, ceil(sqrt(H)).
    """
    images = first_layer_images(np.asarray(W1), layout)
    H, S = images.shape[0], 32 // factor
    if factor > 1:
        images = images.reshape(H, S, factor, S, factor, 3).mean(axis=(2, 4))
    rgb = visualize_grid(images, ubound=255.0, padding=padding)
    G = int(np.ceil(np.sqrt(H)))
    R = int(np.ceil(H / G))
    alpha = np.zeros(rgb.shape[:2] + (1,))
    for unit in range(H):
        alpha[_cell(unit, G, padding, S)] = 255.0
    grid = np.concatenate([rgb, alpha], axis=2)[:R * S + (R - 1) * padding]
    return grid.astype(np.uint8), G


def _cell(unit, G, padding=1, size=32):
    """The (rows, columns) slices of template `unit` in a grid of G templates per row."""
    y0 = (unit // G) * (size + padding)
    x0 = (unit % G) * (size + padding)
    return slice(y0, y0 + size), slice(x0, x0 + size)


def _tile(grid, unit, G, padding=1, size=32):
    """The RGB template of hidden unit `unit`, cut out of a grid from _weight_grid."""
    rows, cols = _cell(unit, G, padding, size)
    return grid[rows, cols, :3]


def smooth_zoom(tile, size):
    """
    A template enlarged smoothly (bicubic), not in blocks of repeated pixels.

    Inputs:
    - tile: uint8 image of shape (S, S, 3).
    - size: Side of the enlarged picture, in pixels.

    Returns:
    - uint8 image of shape (size, size, 3).
    """
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(tile))
    return np.asarray(picture.resize((size, size), Image.Resampling.BICUBIC))


def snapshot_label(run, iteration):
    """
    What a run's panel says about the snapshot it shows when the slider is at
    `iteration` (runs may differ in length and in how often they took snapshots).

    Inputs:
    - run: A TrainingRun.
    - iteration: Where the slider is.

    Returns:
    - A str, e.g. "iteration 500", or "iteration 1000 (its last snapshot; this run
      trained 1000 iterations)" once the slider has passed the end of the run.
    """
    shown = run.iters[run.index_at(iteration)]
    if shown == iteration:
        return f"iteration {shown}"
    if iteration > run.iters[-1]:
        return (f"iteration {shown} (its last snapshot; this run trained "
                f"{run.last_iter} iterations)")
    if iteration < run.iters[0]:
        return f"iteration {shown} (its first snapshot)"
    return f"iteration {shown} (its last snapshot before iteration {iteration})"


def top_classes(W2, unit, k=3, class_names=CIFAR10_CLASSES):
    """
    The classes a hidden unit votes for most.

    Inputs:
    - W2: Second-layer weights of shape (H, C).
    - unit: Index of the hidden unit, 0 <= unit < H.
    - k: How many classes.
    - class_names: C names of the classes.

    Returns:
    - A list of k tuples (class name, weight), largest weight first.
    """
    row = np.asarray(W2)[unit]
    order = np.argsort(row)[::-1][:k]
    return [(class_names[c] if c < len(class_names) else str(c), float(row[c])) for c in order]


def class_votes(W2, unit, class_names=CIFAR10_CLASSES):
    """
    How a hidden unit votes for each class: its row of W2.

    The scores are h @ W2 + b2, so an activation h[unit] > 0 (ReLU) adds
    h[unit] * W2[unit, c] to the score of class c: a positive weight raises the
    score, a negative one lowers it.

    Inputs:
    - W2: Second-layer weights of shape (H, C).
    - unit: Index of the hidden unit, 0 <= unit < H.
    - class_names: C names of the classes.

    Returns a tuple of:
    - votes: A list of C tuples (class name, weight, share), largest weight first;
      share = weight / scale, between -1 and 1.
    - scale: The largest magnitude in the row, max_c |W2[unit, c]| (1.0 if all are 0).
    """
    row = np.asarray(W2, dtype=np.float64)[unit]
    scale = float(np.max(np.abs(row))) or 1.0
    names = [class_names[c] if c < len(class_names) else str(c) for c in range(len(row))]
    return [(names[c], float(row[c]), float(row[c]) / scale)
            for c in np.argsort(-row, kind="stable")], scale


# What the explorer says, the same in the live view and in the static copy.
SLIDER_HINT = "\u2190 earlier \u00b7 later \u2192 (each run names the iteration it shows)"
MARKER_LEGEND = "red line: current snapshot (the iteration named above)"
STRONGEST = "strongest classes:"
NO_W2_TEXT = "no W2 given: pass (stats, net) to see which classes this unit votes for"
VOTES_CAPTION = ("How much this unit's activation raises (+) or lowers (\u2212) each class's "
                 "score: its row of W2 after training (W2 has no snapshots, so these stay the "
                 "same as the slider moves), as a share of its largest, 100% = {scale}.")


def votes_caption(scale):
    """The caption under a unit's class votes; scale: its largest |W2| (100%)."""
    return VOTES_CAPTION.format(scale=f"{scale:.3g}")


def _votes_data(run):
    """
    For the static copy, class_votes of every unit in short: per unit
    [scale as text, [[class index, share in percent], ...]] (largest first), or None
    without W2.
    """
    if run.W2 is None:
        return None
    data = []
    for unit in range(np.shape(run.W2)[0]):
        votes, scale = class_votes(run.W2, unit, range(np.shape(run.W2)[1]))
        data.append([f"{scale:.3g}", [[c, int(round(100 * share))] for c, _, share in votes]])
    return data


def _percent(pct):
    """A share in percent with its sign: "+62%", "\u221240%" (a minus sign, not a hyphen)."""
    return ("+" if pct >= 0 else "\u2212") + f"{abs(pct)}%"


def _bar(pct, width=120):
    """HTML of one vote's bar: right of the middle line for +, left of it for -."""
    half = width / 2.0
    left = half if pct >= 0 else half + pct / 100.0 * half
    color = "#2b7bba" if pct >= 0 else "#c0392b"
    return (f'<span style="position:relative;display:inline-block;width:{width}px;height:9px;'
            f'background:#eee"><span style="position:absolute;left:{half:.0f}px;top:0;'
            f'width:1px;height:9px;background:#888"></span><span style="position:absolute;'
            f'left:{left:.1f}px;top:1px;width:{abs(pct) / 100.0 * half:.1f}px;height:7px;'
            f'background:{color}"></span></span>')


def _votes_html(run, unit, class_names):
    """
    What the live view says about a unit's classes, as HTML: the strongest
    classes, a bar per class and a caption (cs231n/viewer_assets/weight_explorer.js
    draws the same for the static copy).
    """
    if run.W2 is None or unit >= np.shape(run.W2)[0]:
        return f"<div><b>unit {unit}</b>: {html.escape(NO_W2_TEXT)}</div>"
    votes, scale = class_votes(run.W2, unit, class_names)
    rows = "".join(
        f'<div style="display:flex;align-items:center;gap:6px;line-height:1.2">'
        f'<span style="width:3.5em">{html.escape(name)}</span>{_bar(round(100 * share))}'
        f'<span style="width:3em;text-align:right">{_percent(round(100 * share))}</span></div>'
        for name, _, share in votes)
    strongest = ", ".join(name for name, _, _ in votes[:3])
    return (f'<div style="font-size:13px"><b>unit {unit}: {html.escape(STRONGEST)} '
            f'{html.escape(strongest)}</b>{rows}<div style="color:#555;max-width:340px">'
            f'{html.escape(votes_caption(scale))}</div></div>')


class _Curves(object):
    """The loss and accuracy curves of a run, with a marker that can move."""

    # 480 x 360 pixels; text of 10 to 11 points (13 to 15 pixels at 96 dpi).
    WIDTH, HEIGHT, DPI = 5.0, 3.75, 96
    FONT_SIZE, LABEL_SIZE = 10, 11

    def __init__(self, run):
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(self.WIDTH, self.HEIGHT), dpi=self.DPI)
        ax_loss, ax_acc = self.fig.subplots(2, 1, sharex=True)
        ax_loss.plot(np.arange(len(run.loss_history)), run.loss_history, lw=0.8, color="C0")
        ax_loss.set_ylabel("loss")
        ax_loss.ticklabel_format(axis="y", useOffset=False)
        n = len(run.acc_iters)
        if len(run.train_acc_history) == n and n:
            ax_acc.plot(run.acc_iters, run.train_acc_history, "-o", ms=3, label="train")
        if len(run.val_acc_history) == n and n:
            ax_acc.plot(run.acc_iters, run.val_acc_history, "-o", ms=3, label="val")
            ax_acc.legend(loc="lower right", fontsize=self.FONT_SIZE)
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_xlabel("iteration")
        ax_loss.set_xlim(0, max(run.last_iter, 1))
        for ax in (ax_loss, ax_acc):
            ax.tick_params(labelsize=self.FONT_SIZE)
            ax.yaxis.label.set_size(self.LABEL_SIZE)
            ax.xaxis.label.set_size(self.LABEL_SIZE)
        self.fig.tight_layout(pad=0.4)
        self.axes = (ax_loss, ax_acc)
        self.lines = [ax.axvline(0, color="C3", lw=1.2) for ax in self.axes]

    def png(self, iteration=None):
        """PNG bytes, with the marker at `iteration` (no marker for None)."""
        for line in self.lines:
            line.set_visible(iteration is not None)
            if iteration is not None:
                line.set_xdata([iteration, iteration])
        return figure_png(self.fig)

    def marker_boxes(self, iteration):
        """
        Where the marker lines sit, in percent of the picture: a list of
        (left, top, height), one per axes.
        """
        boxes = []
        for ax in self.axes:
            pos = ax.get_position()
            x_pixel = ax.transData.transform((iteration, 0.0))[0]
            left = 100.0 * x_pixel / (self.fig.get_figwidth() * self.fig.dpi)
            boxes.append((round(left, 2), round(100.0 * (1.0 - pos.y1), 2),
                          round(100.0 * pos.height, 2)))
        return boxes


# ---------------------------------------------------------------------------
# The static page: works in exported HTML with no kernel and no network
# ---------------------------------------------------------------------------

def _legend_html():
    """The caption under the curves that says what the red marker is."""
    return (f'<div class="wx-legend" style="font-size:13px;line-height:1.3">'
            f'<span style="display:inline-block;width:2px;height:12px;background:#d62728;'
            f'vertical-align:middle;margin:0 6px 0 4px"></span>{html.escape(MARKER_LEGEND)}</div>')


def _static_html(runs, iters, frames, labels, markers, curves_png, grids, votes, class_names,
                 live_class, grid_px, zoom_px, tile=32):
    uid = new_id("wx-")
    data = {"iters": iters, "live": live_class, "classes": list(class_names),
            "strongest": STRONGEST, "caption": VOTES_CAPTION, "noW2": NO_W2_TEXT, "runs": []}
    columns = []
    for r, run in enumerate(runs):
        grid_pngs, G, _ = grids[r]
        data["runs"].append({
            "frame": frames[r], "iters": [run.iters[i] for i in sorted(grid_pngs)],
            "labels": labels[r], "markers": markers[r], "cols": G, "pad": 1,
            "tile": tile, "votes": votes[r],
        })
        imgs = "".join(f'<img class="wx-grid" alt="W1 of {html.escape(run.name)}" '
                       f'src="{data_uri(p)}">' for _, p in sorted(grid_pngs.items()))
        marks = "".join('<div class="wx-marker"></div>' for _ in range(2))
        H = np.shape(run.W1s[0])[1]
        columns.append(
            f'<div class="wx-run"><b>{html.escape(run.name)}</b>'
            f'<span class="wx-snap wx-iter"></span>{imgs}'
            f'<div class="wx-curves"><img alt="loss and accuracy" src="{data_uri(curves_png[r])}">'
            f'{marks}</div>{_legend_html()}'
            f'<label>hidden unit <input class="wx-unit" type="range" min="0" max="{H - 1}" '
            f'value="0"> <span class="wx-unit-label"></span></label>'
            f'<canvas class="wx-zoom" width="{tile}" height="{tile}"></canvas>'
            f'<div class="wx-votes"></div></div>')
    return (f'<div id="{uid}" class="cs231n-weight-explorer" '
            f'style="--wx-grid-px: {grid_px}px; --wx-zoom-px: {zoom_px}px">'
            f'<style>{asset("weight_explorer.css")}</style>'
            f'<div><b>First-layer weights during training</b> '
            f'<input class="wx-frame" type="range" min="0" max="{len(iters) - 1}" '
            f'value="{len(iters) - 1}"> <span class="wx-hint">{html.escape(SLIDER_HINT)}</span></div>'
            f'<div class="wx-runs">{"".join(columns)}</div>'
            f'<script type="application/json" class="wx-data">{json.dumps(data)}</script>'
            f'<script>{asset("live_view.js")}{asset("weight_explorer.js")}'
            f'cs231nWeightExplorer({json.dumps(uid)});</script></div>')


# ---------------------------------------------------------------------------
# The explorer
# ---------------------------------------------------------------------------

class WeightExplorer(object):
    """
    The first-layer weights of one or more runs over their snapshots.

    Display it in a notebook (make it the last line of a cell, or display(it)):
    a live kernel gets the ipywidgets view (self.widget) and the exported HTML
    gets the static copy (self.html); save_html(path) writes the copy as a page.

    Attributes (of the live view, built on first use):
    - widget: The ipywidgets.VBox.
    - frame_slider: SelectionSlider over the snapshot iterations (all runs), with
      no readout: each run names the snapshot it shows.
    - unit_sliders: One IntSlider per run, the hidden unit to enlarge.
    - grid_images, curve_images, unit_images: One ipywidgets.Image per run.
    - snap_labels: One ipywidgets.HTML per run, which of its snapshots it shows
      (see snapshot_label).
    - top_labels: One ipywidgets.HTML per run: the strongest classes of the unit and
      its votes for every class (see class_votes).
    """

    def __init__(self, runs, layout="channels_first", class_names=CIFAR10_CLASSES,
                 max_frames=12, max_bytes=400_000, zoom_px=128):
        self.runs = runs
        self.layout = layout
        self.class_names = class_names
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.zoom_px = zoom_px
        self.iters = sorted(set(it for run in runs for it in run.iters))
        self.live_class = new_id("cs231n-wx-live-")
        self._curves = [_Curves(run) for run in runs]
        self._grid_cache = {}
        self._png_cache = {}
        self._widget = None
        self._html = None
        H = max(np.shape(run.W1s[0])[1] for run in runs)
        G = int(np.ceil(np.sqrt(H)))
        self.grid_px = int(min(2, max(1, 320 // (33 * G))) * (33 * G - 1))

    # -- pictures --------------------------------------------------------
    def grid(self, r, i):
        """(uint8 grid image, templates per row) of run r at its snapshot i."""
        key = (r, i)
        if key not in self._grid_cache:
            self._grid_cache[key] = _weight_grid(self.runs[r].W1s[i], self.layout)
        return self._grid_cache[key]

    def grid_png(self, r, i):
        """PNG bytes of the templates of run r at its snapshot i."""
        if (r, i) not in self._png_cache:
            self._png_cache[(r, i)] = png(self.grid(r, i)[0])
        return self._png_cache[(r, i)]

    def unit_png(self, r, i, unit):
        """PNG bytes of hidden unit `unit` of run r at its snapshot i, enlarged smoothly."""
        grid, G = self.grid(r, i)
        return png(smooth_zoom(_tile(grid, unit, G), self.zoom_px))

    # -- the static copy ---------------------------------------------------
    @property
    def html(self):
        """The self-contained HTML of the explorer (a str)."""
        if self._html is None:
            self._html = self._static_html()
        return self._html

    def save_html(self, path, title="First-layer weights during training"):
        """Write the static copy as a whole HTML page that needs no network; return path."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(standalone_page(title, self.html))
        return path

    def _static_frames(self, iters, factor):
        """For each run: ({snapshot index: PNG bytes}, templates per row, grid shape)."""
        grids = []
        for run in self.runs:
            pngs = {}
            for i in sorted(set(run.index_at(it) for it in iters)):
                grid, G = _weight_grid(run.W1s[i], self.layout, factor=factor)
                pngs[i] = png(grid, colors=64)
            grids.append((pngs, G, grid.shape[:2]))
        return grids

    def _static_html(self):
        # Fit the embedded pictures in max_bytes: full-size templates if they fit,
        # else templates shrunk to 16x16, else fewer snapshots (still at even steps).
        iters = even_steps(self.iters, self.max_frames)
        for factor in (1, 2):
            grids = self._static_frames(iters, factor)
            size = sum(len(p) for pngs, _, _ in grids for p in pngs.values())
            if size <= self.max_bytes:
                break
        while size > self.max_bytes and len(iters) > 2:
            iters = even_steps(iters, max(2, min(len(iters) - 1,
                                                 int(len(iters) * self.max_bytes / size))))
            grids = self._static_frames(iters, factor)
            size = sum(len(p) for pngs, _, _ in grids for p in pngs.values())
        frames, labels, markers, votes, curves = [], [], [], [], []
        for r, run in enumerate(self.runs):
            needed = sorted(grids[r][0])
            frames.append([needed.index(run.index_at(it)) for it in iters])
            labels.append([snapshot_label(run, it) for it in iters])
            markers.append([self._curves[r].marker_boxes(run.iters[run.index_at(it)])
                            for it in iters])
            votes.append(_votes_data(run))
            curves.append(self._curves[r].png(None))
        return _static_html(self.runs, iters, frames, labels, markers, curves, grids, votes,
                            self.class_names, self.live_class, self.grid_px, self.zoom_px,
                            tile=32 // factor)

    # -- the live view -----------------------------------------------------
    @property
    def widget(self):
        """The ipywidgets view (built on first use)."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _build_widget(self):
        import ipywidgets as widgets

        # No readout: the slider's iteration is not what every run shows (runs differ
        # in length); each run says which of its snapshots it shows (snap_labels).
        options = [(str(it), it) for it in self.iters]
        self.frame_slider = widgets.SelectionSlider(
            options=options, value=self.iters[-1], description="snapshots", readout=False,
            continuous_update=False, layout=widgets.Layout(width="420px"))
        self.grid_images, self.curve_images, self.unit_images = [], [], []
        self.unit_sliders, self.top_labels, self.snap_labels = [], [], []
        columns = []
        for r, run in enumerate(self.runs):
            H = np.shape(run.W1s[0])[1]
            self.snap_labels.append(widgets.HTML())
            self.grid_images.append(widgets.Image(
                format="png", layout=widgets.Layout(width=f"{self.grid_px}px")))
            self.curve_images.append(widgets.Image(format="png"))
            self.unit_sliders.append(widgets.IntSlider(
                value=0, min=0, max=H - 1, description="hidden unit",
                continuous_update=False))
            self.unit_images.append(widgets.Image(format="png"))
            self.top_labels.append(widgets.HTML())
            self.unit_sliders[r].observe(lambda change, r=r: self._update(r, unit_only=True),
                                         names="value")
            columns.append(widgets.VBox([
                widgets.HTML(f"<b>{html.escape(run.name)}</b>"), self.snap_labels[r],
                self.grid_images[r], self.curve_images[r], widgets.HTML(_legend_html()),
                self.unit_sliders[r], self.unit_images[r], self.top_labels[r]]))
        self.frame_slider.observe(lambda change: self._update(), names="value")
        box = widgets.VBox([widgets.HTML("<b>First-layer weights during training</b>"),
                            widgets.HBox([self.frame_slider,
                                          widgets.HTML(html.escape(SLIDER_HINT))]),
                            widgets.HBox(columns)])
        box.add_class(self.live_class)
        self._update()
        return box

    def _update(self, only=None, unit_only=False):
        """Redraw run `only` (default: all) for the values of the sliders."""
        it = self.frame_slider.value
        for r, run in enumerate(self.runs):
            if only is not None and r != only:
                continue
            i = run.index_at(it)
            unit = self.unit_sliders[r].value
            if not unit_only:
                self.snap_labels[r].value = html.escape(snapshot_label(run, it))
                self.grid_images[r].value = self.grid_png(r, i)
                self.curve_images[r].value = self._curves[r].png(run.iters[i])
            self.unit_images[r].value = self.unit_png(r, i, unit)
            self.top_labels[r].value = _votes_html(run, unit, self.class_names)

    # -- display -------------------------------------------------------------
    def _ipython_display_(self):
        display_live_and_static(self)

    def _repr_html_(self):
        return self.html

    def __repr__(self):
        names = ", ".join(run.name for run in self.runs)
        return f"WeightExplorer(runs: {names}; {len(self.iters)} snapshot iterations)"


def weight_explorer(runs, layout="channels_first", class_names=CIFAR10_CLASSES,
                    max_frames=12, max_bytes=400_000):
    """
    Step through the first-layer weights recorded during training.

    A slider moves over the snapshots of all runs. Each run shows its templates
    at its last snapshot up to the slider's position and names that snapshot's
    iteration (see snapshot_label), marks it on its loss and accuracy curves,
    and enlarges one hidden unit (chosen with its own slider, drawn smoothly),
    with its votes for every class: its row of W2 after training, the same at
    every snapshot (see class_votes).

    Inputs:
    - runs: One run, or a dict {name: run} to show runs side by side. A run is
      (stats, net) with stats from net.train(..., snapshot_every=k), or stats
      alone (no classes then), or a Solver trained with snapshot_every.
    - layout: How image rows were flattened; see first_layer_images.
    - class_names: Names of the C classes (CIFAR-10's by default).
    - max_frames: Most snapshots in the static HTML copy, at even steps of
      iterations (and the last one); the live view uses them all.
    - max_bytes: Budget for the PNGs of the static copy; past it the templates
      are shrunk to 16x16, then fewer snapshots are kept.

    Returns:
    - A WeightExplorer to display; or a ViewerMessage saying why there is
      nothing to show (no snapshots, or W1 is not made of 32x32x3 images).
    """
    runs = _as_runs(runs)
    message = _check_runs(runs)
    if message is not None:
        return message
    return WeightExplorer(runs, layout=layout, class_names=class_names,
                          max_frames=max_frames, max_bytes=max_bytes)
