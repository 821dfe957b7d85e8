"""Loading CIFAR-10 from the official python batches.

The batches are fetched by ``python get_datasets.py`` into
``datasets/cifar-10-batches-py/`` at the root of the kit.
"""
import os
import pickle

import numpy as np

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR10_DIR = os.path.join(KIT_ROOT, "datasets", "cifar-10-batches-py")
FETCH_HINT = "run `python get_datasets.py` from the kit's root to fetch CIFAR-10"


class DatasetNotFoundError(FileNotFoundError):
    """The CIFAR-10 batches are not where the loader looked for them."""


def load_CIFAR_batch(filename):
    """
    Load a single batch of CIFAR-10, whatever its number of rows.

    Inputs:
    - filename: Path of a pickled batch (data_batch_1..5 or test_batch).

    Returns a tuple of:
    - X: Images of shape (N, 32, 32, 3), dtype float64, values in [0, 255].
    - Y: Labels of shape (N,), dtype int64.
    """
    if not os.path.isfile(filename):
        raise DatasetNotFoundError(f"CIFAR-10 batch not found: {filename}; {FETCH_HINT}")
    try:
        with open(filename, "rb") as f:
            datadict = pickle.load(f, encoding="latin1")
        X = np.asarray(datadict["data"], dtype=np.uint8)
        Y = np.asarray(datadict["labels"], dtype=np.int64)
        X = X.reshape(-1, 3, 32, 32)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise ValueError(
            f"CIFAR-10 batch {filename} is corrupt or truncated ({type(e).__name__}: {e}); "
            f"delete datasets/cifar-10-batches-py and {FETCH_HINT}"
        ) from e
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"CIFAR-10 batch {filename} is corrupt: {X.shape[0]} images "
                         f"but {Y.shape[0]} labels")
    X = X.transpose(0, 2, 3, 1).astype("float")
    return X, Y


def load_CIFAR10(ROOT):
    """
    Load all of CIFAR-10: the five training batches and the test batch.

    Inputs:
    - ROOT: Directory holding data_batch_1..5 and test_batch.

    Returns a tuple of:
    - Xtr: Training images, of shape (N_train, 32, 32, 3)
    - Ytr: Training labels, of shape (N_train,)
    - Xte: Test images, of shape (N_test, 32, 32, 3)
    - Yte: Test labels, of shape (N_test,)
    """
    if not os.path.isdir(ROOT):
        raise DatasetNotFoundError(f"CIFAR-10 directory not found: {ROOT}; {FETCH_HINT}")
    xs, ys = [], []
    for b in range(1, 6):
        X, Y = load_CIFAR_batch(os.path.join(ROOT, "data_batch_%d" % b))
        xs.append(X)
        ys.append(Y)
    Xtr = np.concatenate(xs)
    Ytr = np.concatenate(ys)
    Xte, Yte = load_CIFAR_batch(os.path.join(ROOT, "test_batch"))
    return Xtr, Ytr, Xte, Yte


def _fit_split(available, num_training, num_validation):
    """Shrink (num_training, num_validation) to what the dataset holds."""
    if num_training + num_validation <= available:
        return num_training, num_validation
    num_validation = min(num_validation, available // 2)
    return available - num_validation, num_validation


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000,
                     subtract_mean=True, cifar10_dir=None):
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
    - cifar10_dir: Where the batches are; default datasets/cifar-10-batches-py.

    Returns a dictionary with keys X_train, y_train, X_val, y_val, X_test,
    y_test: images of shape (N, 3, 32, 32) (channels first), labels of shape (N,).
    """
    cifar10_dir = CIFAR10_DIR if cifar10_dir is None else cifar10_dir
    X_train, y_train, X_test, y_test = load_CIFAR10(cifar10_dir)

    asked = (num_training, num_validation, num_test)
    num_training, num_validation = _fit_split(len(X_train), num_training, num_validation)
    num_test = min(num_test, len(X_test))
    if (num_training, num_validation, num_test) != asked:
        print("Notice: the dataset holds %d training and %d test images, fewer than asked for; "
              "using %d train / %d validation / %d test."
              % (len(X_train), len(X_test), num_training, num_validation, num_test))

    X_val = X_train[num_training:num_training + num_validation]
    y_val = y_train[num_training:num_training + num_validation]
    X_train = X_train[:num_training]
    y_train = y_train[:num_training]
    X_test = X_test[:num_test]
    y_test = y_test[:num_test]

    if subtract_mean:
        mean_image = np.mean(X_train, axis=0)
        X_train -= mean_image
        X_val -= mean_image
        X_test -= mean_image

    # Channels first, as the modular layers expect.
    return {
        "X_train": X_train.transpose(0, 3, 1, 2).copy(),
        "y_train": y_train,
        "X_val": X_val.transpose(0, 3, 1, 2).copy(),
        "y_val": y_val,
        "X_test": X_test.transpose(0, 3, 1, 2).copy(),
        "y_test": y_test,
    }
