"""cs231n.gradient_check: right answers in float64, a clear error for anything else."""
import numpy as np
import pytest

from cs231n.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    explain_gradient_errors,
    grad_check_sparse,
    rel_error,
)


def test_eval_numerical_gradient_of_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = eval_numerical_gradient(lambda v: np.sum(v ** 3), x, verbose=False)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored


def test_eval_numerical_gradient_array_of_known_function():
    x = np.array([0.3, -1.2, 2.0])
    df = np.array([1.0, 2.0, -1.0])
    grad = eval_numerical_gradient_array(lambda v: np.sin(v), x, df)
    np.testing.assert_allclose(grad, np.cos(x) * df, rtol=1e-8)


def test_grad_check_sparse_reports_small_error_for_right_gradient(capsys):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    worst = grad_check_sparse(lambda v: np.sum(v ** 2), x, 2 * x, num_checks=5)
    assert worst < 1e-8
    assert capsys.readouterr().out.count("relative error") == 5


def test_grad_check_sparse_reports_large_error_for_wrong_gradient():
    x = np.linspace(0.1, 1, 12).reshape(3, 4)
    assert grad_check_sparse(lambda v: np.sum(v ** 2), x, 3 * x, num_checks=3) > 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_non_float64_input_is_refused_with_a_clear_message(dtype):
    x = np.ones((2, 2), dtype=dtype)
    with pytest.raises(TypeError, match=r"need float64.*astype\(np.float64\)"):
        eval_numerical_gradient(lambda v: float(np.sum(v)), x, verbose=False)
    with pytest.raises(TypeError, match="float64"):
        eval_numerical_gradient_array(lambda v: v, x, np.ones((2, 2)))
    with pytest.raises(TypeError, match="float64"):
        grad_check_sparse(lambda v: float(np.sum(v)), x, np.ones((2, 2)))


def test_float32_would_give_a_silently_wrong_answer():
    # Why the check exists: the same centered difference in float32 is far off.
    x = np.array([1.0], dtype=np.float32)
    h = np.float32(1e-5)
    approx = ((x + h) ** 2 - (x - h) ** 2) / (2 * h)
    assert rel_error(approx, np.array([2.0])) > 1e-4  # float64 gives about 1e-11


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="rel_error: x is None: the function that computed it returned None"):
        rel_error(None, np.zeros(3))  # an unwritten region's result


def test_an_f_that_returns_none_is_named():
    """An unwritten layer returns None: the checkers say so instead of failing inside NumPy."""
    with pytest.raises(ValueError, match="eval_numerical_gradient_array: f\\(x\\) returned None"):
        eval_numerical_gradient_array(lambda x: None, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="eval_numerical_gradient: f\\(x\\) returned None"):
        eval_numerical_gradient(lambda x: None, np.zeros(3), verbose=False)
    with pytest.raises(ValueError, match="grad_check_sparse: f\\(x\\) returned None"):
        grad_check_sparse(lambda x: None, np.zeros(3), np.zeros(3), num_checks=1)


def float32_trained_net():
    """A classic TwoLayerNet after train() on float32 data: its parameters are float32 now."""
    from cs231n.classifiers.neural_net import TwoLayerNet

    rng = np.random.RandomState(0)
    X = rng.randn(20, 4).astype(np.float32)
    y = rng.randint(3, size=20)
    np.random.seed(0)
    net = TwoLayerNet(4, 6, 3, std=1e-1)
    net.train(X, y, X, y, num_iters=3, batch_size=10, learning_rate=1e-1)
    assert net.params["W1"].dtype == np.float32
    Xc = rng.randn(5, 4)  # the check's own toy data, float64
    yc = rng.randint(3, size=5)
    return net, Xc, yc


def check_W1(net, X, y, param):
    f = lambda _: net.loss(X, y, reg=0.05)[0]  # noqa: E731  (as the notebook's cells do)
    _, grads = net.loss(X, y, reg=0.05)
    return rel_error(eval_numerical_gradient(f, param, verbose=False), grads["W1"])


def test_the_advice_for_float32_parameters_works_when_followed():
    """The message's own code, run as written, makes the check pass."""
    net, X, y = float32_trained_net()
    with pytest.raises(TypeError) as info:
        check_W1(net, X, y, net.params["W1"])
    message = str(info.value)
    code = [line.strip() for line in message.splitlines() if line.startswith("    ")]
    assert code == ["net.params = {k: v.astype(np.float64) for k, v in net.params.items()}"]
    exec(code[0], {"np": np, "net": net})
    assert all(v.dtype == np.float64 for v in net.params.values())
    assert check_W1(net, X, y, net.params["W1"]) < 1e-7


def test_the_tempting_copy_gives_a_warning_that_names_the_mistake():
    """x.astype(np.float64) is a copy that f never sees: relative error 1.0, and now a warning."""
    net, X, y = float32_trained_net()
    with pytest.warns(RuntimeWarning, match=r"same value for every change of x.*copies that f "
                                            r"never sees.*net\.params\[name\] itself"):
        error = check_W1(net, X, y, net.params["W1"].astype(np.float64))
    assert error == pytest.approx(1.0)
    message = str(pytest.raises(TypeError, check_W1, net, X, y, net.params["W1"]).value)
    assert "makes a copy that f never sees" in message and "relative error of 1.0" in message


def test_the_array_check_warns_too_and_a_real_gradient_does_not(recwarn):
    x = np.linspace(-1, 1, 6)
    frozen = x.copy()
    eval_numerical_gradient_array(lambda v: np.sin(v), x, np.ones(6))
    eval_numerical_gradient(lambda v: float(np.sum(v ** 2)), x, verbose=False)
    assert not recwarn.list
    with pytest.warns(RuntimeWarning, match="eval_numerical_gradient_array: f gave the same"):
        eval_numerical_gradient_array(lambda v: np.sin(frozen), x, np.ones(6))


def test_the_sparse_check_warns_when_f_never_sees_x():
    x = np.linspace(0.1, 1, 12).reshape(3, 4)
    copy = x.astype(np.float64)  # a copy, as x.astype always makes
    with pytest.warns(RuntimeWarning, match="grad_check_sparse: f gave the same value"):
        grad_check_sparse(lambda v: float(np.sum(x ** 2)), copy, 2 * x, num_checks=3)


def test_an_f_that_returns_none_names_the_course_function_it_calls(monkeypatch):
    """svm_loss left as its stub returns (None, None): the message names svm_loss and its file."""
    from cs231n import layers

    def svm_loss(x, y):  # the stub's result
        return None, None

    svm_loss.__module__, svm_loss.__qualname__ = layers.__name__, "svm_loss"
    y = np.array([0, 1])
    with pytest.raises(ValueError, match=r"eval_numerical_gradient: f\(x\) returned None: f calls svm_loss, "
                                         r"which gave None: write svm_loss in cs231n/layers.py"):
        eval_numerical_gradient(lambda x: svm_loss(x, y)[0], np.zeros((2, 3)), verbose=False)


def test_an_f_that_returns_none_names_the_method_it_calls(monkeypatch):
    from cs231n.classifiers.neural_net import TwoLayerNet
    net = TwoLayerNet(3, 4, 2)
    monkeypatch.setattr(TwoLayerNet, "predict", lambda self, X: None)
    TwoLayerNet.predict.__qualname__ = "TwoLayerNet.predict"
    TwoLayerNet.predict.__module__ = "cs231n.classifiers.neural_net"
    with pytest.raises(ValueError, match=r"f calls net.predict, which gave None: write TwoLayerNet.predict "
                                         r"in cs231n/classifiers/neural_net.py"):
        eval_numerical_gradient_array(lambda W: net.predict(W), net.params["W1"], np.ones(3))


# explain_gradient_errors: the hint a pattern of wrong gradients gives

L2 = dict(l2_loss="reg * sum(W**2), with no one-half", l2_grad="2 * reg * W")


def two_layer_gradients(seed=0):
    """Gradients of a made-up two-layer net: the data part and the L2 part (reg = 0.1) apart."""
    rng = np.random.default_rng(seed)
    shapes = {"W1": (4, 5), "b1": (5,), "W2": (5, 3), "b2": (3,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    data = {k: rng.standard_normal(s) for k, s in shapes.items()}
    l2 = {k: 2 * 0.1 * params[k] if k.startswith("W") else 0 * params[k] for k in shapes}
    return data, l2


def test_right_gradients_give_no_hint():
    data, l2 = two_layer_gradients()
    right = {k: data[k] + l2[k] for k in data}
    assert explain_gradient_errors(right, dict(right), reg=0.1, tol=1e-8, **L2) is None


def test_weights_wrong_and_biases_right_point_to_the_l2_gradient():
    data, l2 = two_layer_gradients()
    right = {k: data[k] + l2[k] for k in data}
    hint = explain_gradient_errors(right, data, reg=0.1, tol=1e-8, **L2)  # L2 gradient left out
    assert hint.startswith("TwoLayerNet.loss: wrong gradients for W1 (relative error ")
    assert "(b1, b2 right)" in hint
    assert "look at the L2 term's gradient. This loss adds reg * sum(W**2), with no one-half, whose " \
           "gradient for each weight matrix W is 2 * reg * W" in hint


def test_gradients_averaged_twice_point_to_the_averaging_over_n():
    data, l2 = two_layer_gradients()
    right = {k: data[k] + l2[k] for k in data}
    twice = {k: data[k] / 5 + l2[k] for k in data}  # the data gradient divided by N = 5 again
    hint = explain_gradient_errors(right, twice, reg=0.1, tol=1e-8, **L2)
    assert "wrong gradients for W1" in hint and "b1 and b2: each is 0.2 times the numerical one: " \
        "the averaging over the N examples is done twice or not at all" in hint
    not_averaged = {k: v * 5 for k, v in data.items()}
    hint = explain_gradient_errors(data, not_averaged, reg=0.0, tol=1e-8, **L2)
    assert "each is 5 times the numerical one" in hint


def test_weights_wrong_without_regularization_point_to_dw():
    data, _ = two_layer_gradients()
    wrong = dict(data, W2=data["W2"] + 1)
    hint = explain_gradient_errors(data, wrong, reg=0.0, tol=1e-8, **L2)
    assert "wrong gradient for W2" in hint and "look at dw of the affine layers" in hint


def test_only_the_first_layer_wrong_points_below_the_second_layer():
    data, _ = two_layer_gradients()
    wrong = dict(data, W1=data["W1"] + 1, b1=data["b1"] + 1)
    hint = explain_gradient_errors(data, wrong, reg=0.0, tol=1e-8, **L2, where="fc_net")
    assert hint.startswith("fc_net: wrong gradients for W1") and "relu_backward" in hint
