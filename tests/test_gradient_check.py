"""cs231n.gradient_check: right answers in float64, a clear error for anything else."""
import numpy as np
import pytest

from cs231n.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
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
