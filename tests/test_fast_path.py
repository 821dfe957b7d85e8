"""The fast reference path of TwoLayerNet computes what the plain formulas compute.

The reference solution works in place, skips the first layer's dx, gathers
minibatches into one buffer, reuses the arrays of old gradients and runs in
float32 on float32 data; these tests hold it to a straightforward float64
computation written here (bit for bit in float64), to the course's toy
numbers, and to its promise of no per-iteration array the size of W1. Run
inside the student kit, which lacks cs231n/_instructor_blas.py, it computes
the same numbers in plain NumPy.
"""
import sys
import tracemalloc

import numpy as np
import pytest

from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.gradient_check import eval_numerical_gradient, rel_error


def plain_loss(params, X, y, reg):
    """Scores, loss and gradients of the two-layer net, one textbook formula per line, in float64."""
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    N = X.shape[0]
    a1 = X.dot(W1) + b1
    h1 = np.where(a1 > 0, a1, 0.0)
    scores = h1.dot(W2) + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.mean(log_probs[np.arange(N), y]) + reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {"W2": h1.T.dot(dscores) + 2 * reg * W2, "b2": dscores.sum(axis=0)}
    da1 = dscores.dot(W2.T) * (a1 > 0)
    grads["W1"] = X.T.dot(da1) + 2 * reg * W1
    grads["b1"] = da1.sum(axis=0)
    return scores, loss, grads


def random_problem(N=64, D=30, H=20, C=7, seed=0, std=0.1):
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    net = TwoLayerNet(D, H, C, std=std)
    net.params["b1"] = 0.1 * rng.standard_normal(H)
    net.params["b2"] = 0.1 * rng.standard_normal(C)
    X = rng.standard_normal((N, D))
    y = rng.integers(C, size=N)
    return net, X, y


def max_rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("reg", [0.0, 0.05, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float64_scores_loss_and_grads_are_the_plain_formulas_bit_for_bit(reg, seed):
    net, X, y = random_problem(N=64 + seed, D=30 + 7 * seed, H=20 + 11 * seed, seed=seed)
    scores_ref, loss_ref, grads_ref = plain_loss(net.params, X, y, reg)
    np.testing.assert_array_equal(net.loss(X), scores_ref)
    loss, grads = net.loss(X, y, reg=reg)
    assert loss == loss_ref
    assert set(grads) == set(grads_ref)
    for name in grads:
        assert grads[name].shape == net.params[name].shape
        assert grads[name].dtype == np.float64
        np.testing.assert_array_equal(grads[name], grads_ref[name], err_msg=name)


def test_loss_leaves_params_and_data_untouched():
    net, X, y = random_problem()
    before = {k: v.copy() for k, v in net.params.items()}
    X_before = X.copy()
    net.loss(X, y, reg=0.5)
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])
    np.testing.assert_array_equal(X, X_before)


def plain_train(params, X, y, learning_rate, reg, num_iters, batch_size, decay=0.95):
    """The course's training loop on the plain formulas, with a fresh X[idx] per minibatch."""
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    per_epoch = max(X.shape[0] // batch_size, 1)
    losses = []
    for it in range(num_iters):
        idx = np.random.choice(X.shape[0], batch_size, replace=True)
        _, loss, grads = plain_loss(params, X[idx], y[idx], reg)
        losses.append(loss)
        for name in params:
            params[name] = params[name] - learning_rate * grads[name]
        if it % per_epoch == 0:
            learning_rate *= decay
    return losses, params


@pytest.mark.parametrize("reg", [0.0, 0.01])
def test_float64_training_is_the_plain_loop_bit_for_bit(reg):
    net, X, y = random_problem(N=120)
    start = {k: v.copy() for k, v in net.params.items()}
    X_before = X.copy()
    np.random.seed(3)
    stats = net.train(X, y, X, y, learning_rate=0.05, reg=reg, num_iters=37, batch_size=25)
    np.random.seed(3)
    losses, params = plain_train(start, X, y, learning_rate=0.05, reg=reg, num_iters=37,
                                 batch_size=25)
    assert stats["loss_history"] == losses
    for name in params:
        np.testing.assert_array_equal(net.params[name], params[name], err_msg=name)
    np.testing.assert_array_equal(X, X_before)


def test_gradients_returned_by_loss_are_never_overwritten():
    """train() reuses the arrays of its own old gradients; a caller's grads stay as returned."""
    net, X, y = random_problem(N=80)
    net.train(X, y, X, y, learning_rate=0.05, reg=0.01, num_iters=3, batch_size=20)
    _, kept = net.loss(X, y, reg=0.01)
    copies = {k: v.copy() for k, v in kept.items()}
    _, again = net.loss(X, y, reg=0.01)
    net.train(X, y, X, y, learning_rate=0.05, reg=0.01, num_iters=3, batch_size=20)
    _, after = net.loss(X, y, reg=0.5)
    for name in kept:
        assert kept[name] is not again[name] and kept[name] is not after[name]
        np.testing.assert_array_equal(kept[name], copies[name], err_msg=name)


def test_train_allocates_no_array_the_size_of_W1_per_iteration():
    """
    The fast path's promise, checked without a clock: once a first train() call
    has made its buffers, training allocates no temporary as large as W1 (a
    (D, H) gradient, 2 * reg * W1, learning_rate * grad, W1 * W1), only arrays
    of the minibatch's size.
    """
    rng = np.random.default_rng(0)
    N, D, H, C, batch = 500, 1024, 64, 10, 16
    X = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(C, size=N)
    np.random.seed(0)
    net = TwoLayerNet(D, H, C, std=1e-2, dtype=np.float32)
    kwargs = dict(learning_rate=1e-3, reg=0.1, num_iters=5, batch_size=batch)
    net.train(X, y, X[:1], y[:1], **kwargs)
    W1_bytes = net.params["W1"].nbytes
    tracemalloc.start()
    try:
        net.train(X, y, X[:1], y[:1], **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    batch_bytes = batch * D * X.itemsize  # the minibatch buffer, made once per call
    assert batch_bytes < W1_bytes / 2
    assert peak < batch_bytes + W1_bytes / 2, f"peak {peak} bytes, W1 has {W1_bytes}"


def test_float32_data_computes_in_float32_close_to_float64():
    net64, X, y = random_problem()
    net32, _, _ = random_problem()
    X32 = X.astype(np.float32)
    np.random.seed(5)
    stats64 = net64.train(X, y, X, y, learning_rate=0.05, reg=0.01, num_iters=20, batch_size=32)
    np.random.seed(5)
    stats32 = net32.train(X32, y, X32, y, learning_rate=0.05, reg=0.01, num_iters=20, batch_size=32)
    assert all(p.dtype == np.float32 for p in net32.params.values())
    scores32 = net32.loss(X32)
    loss32, grads32 = net32.loss(X32, y, reg=0.01)
    assert scores32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads32.values())
    assert np.asarray(loss32).dtype == np.float32
    assert all(np.asarray(loss).dtype == np.float32 for loss in stats32["loss_history"])
    np.testing.assert_allclose(stats32["loss_history"], stats64["loss_history"], rtol=1e-4)
    for name in net64.params:
        np.testing.assert_allclose(net32.params[name], net64.params[name], rtol=1e-3, atol=1e-5)
    # and the float32 gradients are those of the plain float64 formulas, to float32 precision
    _, loss_ref, grads_ref = plain_loss(net32.params, X32, y, 0.01)
    assert abs(loss32 - loss_ref) < 1e-5 * abs(loss_ref)
    for name in grads32:
        assert max_rel(grads32[name], grads_ref[name]) < 1e-4, name


def test_float32_loss_of_a_large_layer_matches_float64():
    """The float32 sum of squares (np.vdot) over a large W1 stays accurate."""
    rng = np.random.default_rng(4)
    np.random.seed(4)
    net = TwoLayerNet(3072, 100, 10, std=1e-2, dtype=np.float32)
    X = rng.standard_normal((50, 3072)).astype(np.float32)
    y = rng.integers(10, size=50)
    loss32, _ = net.loss(X, y, reg=10.0)
    _, loss64, _ = plain_loss(net.params, X, y, 10.0)
    assert abs(loss32 - loss64) < 1e-5 * loss64


def test_dtype_option():
    np.random.seed(0)
    net64 = TwoLayerNet(5, 4, 3)
    np.random.seed(0)
    net32 = TwoLayerNet(5, 4, 3, dtype=np.float32)
    for name in net64.params:
        assert net32.params[name].dtype == np.float32
        np.testing.assert_array_equal(net32.params[name], net64.params[name].astype(np.float32))
    with pytest.raises(TypeError, match="dtype"):
        TwoLayerNet(5, 4, 3, dtype=np.int64)


# ----------------------------------------------------------------------------
# The course's toy numbers, as the notebook prints them
# ----------------------------------------------------------------------------

CORRECT_SCORES = np.asarray([
    [-0.81233741, -1.27654624, -0.70335995],
    [-0.17129677, -1.18803311, -0.47310444],
    [-0.51590475, -1.01354314, -0.8504215],
    [-0.15419291, -0.48629638, -0.52901952],
    [-0.00618733, -0.12435261, -0.15226949]])


def toy_model():
    np.random.seed(0)
    return TwoLayerNet(4, 10, 3, std=1e-1)


def toy_data():
    np.random.seed(1)
    return 10 * np.random.randn(5, 4), np.array([0, 1, 2, 2, 1])


def test_course_toy_numbers():
    net = toy_model()
    X, y = toy_data()
    assert "%.2e" % np.sum(np.abs(net.loss(X) - CORRECT_SCORES)) == "3.68e-08"
    loss, grads = net.loss(X, y, reg=0.05)
    assert "%.2e" % abs(loss - 1.30378789133) == "1.79e-13"
    scores_ref, loss_ref, grads_ref = plain_loss(net.params, X, y, 0.05)
    np.testing.assert_array_equal(net.loss(X), scores_ref)
    assert loss == loss_ref
    for name in sorted(grads):
        np.testing.assert_array_equal(grads[name], grads_ref[name], err_msg=name)
        f = lambda W: net.loss(X, y, reg=0.05)[0]
        error = rel_error(eval_numerical_gradient(f, net.params[name], verbose=False), grads[name])
        assert error < 1e-8, name
    # the notebook's toy training: a fresh model, the random state as left by its seed
    net = toy_model()
    start = {k: v.copy() for k, v in net.params.items()}
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    assert stats["loss_history"][-1] == 0.017149607938732093
    np.random.seed(0)
    np.random.randn(4, 10), np.random.randn(10, 3)  # the random state as toy_model() left it
    losses, _ = plain_train(start, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, batch_size=200)
    assert stats["loss_history"] == losses


def test_without_the_instructor_module_the_same_training_in_plain_numpy(monkeypatch):
    """The reference solution graded inside the student kit: no cs231n._instructor_blas there."""
    def run(dtype):
        net, X, y = random_problem(N=120)
        net.params = {k: v.astype(dtype) for k, v in net.params.items()}
        X = X.astype(dtype)
        np.random.seed(3)
        stats = net.train(X, y, X, y, learning_rate=0.05, reg=0.01, num_iters=23, batch_size=25)
        return stats["loss_history"], net.params, net.loss(X, y, reg=0.01)[1]

    fast = {dtype: run(dtype) for dtype in (np.float64, np.float32)}
    monkeypatch.setitem(sys.modules, "cs231n._instructor_blas", None)  # import raises ImportError
    with pytest.raises(ImportError):
        import cs231n._instructor_blas  # noqa: F401
    plain = {dtype: run(dtype) for dtype in (np.float64, np.float32)}
    losses, params, grads = plain[np.float64]
    assert losses == fast[np.float64][0]
    for name in params:
        np.testing.assert_array_equal(params[name], fast[np.float64][1][name], err_msg=name)
        np.testing.assert_array_equal(grads[name], fast[np.float64][2][name], err_msg=name)
    losses, params, _ = plain[np.float32]
    np.testing.assert_allclose(losses, fast[np.float32][0], rtol=1e-5)
    for name in params:
        assert params[name].dtype == np.float32
        np.testing.assert_allclose(params[name], fast[np.float32][1][name], rtol=1e-4, atol=1e-6)
