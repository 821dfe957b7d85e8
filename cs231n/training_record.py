"""How a classic TwoLayerNet's weights came out of train(), and a re-run that confirms it.

Training is deterministic: the same code, data, settings, starting weights and
NumPy random state give the same weights (to rounding). So train() keeps, on
the net (``net.training_record``), where the last stretch of its last call
began: the parameters, NumPy's global random state and the learning rate at
the last epoch boundary at least REPLAY_ITERS iterations before the end, with
the call's settings and a fingerprint of the training data.
TwoLayerNet.save writes that record beside the weights, and
check_reproduces re-runs the stretch with the code of this kit (your loss,
train and predict) on the data of this notebook, and checks that it ends on
the saved weights. It takes a few hundred iterations: a few seconds where the
tuning took minutes. The grader does the same with the model your notebook
saved, instead of running your whole tuning again.

What it confirms: the saved weights are the end of a training run of your
train() and loss() on this data, with the recorded settings. What it does not:
how the weights at the start of that stretch were reached.
"""
import json
import zlib

import numpy as np

#: The recorded stretch is at least this many iterations long (when the call has as many).
REPLAY_ITERS = 100
#: Largest relative difference ||replayed - saved|| / ||saved|| of any parameter that
#: counts as the same weights. Over the 255 float32 iterations of a full-data stretch
#: (500 hidden units), computing dW1 in one BLAS call instead of NumPy's product and sum
#: moved W1 by 1.9e-3 (rounding alone); another minibatch order moved it by 0.2 to 0.4,
#: 1% more learning rate by 2e-2, and an SGD step that skips the biases further.
RTOL = 1e-2
#: Keys of the settings of the recorded stretch (train()'s keyword arguments).
SETTINGS = ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size")
_PREFIX = "record_"


def replay_start(num_iters, iterations_per_epoch):
    """
    The iteration of a train() call where its recorded stretch begins.

    Inputs:
    - num_iters: The call's number of iterations.
    - iterations_per_epoch: Its epoch length (cs231n.classifiers.neural_net.epoch_length).

    Returns:
    - The last multiple of iterations_per_epoch that is at most
      num_iters - REPLAY_ITERS, or 0: a stretch that starts on an epoch
      boundary replays with a train() call of its own (the learning rate
      decays and the accuracies are checked at the same iterations).
    """
    return max((num_iters - REPLAY_ITERS) // iterations_per_epoch, 0) * iterations_per_epoch


def fingerprint(X, y):
    """A number that changes when the training rows or labels do (labels, and every 997th row)."""
    crc = zlib.crc32(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return zlib.crc32(np.ascontiguousarray(X[::997]).tobytes(), crc)


def capture(params, learning_rate, settings, X, y, spare=None):
    """
    The record of a stretch of training that starts now.

    Inputs:
    - params: The net's parameters now (copied).
    - learning_rate: The learning rate at this iteration.
    - settings: Dict of the other train() settings of the stretch (SETTINGS but learning_rate;
      num_iters is the stretch's length).
    - X, y: The training data of the call.
    - spare: The params of a record no longer needed (the net's previous one): arrays of the
      same shape and dtype are copied into, so that training in many calls (cs231n.tuning's
      chunks) allocates no new array as large as W1 for each.

    Returns:
    - A dict: params, rng (NumPy's global random state), settings, num_train, dtype, fingerprint.
    """
    spare = spare or {}
    copies = {}
    for name, value in params.items():
        old = spare.get(name)
        if isinstance(old, np.ndarray) and old.shape == value.shape and old.dtype == value.dtype \
                and old.flags.writeable:
            np.copyto(old, value)
            copies[name] = old
        else:
            copies[name] = np.array(value, copy=True)
    return {"params": copies,
            "rng": np.random.get_state(),
            "settings": dict(settings, learning_rate=float(learning_rate)),
            "num_train": int(X.shape[0]), "dtype": str(X.dtype), "fingerprint": fingerprint(X, y)}


def to_arrays(record):
    """The record as named arrays for an .npz file (no pickle); {} for None."""
    if record is None:
        return {}
    kind, keys, pos, has_gauss, cached = record["rng"]
    meta = {"settings": record["settings"], "num_train": record["num_train"], "dtype": record["dtype"],
            "fingerprint": record["fingerprint"], "rng": [kind, int(pos), int(has_gauss), float(cached)],
            "params": sorted(record["params"])}
    arrays = {_PREFIX + "meta": np.asarray(json.dumps(meta)), _PREFIX + "rng_keys": np.asarray(keys)}
    arrays.update({_PREFIX + "param_" + name: value for name, value in record["params"].items()})
    return arrays


def from_arrays(arrays):
    """The record stored by to_arrays in `arrays` (a dict of arrays), or None when there is none."""
    if _PREFIX + "meta" not in arrays:
        return None
    meta = json.loads(str(arrays[_PREFIX + "meta"]))
    kind, pos, has_gauss, cached = meta["rng"]
    return {"params": {name: arrays[_PREFIX + "param_" + name] for name in meta["params"]},
            "rng": (kind, arrays[_PREFIX + "rng_keys"], pos, has_gauss, cached),
            "settings": meta["settings"], "num_train": meta["num_train"], "dtype": meta["dtype"],
            "fingerprint": meta["fingerprint"]}


def replay(net, X, y, X_val, y_val):
    """
    Re-run the recorded stretch of `net`'s training with its own class's train().

    NumPy's global random state is the same afterwards as before.

    Inputs:
    - net: A trained TwoLayerNet with a training_record.
    - X, y, X_val, y_val: The training and validation data of the notebook.

    Returns:
    - The parameters the re-run ends on (dict).
    """
    record = net.training_record
    rerun = type(net).__new__(type(net))   # no __init__: it would draw from the random state
    rerun.params = {name: np.array(value, copy=True) for name, value in record["params"].items()}
    rerun.training_record = None
    state = np.random.get_state()
    np.random.set_state(record["rng"])
    try:
        rerun.train(X, y, X_val, y_val, verbose=False, **record["settings"])
    finally:
        np.random.set_state(state)
    return rerun.params


def _relative_difference(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return np.inf
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check_reproduces(net, X, y, X_val, y_val, name="best_net"):
    """
    Confirm that the code of this kit, on this data, trains `net`'s weights.

    Re-runs the recorded last stretch of its training (see replay) and
    compares the result with net.params.

    Inputs:
    - net: The trained (or loaded) TwoLayerNet.
    - X, y: The training data the notebook trains on; X_val, y_val: its validation data.
    - name: The net's name in the messages.

    Returns:
    - The largest relative difference between the re-run's parameters and the net's.

    Raises:
    - AssertionError saying what does not match and what to do.
    """
    again = (f"train {name} again with the code you submit (run the tuning cell), save it with "
             f"{name}.save(...), and run this check again")
    record = getattr(net, "training_record", None)
    assert record is not None, (
        f"{name} has no training record: it was not trained by TwoLayerNet.train of this kit "
        f"(or its parameters were replaced afterwards); {again}")
    X = np.asarray(X)
    if str(X.dtype) != record["dtype"]:
        X = X.astype(record["dtype"])
    assert record["num_train"] == X.shape[0], (
        f"{name} was trained on {record['num_train']} training rows, and this notebook has "
        f"{X.shape[0]}: it was trained on another copy of CIFAR-10; {again}")
    assert record["fingerprint"] == fingerprint(X, y), (
        f"{name} was trained on other training data than this notebook's (same size, other images "
        f"or labels); {again}")
    replayed = replay(net, X, y, X_val, y_val)
    differences = {key: _relative_difference(replayed.get(key), value) for key, value in net.params.items()}
    worst = max(differences, key=differences.get)
    steps = record["settings"]["num_iters"]
    assert differences[worst] <= RTOL, (
        f"re-running the last {steps} iterations of {name}'s training with your train() and loss() "
        f"does not give its weights ({worst} differs by {differences[worst]:.1e} relative, more than "
        f"{RTOL:g}): they were not made by this code with the recorded settings (did you change "
        f"neural_net.py after tuning, or change best_net's parameters?); {again}")
    return differences[worst]
