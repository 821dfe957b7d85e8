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


def _called_functions(f):
    """
    The course functions that f calls by name: (how f names it, its qualified name,
    its file) for each function of the cs231n package that f's code names, directly
    (svm_loss) or as a method of an object it names (net.loss).
    """
    code = getattr(f, "__code__", None)
    if code is None:
        return []
    scope = dict(getattr(f, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # a closure cell not yet filled
            pass

    def ours(obj):
        return callable(obj) and (getattr(obj, "__module__", None) or "").startswith("cs231n")

    found = []
    for name in code.co_names + code.co_freevars:
        obj = scope.get(name)
        if ours(obj) and not isinstance(obj, type):
            found.append((name, obj))
        elif obj is not None and not callable(obj):
            found += [(f"{name}.{attr}", getattr(type(obj), attr)) for attr in code.co_names
                      if ours(getattr(type(obj), attr, None))]
    return list(dict.fromkeys((label, func.__qualname__, func.__module__.replace(".", "/") + ".py")
                              for label, func in found))


def _returned(value, func, f=None):
    """`value`, the result of f(x); an error that names what f calls when it is None."""
    if value is None:
        called = _called_functions(f)
        if len(called) == 1:
            label, qualname, path = called[0]
            raise ValueError(f"{func}: f(x) returned None: f calls {label}, which gave None: "
                             f"write {qualname} in {path} (its code region) first")
        if called:
            raise ValueError(f"{func}: f(x) returned None: f calls "
                             f"{' and '.join(label for label, _, _ in called)}, and one of them gave "
                             f"None: write its code region first ("
                             f"{', '.join(f'{q} in {p}' for _, q, p in called)})")
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
        fxph = _returned(f(x), "eval_numerical_gradient", f)
        x[ix] = oldval - h
        fxmh = _returned(f(x), "eval_numerical_gradient", f)
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
        pos = _returned(f(x), "eval_numerical_gradient_array", f).copy()
        x[ix] = oldval - h
        neg = _returned(f(x), "eval_numerical_gradient_array", f).copy()
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
        fxph = _returned(f(x), "grad_check_sparse", f)
        x[ix] = oldval - h
        fxmh = _returned(f(x), "grad_check_sparse", f)
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


def _scale_of(analytic, numerical):
    """The factor s with analytic == s * numerical, or None when the two are not proportional."""
    a = np.asarray(analytic, dtype=np.float64).ravel()
    n = np.asarray(numerical, dtype=np.float64).ravel()
    norm = float(n @ n)
    if norm == 0.0 or a.shape != n.shape:
        return None
    s = float(a @ n) / norm
    return s if rel_error(a, s * n) < 1e-6 else None


def explain_gradient_errors(numerical, analytic, reg, tol, l2_loss, l2_grad,
                            where="TwoLayerNet.loss"):
    """
    Say which mistake a pattern of wrong gradients points to, for a network with
    weights W1, W2 (L2-regularized) and biases b1, b2 (not regularized).

    The one place where the notebooks' gradient checks turn relative errors into
    a hint: wrong weights with right biases point to the L2 term's gradient (or,
    with reg = 0, to dw); gradients that are the numerical ones times a factor
    point to the averaging over the N examples, done twice or not at all; only
    the first layer wrong points to the backward pass through the ReLU and the
    first affine layer.

    Inputs:
    - numerical: Dictionary mapping each parameter name to its numerical gradient.
    - analytic: Dictionary mapping the same names to the gradients that the
      network's loss() returned.
    - reg: The regularization strength the gradients were computed with.
    - tol: The largest relative error that counts as right.
    - l2_loss: The network's L2 term, as the message shows it, e.g.
      "reg * (np.sum(W1 * W1) + np.sum(W2 * W2))".
    - l2_grad: Its gradient for a weight matrix W, e.g. "2 * reg * W".
    - where: The function that computes the gradients, named in the message.

    Returns:
    - None when every relative error is below tol; otherwise a message naming
      the wrong gradients, each relative error, and the likely fix.
    """
    names = sorted(numerical)
    errors = {name: rel_error(numerical[name], analytic[name]) for name in names}
    wrong = [name for name in names if not errors[name] < tol]
    if not wrong:
        return None
    right = [name for name in names if name not in wrong]
    listed = ", ".join(f"{name} (relative error {errors[name]:.1e})" for name in wrong)
    head = f"{where}: wrong gradient{'s' if len(wrong) > 1 else ''} for {listed}"
    if right:
        head += f" ({', '.join(right)} right)"
    weights = [name for name in names if name.startswith("W")]
    scales = {name: _scale_of(analytic[name], numerical[name]) for name in wrong}
    scaled = [name for name in wrong if scales[name] is not None]
    if [name for name in scaled if name.startswith("b")]:
        factor = scales[scaled[0]]
        same = all(abs(scales[name] / factor - 1) < 1e-6 for name in scaled)
        times = (f"{factor:.4g} times the numerical one" if same
                 else "the numerical one times a factor")
        return (f"{head}. {' and '.join(scaled)}: {'each is' if len(scaled) > 1 else 'is'} {times}: the averaging over the N "
                f"examples is done twice or not at all. Divide by N exactly once (softmax_loss "
                f"already returns dx averaged over N: no other 1/N in the backward pass), and do "
                f"not average the L2 term's gradient over N.")
    if set(wrong) <= set(weights) and reg != 0:
        return (f"{head}: the biases are right, so the data gradient is; look at the L2 term's "
                f"gradient. This loss adds {l2_loss}, whose gradient for each weight matrix W is "
                f"{l2_grad}: add it to grads['W1'] and grads['W2'], once (check its factor).")
    if set(wrong) <= set(weights):
        return (f"{head}: with reg = 0 and the biases right, look at dw of the affine layers "
                f"(dw = x.T @ dout, with x reshaped to rows).")
    first = [name for name in names if name.endswith("1")]
    if set(wrong) <= set(first):
        return (f"{head}: only the first layer's gradients are wrong, so look at the backward "
                f"pass below the second layer: relu_backward (dout where x > 0) and the first "
                f"affine_backward.")
    return (f"{head}: go back through the layers in reverse order and check each backward "
            f"function alone (affine_backward, relu_backward, the loss's dx) with "
            f"eval_numerical_gradient_array.")
