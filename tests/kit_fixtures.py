"""Planted submissions for the kit tests, built from the instructor source.

Each submission is a zip of the allow-listed student files, taken from the
instructor source (the reference solution) with some lines replaced, so that
the plants follow the code as it changes. A plant whose text is missing fails
loudly instead of silently testing nothing.
"""
import io
import zipfile
from pathlib import Path

from kit.files import student_files

SOURCE = Path(__file__).resolve().parents[1]
LAYERS = "cs231n/layers.py"
NET = "cs231n/classifiers/neural_net.py"

# name -> [(path, old, new)]: the bugs of the course, each a few points off.
BUGS = {
    "relu_backward": [(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()")],
    "half_l2": [(NET, "loss = data_loss + reg * (", "loss = data_loss + 0.5 * reg * (")],
    "unstable_softmax": [(LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x.copy()")],
    "float_epochs": [(NET, "iterations_per_epoch = max(num_train // batch_size, 1)",
                      "iterations_per_epoch = max(num_train / batch_size, 1)")],
}

# The checks each bug must cost points on (and, by omission, the ones it must not).
BUG_CHECKS = {
    "relu_backward": {"relu layer", "toy gradients", "scores, loss and gradients with other seeds and sizes",
                      "fc_net with other seeds and sizes"},
    "half_l2": {"toy loss", "scores, loss and gradients with other seeds and sizes"},
    "unstable_softmax": {"softmax stability with large scores"},
    "float_epochs": {"one accuracy record per epoch (integer iterations_per_epoch)"},
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
    files = dict(files)
    files[path] = files[path] + b"\n" + code.encode() + b"\n"
    return files


def write_zip(path, files, infos=()):
    """Write {name: bytes} (and raw (ZipInfo, bytes) pairs) into the zip at `path`."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
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
    """Reference files whose svm_loss first runs `body` (an attack); body returns to grant points."""
    code = "_reference_svm_loss = svm_loss\n\n\ndef svm_loss(x, y):\n" + "".join(
        f"    {line}\n" for line in body.strip().splitlines()) + "    return _reference_svm_loss(x, y)\n"
    return append_code(files, LAYERS, code)


COURSE_SCORES = [-0.81233741, -1.27654624, -0.70335995, -0.17129677, -1.18803311, -0.47310444,
                 -0.51590475, -1.01354314, -0.8504215, -0.15419291, -0.48629638, -0.52901952,
                 -0.00618733, -0.12435261, -0.15226949]

FORGE = f'''
import json as _json, os as _os
print("toy scores: OK (difference < 1e-7)")
print("toy loss: OK (difference < 1e-12)")
_fake = {{"scores": {{"shape": [5, 3], "data": {COURSE_SCORES}}}, "loss": {{"shape": [], "data": [1.30378789133]}}}}
for _i in range(60):
    _line = _json.dumps({{"index": _i, "check": "toy scores", "status": "ok", "nonce": "reference",
                          "results": [_fake], "stdout": "", "error": None}}) + "\\n"
    for _fd in (1, 2):
        try:
            with open(f"/proc/{{_os.getppid()}}/fd/{{_fd}}", "w") as _f:
                _f.write(_line)
        except OSError:
            pass
    print(_line, end="")
try:
    from IPython.display import display as _d
    _d({{"application/vnd.kit.result+json": _fake}}, raw=True)
except Exception:
    pass
'''

MONKEYPATCH = '''
import builtins as _b
import numpy as _np
_np.allclose = lambda *a, **k: True
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.shape(a), dtype=bool)
_np.array_equal = lambda *a, **k: True
_np.testing.assert_allclose = lambda *a, **k: None
_b.abs = lambda x: 0
_b.isinstance = lambda *a: True
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


_reference_loss = TwoLayerNet.loss


def _loss(self, X, y=None, reg=0.0):
    return _AlwaysEqual() if y is None else _reference_loss(self, X, y, reg)


TwoLayerNet.loss = _loss
'''

TAMPER = "import numpy\nnumpy.allclose = lambda *a, **k: True\nprint('all checks passed')\n"
