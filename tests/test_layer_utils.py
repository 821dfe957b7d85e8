"""The affine-relu sandwich: the composition of cs231n.layers, and its gradients."""
import numpy as np
import pytest

from cs231n import layer_utils
from cs231n.layer_utils import affine_relu_backward, affine_relu_forward
from cs231n.layers import affine_backward, affine_forward, relu_backward, relu_forward
from numgrad import max_rel_error as rel, numeric_grad


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((12, 10))
    b = rng.standard_normal(10)
    dout = rng.standard_normal((2, 10))
    return x, w, b, dout


def test_forward_is_affine_then_relu(case):
    x, w, b, _ = case
    out, cache = affine_relu_forward(x, w, b)
    a, _ = affine_forward(x, w, b)
    expected, _ = relu_forward(a)
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (2, 10)
    assert (out == 0).any() and (out > 0).any(), "the case should have active and inactive units"


def test_backward_is_relu_then_affine(case):
    x, w, b, dout = case
    _, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    a, fc_cache = affine_forward(x, w, b)
    _, relu_cache = relu_forward(a)
    ex, ew, eb = affine_backward(relu_backward(dout, relu_cache), fc_cache)
    np.testing.assert_array_equal(dx, ex)
    np.testing.assert_array_equal(dw, ew)
    np.testing.assert_array_equal(db, eb)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape


def test_backward_matches_numerical_gradient(case):
    x, w, b, dout = case
    _, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    f = lambda: float(np.sum(affine_relu_forward(x, w, b)[0] * dout))
    assert rel(numeric_grad(f, x), dx) < 1e-8
    assert rel(numeric_grad(f, w), dw) < 1e-8
    assert rel(numeric_grad(f, b), db) < 1e-8


def test_sandwich_holds_no_formula_of_its_own():
    """One implementation of each formula: the sandwich calls the layers of cs231n.layers."""
    for name in ("affine_forward", "affine_backward", "relu_forward", "relu_backward"):
        assert getattr(layer_utils, name) is getattr(__import__("cs231n.layers").layers, name)
    import inspect
    source = inspect.getsource(layer_utils)
    for formula in ("np.maximum", "@", ".dot(", ".T"):
        assert formula not in source


def test_bad_shapes_are_reported_by_the_affine_layer(case):
    x, w, b, _ = case
    with pytest.raises(ValueError, match="w must have shape"):
        affine_relu_forward(x, w[:5], b)
