"""kit.instructor.grade.compare: a submission's emitted values against the reference's, in the grader."""
import numpy as np
import pytest

from kit.instructor.grade.compare import BadValue, as_array, compare_value, parse_values, score_check
from kit.student.notebooks import as_check
from kit.instructor.sandbox.box import CellOutcome


def emitted(**values):
    """Values as the executor sends them: {"shape": [...], "data": [...]}."""
    return {k: {"shape": list(np.shape(v)), "data": np.ravel(np.asarray(v, dtype=float)).tolist()}
            for k, v in values.items()}


def check(points=3, visibility="visible", **rules):
    meta = dict(check="toy", points=points, visibility=visibility, exercises="loss in cs231n/layers.py", **rules)
    return as_check(4, {"cell_type": "code", "source": "# Check: toy\nemit(a=1)", "metadata": meta})


def ok(**values):
    return CellOutcome("ok", emitted(**values))


@pytest.mark.parametrize("value, why", [
    (None, "no value"), ([1, 2], "no value"), ({"error": "TypeError: nope"}, "could not be read as numbers"),
    ({"shape": [2], "data": [1.0]}, "1 numbers for shape (2,)"),
    ({"shape": [-1], "data": []}, "shape is not a short list"), ({"shape": [1] * 40, "data": [1]}, "shape"),
    ({"shape": [1.0], "data": [1]}, "shape"), ({"shape": [2], "data": [1, "2"]}, "data is not a list of numbers"),
    ({"shape": [1], "data": [True]}, "data is not a list of numbers"),
])
def test_values_that_are_not_plain_arrays_are_named(value, why):
    with pytest.raises(BadValue, match=why.replace("(", r"\(").replace(")", r"\)")):
        as_array(value)
    assert isinstance(parse_values({"v": value})["v"], BadValue)
    assert parse_values("not a dict") == {} and parse_values(None) == {}


def test_a_value_matches_within_its_tolerance_and_is_caught_outside_it():
    want = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert compare_value("W", want * (1 + 1e-7), want, {}) == (True, "W: matches")
    good, line = compare_value("W", want + [[0, 0], [1e-3, 0]], want, {})
    assert not good
    assert line.startswith("W: expected [1., 2., 3., 4.], got [1.   , 2.   , 3.001, 4.   ]")
    assert "(1 of 4 entries differ, first at index (1, 0), largest difference 0.001)" in line
    assert compare_value("W", want + 1e-3, want, {"atol": 1e-2})[0]
    assert not compare_value("W", want.T.reshape(4), want, {})[0]
    assert compare_value("W", want.reshape(4), want, {})[1] == "W: expected shape (2, 2), got shape (4,)"
    assert not compare_value("W", np.full((2, 2), np.nan), np.full((2, 2), np.nan), {})[0]   # NaN is never right


def test_hidden_checks_never_show_the_expected_values():
    want = np.array([0.5, 1.5])
    good, line = compare_value("dx", np.array([0.5, 1.0]), want, {}, hidden=True)
    assert not good and line == "dx: does not match the expected values (1 of 2 entries differ)"
    assert compare_value("dx", np.zeros(3), want, {}, hidden=True)[1] == "dx: wrong shape (3,)"


def test_bounds_take_one_finite_number():
    rule = {"below": 0.02, "above": 0.0}
    assert compare_value("loss", np.array(0.01), None, rule)[0]
    for bad in (np.array(0.03), np.array(-1.0), np.array(np.nan), np.array([0.01, 0.01])):
        good, line = compare_value("loss", bad, None, rule)
        assert not good and line.startswith("loss: expected a value below 0.02 and above 0, got"), line


def test_score_check_gives_partial_credit_and_says_why():
    ref = ok(a=1.0, b=[1.0, 2.0], c=3.0)
    result = score_check(check(points=3), ok(a=1.0, b=[1.0, 2.5], c=3.0), ref)
    assert (result.name, result.points, result.max_points, result.status) == ("toy", 2.0, 3.0, "failed")
    assert result.exercises == "loss in cs231n/layers.py"
    assert [line.split(":")[0] for line in result.lines] == ["ok    a", "WRONG b", "ok    c"]
    assert score_check(check(points=3, values=["a", "c"]), ok(a=1.0, b=0.0, c=3.0), ref).points == 3.0
    assert score_check(check(points=3, rtol=0.5), ok(a=1.0, b=[1.0, 2.5], c=3.0), ref).points == 3.0
    assert score_check(check(points=3, expect={"b": {"atol": 1.0}}), ok(a=1.0, b=[1.0, 2.5], c=3.0),
                       ref).points == 3.0


def test_score_check_of_cells_that_failed():
    ref = ok(a=1.0)
    assert score_check(check(), None, ref).lines == ["not run: the submission used up its time before this check"]
    error = CellOutcome("error", error='Traceback (most recent call last):\n  File "/kit/x.py"\nValueError: no')
    assert score_check(check(), error, ref).lines == [f"your code raised an error: {error.error}"]
    assert score_check(check(visibility="hidden"), error, ref).lines == ["your code raised an error: ValueError: no"]
    assert score_check(check(), CellOutcome("timeout", error="too slow"), ref).lines == ["stopped: too slow"]
    assert score_check(check(), CellOutcome("ok", None), ref).lines == [
        "the check emitted no values (did your code return None?)"]
    explained = score_check(check(), error, ref, explain=lambda text: text.replace("/kit/x.py", "x.py, line 3"))
    assert "x.py, line 3" in explained.lines[0]
    assert all(r.points == 0 for r in (score_check(check(), error, ref), score_check(check(), None, ref)))


def test_score_check_measures_with_the_reference_data():
    """A measure ("std" here) is computed by the grader from the emitted data, on both sides."""
    ref = ok(W=[1.0, -1.0, 1.0, -1.0])
    measured = check(points=1, values=["W_std"], measure={"W_std": {"fn": "std", "of": "W"}})
    assert score_check(measured, ok(W=[3.0, 1.0, 3.0, 1.0]), ref).points == 1.0     # same spread
    assert score_check(measured, ok(W=[2.0, -2.0, 2.0, -2.0]), ref).points == 0.0   # twice the spread
    missing = score_check(measured, ok(V=[1.0]), ref)
    assert missing.points == 0 and "the check emitted no W" in missing.lines[0]
