"""kit.instructor.grade.measures: values the grader computes itself, with the instructor's code."""
import numpy as np
import pytest

from cs231n.classifiers.neural_net import TwoLayerNet
from kit.instructor.grade.measures import MeasureError, derive


def reference_values(D=5, H=4, C=3, N=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((D, H)), "b1": rng.standard_normal(H), "W2": rng.standard_normal((H, C)),
            "b2": rng.standard_normal(C), "X": rng.standard_normal((N, D)), "y": rng.integers(0, C, N).astype(float)}


def test_two_layer_loss_is_the_instructor_loss_of_the_emitted_weights():
    ref = reference_values()
    net = TwoLayerNet(5, 4, 3)
    net.params = {k: ref[k] for k in ("W1", "b1", "W2", "b2")}
    want, _ = net.loss(ref["X"], ref["y"].astype(np.int64), reg=0.1)
    assert derive({"fn": "two_layer_loss", "reg": 0.1}, ref, ref) == pytest.approx(want, rel=1e-12)
    # other weights, on the reference's data: another loss (the student's weights are measured)
    other = dict(ref, W2=ref["W2"] * 2)
    assert abs(float(derive({"fn": "two_layer_loss", "reg": 0.1}, other, ref)) - want) > 1e-3


@pytest.mark.parametrize("change, why", [
    ({"W1": np.zeros((4, 4))}, "do not make a network for the 5-dimensional input"),
    ({"b2": np.zeros(2)}, "do not make a network"),
    ({"W2": np.full((4, 3), np.nan)}, "NaN or infinite"),
    ({"W1": np.zeros(20)}, "W1 has shape (20,), expected 2 dimensions"),
])
def test_weights_that_are_not_a_network_are_named(change, why):
    ref = reference_values()
    with pytest.raises(MeasureError, match=why.replace("(", r"\(").replace(")", r"\)")):
        derive({"fn": "two_layer_loss"}, dict(ref, **change), ref)
    got = {k: v for k, v in ref.items() if k != "b1"}
    with pytest.raises(MeasureError, match="the check emitted no b1"):
        derive({"fn": "two_layer_loss"}, got, ref)


def test_simple_measures_and_unknown_ones():
    values = {"W": np.array([[1.0, 3.0], [1.0, 3.0]])}
    assert float(derive({"fn": "std", "of": "W"}, values, {})) == 1.0
    assert float(derive({"fn": "mean", "of": "W"}, values, {})) == 2.0
    assert derive({"fn": "shape", "of": "W"}, values, {}).tolist() == [2.0, 2.0]
    with pytest.raises(MeasureError, match="unknown measure"):
        derive({"fn": "median", "of": "W"}, values, {})
    with pytest.raises(MeasureError, match="TypeError"):
        derive({"fn": "std", "off": "W"}, values, {})
