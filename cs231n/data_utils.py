"""Loading CIFAR-10 from the official python batches.

``python get_datasets.py`` (or ``make data``) fetches the batches into
``datasets/cifar-10-batches-py/`` at the root of the kit. get_CIFAR10_data()
also finds them where the course's own scripts put them,
``cs231n/datasets/cifar-10-batches-py/`` (next to this file), so that course
material runs unchanged; an explicit ``cifar10_dir=`` or the environment
variable ``CIFAR10_DIR`` wins over both (see find_CIFAR10_dir).

The first load of a batch also writes a uint8 copy of it as ``.npy`` files in
``cifar-10-batches-py/.cache/``; later loads memory-map that copy instead of
unpickling the batch, which makes loading fast and light. The copy is rebuilt
whenever the batch file changes (size or modification time), and when the
directory cannot be written the batches are simply unpickled every time.
"""
import json
import os
import pickle

import numpy as np

from cs231n._atomic import atomic_write

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR10_DIR = os.path.join(KIT_ROOT, "datasets", "cifar-10-batches-py")
COURSE_CIFAR10_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "datasets", "cifar-10-batches-py")
CIFAR10_DIR_VARIABLE = "CIFAR10_DIR"
FETCH_HINT = ("fetch CIFAR-10 with `python get_datasets.py` (or `make data`) from the kit's "
              "root, " + KIT_ROOT)

TRAIN_BATCHES = ["data_batch_%d" % b for b in range(1, 6)]
TEST_BATCH = "test_batch"
CACHE_DIRNAME = ".cache"
CACHE_VERSION = 1
IMAGE_SHAPE = (3, 32, 32)  # channels first, as stored in the batches


class DatasetNotFoundError(FileNotFoundError):
    """The CIFAR-10 batches are not where the loader looked for them."""


def _check_dtype(dtype):
    """Return dtype as a NumPy floating dtype, or raise a TypeError naming it."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype must be a floating-point dtype such as np.float64 or "
                        f"np.float32, got {dtype!r}") from e
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype such as np.float64 or "
                        f"np.float32, got {dt}")
    return dt


def _unpickle_batch(filename):
    """
    Read a pickled batch the classic way.

    Inputs:
    - filename: Path of a pickled batch.

    Returns a tuple of:
    - X: uint8 images of shape (N, 3, 32, 32) (channels first, as stored).
    - Y: int64 labels of shape (N,).
    """
    try:
        with open(filename, "rb") as f:
            datadict = pickle.load(f, encoding="latin1")
        X = np.asarray(datadict["data"], dtype=np.uint8)
        Y = np.asarray(datadict["labels"], dtype=np.int64)
        X = X.reshape((-1,) + IMAGE_SHAPE)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
            IndexError, AttributeError, MemoryError) as e:
        raise ValueError(
            f"CIFAR-10 batch {filename} is corrupt or truncated ({type(e).__name__}: {e}); "
            f"delete the folder {os.path.dirname(os.path.abspath(filename))} and {FETCH_HINT} again"
        ) from e
    if Y.ndim != 1 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"CIFAR-10 batch {filename} is corrupt: {X.shape[0]} images "
                         f"but labels of shape {Y.shape}")
    return X, Y


def _cache_paths(filename):
    """Return the paths (x, y, stamp) of the cached copy of a batch."""
    folder, name = os.path.split(os.path.abspath(filename))
    base = os.path.join(folder, CACHE_DIRNAME, name)
    return base + ".x.npy", base + ".y.npy", base + ".stamp.json"


def _stamp_of(filename):
    """Return what identifies the current content of a batch file."""
    st = os.stat(filename)
    return {"version": CACHE_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_cache(filename):
    """
    Memory-map the cached copy of a batch, if it is there and up to date.

    Returns (X, Y) as read-only memory maps, or None when the cache is missing,
    stale or damaged.
    """
    x_path, y_path, stamp_path = _cache_paths(filename)
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
        if {k: stamp.get(k) for k in ("version", "size", "mtime_ns")} != _stamp_of(filename):
            return None
        X = np.load(x_path, mmap_mode="r", allow_pickle=False)
        Y = np.load(y_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if (X.dtype != np.uint8 or X.shape[1:] != IMAGE_SHAPE or Y.dtype != np.int64
            or Y.shape != (X.shape[0],) or stamp.get("rows") != X.shape[0]):
        return None
    return X, Y


def _write_cache(filename, stamp, X, Y):
    """
    Save the uint8 copy of a batch beside it; return False if that is impossible.

    The stamp is written last, so a cache is only ever used once it is complete.
    """
    x_path, y_path, stamp_path = _cache_paths(filename)
    stamp = dict(stamp, rows=int(X.shape[0]))
    try:
        os.makedirs(os.path.dirname(x_path), exist_ok=True)
        atomic_write(x_path, lambda f: np.save(f, np.ascontiguousarray(X)))
        atomic_write(y_path, lambda f: np.save(f, np.ascontiguousarray(Y)))
        atomic_write(stamp_path, lambda f: f.write(json.dumps(stamp).encode()))
    except OSError:
        return False
    return True


def _load_batch_uint8(filename):
    """
    Load one batch as uint8, through the cache when it can.

    Inputs:
    - filename: Path of a pickled batch.

    Returns a tuple of:
    - X: uint8 images of shape (N, 3, 32, 32); a read-only memory map when the
      cache served it.
    - Y: int64 labels of shape (N,).
    """
    if not os.path.isfile(filename):
        raise DatasetNotFoundError(f"CIFAR-10 batch not found: {filename}; {FETCH_HINT}")
    cached = _read_cache(filename)
    if cached is not None:
        return cached
    stamp = _stamp_of(filename)
    X, Y = _unpickle_batch(filename)
    if stamp == _stamp_of(filename):  # do not cache a batch that changed while read
        _write_cache(filename, stamp, X, Y)
    return X, Y


def _to_channels_last(batches, dtype):
    """Stack uint8 (N, 3, 32, 32) arrays into one (N, 32, 32, 3) array of dtype."""
    total = sum(X.shape[0] for X in batches)
    out = np.empty((total, 32, 32, 3), dtype=dtype)
    start = 0
    for X in batches:
        out[start:start + X.shape[0]] = X.transpose(0, 2, 3, 1)
        start += X.shape[0]
    return out


def load_CIFAR_batch(filename, dtype=np.float64):
    """
    Load a single batch of CIFAR-10, whatever its number of rows.

    Inputs:
    - filename: Path of a pickled batch (data_batch_1..5 or test_batch).
    - dtype: Floating-point dtype of the images; float32 halves time and memory.

    Returns a tuple of:
    - X: Images of shape (N, 32, 32, 3), of the given dtype, values in [0, 255].
    - Y: Labels of shape (N,), dtype int64.
    """
    dtype = _check_dtype(dtype)
    X, Y = _load_batch_uint8(filename)
    return _to_channels_last([X], dtype), np.array(Y)


def _missing_files(folder):
    """The batch files that `folder` lacks (all of them if it is not a folder)."""
    return [name for name in TRAIN_BATCHES + [TEST_BATCH]
            if not os.path.isfile(os.path.join(folder, name))]


def _known_places():
    """(description, path) of the places where the kit looks for CIFAR-10 by default."""
    return [("the kit's place, where get_datasets.py puts it", CIFAR10_DIR),
            ("the course's place, next to cs231n/data_utils.py", COURSE_CIFAR10_DIR)]


def find_CIFAR10_dir(cifar10_dir=None):
    """
    The folder of the CIFAR-10 batches that get_CIFAR10_data loads.

    In this order: `cifar10_dir` when given; else the environment variable
    CIFAR10_DIR when set; else the first of datasets/cifar-10-batches-py (at
    the kit's root) and cs231n/datasets/cifar-10-batches-py (the course's
    place) that holds all six batches.

    Inputs:
    - cifar10_dir: A folder holding data_batch_1..5 and test_batch, or None.

    Returns:
    - The path of the folder (a str).

    Raises DatasetNotFoundError naming every place it looked and how to fetch
    the data. An explicit folder, or CIFAR10_DIR, is returned as given: the
    loader then says what is missing there.
    """
    if cifar10_dir is not None:
        return os.fspath(cifar10_dir)
    from_env = os.environ.get(CIFAR10_DIR_VARIABLE)
    if from_env:
        return from_env
    places = _known_places()
    for _, folder in places:
        if not _missing_files(folder):
            return folder
    looked = []
    for description, folder in places:
        missing = _missing_files(folder)
        state = "not there" if not os.path.isdir(folder) else "lacks " + ", ".join(missing)
        looked.append(f"  - {folder} ({description}): {state}")
    raise DatasetNotFoundError(
        "CIFAR-10 not found. Looked in:\n" + "\n".join(looked) + "\n"
        f"To fix: {FETCH_HINT}; or pass get_CIFAR10_data(cifar10_dir=...) or set the "
        f"environment variable {CIFAR10_DIR_VARIABLE} to a folder holding data_batch_1..5 "
        f"and test_batch.")


def _where_it_is_instead(ROOT):
    """A hint naming a known place that holds CIFAR-10, for a ROOT that does not."""
    for _, folder in _known_places():
        if not _missing_files(folder) and os.path.abspath(ROOT) != folder:
            return f"CIFAR-10 is in {folder}: pass that path, or call get_CIFAR10_data()"
    return FETCH_HINT


def _load_all_uint8(ROOT, given_as=None):
    """Return ([(X, Y) of each training batch], (X, Y) of the test batch), uint8."""
    if not os.path.isdir(ROOT):
        origin = f" (given as {given_as})" if given_as else ""
        where = "" if os.path.isabs(ROOT) else f", {os.path.abspath(ROOT)} from the current directory"
        raise DatasetNotFoundError(f"CIFAR-10 directory not found: {ROOT}{origin}{where}; "
                                   f"{_where_it_is_instead(ROOT)}")
    train = [_load_batch_uint8(os.path.join(ROOT, name)) for name in TRAIN_BATCHES]
    test = _load_batch_uint8(os.path.join(ROOT, TEST_BATCH))
    return train, test


def load_CIFAR10(ROOT, dtype=np.float64):
    """
    Load all of CIFAR-10: the five training batches and the test batch.

    Inputs:
    - ROOT: Directory holding data_batch_1..5 and test_batch.
    - dtype: Floating-point dtype of the images; float32 halves time and memory.

    Returns a tuple of:
    - Xtr: Training images, of shape (N_train, 32, 32, 3)
    - Ytr: Training labels, of shape (N_train,)
    - Xte: Test images, of shape (N_test, 32, 32, 3)
    - Yte: Test labels, of shape (N_test,)
    """
    dtype = _check_dtype(dtype)
    train, (Xte, Yte) = _load_all_uint8(ROOT)
    Xtr = _to_channels_last([X for X, _ in train], dtype)
    Ytr = np.concatenate([Y for _, Y in train])
    return Xtr, Ytr, _to_channels_last([Xte], dtype), np.array(Yte)


def _fit_split(available, num_training, num_validation):
    """Shrink (num_training, num_validation) to what the dataset holds."""
    if num_training + num_validation <= available:
        return num_training, num_validation
    num_validation = min(num_validation, available // 2)
    return available - num_validation, num_validation


def _row_pieces(batches, start, stop):
    """Yield (X_part, offset) covering rows start:stop of the stacked batches."""
    first = 0
    for X in batches:
        lo, hi = max(start, first), min(stop, first + X.shape[0])
        if lo < hi:
            yield X[lo - first:hi - first], lo - start
        first += X.shape[0]


def _mean_image(batches, num_rows):
    """
    Mean of the first num_rows images, shape (3, 32, 32), float64.

    The sums of uint8 values are exact, so this equals the mean of the same
    images converted to float64 first.
    """
    acc = np.uint32 if num_rows * 255 < 2**32 else np.uint64  # uint32 sums twice as fast
    total = np.zeros(IMAGE_SHAPE, dtype=np.uint64)
    for X, _ in _row_pieces(batches, 0, num_rows):
        total += X.sum(axis=0, dtype=acc)
    return total / max(num_rows, 1)


def _gather(batches, start, stop, dtype, mean):
    """
    Rows start:stop of the stacked uint8 batches as one (N, 3, 32, 32) array of
    dtype, minus the mean image when one is given.
    """
    out = np.empty((stop - start,) + IMAGE_SHAPE, dtype=dtype)
    for X, offset in _row_pieces(batches, start, stop):
        part = out[offset:offset + X.shape[0]]
        if mean is None:
            part[...] = X
        else:
            np.subtract(X, mean, out=part, casting="unsafe")
    return out


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000,
                     subtract_mean=True, cifar10_dir=None, dtype=np.float64):
    """
    Load CIFAR-10 and split it into train, validation and test sets, ready
    for a classifier.

    The validation set is the num_validation training images that follow the
    first num_training. When the dataset holds fewer images than asked for (as
    the offline mirror does), the split shrinks and a notice says so: the
    validation set keeps its size while at most half of the training images,
    and training gets the rest.

    Inputs:
    - num_training, num_validation, num_test: Sizes of the three sets.
    - subtract_mean: If True, subtract the mean training image from all sets.
    - cifar10_dir: Where the batches are; by default the environment variable
      CIFAR10_DIR, else datasets/cifar-10-batches-py at the kit's root, else
      cs231n/datasets/cifar-10-batches-py (where the course puts them); see
      find_CIFAR10_dir.
    - dtype: Floating-point dtype of the images (default float64, as the
      course); float32 halves time and memory.

    Returns a dictionary with keys X_train, y_train, X_val, y_val, X_test,
    y_test: images of shape (N, 3, 32, 32) (channels first), labels of shape (N,).
    """
    dtype = _check_dtype(dtype)
    if cifar10_dir is not None:
        given_as = "cifar10_dir"
    elif os.environ.get(CIFAR10_DIR_VARIABLE):
        given_as = f"the environment variable {CIFAR10_DIR_VARIABLE}"
    else:
        given_as = None
    train, (Xte, Yte) = _load_all_uint8(find_CIFAR10_dir(cifar10_dir), given_as)
    Xtr = [X for X, _ in train]
    y_all = np.concatenate([Y for _, Y in train])
    available, available_test = len(y_all), Xte.shape[0]

    asked = (num_training, num_validation, num_test)
    num_training, num_validation = _fit_split(available, num_training, num_validation)
    num_test = min(num_test, available_test)
    if (num_training, num_validation, num_test) != asked:
        print("Notice: the dataset holds %d training and %d test images, fewer than asked for; "
              "using %d train / %d validation / %d test."
              % (available, available_test, num_training, num_validation, num_test))

    # float64 gives exactly the course's values; other dtypes subtract in their own precision.
    mean = _mean_image(Xtr, num_training).astype(dtype) if subtract_mean else None
    end_val = num_training + num_validation
    return {
        "X_train": _gather(Xtr, 0, num_training, dtype, mean),
        "y_train": y_all[:num_training].copy(),
        "X_val": _gather(Xtr, num_training, end_val, dtype, mean),
        "y_val": y_all[num_training:end_val].copy(),
        "X_test": _gather([Xte], 0, num_test, dtype, mean),
        "y_test": np.array(Yte[:num_test]),
    }
