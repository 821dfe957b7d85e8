"""Hyperparameter sweep: cs231n.tuning.search with 2 worker processes against 1.

    .venv/bin/python bench/bench_tuning.py [--iters 300] [--repeat 1] [--dtype float32]

Twelve configurations (hidden_size 50, 100 x learning_rate 1e-3, 5e-4 x reg
0.1, 0.25, 0.5) trained on the CIFAR-10 images in datasets/ (random data of the
subset's shape when they are missing):

- sequential: search(n_jobs=1), one configuration after the other in this
  process, NumPy's BLAS with its default number of threads;
- sequential, 1 BLAS thread: the same, limited to one BLAS thread (what
  each worker below gets; the speedup over it is the scaling of the workers);
- 2 workers: search(n_jobs=2), two loky processes with one BLAS thread each
  (the process start-up and the transfer of the data are included).

The sequential run already uses every core through BLAS threads, so the
speedup of the workers over it is bounded by how well BLAS threads scale.

The two runs alternate (their order swaps at every repeat); the medians and
the speedup are printed, and the two runs must give the same results.
"""
import argparse
import contextlib
import io
import os
import statistics
import sys
import time

import numpy as np

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, KIT_ROOT)
sys.path.insert(0, os.path.join(KIT_ROOT, "bench"))

from bench_train import blas_info, cpu_model  # noqa: E402
from cs231n.tuning import format_table, grid, search  # noqa: E402


def load(dtype):
    try:
        from cs231n.data_utils import get_CIFAR10_data
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            d = get_CIFAR10_data(dtype=dtype)
        rows = lambda a: a.reshape(len(a), -1)
        return rows(d["X_train"]), d["y_train"], rows(d["X_val"]), d["y_val"], "CIFAR-10 from datasets/"
    except Exception as e:
        rng = np.random.default_rng(0)
        return (rng.standard_normal((4438, 3072)).astype(dtype), rng.integers(10, size=4438),
                rng.standard_normal((1000, 3072)).astype(dtype), rng.integers(10, size=1000),
                "random data (CIFAR-10 not found: %s)" % type(e).__name__)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=300, help="iterations per configuration")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)

    X, y, Xv, yv, source = load(np.dtype(args.dtype))
    configs = grid(hidden_size=[50, 100], learning_rate=[1e-3, 5e-4], reg=[0.1, 0.25, 0.5])
    jobs = {"sequential": (1, None), "sequential, 1 BLAS thread": (1, 1), "2 workers": (2, None)}
    times = {name: [] for name in jobs}
    out = {}
    for r in range(args.repeat):
        order = list(jobs) if r % 2 == 0 else list(jobs)[::-1]
        for name in order:
            n_jobs, blas_threads = jobs[name]
            t0 = time.perf_counter()
            out[name], _ = search(configs, X, y, Xv, yv, n_jobs=n_jobs, blas_threads=blas_threads,
                                  num_iters=args.iters)
            times[name].append(time.perf_counter() - t0)

    blas, threads = blas_info()
    print("CPU: %s, %d logical cores; load average %s" % (
        cpu_model(), os.cpu_count(), " ".join("%.1f" % v for v in os.getloadavg())))
    print("NumPy %s, BLAS %s, %d thread(s) by default; data: %s, %s, %d train rows"
          % (np.__version__, blas, threads, source, args.dtype, len(X)))
    print("%d configurations x %d iterations (batch 200), median of %d run(s):\n"
          % (len(configs), args.iters, args.repeat))
    seq, seq1, par = (statistics.median(times[k]) for k in jobs)
    print("  sequential (n_jobs=1, %d BLAS threads):    %6.1f s" % (threads, seq))
    print("  sequential (n_jobs=1, 1 BLAS thread):     %6.1f s" % seq1)
    print("  2 workers  (n_jobs=2, 1 BLAS thread each): %5.1f s" % par)
    print("  speedup of 2 workers: %.2fx over sequential, %.2fx over sequential with 1 thread\n"
          % (seq / par, seq1 / par))
    same = all(a["val_acc"] == b["val_acc"] and a["config"] == b["config"]
               for name in jobs for a, b in zip(out["sequential"], out[name]))
    print("same validation accuracies in all runs: %s\n" % ("yes" if same else "NO"))
    print(format_table(out["2 workers"]))


if __name__ == "__main__":
    main()
