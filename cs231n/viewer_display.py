"""
What the explorers (cs231n.weight_viewer, cs231n.boundary_viewer) share to show
themselves in a notebook.

An explorer displays twice over:
- an ipywidgets view, for a live kernel (Jupyter, VS Code);
- a self-contained HTML fragment (PNG pictures embedded as data: URIs, range
  inputs and a little JavaScript from cs231n/viewer_assets/), which is what a
  notebook exported by nbconvert shows, with no kernel and no network. In a live
  front end it hides itself once the widget view is on the page.

When there is nothing to show, an explorer returns a ViewerMessage instead of
raising a traceback.
"""
import base64
import html
import io
import math
import uuid
from importlib import resources

import numpy as np

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
ASSETS = "viewer_assets"  # package data: the explorers' JavaScript and CSS


class ViewerMessage(object):
    """
    What the explorers return when there is nothing to show: a short
    explanation that a notebook displays (as text and as HTML) instead of a
    traceback.
    """

    def __init__(self, message):
        self.message = message

    def __repr__(self):
        return self.message

    __str__ = __repr__

    def _repr_html_(self):
        return ('<div class="cs231n-viewer-message" style="border-left:4px solid #d9a400;'
                'background:#fff8e0;padding:6px 10px;font-family:sans-serif;">'
                + html.escape(self.message) + '</div>')


def asset(name):
    """The text of one of the explorers' package data files, e.g. "weight_explorer.js"."""
    return resources.files("cs231n").joinpath(ASSETS, name).read_text(encoding="utf-8")


def new_id(prefix):
    """A fresh id for an HTML element, unique on any page."""
    return prefix + uuid.uuid4().hex[:12]


def png(img, colors=None):
    """PNG bytes of a uint8 image of shape (H, W, 3); colors: palette size, or None."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(img))
    if colors is not None:
        picture = picture.quantize(colors, method=Image.Quantize.FASTOCTREE)
    buf = io.BytesIO()
    picture.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def figure_png(fig):
    """PNG bytes of a matplotlib Figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def data_uri(png_bytes):
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def even_steps(iters, max_count):
    """
    At most max_count of the sorted iterations `iters`, evenly spaced: every
    iteration that is a multiple of one step (counted from the first), and the
    last one, which may come sooner after the one before.

    The step is the smallest multiple of the snapshot interval (the greatest
    common divisor of the iterations before the last) that keeps within
    max_count. For example 0, 50, ..., 1000 (21 snapshots) with max_count=12
    gives 0, 100, ..., 1000.

    Returns:
    - The chosen iterations, a list.
    """
    iters = sorted(int(it) for it in iters)
    max_count = max(int(max_count), 2)
    if len(iters) <= max_count:
        return iters
    first, last = iters[0], iters[-1]
    base = 0
    for it in iters[1:-1]:
        base = math.gcd(base, it - first)
    base = max(base, 1)
    step = base
    while True:
        picked = [it for it in iters[:-1] if (it - first) % step == 0] + [last]
        if len(picked) <= max_count:
            return picked
        step += base


def live_kernel():
    """Whether code runs in an IPython kernel that can talk to widgets."""
    try:
        from IPython import get_ipython
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def display_live_and_static(explorer):
    """
    Display the widget view (live kernels) and then the static HTML copy.

    The widget output carries no text/html: where its state is missing (an
    exported notebook) it shows nothing instead of 'VBox(children=...)', and the
    plain text/html output after it does the work.
    """
    from IPython.display import display

    if live_kernel():
        w = explorer.widget
        display({WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": w.model_id},
                 "text/plain": ""}, raw=True)
    display({"text/html": explorer.html, "text/plain": repr(explorer)}, raw=True)


def standalone_page(title, body):
    """A whole HTML page around an explorer's fragment: no network needed to show it."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{html.escape(title)}</title></head>'
            f'<body style="margin:16px">{body}</body></html>\n')
