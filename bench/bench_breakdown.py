"""Where a training iteration of the kit's TwoLayerNet spends its time, step by step.

    .venv/bin/python bench/bench_breakdown.py [--hidden 50,100,500] [--iters 300] [--dtype float32]

One iteration of TwoLayerNet.train, written out here step by step with the
same calls as the reference solution in cs231n/classifiers/neural_net.py (the
layers of cs231n.layers; the first layer's dW1 = 2 * reg * W1 + X.T @ da1 as
the L2 gradient written into a spare array and the product added to it in
place; the in-place SGD step and the recycled gradients of
cs231n/_instructor_blas.py), each step timed on
its own with perf_counter inside a real training loop (minibatch of 200 from
4,000 random rows, D = 3072, C = 10, reg 0.25). The figures are medians over
--iters iterations, after 20 of warm-up. Two rows close the table:

- sum of the steps, against the whole iteration measured as
  TwoLayerNet.train(num_iters=20) / 20 (one epoch of 4,000 rows), so that a
  step this script does not mirror would show as a gap;
- the matmul floor: the iteration's five matrix products alone, with
  preallocated outputs (as bench_train.py measures it).

The matrix products are BLAS calls (multithreaded); every other step is a
NumPy loop on one core, and the ones over D x H arrays (the L2 term, the
regularization gradient, the update) run at memory speed. In float32 the
product added to dW1 and the update are BLAS calls too (gemm with beta = 1,
axpy: see cs231n/_instructor_blas.py); in float64 they are NumPy's.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, KIT_ROOT)
sys.path.insert(0, os.path.join(KIT_ROOT, "bench"))

from bench_train import blas_line, floor_fns  # noqa: E402
from cs231n._instructor_blas import add_matmul, recycle, sgd_step, spare  # noqa: E402
from cs231n.classifiers.neural_net import TwoLayerNet  # noqa: E402
from cs231n.layers import (  # noqa: E402
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)

D, C, BATCH, ROWS = 3072, 10, 200, 4000
REG, LR = 0.25, 1e-4


def breakdown(H, dtype, iters, warmup=20):
    """Median seconds of each step of one training iteration, as an ordered dict."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, D)).astype(dtype)
    y = rng.integers(C, size=ROWS)
    np.random.seed(0)
    params = TwoLayerNet(D, H, C, dtype=dtype).params
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    X_batch = np.empty((BATCH, D), dtype)
    per_epoch = ROWS // BATCH
    times = {}

    for it in range(warmup + iters):
        marks = [("start", time.perf_counter())]

        def mark(name):
            marks.append((name, time.perf_counter()))

        idx = np.random.choice(ROWS, BATCH, replace=True)
        np.take(X, idx, axis=0, out=X_batch, mode="clip")
        y_batch = y[idx]
        mark("minibatch gather (choice, np.take, y[idx])")
        a1 = X_batch @ W1
        mark("X @ W1 (forward product)")
        a1 += b1
        mark("bias add b1")
        h1, relu_cache = relu_forward(a1)
        mark("relu_forward")
        scores, fc2_cache = affine_forward(h1, W2, b2)
        mark("affine_forward layer 2")
        data_loss, dscores = softmax_loss(scores, y_batch)
        mark("softmax_loss")
        loss = data_loss + REG * (np.vdot(W1, W1) + np.vdot(W2, W2))
        mark("L2 term (np.vdot)")
        dh1, dW2, db2 = affine_backward(dscores, fc2_cache)
        mark("affine_backward layer 2")
        da1 = relu_backward(dh1, relu_cache)
        mark("relu_backward (ReLU mask)")
        dW1 = spare(W1.shape, da1.dtype)
        np.multiply(W1, 2 * REG, out=dW1)
        mark("regularization gradient 2 * reg * W1 into dW1")
        add_matmul(X_batch.T, da1, dW1)
        mark("dW1 += X.T @ da1 (dW1 product)")
        db1 = da1.sum(axis=0)
        mark("bias sum db1")
        dW2 += 2 * REG * W2
        for param, grad in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            sgd_step(param, grad, LR)
        recycle((dW2, db2, dW1, db1))
        mark("SGD update (in place)")
        if it % per_epoch == 0:
            (np.argmax(affine_forward(relu_forward(affine_forward(X_batch, W1, b1)[0])[0],
                                      W2, b2)[0], axis=1) == y_batch).mean()
        mark("accuracy once per epoch (amortized)")
        if it >= warmup:
            for (_, t0), (name, t1) in zip(marks, marks[1:]):
                times.setdefault(name, []).append(t1 - t0)
        del loss
    # the per-epoch accuracy is a mean over all iterations, not a median
    out = {k: statistics.median(v) for k, v in times.items() if not k.startswith("accuracy")}
    acc = "accuracy once per epoch (amortized)"
    out[acc] = statistics.fmean(times[acc])
    return out, X, y


def whole_iteration(H, dtype, X, y, repeat=7):
    np.random.seed(0)
    net = TwoLayerNet(D, H, C, dtype=dtype)
    kwargs = dict(num_iters=ROWS // BATCH, batch_size=BATCH, learning_rate=LR, reg=REG)
    net.train(X, y, X[:1], y[:1], **kwargs)
    floor = floor_fns(np.ascontiguousarray(X[:BATCH]), H, dtype)
    floor()
    whole, matmuls = [], []
    for _ in range(repeat):  # interleaved
        t0 = time.perf_counter()
        net.train(X, y, X[:1], y[:1], **kwargs)
        whole.append((time.perf_counter() - t0) / kwargs["num_iters"])
        t0 = time.perf_counter()
        floor()
        matmuls.append(time.perf_counter() - t0)
    return statistics.median(whole), statistics.median(matmuls)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", default="50,100,500")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    print(blas_line())
    print("load average before: %s" % " ".join("%.1f" % v for v in os.getloadavg()))
    for H in [int(h) for h in args.hidden.split(",")]:
        steps, X, y = breakdown(H, dtype, args.iters)
        whole, floor = whole_iteration(H, dtype, X, y)
        total = sum(steps.values())
        print("\nH = %d, %s, batch %d, D = %d: ms per iteration (median of %d)"
              % (H, args.dtype, BATCH, D, args.iters))
        for name, sec in steps.items():
            print("  %-46s %7.3f  %5.1f%%" % (name, sec * 1e3, 100 * sec / total))
        products = sum(v for k, v in steps.items() if "product" in k)
        print("  %-46s %7.3f  %5.1f%%" % ("sum of the steps", total * 1e3, 100.0))
        print("  %-46s %7.3f" % ("  of which the two large products", products * 1e3))
        print("  %-46s %7.3f" % ("whole iteration, TwoLayerNet.train", whole * 1e3))
        print("  %-46s %7.3f  (iteration / floor = %.2f)" % ("matmul floor (5 products)",
                                                             floor * 1e3, whole / floor))
    print("\nload average after: %s" % " ".join("%.1f" % v for v in os.getloadavg()))


if __name__ == "__main__":
    main()
