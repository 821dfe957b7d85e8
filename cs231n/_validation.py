"""Argument checks shared by the package, so that every function applies the same rule."""
import numbers


def positive_int(value, name, where):
    """
    Check that `value` is a positive integer and return it as an int.

    Inputs:
    - value: The argument to check. Python and NumPy integers are accepted, and
      so are integral floats such as 100.0; booleans, fractions, strings and
      values below 1 are not.
    - name: The argument's name, for the error message (e.g. "hidden_size").
    - where: The function or class it belongs to (e.g. "TwoLayerNet").

    Returns:
    - int(value)

    Raises:
    - ValueError naming the argument, what it got, and what was expected.
    """
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and float(value).is_integer() and value >= 1)
    if not ok:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)
