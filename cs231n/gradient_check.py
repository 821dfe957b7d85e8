"""Numerical gradients by centered differences, to check analytic gradients.

Centered differences with h = 1e-5 need float64: in float32 the step is close
to the resolution of the numbers themselves and the relative errors come out
meaningless. Every function here refuses arrays that are not float64.
"""
import warnings
from random import randrange

import numpy as np

# What to do with float32 parameters, as the message says it (tested by running it).
CONVERT_PARAMS = "net.params = {k: v.astype(np.float64) for k, v in net.params.items()}"


def _require_float64(x, func, name="x"):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{func}: {name} must be a numpy array of dtype float64, "
                        f"got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(
            f"{func}: {name} has dtype {x.dtype}, but numerical gradient checks need float64 "
            f"(with h=1e-5 a {x.dtype} array gives meaningless relative errors). Convert the "
            f"array that f reads, not a copy of it: {name}.astype(np.float64) makes a copy that "
            f"f never sees, and the check then reports a relative error of 1.0. A network "
            f"trained on float32 data has float32 parameters: convert them all first,\n"
            f"    {CONVERT_PARAMS}\n"
            f"then pass net.params[name] again (and float64 data, X = X.astype(np.float64)). "
            f"For a plain array, convert it once (w = w.astype(np.float64)) before f is "
            f"defined on it."
        )


def _warn_if_f_ignores_x(func, all_equal):
    if all_equal:
        warnings.warn(
            f"{func}: f gave the same value for every change of x, so the numerical gradient "
            f"is zero everywhere. Is x the array that f reads? x.astype(...) and x.copy() make "
            f"copies that f never sees; for a network, pass net.params[name] itself.",
            RuntimeWarning, stacklevel=3)


def _returned(value, func):
    """`value`, the result of f(x); an error that says so when it is None."""
    if value is None:
        raise ValueError(f"{func}: f(x) returned None: the function f calls returned None "
                         f"(is its code region written yet?)")
    return value


def rel_error(x, y):
    """
    Returns the maximum relative error between x and y, elementwise
    max(|x - y| / max(1e-8, |x| + |y|)).

    Inputs:
    - x, y: Arrays (or scalars) of the same shape.

    Returns:
    - The largest relative error, a float.
    """
    for name, value in (("x", x), ("y", y)):
        if value is None:
            raise ValueError(f"rel_error: {name} is None: the function that computed it returned None "
                             f"(is its code region written yet?)")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: x and y must have the same shape, got {x.shape} and {y.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=0.00001):
    """
    A naive implementation of numerical gradient of f at x.

    Inputs:
    - f: A function that takes a single argument and returns a scalar.
    - x: The point (numpy array of dtype float64) to evaluate the gradient at;
      it is changed in place during the evaluation and restored afterwards.
    - verbose: If True, print each index and its gradient.
    - h: The step of the centered difference.

    Returns:
    - grad: The numerical gradient of f at x, of the same shape as x.
    """
    _require_float64(x, "eval_numerical_gradient")
    grad = np.zeros_like(x)
    all_equal = True
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = _returned(f(x), "eval_numerical_gradient")
        x[ix] = oldval - h
        fxmh = _returned(f(x), "eval_numerical_gradient")
        x[ix] = oldval
        grad[ix] = (fxph - fxmh) / (2 * h)
        all_equal = all_equal and fxph == fxmh
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    _warn_if_f_ignores_x("eval_numerical_gradient", all_equal and x.size > 0)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    Evaluate a numeric gradient for a function that accepts a numpy array and
    returns a numpy array: the gradient of sum(f(x) * df) with respect to x.

    Inputs:
    - f: A function of one array argument returning an array.
    - x: The point (numpy array of dtype float64); changed in place and restored.
    - df: Upstream gradient, of the shape of f(x).
    - h: The step of the centered difference.

    Returns:
    - grad: The numerical gradient, of the same shape as x.
    """
    _require_float64(x, "eval_numerical_gradient_array")
    grad = np.zeros_like(x)
    all_equal = True
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = _returned(f(x), "eval_numerical_gradient_array").copy()
        x[ix] = oldval - h
        neg = _returned(f(x), "eval_numerical_gradient_array").copy()
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        all_equal = all_equal and np.array_equal(pos, neg)
        it.iternext()
    _warn_if_f_ignores_x("eval_numerical_gradient_array", all_equal and x.size > 0)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """
    Sample a few random elements and only check the numerical gradient in
    those dimensions, printing each numerical and analytic value and their
    relative error.

    Inputs:
    - f: A function that takes a single argument and returns a scalar.
    - x: The point (numpy array of dtype float64); changed in place and restored.
    - analytic_grad: The gradient to check, of the same shape as x.
    - num_checks: How many random elements to check.
    - h: The step of the centered difference.

    Returns:
    - The largest relative error among the checked elements.
    """
    _require_float64(x, "grad_check_sparse")
    if analytic_grad.shape != x.shape:
        raise ValueError(f"grad_check_sparse: analytic_grad must have the shape of x {x.shape}, "
                         f"got {analytic_grad.shape}")
    worst = 0.0
    all_equal = True
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = _returned(f(x), "grad_check_sparse")
        x[ix] = oldval - h
        fxmh = _returned(f(x), "grad_check_sparse")
        x[ix] = oldval
        all_equal = all_equal and fxph == fxmh
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        error = rel_error(grad_numerical, grad_analytic)
        worst = max(worst, error)
        print("numerical: %f analytic: %f, relative error: %e"
              % (grad_numerical, grad_analytic, error))
    _warn_if_f_ignores_x("grad_check_sparse", all_equal and num_checks > 0 and x.size > 0)
    return worst
