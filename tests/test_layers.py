"""cs231n.layers against hand-computed values and an independent numerical gradient."""
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from cs231n import layers
from cs231n.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)
from kit.student.regions import find_regions
from numgrad import max_rel_error, numeric_grad

rng = np.random.default_rng(0)


def test_affine_forward_matches_course_reference():
    x = np.linspace(-0.1, 0.5, num=240).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=360).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = affine_forward(x, w, b)
    correct = np.array([[1.49834967, 1.70660132, 1.91485297],
                        [3.25553199, 3.5141327, 3.77273342]])
    assert max_rel_error(out, correct) < 1e-8


def test_affine_forward_hand_computed():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])
    b = np.array([0.0, 1.0, -1.0])
    out, _ = affine_forward(x, w, b)
    np.testing.assert_allclose(out, [[2.0, 5.0, 0.0], [5.0, 9.0, 0.0]])


@pytest.mark.parametrize("shape", [(4, 6), (3, 2, 5), (2, 3, 2, 2)])
def test_affine_backward_numerical(shape):
    x = rng.standard_normal(shape)
    D = int(np.prod(shape[1:]))
    w = rng.standard_normal((D, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((shape[0], 5))
    loss = lambda: np.sum(affine_forward(x, w, b)[0] * dout)
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert max_rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert max_rel_error(dw, numeric_grad(loss, w)) < 1e-6
    assert max_rel_error(db, numeric_grad(loss, b)) < 1e-6


def test_layers_have_the_course_signatures():
    """No kit-only keyword: a course-era classifier calls these exactly as the course's."""
    expected = {
        affine_forward: ["x", "w", "b"],
        affine_backward: ["dout", "cache"],
        relu_forward: ["x"],
        relu_backward: ["dout", "cache"],
        svm_loss: ["x", "y"],
        softmax_loss: ["x", "y"],
    }
    for fn, names in expected.items():
        assert list(inspect.signature(fn).parameters) == names, fn.__name__


def test_affine_forward_rejects_mismatched_weights():
    with pytest.raises(ValueError, match="w must have shape"):
        affine_forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5))
    with pytest.raises(ValueError, match="b must have shape"):
        affine_forward(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4))


def test_relu_forward_hand_computed():
    x = np.array([[-2.0, -0.0, 0.5], [3.0, -1e-9, 0.0]])
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.5], [3.0, 0.0, 0.0]])


def test_relu_backward_numerical_and_masks():
    x = rng.standard_normal((6, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    dout = rng.standard_normal(x.shape)
    dx = relu_backward(dout, relu_forward(x)[1])
    loss = lambda: np.sum(relu_forward(x)[0] * dout)
    assert max_rel_error(dx, numeric_grad(loss, x)) < 1e-7
    np.testing.assert_array_equal(dx[x < 0], 0.0)


def test_relu_backward_passes_no_gradient_at_exactly_zero():
    """The course's rule is x > 0: at x == 0 (an exact zero, as ReLU layers make) dx is 0."""
    x = np.array([[0.0, -0.0, 1e-300, -1e-300], [0.0, 2.0, 0.0, -2.0]])
    dx = relu_backward(np.ones_like(x), relu_forward(x)[1])
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])


def test_svm_loss_hand_computed():
    x = np.array([[3.0, 1.0, 2.5], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    loss, dx = svm_loss(x, y)
    # row 0: margins max(0, 1-3+1)=0, max(0, 2.5-3+1)=0.5 ; row 1: 1 + 1 = 2
    assert loss == pytest.approx((0.5 + 2.0) / 2)
    np.testing.assert_allclose(dx, [[-0.5, 0.0, 0.5], [0.5, 0.5, -1.0]])


def test_svm_loss_numerical():
    x = 0.001 * rng.standard_normal((50, 10))
    y = rng.integers(10, size=50)
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx(9.0, abs=0.05)
    assert max_rel_error(dx, numeric_grad(lambda: svm_loss(x, y)[0], x, h=1e-7)) < 1e-6


def test_softmax_loss_hand_computed():
    x = np.array([[0.0, np.log(3.0)]])
    loss, dx = softmax_loss(x, np.array([1]))
    assert loss == pytest.approx(-np.log(0.75))
    np.testing.assert_allclose(dx, [[0.25, -0.25]])


def test_softmax_loss_numerical():
    x = 0.001 * rng.standard_normal((50, 10))
    y = rng.integers(10, size=50)
    loss, dx = softmax_loss(x, y)
    assert loss == pytest.approx(np.log(10), abs=0.01)
    assert max_rel_error(dx, numeric_grad(lambda: softmax_loss(x, y)[0], x)) < 1e-7


def test_softmax_loss_is_stable_for_large_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 2000.0, 0.0], [1e5, 1e5, 1e5]])
    loss, dx = softmax_loss(x, np.array([0, 0, 1]))
    assert np.isfinite(loss) and np.isfinite(dx).all()
    assert loss == pytest.approx((0.0 + 2000.0 + np.log(3)) / 3)


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss])
def test_losses_reject_bad_labels(loss_fn):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)"):
        loss_fn(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="labels in y must lie in"):
        loss_fn(x, np.array([0, 1, 4]))
    with pytest.raises(TypeError, match="integer class labels"):
        loss_fn(x, np.array([0.0, 1.0, 2.0]))


def todo_banners(path):
    """For each student region of the file at path: the text of the TODO box just above it."""
    lines = Path(path).read_text().splitlines()
    banners = []
    for start, _ in find_regions(lines):
        end = start - 1
        assert re.fullmatch(r"\s*#{40,}", lines[end]), f"{path}:{start + 1}: no TODO box above the region"
        top = end - 1
        while not re.fullmatch(r"\s*#{40,}", lines[top]):
            assert lines[top].strip().startswith("#") and lines[top].rstrip().endswith("#"), lines[top]
            top -= 1
        assert len({len(line) for line in lines[top:end + 1]}) == 1, f"{path}:{top + 1}: ragged box"
        banners.append(" ".join(line.strip(" #") for line in lines[top + 1:end]))
    return banners


def test_every_region_has_a_todo_box_that_says_what_to_compute():
    banners = todo_banners(layers.__file__)
    assert len(banners) == 6  # one region per function
    for banner, hint in zip(banners, ["reshape the input x into rows", "dx has the shape of x",
                                      "max(x, 0)", "(x > 0)", "np.arange(N), y]", "log-sum-exp"]):
        assert banner.startswith("TODO: ") and hint in banner, banner
