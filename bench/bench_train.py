"""Training speed of the two-layer net, side by side, and the figures of the speed goals.

    .venv/bin/python bench/bench_train.py [--repeat 9] [--threads T] [--quick] [--no-torch]
                                          [--notebook] [--baseline DIR]

Implementations (all in this one process, interleaved: in every repeat each
implementation runs once, in a rotating order, so that they share the same
machine load; the figures are medians over the repeats):

- textbook f64: bench/textbook_net.py, float64 NumPy written the way most
  students write it (the baseline);
- kit f64 / kit f32: cs231n.classifiers.neural_net.TwoLayerNet, the kit's
  reference solution, on float64 data and on float32 data;
- torch f32 / torch f64: bench/torch_net.py, PyTorch on the CPU with autograd
  (skipped with a notice when torch is not installed; optional extra, see
  requirements-bench.txt);
- base f64 / base f32: with --baseline DIR, the TwoLayerNet of another
  checkout of the kit at DIR (for example the last commit, extracted with
  ``mkdir /tmp/base && git archive HEAD cs231n | tar -x -C /tmp/base``), so
  that a change is measured before and after in one run, under the same load;
- floor f64 / floor f32: the matrix multiplications alone, with preallocated
  outputs, over as many steps as the row's iterations or calls: for a
  training iteration or a loss() call the five essential ones,
  forward X@W1 and h@W2, backward h.T@dscores (dW2), dscores@W2.T (dh) and
  X.T@da (dW1) -- the first layer's dx = da@W1.T is not needed, so it is not
  counted; for predict the two forward ones.

Benchmarks (random data unless said otherwise; D = 3072, C = 10):

- iter H=...: one training iteration (minibatch of 200 gathered from 4,000
  rows, loss and gradients, SGD step), timed as train(num_iters=20) / 20:
  one epoch of the 4,000 rows, so that, as in real training, the accuracies
  train measures once per epoch (on its minibatch and on a one-row
  validation set, the same for every implementation) are one iteration's in
  twenty;
- loss() H=50: one loss(X, y, reg) call on a minibatch of 200 (10 calls per sample);
- predict 49k H=50: predict on 49,000 rows;
- notebook train: the notebook's default call, train(num_iters=1000,
  batch_size=200, learning_rate=1e-4, reg=0.25) with H = 50, on the CIFAR-10
  images in datasets/ (random data of the same shape when they are missing).

Settling: before each timed run the script sleeps --settle seconds (0.2),
so that the worker threads of the run before have stopped spinning (OpenBLAS's
spin for about 2^28 cycles, 0.1 s, after each call; PyTorch's OpenMP threads
spin too), then makes the same run once untimed, to wake its own threads and
the CPU. Without this, on 2 cores, a run right after another library's was
slowed by the other's spinning threads (PyTorch after NumPy up to 10x at
H = 50, NumPy after PyTorch 2-3x), and a run right after the sleep alone was
up to 2.5x slower for its first milliseconds.

BLAS threads: NumPy's BLAS and PyTorch get the same number of threads:
--threads, by default the number NumPy's BLAS uses now (threadpoolctl). The
header names NumPy's BLAS, its kernel (threadpoolctl's "architecture") and
OPENBLAS_CORETYPE: where the environment sets it, OpenBLAS uses that kernel
instead of the one it detects (measure both: `env -u OPENBLAS_CORETYPE ...`
and `OPENBLAS_CORETYPE=Haswell ...`; the script never changes it).

The goals of the speed issue close the output, each figure beside its
baseline and its floor (from this run's medians):

- goal 1, training at the matmul floor: kit f32 <= 0.45x textbook f64 and
  <= 0.70x torch f32 at every H, and <= 1.3x floor f32 at H = 500;
- goal 3, the notebook's reference tuning: with --notebook,
  bench_notebook.py executes notebooks/two_layer_net.ipynb on full-size
  synthetic CIFAR-10 (49,000 / 1,000 / 1,000 images of the real shapes) and
  times it against the 5-minute budget (a few minutes; see that script).
  bench_breakdown.py shows where an iteration's time goes, step by step.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, KIT_ROOT)
sys.path.insert(0, os.path.join(KIT_ROOT, "bench"))

from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from cs231n.classifiers.neural_net import TwoLayerNet  # noqa: E402
from textbook_net import TextbookNet  # noqa: E402

try:
    import torch
    from torch_net import TorchNet
except ImportError:  # optional
    torch = None

D, C, BATCH = 3072, 10, 200


# ----------------------------------------------------------------------------
# Machine information
# ----------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info():
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "unknown BLAS", 1
    i = infos[0]
    name = "%s %s (%s)" % (i.get("internal_api"), i.get("version"), i.get("architecture", "?"))
    return name, int(i.get("num_threads") or 1)


def blas_line():
    """NumPy's BLAS, the kernel it runs and OPENBLAS_CORETYPE, in one line."""
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    i = infos[0] if infos else {}
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return "NumPy %s: BLAS %s %s, kernel %s, %s thread(s); OPENBLAS_CORETYPE %s" % (
        np.__version__, i.get("internal_api", "?"), i.get("version", "?"),
        i.get("architecture", "?"), i.get("num_threads", "?"),
        "unset" if coretype is None else "=" + coretype)


def load_text(load):
    return " ".join("%.1f" % v for v in load)


def machine_lines(threads, load_before=None):
    lines = [
        "CPU: %s, %d logical cores; load average (1, 5, 15 min) %safter the runs %s" % (
            cpu_model(), os.cpu_count(),
            "before the runs %s, " % load_text(load_before) if load_before else "",
            load_text(os.getloadavg())),
        "Python %s, %s" % (platform.python_version(), blas_line()),
        "%d BLAS thread(s) for NumPy and PyTorch" % threads,
    ]
    if torch is not None:
        lines.append("PyTorch %s (CPU, %s), torch.set_num_threads(%d)" % (
            torch.__version__, "MKL" if torch.backends.mkl.is_available() else "no MKL", threads))
    else:
        lines.append("PyTorch: not installed, its columns are skipped "
                     "(pip install -r requirements-bench.txt to measure it)")
    return lines


# ----------------------------------------------------------------------------
# Implementations: each maps a case to a zero-argument function to time
# ----------------------------------------------------------------------------

class Impl(object):
    def __init__(self, name, make_net, dtype, to_data=None):
        self.name, self.make_net, self.dtype = name, make_net, dtype
        self.to_data = to_data or (lambda a: a)


def baseline_net_class(root):
    """
    The TwoLayerNet of another checkout of the kit at `root`, to time beside this one.

    Its cs231n package is copied to a temporary folder as the package
    cs231n_baseline, with its imports of cs231n rewritten to that name, so
    that both versions live in this one process (the copy is removed at exit).
    """
    import atexit
    import importlib
    import re
    import shutil
    import tempfile
    src = os.path.join(root, "cs231n")
    if not os.path.isfile(os.path.join(src, "classifiers", "neural_net.py")):
        raise SystemExit("--baseline: %s has no cs231n/classifiers/neural_net.py" % root)
    tmp = tempfile.mkdtemp(prefix="bench-baseline-")
    atexit.register(shutil.rmtree, tmp, True)
    dest = os.path.join(tmp, "cs231n_baseline")
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "datasets"))
    imports = re.compile(r"\b(from|import)(\s+)cs231n\b")
    for dirpath, _, names in os.walk(dest):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                with open(path, "w", encoding="utf-8") as f:
                    f.write(imports.sub(r"\1\2cs231n_baseline", text))
    sys.path.insert(0, tmp)
    return importlib.import_module("cs231n_baseline.classifiers.neural_net").TwoLayerNet


def numpy_impls(baseline=None):
    impls = [
        Impl("textbook f64", TextbookNet, np.float64),
        Impl("kit f64", TwoLayerNet, np.float64),
        Impl("kit f32", lambda *a: TwoLayerNet(*a, dtype=np.float32), np.float32),
    ]
    if baseline is not None:
        impls += [Impl("base f64", baseline, np.float64),
                  Impl("base f32", lambda *a: baseline(*a, dtype=np.float32), np.float32)]
    if torch is not None:
        for dt, tdt, tag in ((np.float32, torch.float32, "f32"), (np.float64, torch.float64, "f64")):
            impls.append(Impl("torch " + tag,
                              (lambda tdt: lambda *a: TorchNet(*a, dtype=tdt))(tdt),
                              dt, to_data=lambda a: torch.from_numpy(a)))
    return impls


def floor_fns(X, H, dtype, backward=True):
    """The essential matrix multiplications of one step, into preallocated outputs."""
    rng = np.random.default_rng(1)
    W1 = rng.standard_normal((D, H)).astype(dtype)
    W2 = rng.standard_normal((H, C)).astype(dtype)
    N = X.shape[0]
    a, s = np.empty((N, H), dtype), np.empty((N, C), dtype)
    dW2, dh, dW1 = np.empty((H, C), dtype), np.empty((N, H), dtype), np.empty((D, H), dtype)

    def step():
        np.matmul(X, W1, out=a)
        np.matmul(a, W2, out=s)
        if backward:
            np.matmul(a.T, s, out=dW2)
            np.matmul(s, W2.T, out=dh)
            np.matmul(X.T, dh, out=dW1)
    return step


class Case(object):
    """One row of the table: how to time each implementation."""

    def __init__(self, name, runs):
        self.name = name
        self.runs = runs  # impl name -> zero-argument function returning elapsed seconds
        self.times = {k: [] for k in runs}


def timed(fn, per=1):
    def run():
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) / per
    return run


def build_cases(impls, hidden_sizes, quick, cifar, iterations_only=False):
    rng = np.random.default_rng(0)
    X64 = rng.standard_normal((4000, D))
    y = rng.integers(C, size=4000)
    data = {np.float64: X64, np.float32: X64.astype(np.float32)}
    cases = []

    # one training iteration, per H
    for H in hidden_sizes:
        n = 2 if quick else 4000 // BATCH  # one epoch
        runs = {}
        for impl in impls:
            np.random.seed(0)
            net = impl.make_net(D, H, C)
            Xd, yd = impl.to_data(data[impl.dtype]), impl.to_data(y)
            net.train(Xd, yd, Xd[:1], yd[:1], num_iters=2, learning_rate=1e-4, reg=0.25)  # warm up

            def fn(net=net, Xd=Xd, yd=yd, n=n):
                net.train(Xd, yd, Xd[:1], yd[:1], num_iters=n, learning_rate=1e-4, reg=0.25)
            runs[impl.name] = timed(fn, per=n)
        for dt, tag in ((np.float64, "f64"), (np.float32, "f32")):
            step = floor_fns(np.ascontiguousarray(data[dt][:BATCH]), H, dt)

            def fn(step=step, n=n):
                for _ in range(n):
                    step()
            runs["floor " + tag] = timed(fn, per=n)
        cases.append(Case("iter H=%d" % H, runs))

    if iterations_only:
        return cases, {}

    # one loss() call, H = 50
    runs = {}
    for impl in impls:
        np.random.seed(0)
        net = impl.make_net(D, 50, C)
        Xb, yb = impl.to_data(np.ascontiguousarray(data[impl.dtype][:BATCH])), impl.to_data(y[:BATCH])
        net.loss(Xb, yb, reg=0.25)

        def fn(net=net, Xb=Xb, yb=yb):
            for _ in range(10):
                net.loss(Xb, yb, reg=0.25)
        runs[impl.name] = timed(fn, per=10)
    for dt, tag in ((np.float64, "f64"), (np.float32, "f32")):
        step = floor_fns(np.ascontiguousarray(data[dt][:BATCH]), 50, dt)

        def fn(step=step):
            for _ in range(10):
                step()
        runs["floor " + tag] = timed(fn, per=10)
    cases.append(Case("loss() H=50", runs))

    # predict on 49,000 rows, H = 50
    n_pred = 4900 if quick else 49000
    big32 = rng.standard_normal((n_pred, D), dtype=np.float32)
    big = {np.float32: big32, np.float64: big32.astype(np.float64)}
    runs = {}
    for impl in impls:
        np.random.seed(0)
        net = impl.make_net(D, 50, C)
        Xp = impl.to_data(big[impl.dtype])
        runs[impl.name] = timed(lambda net=net, Xp=Xp: net.predict(Xp))
    for dt, tag in ((np.float64, "f64"), (np.float32, "f32")):
        runs["floor " + tag] = timed(floor_fns(big[dt], 50, dt, backward=False))
    cases.append(Case("predict %dk H=50" % (n_pred // 1000), runs))

    # the notebook's default train call
    Xtr, ytr, Xv, yv = cifar
    num_iters = 100 if quick else 1000
    runs = {}
    finals = {}
    for impl in impls:
        d = {np.float64: (Xtr, Xv), np.float32: (Xtr.astype(np.float32), Xv.astype(np.float32))}
        Xt, Xvv = (impl.to_data(a) for a in d[impl.dtype])
        ytt, yvv = impl.to_data(ytr), impl.to_data(yv)

        def fn(impl=impl, Xt=Xt, Xvv=Xvv, ytt=ytt, yvv=yvv):
            np.random.seed(0)
            net = impl.make_net(D, 50, C)
            stats = net.train(Xt, ytt, Xvv, yvv, num_iters=num_iters, batch_size=200,
                              learning_rate=1e-4, learning_rate_decay=0.95, reg=0.25)
            finals[impl.name] = (float(stats["loss_history"][-1]), float(stats["val_acc_history"][-1]))
        runs[impl.name] = timed(fn)
    cases.append(Case("notebook train", runs))
    return cases, finals


def load_cifar():
    try:
        from cs231n.data_utils import get_CIFAR10_data
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            d = get_CIFAR10_data(dtype=np.float64)
        rows = lambda a: a.reshape(len(a), -1)
        return (rows(d["X_train"]), d["y_train"].astype(np.int64),
                rows(d["X_val"]), d["y_val"].astype(np.int64)), "CIFAR-10 from datasets/"
    except Exception as e:  # missing dataset: random data of the subset's shape
        rng = np.random.default_rng(2)
        return ((rng.standard_normal((4438, D)), rng.integers(C, size=4438),
                 rng.standard_normal((1000, D)), rng.integers(C, size=1000)),
                "random data (CIFAR-10 not found: %s)" % type(e).__name__)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9,
                        help="repeats (medians are printed); predict: at most 5")
    parser.add_argument("--settle", type=float, default=0.2,
                        help="seconds of sleep before each timed run (see the docstring)")
    parser.add_argument("--train-repeat", type=int, default=1,
                        help="repeats of the (long) notebook train call")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for NumPy and PyTorch (default: NumPy's current)")
    parser.add_argument("--hidden", default="50,100,500", help="hidden sizes for the iteration rows")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--iterations-only", action="store_true",
                        help="only the iteration rows (goal 1's figures): about 2 minutes")
    parser.add_argument("--notebook", action="store_true",
                        help="also time the notebook on full-size synthetic data (goal 3)")
    parser.add_argument("--baseline", metavar="DIR", default=None,
                        help="also time the TwoLayerNet of the kit checkout at DIR (base f64, base f32)")
    args = parser.parse_args(argv)

    global torch
    load_before = os.getloadavg()
    if args.no_torch:
        torch = None
    threads = args.threads or blas_info()[1]
    limiter = threadpool_limits(threads, user_api="blas")
    if torch is not None:
        torch.set_num_threads(threads)

    cifar, cifar_source = load_cifar()
    impls = numpy_impls(baseline_net_class(args.baseline) if args.baseline else None)
    hidden = [int(h) for h in args.hidden.split(",")]
    cases, finals = build_cases(impls, hidden, args.quick, cifar, args.iterations_only)

    t_start = time.perf_counter()
    for case in cases:
        reps = args.train_repeat if case.name == "notebook train" else args.repeat
        if case.name.startswith("predict"):
            reps = min(reps, 5)
        names = list(case.runs)
        for r in range(reps):
            k = r % len(names)
            for name in names[k:] + names[:k]:  # round-robin, rotating start
                time.sleep(args.settle)  # let the previous run's BLAS / OpenMP threads sleep
                case.runs[name]()  # then warm this one up (its threads, the CPU), untimed
                case.times[name].append(case.runs[name]())
    elapsed = time.perf_counter() - t_start
    limiter.restore_original_limits()

    # ------------------------------------------------------------------ table
    print("\n".join(machine_lines(threads, load_before)))
    print("Notebook train data: %s (%d train rows)" % (cifar_source, len(cifar[0])))
    if args.baseline:
        print("Baseline (base f64, base f32): the TwoLayerNet of %s" % os.path.abspath(args.baseline))
    print("Medians of %d interleaved repeats (predict: %d, notebook train: %d), each after "
          "%.2f s of settling and one untimed run; times in ms per iteration, loss() call, predict call or train call; "
          "%.0f s in all.\n"
          % (args.repeat, min(args.repeat, 5), args.train_repeat, args.settle, elapsed))
    impl_names = [i.name for i in impls]
    cols = impl_names + ["floor f64", "floor f32"]
    med = {c.name: {k: statistics.median(v) * 1e3 for k, v in c.times.items()} for c in cases}
    w = max(len(c) for c in cols) + 1
    print("%-18s" % "ms" + "".join("%*s" % (w, c) for c in cols))
    for case in cases:
        row = med[case.name]
        print("%-18s" % case.name + "".join(
            ("%*.1f" % (w, row[c])) if c in row else "%*s" % (w, "-") for c in cols))

    print("\nRatios (lower is better for the kit):")
    ratio_cols = [("kit f32 / base f32", "kit f32", "base f32"),
                  ("kit f64 / base f64", "kit f64", "base f64"),
                  ("kit f64 / textbook f64", "kit f64", "textbook f64"),
                  ("kit f32 / textbook f64", "kit f32", "textbook f64"),
                  ("kit f32 / torch f32", "kit f32", "torch f32"),
                  ("kit f64 / torch f64", "kit f64", "torch f64"),
                  ("kit f32 / floor f32", "kit f32", "floor f32"),
                  ("kit f64 / floor f64", "kit f64", "floor f64"),
                  ("torch f32 / floor f32", "torch f32", "floor f32"),
                  ("textbook / floor f64", "textbook f64", "floor f64")]
    ratio_cols = [rc for rc in ratio_cols if rc[1] in impl_names and rc[2] in cols
                  and (rc[2] in impl_names or rc[2].startswith("floor"))]
    w2 = max(len(rc[0]) for rc in ratio_cols) + 2
    print("%-18s" % "" + "".join("%*s" % (w2, rc[0]) for rc in ratio_cols))
    for case in cases:
        row = med[case.name]
        cells = []
        for _, a, b in ratio_cols:
            cells.append("%*.2f" % (w2, row[a] / row[b]) if a in row and b in row else "%*s" % (w2, "-"))
        print("%-18s" % case.name + "".join(cells))

    if finals:
        print("\nNotebook train, last run (final loss, last val accuracy): "
              + "; ".join("%s %.4f %.3f" % (k, *v) for k, v in finals.items()))
    print_goal1(med, hidden)
    if args.notebook:
        print_goal3()
    else:
        print("\nGoal 3 (the notebook on full-size data in under 5 minutes): run with --notebook "
              "(executes the notebook on full-size synthetic data: a few minutes)")


GOAL1 = (("textbook f64", 0.45, None), ("torch f32", 0.70, None), ("floor f32", 1.3, 500))


def print_goal1(med, hidden):
    """Goal 1's figures: kit f32 per iteration against each baseline, with its bound."""
    print("\nGoal 1, training at the matmul floor (%s)" % blas_line())
    print("  kit f32 ms per iteration, and its ratio to each baseline (goal in brackets):")
    missed = []
    for H in hidden:
        row = med.get("iter H=%d" % H, {})
        if "kit f32" not in row:
            continue
        cells = ["H = %-4d kit f32 %6.2f" % (H, row["kit f32"])]
        for base, bound, only_H in GOAL1:
            if base not in row:
                cells.append("%s: not measured" % base)
                continue
            ratio = row["kit f32"] / row[base]
            if only_H is not None and H != only_H:
                cells.append("%s %6.2f ms: %.2fx" % (base, row[base], ratio))
                continue
            ok = ratio <= bound
            if not ok:
                missed.append("%s at H = %d (%.2fx, goal %.2fx)" % (base, H, ratio, bound))
            cells.append("%s %6.2f ms: %.2fx (<= %.2f: %s)" % (base, row[base], ratio, bound,
                                                               "met" if ok else "MISSED"))
        print("  " + "; ".join(cells))
    print("  goal 1: %s" % ("met" if not missed else "missed against " + ", ".join(missed)))


def print_goal3():
    """Goal 3's figure: the whole notebook on full-size synthetic data, against 5 minutes."""
    import bench_notebook
    summary = bench_notebook.run_notebook("synthetic")
    total, tuning = summary["seconds"], summary["tuning_seconds"]
    print("\nGoal 3, the notebook's reference tuning (%s)" % blas_line())
    print("  two_layer_net.ipynb on full-size synthetic data (%d train rows): %.0f s in all, "
          "%.0f s of it in the tuning cell; budget 300 s: %s"
          % (summary["train_rows"], total, tuning, "met" if total < 300 else "MISSED"))
    print("  (accuracy needs the real images: bench_notebook.py --data datasets runs it on "
          "datasets/)")


if __name__ == "__main__":
    main()
