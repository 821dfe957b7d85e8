"""The classic TwoLayerNet: course reference numbers, gradients, training and its traps."""
import re
import types
from pathlib import Path

import numpy as np
import pytest

from cs231n.classifiers import neural_net
from cs231n.classifiers.neural_net import TwoLayerNet
from kit.student.regions import STUB, find_regions, indentation, region_keys
from numgrad import max_rel_error, numeric_grad
from test_layers import todo_banners

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
    assert stats["acc_iters"] == [0, 2, 4, 6, 8]
    assert all(type(it) is int for it in stats["acc_iters"])


def test_acc_iters_name_the_iteration_of_each_accuracy_record():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((70, 6))
    y = rng.integers(3, size=70)
    np.random.seed(0)
    net = TwoLayerNet(6, 8, 3, std=1e-2)
    # 70 // 20 = 3 iterations per epoch; a batch larger than the data gives 1
    stats = net.train(X, y, X, y, num_iters=11, batch_size=20)
    assert stats["acc_iters"] == [0, 3, 6, 9]
    assert len(stats["train_acc_history"]) == len(stats["val_acc_history"]) == 4
    stats = net.train(X, y, X, y, num_iters=4, batch_size=100)
    assert stats["acc_iters"] == [0, 1, 2, 3]


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


def test_epoch_length_is_a_whole_number_of_iterations():
    assert neural_net.epoch_length(450, 200) == 2
    assert neural_net.epoch_length(49000, 200) == 245
    assert neural_net.epoch_length(70, 100) == 1  # a batch larger than the data


def test_training_goes_on_where_a_call_stopped():
    """Two calls of whole epochs, the second given the first's learning_rate, are one long call."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, 6))
    y = rng.integers(3, size=90)
    kwargs = dict(learning_rate_decay=0.9, reg=1e-3, batch_size=20)  # 4 iterations per epoch
    np.random.seed(0)
    one = TwoLayerNet(6, 8, 3, std=1e-1)
    whole = one.train(X, y, X, y, learning_rate=0.5, num_iters=14, **kwargs)
    np.random.seed(0)
    two = TwoLayerNet(6, 8, 3, std=1e-1)
    first = two.train(X, y, X, y, learning_rate=0.5, num_iters=8, **kwargs)
    assert first["learning_rate"] == 0.5 * 0.9 * 0.9  # decayed after iterations 0 and 4
    second = two.train(X, y, X, y, learning_rate=first["learning_rate"], num_iters=6, **kwargs)
    assert first["loss_history"] + second["loss_history"] == whole["loss_history"]
    assert first["val_acc_history"] + second["val_acc_history"] == whole["val_acc_history"]
    assert second["learning_rate"] == whole["learning_rate"] == 0.5 * 0.9 * 0.9 * 0.9 * 0.9
    for name in one.params:
        np.testing.assert_array_equal(two.params[name], one.params[name], err_msg=name)


def test_predict_returns_argmax_labels():
    net, X, _ = toy()
    np.testing.assert_array_equal(net.predict(X), CORRECT_SCORES.argmax(axis=1))


def test_bad_arguments_are_named():
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="TwoLayerNet: hidden_size must be a positive integer"):
            TwoLayerNet(4, bad, 3)
    with pytest.raises(ValueError, match="input_size"):
        TwoLayerNet(-4, 10, 3)
    assert TwoLayerNet(4.0, 10, np.int64(3)).params["W2"].shape == (10, 3)
    net, X, y = toy()
    with pytest.raises(ValueError, match="y must have shape"):
        net.train(X, y[:3], X, y)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="train: batch_size must be a positive integer"):
            net.train(X, y, X, y, batch_size=bad)


def test_snapshots_are_off_by_default():
    net, X, y = toy()
    stats = net.train(X, y, X, y, num_iters=5)
    assert set(stats) == {"loss_history", "train_acc_history", "val_acc_history", "acc_iters",
                          "learning_rate"}


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


# ----------------------------------------------------------------------------
# Unwritten regions: train() says what is missing
# ----------------------------------------------------------------------------

NET_SOURCE = Path(neural_net.__file__).read_text()
# The regions of neural_net.py by key (method, order in it), as the grader matches them.
FORWARD, LOSS, BACKWARD = (("TwoLayerNet.loss", k) for k in range(3))
MINIBATCH, UPDATE = (("TwoLayerNet.train", k) for k in range(2))
PREDICT = ("TwoLayerNet.predict", 0)


def net_with_stubs(*keys):
    """TwoLayerNet from neural_net.py with the given regions emptied, as the student kit has them."""
    lines = NET_SOURCE.splitlines()
    regions = find_regions(lines)
    found = dict(zip(region_keys(lines, regions), regions))
    assert sorted(found) == sorted([FORWARD, LOSS, BACKWARD, MINIBATCH, UPDATE, PREDICT])
    for start, end in sorted((found[k] for k in keys), reverse=True):
        lines[start + 1:end] = [indentation(lines[start]) + line for line in STUB]
    module = types.ModuleType("neural_net_stubbed")
    exec(compile("\n".join(lines), "neural_net_stubbed.py", "exec"), module.__dict__)
    return module.TwoLayerNet


def toy_train(cls):
    np.random.seed(0)
    net = cls(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    return net.train(X, np.array([0, 1, 2, 2, 1]), X, np.array([0, 1, 2, 2, 1]), num_iters=3)


def test_stubbed_source_is_the_kit_itself():
    assert toy_train(net_with_stubs())["loss_history"] == toy_train(TwoLayerNet)["loss_history"]


@pytest.mark.parametrize("stubs, message", [
    ((FORWARD, LOSS, BACKWARD, MINIBATCH, UPDATE, PREDICT),
     r"X_batch or y_batch is None: sample a minibatch in TwoLayerNet.train"),
    ((FORWARD, LOSS, BACKWARD), r"loss\(\) returned None as the loss: write the forward pass and "
                                r"the loss in TwoLayerNet.loss \(cs231n/classifiers/neural_net.py\)"),
    ((LOSS, BACKWARD), r"loss\(\) returned None as the loss"),
    ((BACKWARD,), r"loss\(\) returned no gradient for W1, b1, W2, b2: grads has no such keys; in "
                  r"TwoLayerNet.loss \(cs231n/classifiers/neural_net.py\), store them in grads\['W1'\], "
                  r"grads\['b1'\], grads\['W2'\], grads\['b2'\]"),
    ((PREDICT,), r"predict\(\) returned None: write TwoLayerNet.predict"),
])
def test_unwritten_regions_are_named(stubs, message):
    with pytest.raises(NotImplementedError, match=message):
        toy_train(net_with_stubs(*stubs))


def test_a_missing_gradient_is_named():
    net, X, y = toy()
    original = net.loss

    def loss(Xb, y=None, reg=0.0):
        out = original(Xb, y, reg)
        if y is not None:
            del out[1]["b1"]
        return out

    net.loss = loss
    with pytest.raises(NotImplementedError, match=r"no gradient for b1: grads has no such key; in "
                                                  r"TwoLayerNet.loss .*, store it in grads\['b1'\]"):
        net.train(X, y, X, y, num_iters=2)


def test_predict_that_returns_scores_says_take_the_argmax():
    """The scores instead of labels: predict says so, not NumPy's broadcasting error later."""
    net, X, y = toy()
    region = "        y_pred = np.argmax(self.loss(X), axis=1)\n"
    assert NET_SOURCE.count(region) == 1
    module = types.ModuleType("neural_net_scores")
    exec(compile(NET_SOURCE.replace(region, "        y_pred = self.loss(X)\n"), "neural_net_scores.py", "exec"),
         module.__dict__)
    scores_net = module.TwoLayerNet(4, 10, 3)
    scores_net.params = net.params
    with pytest.raises(ValueError, match=re.escape(
            "predict must return one label per row, shape (5,): you returned scores of shape (5, 3); "
            "take the argmax over the classes")):
        scores_net.predict(X)
    with pytest.raises(ValueError, match=r"predict must return one label per row, shape \(200,\): "
                                         r"you returned scores of shape \(200, 3\)"):
        scores_net.train(X, y, X, y, num_iters=1)
    assert net.predict(X).shape == (5,)


def test_predict_left_as_its_stub_says_so():
    with pytest.raises(NotImplementedError, match=r"predict\(\) returned None: write TwoLayerNet.predict"):
        net_with_stubs(PREDICT)(4, 10, 3).predict(np.ones((2, 4)))


# ----------------------------------------------------------------------------
# Drop-in: course-signature layers under this classifier
# ----------------------------------------------------------------------------

def course_affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w) + b, (x, w, b)


def course_affine_backward(dout, cache):
    x, w, b = cache
    return dout.dot(w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T.dot(dout), np.sum(dout, axis=0)


def course_relu_forward(x):
    return np.maximum(0, x), x


def course_relu_backward(dout, cache):
    dx = dout.copy()
    dx[cache <= 0] = 0
    return dx


def course_softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return -np.sum(log_probs[np.arange(N), y]) / N, dx / N


def test_course_signature_layers_work_under_the_kit_net(monkeypatch):
    """The net calls its layers with the course's signatures only (no kit-only keyword)."""
    for name in ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"):
        monkeypatch.setattr(neural_net, name, globals()["course_" + name])
    net, X, y = toy()
    assert np.sum(np.abs(net.loss(X) - CORRECT_SCORES)) < 1e-7
    loss, grads = net.loss(X, y, reg=0.05)
    assert abs(loss - 1.30378789133) < 1e-12
    for name, param in net.params.items():
        num = numeric_grad(lambda: net.loss(X, y, reg=0.05)[0], param)
        assert max_rel_error(num, grads[name]) < 1e-7, name
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100)
    assert stats["loss_history"][-1] < 0.02


def test_every_region_has_a_todo_box_that_says_what_to_compute():
    banners = todo_banners(neural_net.__file__)
    hints = ["affine_forward and relu_forward", "no factor one-half", "2 * reg * W",
             "with replacement (np.random.choice)", "-learning_rate times its gradient",
             "the class of the highest"]
    assert len(banners) == len(hints)
    for banner, hint in zip(banners, hints):
        assert banner.startswith("TODO: ") and hint in banner, banner
