"""An independent central-difference gradient for the unit tests (not the kit's own checker)."""
import numpy as np


def numeric_grad(f, x, h=1e-5):
    """
    Gradient of the scalar function f at x by central differences.

    Inputs:
    - f: Function of no arguments returning a float; it reads x, which is changed in place.
    - x: float64 array.

    Returns:
    - Array of the shape of x.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def max_rel_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
