"""The file TwoLayerNet.save writes and TwoLayerNet.load reads, for both nets of the kit.

An .npz archive of arrays only (never a pickle): W1, b1, W2, b2, what else the
net keeps (fc_net's reg, the classic net's training record), and a format key
that names the class that wrote it. Written atomically.
"""
import os
import zipfile

import numpy as np

from cs231n._atomic import atomic_write

PARAM_NAMES = ("W1", "b1", "W2", "b2")
FORMAT_KEY = "cs231n_format"


def write(path, params, extra, fmt, name="model"):
    """
    Write the parameters and `extra` arrays to `path`.

    Inputs:
    - path: Where to write (str or os.PathLike); its folder must exist.
    - params: The net's params dict (W1, b1, W2, b2).
    - extra: Dict of the other arrays to keep.
    - fmt: The format string of the writing class.
    - name: What the messages call the net ("model", "net").

    Returns:
    - The path written (str).
    """
    missing = [key for key in PARAM_NAMES if key not in params]
    if missing:
        raise ValueError(f"TwoLayerNet.save: {name}.params lacks {', '.join(missing)}; "
                         f"initialize the {name} (TwoLayerNet.__init__) before saving it")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"TwoLayerNet.save: the folder {folder} does not exist; "
                                f"create it first or save somewhere else")
    arrays = {key: np.asarray(params[key]) for key in PARAM_NAMES}
    arrays.update(extra)
    arrays[FORMAT_KEY] = np.asarray(fmt)
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def read(path, fmt, required=(), holds="W1, b1, W2 and b2", name="model"):
    """
    The arrays of a file written by write() with the format `fmt`.

    Inputs:
    - path: The file.
    - fmt: The format string the reading class expects.
    - required: Names of the arrays it needs besides W1, b1, W2, b2.
    - holds: What the file should hold, in words (for the messages).
    - name: What the messages call the net.

    Returns:
    - Dict of every array in the file, W1, b1, W2, b2 of consistent shapes.

    Raises FileNotFoundError for a missing file, and ValueError naming the
    file and what to do for anything else.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TwoLayerNet.load: no file {path!r} (looked in "
                                f"{os.path.abspath(path)}); save one with {name}.save({path!r})")
    not_ours = (f"TwoLayerNet.load: {path!r} was not written by TwoLayerNet.save "
                f"(expected an .npz archive holding {holds})")
    if os.path.getsize(path) == 0:
        raise ValueError(f"TwoLayerNet.load: {path!r} is empty: no net was saved there; "
                         f"save one with {name}.save({path!r})")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            plain_npy = f.read(6) == b"\x93NUMPY"
        if plain_npy:  # e.g. the course's own save, np.save of a pickled dict
            raise ValueError(
                f"{not_ours}; it is a plain .npy file, such as the course's own save writes "
                f"(a pickled dict), and the kit never unpickles files. Save the {name} again "
                f"with {name}.save({path!r}), or, for a file you trust: "
                f"{name}.params = np.load({path!r}, allow_pickle=True).item()")
        raise ValueError(f"{not_ours}; save the {name} with {name}.save({path!r}) and load that file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except ValueError as e:  # an array that needs pickle, or a damaged archive
        raise ValueError(f"{not_ours}; it holds something else ({e})") from e
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{not_ours}; it is damaged ({type(e).__name__}: {e})") from e
    missing = [key for key in PARAM_NAMES + tuple(required) + (FORMAT_KEY,) if key not in arrays]
    if missing:
        raise ValueError(f"{not_ours}; it lacks {', '.join(missing)}")
    W1, b1, W2, b2 = (arrays[key] for key in PARAM_NAMES)
    if (W1.ndim != 2 or b1.shape != (W1.shape[1],) or W2.ndim != 2
            or W2.shape[0] != W1.shape[1] or b2.shape != (W2.shape[1],)):
        raise ValueError(f"TwoLayerNet.load: {path!r} holds inconsistent shapes W1 {W1.shape}, "
                         f"b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape}; expected (D, H), (H,), "
                         f"(H, C), (C,)")
    if str(arrays[FORMAT_KEY]) != fmt:
        raise ValueError(f"{not_ours}; it was saved by {arrays[FORMAT_KEY]}")
    return arrays
