"""cs231n._validation: one rule for every positive-integer argument of the package."""
import numpy as np
import pytest

from cs231n._validation import positive_int


@pytest.mark.parametrize("value", [1, 5, np.int64(7), 100.0, np.float32(3.0)])
def test_positive_integers_are_accepted(value):
    assert positive_int(value, "n", "f") == int(value)
    assert type(positive_int(value, "n", "f")) is int


@pytest.mark.parametrize("value", [0, -3, 2.5, True, False, "5", None, float("nan"), float("inf")])
def test_anything_else_names_the_argument(value):
    with pytest.raises(ValueError, match=r"^f: n must be a positive integer, got "):
        positive_int(value, "n", "f")
