"""The classic TwoLayerNet: course reference numbers, gradients, training and its traps."""
import numpy as np
import pytest

from cs231n.classifiers.neural_net import TwoLayerNet
from numgrad import max_rel_error, numeric_grad

CORRECT_SCORES = np.array([
    [-0.81233741, -1.27654624, -0.70335995],
    [-0.17129677, -1.18803311, -0.47310444],
    [-0.51590475, -1.01354314, -0.8504215],
    [-0.15419291, -0.48629638, -0.52901952],
    [-0.00618733, -0.12435261, -0.15226949]])


def toy():
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    return net, X, np.array([0, 1, 2, 2, 1])


def test_params_have_course_shapes():
    net = TwoLayerNet(7, 5, 3)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (7, 5), "b1": (5,), "W2": (5, 3), "b2": (3,)}
    assert not net.params["b1"].any() and not net.params["b2"].any()


def test_toy_scores_match_course():
    net, X, _ = toy()
    assert np.sum(np.abs(net.loss(X) - CORRECT_SCORES)) < 1e-7


def test_toy_loss_matches_course_without_one_half():
    net, X, y = toy()
    loss, _ = net.loss(X, y, reg=0.05)
    assert abs(loss - 1.30378789133) < 1e-12
    # The L2 term is reg * sum(W**2), with no one-half.
    data_loss, _ = net.loss(X, y, reg=0.0)
    l2 = np.sum(net.params["W1"] ** 2) + np.sum(net.params["W2"] ** 2)
    assert loss - data_loss == pytest.approx(0.05 * l2, rel=1e-12)


@pytest.mark.parametrize("reg", [0.0, 0.05, 1.0])
def test_gradients_match_numerical(reg):
    net, X, y = toy()
    _, grads = net.loss(X, y, reg=reg)
    for name, param in net.params.items():
        num = numeric_grad(lambda: net.loss(X, y, reg=reg)[0], param)
        assert max_rel_error(num, grads[name]) < 1e-7, name


def test_toy_training_reaches_course_loss():
    net, X, y = toy()
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100)
    assert stats["loss_history"][-1] < 0.02
    assert len(stats["loss_history"]) == 100
    assert (net.predict(X) == y).all()


def test_epochs_are_whole_iterations_and_decay_the_learning_rate():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((450, 6))
    y = rng.integers(3, size=450)
    np.random.seed(0)
    net = TwoLayerNet(6, 8, 3, std=1e-2)
    # 450 // 200 = 2 iterations per epoch (a float 2.25 would record only at iteration 0)
    stats = net.train(X, y, X, y, num_iters=10, batch_size=200)
    assert len(stats["train_acc_history"]) == len(range(0, 10, 2)) == 5
    assert len(stats["val_acc_history"]) == 5


def test_learning_rate_decays_once_per_epoch():
    X = np.zeros((4, 2))
    y = np.zeros(4, dtype=int)
    np.random.seed(0)
    net = TwoLayerNet(2, 3, 2)
    net.params["b2"][:] = 0.0
    # With X = 0 only b2 learns; its step is lr * grad, grad = p - onehot, with fixed scores.
    lr_seen = []
    original = net.loss

    def loss(Xb, y=None, reg=0.0):
        out = original(Xb, y, reg)
        if y is not None:
            out[1]["b2"][:] = 1.0
            lr_seen.append(None)
        return out

    net.loss = loss
    net.train(X, y, X, y, learning_rate=1.0, learning_rate_decay=0.5, num_iters=3, batch_size=2)
    # 4 // 2 = 2 iterations per epoch: the rate is 1 at it 0, then 0.5 for it 1 and 2
    np.testing.assert_allclose(net.params["b2"], -(1.0 + 0.5 + 0.5))


def test_predict_returns_argmax_labels():
    net, X, _ = toy()
    np.testing.assert_array_equal(net.predict(X), CORRECT_SCORES.argmax(axis=1))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="hidden_size"):
        TwoLayerNet(4, 0, 3)
    net, X, y = toy()
    with pytest.raises(ValueError, match="y must have shape"):
        net.train(X, y[:3], X, y)


def test_snapshots_are_off_by_default():
    net, X, y = toy()
    stats = net.train(X, y, X, y, num_iters=5)
    assert set(stats) == {"loss_history", "train_acc_history", "val_acc_history"}


def test_snapshots_record_W1_at_the_chosen_iterations():
    net, X, y = toy()
    W1_start = net.params["W1"].copy()
    stats = net.train(X, y, X, y, learning_rate=1e-1, num_iters=25, snapshot_every=10)
    assert stats["snapshot_iters"] == [0, 10, 20, 25]
    np.testing.assert_array_equal(stats["W1_snapshots"][0], W1_start)
    np.testing.assert_array_equal(stats["W1_snapshots"][-1], net.params["W1"])
    assert not np.array_equal(stats["W1_snapshots"][1], stats["W1_snapshots"][2])


def test_snapshots_do_not_change_training():
    net_a, X, y = toy()
    net_a.train(X, y, X, y, num_iters=30)
    net_b, _, _ = toy()
    net_b.train(X, y, X, y, num_iters=30, snapshot_every=3)
    np.testing.assert_array_equal(net_a.params["W1"], net_b.params["W1"])


def test_snapshots_stay_bounded_and_spread_over_the_run():
    net, X, y = toy()
    stats = net.train(X, y, X, y, num_iters=1000, snapshot_every=1, max_snapshots=8)
    iters = stats["snapshot_iters"]
    assert len(iters) <= 8 + 1 and len(stats["W1_snapshots"]) == len(iters)
    assert iters[0] == 0 and iters[-1] == 1000
    assert iters == sorted(iters) and iters[-2] >= 500  # spread, not only the start


def test_snapshot_arguments_are_checked():
    net, X, y = toy()
    with pytest.raises(ValueError, match="snapshot_every"):
        net.train(X, y, X, y, num_iters=2, snapshot_every=0)
