"""
The decision boundary of a network on 2-D inputs (the spiral), at each snapshot
taken during training, with a slider: boundary_explorer.

    from cs231n.boundary_viewer import boundary_explorer
    boundary_explorer(X, y, snapshot_iters, snapshots, predict)

Like the weight explorer (cs231n.weight_viewer) it shows ipywidgets in a live
kernel and a self-contained HTML copy in an exported notebook (see
cs231n.viewer_display).
"""
import html
import json

import numpy as np

from cs231n.viewer_display import (ViewerMessage, asset, data_uri, display_live_and_static,
                                   even_steps, figure_png, new_id)


class BoundaryExplorer(object):
    """
    Decision boundaries of a network on 2-D inputs, one per snapshot.

    Attributes:
    - frames: List of PNG bytes, one per snapshot.
    - labels: List of the matching captions.
    - widget, frame_slider, image: The live view (built on first use).
    """

    def __init__(self, frames, labels):
        self.frames = frames
        self.labels = labels
        self.live_class = new_id("cs231n-wx-live-")
        self._widget = None

    @property
    def html(self):
        """The self-contained HTML of the explorer (a str)."""
        uid = new_id("wx-")
        imgs = "".join(f'<img class="wx-frame-img" alt="{html.escape(label)}" '
                       f'src="{data_uri(png)}">' for png, label in zip(self.frames, self.labels))
        n = len(self.frames)
        data = {"labels": self.labels, "live": self.live_class}
        return (f'<div id="{uid}" class="cs231n-boundary-explorer">'
                f'<style>{asset("boundary_explorer.css")}</style>'
                f'<div><input class="wx-frame" type="range" min="0" max="{n - 1}" value="{n - 1}">'
                f' <span class="wx-iter"></span></div>{imgs}'
                f'<script type="application/json" class="wx-data">{json.dumps(data)}</script>'
                f'<script>{asset("live_view.js")}{asset("boundary_explorer.js")}'
                f'cs231nBoundaryExplorer({json.dumps(uid)});</script></div>')

    @property
    def widget(self):
        """The ipywidgets view (built on first use)."""
        if self._widget is None:
            import ipywidgets as widgets

            self.frame_slider = widgets.SelectionSlider(
                options=[(label, k) for k, label in enumerate(self.labels)],
                value=len(self.labels) - 1, description="snapshot",
                layout=widgets.Layout(width="420px"))
            self.image = widgets.Image(format="png", value=self.frames[-1])

            def update(change):
                self.image.value = self.frames[change["new"]]

            self.frame_slider.observe(update, names="value")
            self._widget = widgets.VBox([self.frame_slider, self.image])
            self._widget.add_class(self.live_class)
        return self._widget

    def _ipython_display_(self):
        display_live_and_static(self)

    def _repr_html_(self):
        return self.html

    def __repr__(self):
        return f"BoundaryExplorer({len(self.frames)} snapshots)"


def boundary_explorer(X, y, snapshot_iters, snapshots, predict, h=0.02, max_frames=12):
    """
    Step through the decision boundary of a network on 2-D inputs.

    Inputs:
    - X: Data of shape (N, 2).
    - y: Labels of shape (N,).
    - snapshot_iters: List of S iterations, increasing.
    - snapshots: List of S parameter snapshots, in any form predict takes
      (e.g. tuples (W, b, W2, b2) of copies).
    - predict: Function predict(snapshot, points) -> labels of shape (M,) for
      points of shape (M, 2).
    - h: Step of the grid the boundary is evaluated on.
    - max_frames: Most snapshots drawn, at even steps of iterations (and the
      last one); see cs231n.viewer_display.even_steps.

    Returns:
    - A BoundaryExplorer to display; or a ViewerMessage if there are no
      snapshots or X is not 2-D.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        return ViewerMessage(f"boundary_explorer draws 2-D inputs: X must have shape (N, 2), "
                             f"got shape {X.shape}")
    if not snapshots:
        return ViewerMessage("No snapshots: nothing to step through. Record copies of the "
                             "parameters during training, e.g. every 500 iterations.")
    if len(snapshot_iters) != len(snapshots):
        raise ValueError(f"boundary_explorer: snapshot_iters has {len(snapshot_iters)} entries "
                         f"but snapshots has {len(snapshots)}; record one iteration per snapshot")
    from matplotlib.figure import Figure

    x_min, x_max = X[:, 0].min() - 1, X[:, 0].max() + 1
    y_min, y_max = X[:, 1].min() - 1, X[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    points = np.c_[xx.ravel(), yy.ravel()]
    index = {int(it): k for k, it in enumerate(snapshot_iters)}
    frames, labels = [], []
    for it in even_steps(index, max_frames):
        Z = np.asarray(predict(snapshots[index[it]], points)).reshape(xx.shape)
        fig = Figure(figsize=(4.5, 4.5), dpi=80)
        ax = fig.subplots()
        ax.contourf(xx, yy, Z, cmap="Spectral", alpha=0.8)
        ax.scatter(X[:, 0], X[:, 1], c=y, s=12, cmap="Spectral", edgecolors="k", linewidths=0.3)
        ax.set_xlim(xx.min(), xx.max())
        ax.set_ylim(yy.min(), yy.max())
        ax.set_title(f"iteration {it}", fontsize=12)
        ax.tick_params(labelsize=10)
        fig.tight_layout(pad=0.3)
        frames.append(figure_png(fig))
        labels.append(f"iteration {it}")
    return BoundaryExplorer(frames, labels)
