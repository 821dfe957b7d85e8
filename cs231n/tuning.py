"""Hyperparameter search for the classic TwoLayerNet, in parallel processes.

    configs = grid(hidden_size=[50, 80], learning_rate=[1e-4, 3e-4], reg=[0.5, 1.0])
    results, best_net = search(configs, X_train, y_train, X_val, y_val, n_jobs=2,
                               num_iters=1000)
    print(format_table(results))

(The values are only an example of the syntax: which ones work well is the
exercise.)

Each configuration trains one cs231n.classifiers.neural_net.TwoLayerNet, exactly
as the notebook's loop does: ``np.random.seed(seed)``, then
``TwoLayerNet(D, hidden_size, C, std)``, then ``train(...)``; so a result is the
same whether it ran in a worker process or in a plain loop, and whatever the
order or the number of workers.

The jobs run in joblib's loky processes, each limited to one BLAS thread
(threadpoolctl), so that two workers on two cores do not fight over them. A run
whose loss stops being finite, or grows above ``diverge_factor`` times its
first loss, is stopped early and marked diverged: its loss is checked every
whole number of epochs, so that stopping changes nothing in the runs that go on.
"""
import itertools
import math
import os
import time

import numpy as np

from cs231n._validation import positive_int
from cs231n.classifiers.neural_net import TwoLayerNet, epoch_length
from cs231n.snapshots import SnapshotRecorder

#: The keys a configuration may set, and their defaults (search's keyword
#: arguments override these defaults for every configuration).
CONFIG_KEYS = ("hidden_size", "learning_rate", "reg", "num_iters", "learning_rate_decay",
               "batch_size", "std", "seed")
#: The defaults are the notebook's default net, where the tuning exercise starts.
DEFAULTS = {"hidden_size": 50, "learning_rate": 1e-4, "reg": 0.25, "num_iters": 1000,
            "learning_rate_decay": 0.95, "batch_size": 200, "std": 1e-4, "seed": 0}


def grid(**axes):
    """
    All combinations of the given values, as a list of configuration dicts.

    grid(learning_rate=[1e-3, 1e-4], reg=[0.1, 0.5]) gives four configurations,
    the last axis varying fastest.
    """
    check_keys(axes)
    names = list(axes)
    for name in names:
        if isinstance(axes[name], (str, bytes)) or not hasattr(axes[name], "__iter__"):
            raise TypeError(f"grid: {name} must be a list of values, got {axes[name]!r}")
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def check_keys(config):
    """Raise a ValueError naming the keys of `config` that are not configuration keys."""
    bad = sorted(set(config) - set(CONFIG_KEYS))
    if bad:
        raise ValueError(f"unknown configuration key(s) {', '.join(map(repr, bad))}; "
                         f"expected some of {', '.join(CONFIG_KEYS)}")


def train_config(config, X_train, y_train, X_val, y_val, num_classes,
                 diverge_factor=5.0, check_every=100, train_acc_rows=1000, blas_threads=None,
                 snapshot_every=None, max_snapshots=32):
    """
    Train one full configuration (a dict holding every key of CONFIG_KEYS).

    The run is one train(num_iters) call, cut into chunks so that its loss can
    be checked between them (a run that diverges stops there). Each chunk is
    the smallest whole number of epochs (epoch_length) that holds check_every
    iterations, and is given the learning rate that the chunk before returned
    (train's learning_rate); so it starts on an epoch boundary with the
    learning rate decayed as one long call would have it, and its minibatches
    keep coming from NumPy's global random state. The chunks add up to exactly
    one train(num_iters) call, and the schedule (epoch length, learning-rate
    decay, accuracy checks) is train's alone. With snapshot_every, each chunk
    records W1 every gcd(chunk, snapshot_every) of its iterations (chunks start
    at multiples of chunk, so this includes every multiple of snapshot_every),
    and one SnapshotRecorder for the whole run keeps those that one long call
    would keep, then the last state, also where a run stopped early.

    Returns a tuple of:
    - result: dict with the config, val_acc, train_acc (on the first
      train_acc_rows training rows), final_loss, diverged, iters (iterations
      run), seconds, and stats: the dict that one train() call returns
      (loss_history, train_acc_history, val_acc_history, acc_iters,
      learning_rate; with snapshot_every, also snapshot_iters and
      W1_snapshots, as train records them);
    - net: the trained TwoLayerNet.
    """
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits
        warm_up_blas(X_train, config["hidden_size"], config["batch_size"])
        with threadpool_limits(blas_threads, user_api="blas"):
            return train_config(config, X_train, y_train, X_val, y_val, num_classes,
                                diverge_factor, check_every, train_acc_rows, None,
                                snapshot_every, max_snapshots)
    start = time.perf_counter()
    c = config
    np.random.seed(c["seed"])
    net = TwoLayerNet(X_train.shape[1], c["hidden_size"], num_classes, std=c["std"])

    per_epoch = epoch_length(X_train.shape[0], c["batch_size"])
    chunk = per_epoch * max(1, math.ceil(check_every / per_epoch))
    recorder = snapshot_step = None
    if snapshot_every is not None:
        recorder = SnapshotRecorder(snapshot_every, max_snapshots)
        snapshot_step = math.gcd(chunk, recorder.every)
    stats = {"loss_history": [], "train_acc_history": [], "val_acc_history": [], "acc_iters": [],
             "learning_rate": c["learning_rate"]}
    losses = stats["loss_history"]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while len(losses) < c["num_iters"] and not diverged:
            done = len(losses)
            n = min(chunk, c["num_iters"] - done)
            part = net.train(X_train, y_train, X_val, y_val, learning_rate=stats["learning_rate"],
                             learning_rate_decay=c["learning_rate_decay"], reg=c["reg"],
                             num_iters=n, batch_size=c["batch_size"],
                             snapshot_every=snapshot_step, max_snapshots=n + 1)
            for key in ("loss_history", "train_acc_history", "val_acc_history"):
                stats[key].extend(part[key])
            stats["acc_iters"].extend(done + it for it in part["acc_iters"])
            stats["learning_rate"] = part["learning_rate"]
            if recorder is not None:
                for it, W1 in zip(part["snapshot_iters"], part["W1_snapshots"]):
                    recorder.offer(done + it, W1)
            history = np.asarray(losses, dtype=np.float64)
            diverged = bool(not np.isfinite(history).all()
                            or history.max() > diverge_factor * history[0])
        val_acc = float((net.predict(X_val) == y_val).mean())
        rows = slice(0, min(train_acc_rows, X_train.shape[0]))
        train_acc = float((net.predict(X_train[rows]) == y_train[rows]).mean())
    if recorder is not None:
        recorder.record(len(losses), net.params["W1"])
        stats.update(snapshot_iters=recorder.iters, W1_snapshots=recorder.snapshots)
    result = {
        "config": dict(config),
        "val_acc": val_acc,
        "train_acc": train_acc,
        "final_loss": float(losses[-1]),
        "diverged": diverged,
        "iters": len(losses),
        "seconds": time.perf_counter() - start,
        "stats": stats,
    }
    return result, net


def warm_up_blas(X, hidden_size, batch_size):
    """
    Run the first layer's matrix products once, with BLAS's default number of
    threads, on zeros of the training shapes and dtype.

    OpenBLAS that has not yet run these products multi-threaded runs them
    single-threaded about 2.6 times more slowly afterwards (measured with
    OpenBLAS 0.3.31: 10 ms against 3.8 ms for 200x3072 @ 3072x100 float32), so
    each worker warms up before it limits itself to one thread.
    """
    x = np.zeros((batch_size, X.shape[1]), dtype=X.dtype)
    w = np.zeros((X.shape[1], hidden_size), dtype=X.dtype)
    h = x @ w
    x.T @ h
    h @ w.T


def search(configs, X_train, y_train, X_val, y_val, n_jobs=2, seed=0, num_classes=None,
           diverge_factor=5.0, check_every=100, train_acc_rows=1000, blas_threads=None,
           verbose=False, snapshot_every=None, max_snapshots=32, **defaults):
    """
    Train one TwoLayerNet per configuration, in n_jobs processes, and compare
    them on the validation set.

    Inputs:
    - configs: List of dicts; each sets some of the keys in CONFIG_KEYS
      (hidden_size, learning_rate, reg, num_iters, learning_rate_decay,
      batch_size, std, seed). See grid() to build a grid of them.
    - X_train, y_train, X_val, y_val: Data, rows of shape (N, D), as for train.
    - n_jobs: Number of worker processes (joblib, loky backend); 1 runs the
      configurations one after the other in this process.
    - seed: Seed of NumPy's global random state for each configuration that
      does not set its own (the same for all, as in the notebook's loop, so
      that they start from the same weights and see the same minibatches).
    - num_classes: Number of classes C; default 1 + the largest label.
    - diverge_factor: A run stops, marked diverged, when its loss is not
      finite or exceeds diverge_factor times its first loss.
    - check_every: About how many iterations between divergence checks
      (rounded up to whole epochs).
    - train_acc_rows: The training accuracy is measured on this many rows.
    - blas_threads: BLAS threads per run; default 1 with several workers,
      unchanged with n_jobs=1.
    - verbose: Print one line per finished configuration.
    - snapshot_every, max_snapshots: Record W1 during training, as train
      does; only the best run keeps its snapshots (memory stays bounded).
    - defaults: Values for configuration keys that the configs do not set,
      e.g. num_iters=3000 (the built-in defaults are in DEFAULTS).

    Returns a tuple of:
    - results: List of result dicts, one per configuration in the order
      given: config (the full configuration), val_acc, train_acc, final_loss,
      diverged, iters, seconds, stats (the histories, as train returns them).
      format_table(results) prints them; best_result(results) picks the best.
    - best_net: The trained net with the highest validation accuracy among
      the runs that did not diverge (None if they all diverged).
    """
    check_keys(defaults)
    configs = list(configs)
    if not configs:
        raise ValueError("search: configs is empty")
    for i, config in enumerate(configs):
        if not isinstance(config, dict):
            raise TypeError(f"search: configs[{i}] must be a dict, got {type(config).__name__}")
        check_keys(config)
    if len(X_train) != len(y_train) or len(X_val) != len(y_val):
        raise ValueError(f"search: X_train/y_train ({len(X_train)}, {len(y_train)}) and "
                         f"X_val/y_val ({len(X_val)}, {len(y_val)}) must have matching lengths")
    n_jobs = positive_int(n_jobs, "n_jobs", "search")
    if num_classes is None:
        num_classes = int(max(np.max(y_train), np.max(y_val))) + 1
    base = dict(DEFAULTS, seed=seed, **defaults)
    full = [dict(base, **config) for config in configs]
    kwargs = dict(num_classes=num_classes, diverge_factor=diverge_factor,
                  check_every=check_every, train_acc_rows=train_acc_rows,
                  snapshot_every=snapshot_every, max_snapshots=max_snapshots)
    best = {"val_acc": -1.0, "stats": {}}

    def report(result):
        if verbose:
            print(format_table([result], header=False))
        # Keep the snapshots of the best run so far only.
        if not result["diverged"] and result["val_acc"] > best["val_acc"]:
            best["stats"].pop("W1_snapshots", None)
            best.update(val_acc=result["val_acc"], stats=result["stats"])
        else:
            result["stats"].pop("W1_snapshots", None)
        return result

    if n_jobs == 1:
        runs = []
        for config in full:
            result, net = train_config(config, X_train, y_train, X_val, y_val,
                                       blas_threads=blas_threads, **kwargs)
            runs.append((report(result), net))
    else:
        from joblib import Parallel, delayed, parallel_config
        threads = 1 if blas_threads is None else blas_threads
        jobs = (delayed(train_config)(config, X_train, y_train, X_val, y_val,
                                      blas_threads=threads, **kwargs) for config in full)
        runs = []
        # loky would start its workers with OPENBLAS_NUM_THREADS=1; OpenBLAS
        # started that way runs these matrix products about twice as slowly
        # as one limited to one thread afterwards (threadpoolctl, as
        # train_config does). So the workers start with the usual number of
        # threads, and each run limits itself.
        with parallel_config(backend="loky", inner_max_num_threads=os.cpu_count() or 1):
            parallel = Parallel(n_jobs=n_jobs, return_as="generator")
            for result, net in parallel(jobs):
                runs.append((report(result), net))

    results = [result for result, _ in runs]
    best = best_result(results)
    best_net = next((net for result, net in runs if result is best), None)
    return results, best_net


def best_result(results):
    """
    The result with the highest validation accuracy among the runs of
    search() that did not diverge (the first such in case of a tie), or
    None if they all diverged.
    """
    best = None
    for result in results:
        if not result["diverged"] and (best is None or result["val_acc"] > best["val_acc"]):
            best = result
    return best


def format_table(results, header=True):
    """
    The results of search() as a text table: the configuration keys that
    vary (or all, for one result), then val_acc, train_acc, final_loss,
    diverged, iters and seconds; the best non-diverged run is marked '*'.
    """
    results = list(results)
    if not results:
        return "(no results)"
    keys = [k for k in CONFIG_KEYS
            if len(results) == 1 or len({repr(r["config"].get(k)) for r in results}) > 1]
    if not keys:
        keys = ["hidden_size", "learning_rate", "reg"]
    best = best_result(results) if len(results) > 1 else None

    def fmt(key, value):
        if isinstance(value, float):
            return "%.3g" % value if key in ("learning_rate", "reg", "std") else "%.4g" % value
        return str(value)

    cols = keys + ["val_acc", "train_acc", "final_loss", "diverged", "iters", "seconds"]
    rows = []
    for r in results:
        cells = [fmt(k, r["config"].get(k)) for k in keys]
        cells += ["%.3f" % r["val_acc"], "%.3f" % r["train_acc"], "%.4g" % r["final_loss"],
                  "yes" if r["diverged"] else "no", str(r["iters"]), "%.1f" % r["seconds"]]
        rows.append(("*" if r is best else " ", cells))
    widths = [max(len(c), *(len(cells[i]) for _, cells in rows)) for i, c in enumerate(cols)]
    lines = []
    if header:
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for mark, cells in rows:
        lines.append(mark + " " + "  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    return "\n".join(lines)
