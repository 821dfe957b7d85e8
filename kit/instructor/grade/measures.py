"""Values the grader computes itself from the data a check emits, with the reference code.

A check should measure the student's code, not what that code reports about
itself: a `train()` can return any loss history it likes, but the weights it
leaves behind are data. A check cell emits such data (the trained weights),
and its metadata names a measure:

    "measure": {"trained_loss": {"fn": "two_layer_loss", "reg": 5e-6}}

The grader then computes `trained_loss` here, in the trusted process, from
the submission's emitted weights and the data of the *reference* run (the
same cell run on the instructor's code), with the instructor's own
implementation. The same measure applied to the reference's values gives the
expected value. Measures get plain float arrays only; anything malformed
raises MeasureError, which fails that value of the check.
"""
import numpy as np


class MeasureError(ValueError):
    """A measure cannot be computed from what the submission emitted."""


def _need(values, key, ndim=None):
    arr = values.get(key)
    if arr is None:
        raise MeasureError(f"the check emitted no {key}")
    if ndim is not None and arr.ndim != ndim:
        raise MeasureError(f"{key} has shape {arr.shape}, expected {ndim} dimensions")
    return arr


def two_layer_loss(got, reference, reg=0.0):
    """
    The loss of the classic two-layer net with the emitted weights on the reference's data.

    Inputs:
    - got: {"W1", "b1", "W2", "b2": arrays} from the submission (or the reference).
    - reference: The reference run's values: {"X", "y"} are the data.
    - reg: Regularization strength (cs231n.classifiers.neural_net convention).

    Returns:
    - The loss, computed by the instructor's TwoLayerNet.loss.
    """
    from cs231n.classifiers.neural_net import TwoLayerNet

    W1, b1 = _need(got, "W1", 2), _need(got, "b1", 1)
    W2, b2 = _need(got, "W2", 2), _need(got, "b2", 1)
    X, y = _need(reference, "X", 2), _need(reference, "y", 1)
    D, H = W1.shape
    C = W2.shape[1]
    if X.shape[1] != D or b1.shape != (H,) or W2.shape[0] != H or b2.shape != (C,):
        raise MeasureError(f"the weights have shapes W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, "
                           f"b2 {b2.shape}, which do not make a network for the {X.shape[1]}-dimensional input")
    if not all(np.isfinite(a).all() for a in (W1, b1, W2, b2)):
        raise MeasureError("the trained weights hold NaN or infinite values")
    net = TwoLayerNet(D, H, C)
    net.params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    with np.errstate(all="ignore"):
        loss, _ = net.loss(X, y.astype(np.int64), reg=float(reg))
    return np.array(float(loss))


def std(got, reference, of):
    return np.array(float(np.std(_need(got, of))))


def mean(got, reference, of):
    return np.array(float(np.mean(_need(got, of))))


def shape(got, reference, of):
    return np.array(_need(got, of).shape, dtype=float)


MEASURES = {"two_layer_loss": two_layer_loss, "std": std, "mean": mean, "shape": shape}


def derive(spec, got, reference):
    """
    The value of one measure (see the module docstring).

    Inputs:
    - spec: {"fn": name, ...arguments}.
    - got: The values to measure, {key: array}.
    - reference: The reference run's values, {key: array}.

    Raises:
    - MeasureError when it cannot be computed.
    """
    spec = dict(spec)
    fn = MEASURES.get(spec.pop("fn", None))
    if fn is None:
        raise MeasureError(f"unknown measure {spec!r} (instructor: see kit/instructor/grade/measures.py)")
    try:
        return fn(got, reference, **spec)
    except MeasureError:
        raise
    except (ValueError, TypeError, IndexError, FloatingPointError, OverflowError, MemoryError) as err:
        raise MeasureError(f"{type(err).__name__}: {err}"[:300]) from None
