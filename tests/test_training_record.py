"""The training record of the classic TwoLayerNet: saved with the weights, and re-run to confirm them.

The grader grades the tuned best_net from the file the student's notebook
saved, confirmed by re-running the last iterations of its training with the
student's code (cs231n.training_record.check_reproduces). Each way of
handing in weights that this code and data did not make is planted here and
must be caught with a message that says what to do; the honest cases (a
plain training loop, cs231n.tuning's chunks, float64, a save and load in
between) must pass.
"""
import numpy as np
import pytest

from cs231n import training_record
from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.training_record import check_reproduces
from cs231n.tuning import grid, search


def toy_data(n=600, d=48, classes=5, seed=3, dtype=np.float32):
    rng = np.random.default_rng(seed)
    y = rng.integers(classes, size=n)
    templates = rng.normal(size=(classes, d))
    X = (templates[y] + rng.normal(size=(n, d))).astype(dtype)
    return X[:500], y[:500], X[500:], y[500:]


def trained(dtype=np.float32, num_iters=300, **settings):
    X, y, Xv, yv = toy_data(dtype=dtype)
    np.random.seed(0)
    net = TwoLayerNet(X.shape[1], 20, 5, std=1e-2)
    net.train(X, y, Xv, yv, learning_rate=settings.get("learning_rate", 5e-2), reg=settings.get("reg", 1e-3),
              num_iters=num_iters, batch_size=50)
    return net, (X, y, Xv, yv)


def test_the_record_starts_on_the_last_epoch_boundary_at_least_replay_iters_before_the_end():
    assert training_record.replay_start(300, 10) == 200
    assert training_record.replay_start(305, 10) == 200
    assert training_record.replay_start(250, 245) == 0
    assert training_record.replay_start(4000, 245) == 3675
    assert training_record.replay_start(50, 10) == 0      # shorter than REPLAY_ITERS: the whole call


def test_a_trained_net_is_confirmed_after_a_save_and_a_load(tmp_path):
    net, data = trained()
    assert net.training_record["settings"]["num_iters"] == 100   # 300 iterations, epochs of 10
    path = net.save(tmp_path / "best_net.npz")
    loaded = TwoLayerNet(1, 1, 1).load(path)
    for name in ("W1", "b1", "W2", "b2"):
        assert np.array_equal(loaded.params[name], net.params[name])
    state = np.random.get_state()[1].copy()
    assert check_reproduces(loaded, *data) == 0.0
    assert np.array_equal(np.random.get_state()[1], state)    # the notebook's random state is untouched
    with np.load(path, allow_pickle=False) as f:              # arrays only: no pickle inside
        assert "record_meta" in f.files


def test_float64_training_is_confirmed_too():
    net, data = trained(dtype=np.float64)
    assert check_reproduces(net, *data) == 0.0


def test_a_net_tuned_in_chunks_by_cs231n_tuning_is_confirmed():
    X, y, Xv, yv = toy_data()
    _, best = search(grid(hidden_size=[20], learning_rate=[5e-2], reg=[1e-3]), X, y, Xv, yv, n_jobs=1,
                     num_iters=330, batch_size=50, std=1e-2)
    assert best.training_record is not None
    assert check_reproduces(best, X, y, Xv, yv) == 0.0


def test_weights_changed_after_training_are_refused():
    net, data = trained()
    net.params["W2"] *= 1.1
    with pytest.raises(AssertionError, match=r"does not give its weights \(W2 differs .*train best_net again"):
        check_reproduces(net, *data)


def test_other_settings_than_the_recorded_ones_are_refused():
    net, data = trained()
    net.training_record["settings"]["learning_rate"] *= 1.5
    with pytest.raises(AssertionError, match="does not give its weights"):
        check_reproduces(net, *data)


def test_other_training_code_is_refused():
    """Weights made by an SGD step that skips the biases, confirmed with the correct train()."""
    X, y, Xv, yv = toy_data()
    np.random.seed(0)
    net = TwoLayerNet(X.shape[1], 20, 5, std=1e-2)
    net.train(X, y, Xv, yv, learning_rate=5e-2, reg=1e-3, num_iters=300, batch_size=50)
    record = net.training_record
    frozen = TwoLayerNet.__new__(TwoLayerNet)
    frozen.params = {k: v.copy() for k, v in record["params"].items()}
    np.random.set_state(record["rng"])
    lr = record["settings"]["learning_rate"]
    for it in range(record["settings"]["num_iters"]):   # the same minibatches, the biases never move
        idx = np.random.choice(len(X), 50, replace=True)
        _, grads = frozen.loss(X[idx], y[idx], reg=1e-3)
        for name in ("W1", "W2"):
            frozen.params[name] -= lr * grads[name]
        if it % 10 == 0:
            lr *= 0.95
    frozen.training_record = record
    with pytest.raises(AssertionError, match="does not give its weights"):
        check_reproduces(frozen, X, y, Xv, yv)


def test_a_net_trained_on_other_data_is_refused_with_the_reason():
    net, (X, y, Xv, yv) = trained()
    with pytest.raises(AssertionError, match="trained on 500 training rows, and this notebook has 400"):
        check_reproduces(net, X[:400], y[:400], Xv, yv)
    y_other = y.copy()
    y_other[:10] = (y_other[:10] + 1) % 5
    with pytest.raises(AssertionError, match="other training data"):
        check_reproduces(net, X, y_other, Xv, yv)


def test_a_net_that_was_never_trained_has_no_record():
    X, y, Xv, yv = toy_data()
    net = TwoLayerNet(X.shape[1], 20, 5)
    with pytest.raises(AssertionError, match="has no training record"):
        check_reproduces(net, X, y, Xv, yv)


def test_load_names_what_is_wrong_with_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="save one with net.save"):
        TwoLayerNet(1, 1, 1).load(tmp_path / "missing.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        TwoLayerNet(1, 1, 1).load(tmp_path / "empty.npz")
    np.savez(tmp_path / "other.npz", W1=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="was not written by TwoLayerNet.save"):
        TwoLayerNet(1, 1, 1).load(tmp_path / "other.npz")
