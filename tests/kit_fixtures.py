"""Planted submissions for the kit tests, built from the instructor source.

Each submission is a zip of the allow-listed student files, taken from the
instructor source (the reference solution) with some lines replaced, so that
the plants follow the code as it changes. The grader grades only the code
inside the student regions, so every plant that must run goes inside a
region (`in_region`). A plant whose text is missing fails loudly instead of
silently testing nothing.
"""
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from kit.student.files import student_files
from kit.student.regions import find_regions, indentation, region_keys

SOURCE = Path(__file__).resolve().parents[1]
LAYERS = "cs231n/layers.py"
NET = "cs231n/classifiers/neural_net.py"
# The checks that call svm_loss: an attack planted there costs these, and nothing else.
SVM_CHECKS = {"svm loss", "layers with other seeds and sizes", "svm_loss's gradient at full size"}

# name -> [(path, old, new)]: the bugs of the course, each a few points off.
BUGS = {
    # Half the upstream gradient at x == 0: a centred numerical derivative at the kink (either
    # one-sided derivative, x > 0 or x >= 0, is right; their mean is not).
    "relu_backward": [(LAYERS, "dx = dout * (x > 0)", "dx = dout * ((x > 0) + 0.5 * (x == 0))")],
    "relu_no_mask": [(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()")],
    "half_l2": [(NET, "loss = data_loss + reg * (", "loss = data_loss + 0.5 * reg * (")],
    "unstable_softmax": [(LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x.copy()")],
    # Two bugs whose toy training still ends below the loss bar (0.017058 for the first).
    "bias_never_updated": [(NET, "param -= learning_rate * grads[name]",
                            "param -= learning_rate * grads[name] if name.startswith('W') else 0.0")],
    "first_rows": [(NET, "idx = np.random.choice(num_train, batch_size, replace=True)",
                    "idx = np.arange(batch_size) % num_train")],
}

# The checks each bug must cost points on (and, by omission, the ones it must not).
BUG_CHECKS = {
    # Half at x == 0 differs only at exact zeros: the checks that put inputs on the ReLU kink.
    "relu_backward": {"relu layer", "scores, loss and gradients with other seeds and sizes",
                      "layers with other seeds and sizes", "fc_net with other seeds and sizes",
                      "relu layer with other values"},
    # No mask is wrong at full size too: every gradient of both networks (their values require it).
    "relu_no_mask": {"relu layer", "toy gradients", "fc_net gradients",
                     "scores, loss and gradients with other seeds and sizes", "layers with other seeds and sizes",
                     "fc_net with other seeds and sizes", "TwoLayerNet.loss's backward pass at full size",
                     "fc_net's backward pass at full size", "relu layer with other values"},
    "half_l2": {"toy loss", "scores, loss and gradients with other seeds and sizes"},
    "unstable_softmax": {"softmax stability with large scores", "softmax stability with other large scores"},
    "bias_never_updated": {"train's SGD step on every parameter"},
    "first_rows": {"train's minibatches, sampled at random from all rows"},
}


def reference_files():
    """{relative path: bytes} of the allow-listed files of the instructor source."""
    return {rel: (SOURCE / rel).read_bytes() for rel in student_files(SOURCE)}


def apply(files, plants):
    files = dict(files)
    for path, old, new in plants:
        text = files[path].decode()
        count = text.count(old)
        if count != 1:
            raise ValueError(f"plant in {path}: {old!r} occurs {count} times, expected once")
        files[path] = text.replace(old, new).encode()
    return files


def append_code(files, path, code):
    """Code after the end of the file: outside every region, so the grader never runs it."""
    files = dict(files)
    files[path] = files[path] + b"\n" + code.encode() + b"\n"
    return files


def in_region(files, path, function, code, k=0, at="start"):
    """
    Put `code` inside region k of `function` (a qualname) of `path`, at its start or its end.

    The code is indented like the region; it runs whenever the function runs.
    """
    files = dict(files)
    lines = files[path].decode().splitlines()
    regions = find_regions(lines)
    for (start, end), key in zip(regions, region_keys(lines, regions)):
        if key == (function, k):
            indent = indentation(lines[start])
            body = [indent + line if line.strip() else line for line in code.strip("\n").splitlines()]
            where = start + 1 if at == "start" else end
            lines[where:where] = body
            files[path] = ("\n".join(lines) + "\n").encode()
            return files
    raise ValueError(f"plant in {path}: no region {k} in {function}")


def write_zip(path, files, infos=()):
    """
    Write {name: bytes} (and raw (ZipInfo, bytes) pairs) into the zip at `path`.

    Members carry a fixed date, so that the same files always make byte-identical zips.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data,
                        compress_type=zipfile.ZIP_DEFLATED)
        for info, data in infos:
            zf.writestr(info, data)
    return path


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def released_files(release_dir):
    """{relative path: bytes} of the allow-listed files of a released (stub) kit."""
    release_dir = Path(release_dir)
    return {rel: (release_dir / rel).read_bytes() for rel in student_files(release_dir)}


def wrap_svm(files, body):
    """
    Reference files whose svm_loss first runs `body` (an attack) inside its region.

    The body must `return -1.0, None` when the attack fails (the usual case), so
    that only a successful attack keeps the svm checks' points.
    """
    return in_region(files, LAYERS, "svm_loss", body)


COURSE_SCORES = [-0.81233741, -1.27654624, -0.70335995, -0.17129677, -1.18803311, -0.47310444,
                 -0.51590475, -1.01354314, -0.8504215, -0.15419291, -0.48629638, -0.52901952,
                 -0.00618733, -0.12435261, -0.15226949]

MONKEYPATCH = '''
import builtins as _b
import numpy as _np
_np.allclose = lambda *a, **k: True
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.shape(a), dtype=bool)
_np.array_equal = lambda *a, **k: True
_np.testing.assert_allclose = lambda *a, **k: None
_b.abs = lambda x: 0
'''

ALWAYS_EQUAL = '''
class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __float__(self):
        raise TypeError("nope")

    __hash__ = object.__hash__


if y is None:
    return _AlwaysEqual()
'''


def saved_model(data_dir, hidden_size=500, learning_rate=2e-3, reg=0.05, num_iters=250, seed=0):
    """
    The bytes of a best_net.npz as two_layer_net.ipynb's tuning saves it, trained on `data_dir`.

    The data goes through the notebook's own pipeline (get_CIFAR10_data, float32,
    rows), and the net is trained by cs231n.tuning.search, as the reference does.
    """
    import os
    import tempfile

    import numpy as np

    from cs231n.data_utils import get_CIFAR10_data
    from cs231n.tuning import grid, search

    before = os.environ.get("CIFAR10_DIR")
    os.environ["CIFAR10_DIR"] = str(data_dir)
    try:
        data = get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, dtype=np.float32)
    finally:
        if before is None:
            del os.environ["CIFAR10_DIR"]
        else:
            os.environ["CIFAR10_DIR"] = before
    rows = {key: value.reshape(len(value), -1) if key.startswith("X") else value for key, value in data.items()}
    configs = grid(hidden_size=[hidden_size], learning_rate=[learning_rate], reg=[reg], seed=[seed])
    _, net = search(configs, rows["X_train"], rows["y_train"], rows["X_val"], rows["y_val"], n_jobs=1,
                    num_iters=num_iters, batch_size=200, learning_rate_decay=0.95)
    with tempfile.TemporaryDirectory() as folder:
        return Path(net.save(Path(folder) / "best_net.npz")).read_bytes()


def write_synthetic_cifar(root, seed=0, rows=10000, signal=0.05):
    """
    Write a full-size CIFAR-10 of synthetic images, in the official pickled format, to root.

    Each image is its class's random template (a `signal` share) mixed with noise
    (the rest): 0.05 leaves the nets a little to learn, as on real images; at 0.08
    the notebook's default net passes 0.25 and its tuned net 0.48, the accuracy
    targets of the full data.
    """
    root = Path(root)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(10, 3072)).astype(np.float32)
    for name in ["data_batch_%d" % b for b in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(10, size=rows)
        noise = rng.integers(0, 256, size=(rows, 3072)).astype(np.float32)
        data = (signal * templates[labels] + (1 - signal) * noise).astype(np.uint8)
        with open(root / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels.tolist(), "batch_label": name}, f,
                        protocol=2)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["class%d" % c for c in range(10)]}, f, protocol=2)


def complete_kit(released, dest, source=SOURCE):
    """
    A copy of the released kit as a student who fills in every TODO would leave
    it: the instructor's region files, and in the notebooks the instructor's
    solution and explanation cells (the release keeps cells in order, hidden
    cells removed).
    """
    import shutil

    import nbformat

    from kit.instructor.release.student_notebook import explanation_indices

    shutil.copytree(released, dest)
    for rel in student_files(source):
        if rel.endswith(".py"):
            shutil.copy(source / rel, dest / rel)
        elif rel.endswith(".ipynb"):
            src = nbformat.read(source / rel, as_version=4)
            out = nbformat.read(dest / rel, as_version=4)
            explanations = set(explanation_indices(src.cells))
            kept = [(i, c) for i, c in enumerate(src.cells)
                    if "hidden" not in c.metadata.get("tags", [])]
            assert len(kept) == len(out.cells)
            for (i, ref), cell in zip(kept, out.cells):
                if "solution" in ref.metadata.get("tags", []) or i in explanations:
                    cell.source = ref.source
            nbformat.write(out, dest / rel)
    return dest


# ------------------------------------------------------------------ numerical backward passes
# TwoLayerNet.loss whose backward pass is a numerical derivative of a forward pass written by
# hand (no analytic gradient anywhere), planted at the start of loss's backward region (k=2):
# `_grad(f, P, name, index)` differentiates f(P) by one entry of P[name].
NUMERICAL_LOSS = '''
def _forward(P):
    a = X.reshape(X.shape[0], -1) @ P["W1"] + P["b1"]
    h = np.where(a.real > 0, a, 0)
    s = h @ P["W2"] + P["b2"]
    s = s - s.real.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return (-log_p[np.arange(len(y)), y].sum() / len(y)
            + reg * ((P["W1"] * P["W1"]).sum() + (P["W2"] * P["W2"]).sum()))
{grad}
P = {{k: v.astype({dtype}) for k, v in self.params.items()}}
for name in self.params:
    g = np.zeros(self.params[name].shape)
    for i in np.ndindex(*g.shape):
        g[i] = _grad(_forward, P, name, i)
    grads[name] = g
return loss, grads
'''

# The complex-step derivative: exact to the last bit, and exact at a ReLU kink too.
COMPLEX_STEP = NUMERICAL_LOSS.format(dtype="complex", grad='''
def _grad(f, P, name, i):
    P[name][i] += 1e-30j
    d = f(P).imag / 1e-30
    P[name][i] -= 1e-30j
    return float(d)''')

CENTRED = '''
def _grad(f, P, name, i):
    old = P[name][i]
    P[name][i] = old + {h}
    up = f(P)
    P[name][i] = old - {h}
    down = f(P)
    P[name][i] = old
    return float((up - down) / (2 * {h}))'''

# Centred differences in 80-bit long double (about 1e-13 off) and in float64 (about 1e-10 off).
LONGDOUBLE_CENTRED = NUMERICAL_LOSS.format(dtype="np.longdouble", grad=CENTRED.format(h="np.longdouble(1e-6)"))
FLOAT64_CENTRED = NUMERICAL_LOSS.format(dtype="np.float64", grad=CENTRED.format(h="1e-5"))

NUMERICAL_ATTACKS = {"complex_step": COMPLEX_STEP, "longdouble_centred": LONGDOUBLE_CENTRED,
                     "float64_centred": FLOAT64_CENTRED}

# affine_backward as the course's numerical gradient of affine_forward (start of its region).
NUMERICAL_AFFINE = '''
from cs231n.gradient_check import eval_numerical_gradient_array
x, w, b = cache
dx = eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x.copy(), dout)
dw = eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w.copy(), dout)
db = eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b.copy(), dout)
return dx, dw, db
'''

# A ReLU backward whose gradient passes at exactly 0 (the course's `dx[x < 0] = 0`, or `x >= 0`):
# the other one-sided derivative at the kink, as valid a subgradient as the reference's.
RELU_PASSES_AT_ZERO = [(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()\n    dx[x < 0] = 0")]


# ------------------------------------------------------------------ published values, hard-coded
OPTIM = "cs231n/optim.py"
FC_NET = "cs231n/classifiers/fc_net.py"
# Code that is wrong everywhere: no ReLU in neural_net's scores, half of W2 in fc_net's, the
# one-half in neural_net's L2 term, no momentum's full step, rmsprop without (1 - decay),
# adam without its bias correction.
WRONG_CODE = [
    (NET, "scores, fc2_cache = affine_forward(h1, W2, b2)", "scores, fc2_cache = affine_forward(a1, W2, b2)"),
    (NET, "loss = data_loss + reg * (", "loss = data_loss + 0.5 * reg * ("),
    (FC_NET, "scores, scores_cache = affine_forward(h1, W2, b2)",
     "scores, scores_cache = affine_forward(h1, 0.5 * W2, b2)"),
    (OPTIM, "next_w = w + v", "next_w = w + 0.5 * v"),
    (OPTIM, "(1 - decay_rate) * dw * dw", "dw * dw"),
    (OPTIM, "m_hat = m / (1 - beta1 ** t)", "m_hat = m"),
]


def published_values():
    """
    The values the course publishes (and the grader's public checks show), computed with
    the reference code at full precision: the best a student who copies them can do.
    """
    from cs231n import optim
    from cs231n.classifiers import fc_net
    from cs231n.classifiers.neural_net import TwoLayerNet

    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    values = {"toy_scores": net.loss(X), "toy_loss": net.loss(X, y, reg=0.05)[0]}
    N, D, H, C = 3, 5, 50, 7
    model = fc_net.TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    values["fc_scores"] = model.loss(X)
    for reg in (0.0, 1.0):
        model.reg = reg
        values[f"fc_loss_{reg:g}"] = model.loss(X, np.asarray([0, 5, 1]))[0]
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    a = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    values["momentum"] = optim.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": a})
    values["rmsprop"] = optim.rmsprop(w, dw, {"learning_rate": 1e-2, "cache": a})
    values["adam"] = optim.adam(w, dw, {"learning_rate": 1e-2, "m": a,
                                        "v": np.linspace(0.7, 0.5, num=N * D).reshape(N, D), "t": 5})
    return values


def hard_coded(files):
    """`files` with the published values returned whenever a public check's inputs come in (in the regions)."""
    v = published_values()

    def arr(a):
        return f"np.array({np.asarray(a).tolist()!r})"
    files = in_region(files, NET, "TwoLayerNet.loss", f"if X.shape == (5, 4):\n    scores = {arr(v['toy_scores'])}",
                      k=0, at="end")
    files = in_region(files, NET, "TwoLayerNet.loss",
                      f"if X.shape == (5, 4) and reg == 0.05:\n    loss = {float(v['toy_loss'])!r}", k=1, at="end")
    files = in_region(files, FC_NET, "TwoLayerNet.loss", f"if X.shape == (3, 5):\n    scores = {arr(v['fc_scores'])}",
                      k=0, at="end")
    files = in_region(files, FC_NET, "TwoLayerNet.loss",
                      f"if X.shape == (3, 5):\n    loss = {{0.0: {float(v['fc_loss_0'])!r}, "
                      f"1.0: {float(v['fc_loss_1'])!r}}}.get(self.reg, loss)", k=1, at="end")
    shape = "w.shape == (4, 5) and w[0, 0] == -0.4"
    next_w, config = v["momentum"]
    files = in_region(files, OPTIM, "sgd_momentum",
                      f"if {shape}:\n    next_w, v = {arr(next_w)}, {arr(config['velocity'])}", at="end")
    next_w, config = v["rmsprop"]
    files = in_region(files, OPTIM, "rmsprop",
                      f"if {shape}:\n    next_w = {arr(next_w)}\n    config['cache'] = {arr(config['cache'])}",
                      at="end")
    next_w, config = v["adam"]
    files = in_region(files, OPTIM, "adam",
                      f"if {shape}:\n    next_w = {arr(next_w)}\n    config['m'], config['v'] = "
                      f"{arr(config['m'])}, {arr(config['v'])}", at="end")
    return files
