"""Score one submission: compare what its checks emitted with the reference run, in the grader.

Nothing here runs in a sandbox or imports student code. A submission's values
come from the sandbox (untrusted data: only plain numbers are read, with
bounded sizes and shapes); the expected ones from running the same check
cells on the instructor's reference code. A check's metadata (read by
kit.student.notebooks, which describes "check", "points", "visibility" and
"exercises") also holds its scoring rules:

- "values": the keys that are scored (default: every key the reference emits);
- "measure": {key: {"fn": ..., ...}}: values the grader computes itself from
  the emitted data (see kit.instructor.grade.measures);
- "expect": {key: {"below": x, "above": y, "rtol": r, "atol": a}}: a bound
  instead of the reference value, or a tolerance for that key;
- "rtol" / "atol": the tolerance for the whole check (default 1e-6 / 1e-8).
A check with several values gives partial credit: its points times the share
of values that are right; hidden checks never show expected values.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from kit.instructor.grade.measures import MeasureError, derive

DEFAULT_RTOL, DEFAULT_ATOL = 1e-6, 1e-8
MAX_ELEMENTS = 2_000_000
MAX_DIMS = 32


@dataclass
class CheckResult:
    name: str
    points: float
    max_points: float
    visibility: str
    lines: list = field(default_factory=list)   # feedback, one line per value or problem
    exercises: str = ""

    @property
    def status(self):
        return "passed" if self.points >= self.max_points else "failed"


class BadValue(ValueError):
    """An emitted value that is not a well-formed array of numbers."""


def as_array(value):
    """
    A float array from an emitted value {"shape": [...], "data": [...]}.

    Raises:
    - BadValue with what is wrong, for anything else (the student's value).
    """
    if not isinstance(value, dict):
        raise BadValue("no value")
    if "error" in value:
        raise BadValue(f"could not be read as numbers ({str(value['error'])[:200]})")
    shape, data = value.get("shape"), value.get("data")
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS
            and all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape)):
        raise BadValue("malformed value (its shape is not a short list of sizes)")
    if not (isinstance(data, list) and len(data) <= MAX_ELEMENTS
            and all(type(x) in (int, float) for x in data)):
        raise BadValue("malformed value (its data is not a list of numbers)")
    if math.prod(shape) != len(data):
        raise BadValue(f"malformed value ({len(data)} numbers for shape {tuple(shape)})")
    try:
        return np.array(data, dtype=float).reshape(shape)
    except (OverflowError, ValueError, MemoryError) as err:
        raise BadValue(f"malformed value ({type(err).__name__})") from None


def parse_values(values):
    """{key: array or BadValue} from an emitted-values dict (untrusted)."""
    out = {}
    for key, value in (values or {}).items() if isinstance(values, dict) else ():
        try:
            out[str(key)] = as_array(value)
        except BadValue as err:
            out[str(key)] = err
    return out


def _show(arr, limit=6):
    flat = arr.ravel()
    text = np.array2string(flat[:limit], precision=8, separator=", ")
    return text[:-1] + ", ...]" if flat.size > limit else text


def compare_value(key, got, want, rule, hidden=False):
    """(ok, feedback line) for one value; `got`/`want` are arrays, BadValue or None."""
    if isinstance(got, BadValue) or got is None:
        return False, f"{key}: {got if got is not None else 'no value'}"
    if "below" in rule or "above" in rule:
        ok = got.size == 1 and bool(np.isfinite(got).all())
        value = float(got.ravel()[0]) if ok else None
        if ok and "below" in rule:
            ok = value < rule["below"]
        if ok and "above" in rule:
            ok = value > rule["above"]
        bound = " and ".join(f"{k} {rule[k]:g}" for k in ("below", "above") if k in rule)
        return ok, f"{key}: expected a value {bound}, got {_show(got)}"
    if not isinstance(want, np.ndarray):
        return False, f"{key}: no reference value (instructor: check the reference run)"
    if got.shape != want.shape:
        return False, (f"{key}: expected shape {want.shape}, got shape {got.shape}" if not hidden
                       else f"{key}: wrong shape {got.shape}")
    rtol, atol = rule.get("rtol", DEFAULT_RTOL), rule.get("atol", DEFAULT_ATOL)
    with np.errstate(all="ignore"):
        close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=False)
    if close.all():
        return True, f"{key}: matches"
    bad = ~close
    count = f"{int(bad.sum())} of {got.size} entries differ"
    if hidden:
        return False, f"{key}: does not match the expected values ({count})"
    with np.errstate(all="ignore"):
        diff = np.abs(got - want)
    where = np.unravel_index(int(np.argmax(bad)), got.shape) if got.ndim else ()
    worst = np.nanmax(diff) if np.isfinite(diff).any() else float("nan")
    return False, (f"{key}: expected {_show(want)}, got {_show(got)} ({count}, first at index "
                   f"{tuple(int(i) for i in where)}, largest difference {worst:.3g})")


def _derived(meta, got, want):
    """Apply the check's measures to both sides: (got, want) with the derived keys added."""
    got, want = dict(got), dict(want)
    good_want = {k: v for k, v in want.items() if isinstance(v, np.ndarray)}
    good_got = {k: v for k, v in got.items() if isinstance(v, np.ndarray)}
    for key, spec in (meta.get("measure") or {}).items():
        try:
            want[key] = derive(spec, good_want, good_want)
        except MeasureError as err:
            want[key] = BadValue(f"the reference cannot be measured: {err}")
        try:
            got[key] = derive(spec, good_got, good_want)
        except MeasureError as err:
            got[key] = BadValue(str(err))
    return got, want


def score_check(check, record, expected_record, explain=lambda text: text):
    """
    Score one check cell.

    Inputs:
    - check: The check (kit.student.notebooks.Check); its metadata holds the rules.
    - record / expected_record: The CellOutcome (kit.instructor.sandbox.box) of the
      submission and of the reference (None when the cell did not run).
    - explain: Rewrites error text for the student (e.g. line numbers of their file).

    Returns:
    - A CheckResult.
    """
    meta, points, hidden = check.meta, check.points, check.hidden
    result = CheckResult(check.name, 0.0, points, check.visibility, exercises=check.exercises)
    if record is None:
        result.lines.append("not run: the submission used up its time before this check")
        return result
    if record.status != "ok":
        what = {"error": "your code raised an error", "timeout": "stopped", "dead": "stopped",
                "memory": "stopped", "malformed": "unreadable output"}.get(record.status, record.status)
        detail = explain(record.error or "") if not hidden else _last_line(explain(record.error or ""))
        result.lines.append(f"{what}: {detail}".rstrip(": "))
        return result
    if not record.values:
        result.lines.append("the check emitted no values (did your code return None?)")
        return result
    want_raw = parse_values((expected_record.values if expected_record else None) or {})
    got, want = _derived(meta, parse_values(record.values), want_raw)
    keys = meta.get("values") or sorted(k for k in want_raw)
    if not keys:
        result.lines.append("no reference values for this check (instructor: see the reference run)")
        return result
    good = 0
    for key in keys:
        rule = {k: meta[k] for k in ("rtol", "atol") if k in meta}
        rule.update((meta.get("expect") or {}).get(key, {}))
        ok, line = compare_value(key, got.get(key), want.get(key), rule, hidden)
        good += ok
        result.lines.append(("ok    " if ok else "WRONG ") + line)
    result.points = round(points * good / len(keys), 2)
    return result


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""

