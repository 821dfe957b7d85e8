"""Loading CIFAR-10: the course's classic loader against the cached one.

    python bench/bench_load.py [--root datasets/cifar-10-batches-py] [--repeat 3]

Times get_CIFAR10_data() and measures the peak memory (resident set size) it
needs, each run in a fresh Python process so that peaks do not mix:

- classic: the course's loader, unpickling every batch to float64 on each call;
- cached: cs231n.data_utils, which memory-maps uint8 .npy copies of the batches.

"cold" is a first call (for the cached loader: the .npy cache is deleted before
it, so this call builds it); "warm" is any later call. The figures are medians
over --repeat runs. The cached loader writes its cache in <root>/.cache.
"""
import argparse
import contextlib
import io
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import time

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ROOT = os.path.join(KIT_ROOT, "datasets", "cifar-10-batches-py")
BATCHES = ["data_batch_%d" % b for b in range(1, 6)] + ["test_batch"]
CONFIGS = [("classic", "float64"), ("cached", "float64"), ("cached", "float32")]


# ----------------------------------------------------------------------------
# The course's classic loader, kept here as the reference
# ----------------------------------------------------------------------------

def classic_batch(filename):
    """Unpickle one batch to float64 (N, 32, 32, 3), as the course does."""
    import numpy as np
    with open(filename, "rb") as f:
        datadict = pickle.load(f, encoding="latin1")
    X = datadict["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype("float")
    return X, np.array(datadict["labels"])


def classic_get_CIFAR10_data(root, num_training=49000, num_validation=1000, num_test=1000):
    """The course's get_CIFAR10_data, with the split shrunk to what root holds."""
    import numpy as np
    parts = [classic_batch(os.path.join(root, "data_batch_%d" % b)) for b in range(1, 6)]
    X_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    X_test, y_test = classic_batch(os.path.join(root, "test_batch"))
    if num_training + num_validation > len(X_train):
        num_validation = min(num_validation, len(X_train) // 2)
        num_training = len(X_train) - num_validation
    X_val = X_train[num_training:num_training + num_validation]
    y_val = y_train[num_training:num_training + num_validation]
    X_train, y_train = X_train[:num_training], y_train[:num_training]
    X_test, y_test = X_test[:num_test], y_test[:num_test]
    mean_image = np.mean(X_train, axis=0)
    X_train -= mean_image
    X_val -= mean_image
    X_test -= mean_image
    return {"X_train": X_train.transpose(0, 3, 1, 2).copy(), "y_train": y_train,
            "X_val": X_val.transpose(0, 3, 1, 2).copy(), "y_val": y_val,
            "X_test": X_test.transpose(0, 3, 1, 2).copy(), "y_test": y_test}


# ----------------------------------------------------------------------------
# One measurement, in a fresh process
# ----------------------------------------------------------------------------

def max_rss_mib():
    """Peak resident set size of this process so far, in MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(loader, dtype, root):
    """Time one get_CIFAR10_data() call; return seconds and peak RSS figures."""
    import numpy as np
    sys.path.insert(0, KIT_ROOT)
    from cs231n.data_utils import get_CIFAR10_data
    base = max_rss_mib()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the split-shrink notice
        if loader == "classic":
            data = classic_get_CIFAR10_data(root)
        else:
            data = get_CIFAR10_data(cifar10_dir=root, dtype=np.dtype(dtype))
    seconds = time.perf_counter() - start
    rows = len(data["X_train"]) + len(data["X_val"]) + len(data["X_test"])
    return {"seconds": seconds, "peak_mib": max_rss_mib(), "base_mib": base, "rows": rows}


def run_child(loader, dtype, root):
    """Run measure() in a fresh Python process and return its figures."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", loader,
                          "--dtype", dtype, "--root", root],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def clear_cache(root):
    shutil.rmtree(os.path.join(root, ".cache"), ignore_errors=True)


def bench_config(loader, dtype, root, repeat):
    """Return ([cold figures], [warm figures]) for one loader and dtype."""
    cold = []
    for _ in range(repeat):
        clear_cache(root)
        cold.append(run_child(loader, dtype, root))
    run_child(loader, dtype, root)  # leaves the cache (and the page cache) warm
    warm = [run_child(loader, dtype, root) for _ in range(repeat)]
    return cold, warm


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def print_table(results, root, repeat):
    rows = next(iter(results.values()))[0][0]["rows"]
    print(f"get_CIFAR10_data() on {root} ({rows} images out), "
          f"median of {repeat} fresh processes each")
    head = (f"{'loader':<8} {'dtype':<8} {'state':<5} {'seconds':>8} {'peak RSS MiB':>13} "
            f"{'RSS added MiB':>14}")
    print(head)
    print("-" * len(head))
    for (loader, dtype), (cold, warm) in results.items():
        for state, runs in (("cold", cold), ("warm", warm)):
            added = statistics.median(r["peak_mib"] - r["base_mib"] for r in runs)
            print(f"{loader:<8} {dtype:<8} {state:<5} {median(runs, 'seconds'):>8.3f} "
                  f"{median(runs, 'peak_mib'):>13.1f} {added:>14.1f}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=DEFAULT_ROOT, help="folder of the CIFAR-10 batches "
                   "(default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (default: 3)")
    p.add_argument("--child", choices=["classic", "cached"], help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="float64", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    root = os.path.abspath(args.root)
    if args.child:
        print(json.dumps(measure(args.child, args.dtype, root)))
        return 0
    missing = [b for b in BATCHES if not os.path.isfile(os.path.join(root, b))]
    if missing:
        print(f"no CIFAR-10 batches in {root} (missing {', '.join(missing)}); fetch them "
              f"with `python get_datasets.py` from the kit's root, or pass --root",
              file=sys.stderr)
        return 1
    results = {(loader, dtype): bench_config(loader, dtype, root, args.repeat)
               for loader, dtype in CONFIGS}
    print_table(results, root, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
