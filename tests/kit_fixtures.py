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
SVM_CHECKS = {"svm loss", "layers with other seeds and sizes"}

# name -> [(path, old, new)]: the bugs of the course, each a few points off.
BUGS = {
    "relu_backward": [(LAYERS, "dx = dout * (x > 0)", "dx = dout * (x >= 0)")],
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
    # x >= 0 differs only at exact zeros: the checks that put inputs on the ReLU kink.
    "relu_backward": {"relu layer", "scores, loss and gradients with other seeds and sizes",
                      "layers with other seeds and sizes", "fc_net with other seeds and sizes"},
    "relu_no_mask": {"relu layer", "toy gradients",
                     "scores, loss and gradients with other seeds and sizes", "layers with other seeds and sizes",
                     "fc_net with other seeds and sizes"},
    "half_l2": {"toy loss", "scores, loss and gradients with other seeds and sizes"},
    "unstable_softmax": {"softmax stability with large scores"},
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
