"""Score one submission: compare its emitted values with the reference ones, in the grader.

Nothing here runs in a kernel. The submission's records come from the
sandboxed runner (untrusted data: only plain numbers are read from them); the
expected records come from running the same check notebook on the
instructor's reference code in a trusted process.
"""
import math
from dataclasses import dataclass, field

import numpy as np

DEFAULT_RTOL, DEFAULT_ATOL = 1e-6, 1e-8
MAX_ELEMENTS = 1_000_000


@dataclass
class CheckResult:
    name: str
    points: float
    max_points: float
    visibility: str
    lines: list = field(default_factory=list)   # feedback, one line per value or problem

    @property
    def status(self):
        return "passed" if self.points >= self.max_points else "failed"


def check_cells(nb):
    """[(cell index, metadata)] of the check cells of a check notebook (dict form)."""
    return [(i, c["metadata"]) for i, c in enumerate(nb["cells"])
            if c.get("cell_type") == "code" and "points" in c.get("metadata", {})]


def _as_array(value):
    """A float array from a runner value {"shape", "data"}, or an error text."""
    if not isinstance(value, dict):
        return None, "no value"
    if "error" in value:
        return None, f"could not be read as numbers ({str(value['error'])[:200]})"
    shape, data = value.get("shape"), value.get("data")
    if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)
            and isinstance(data, list) and len(data) <= MAX_ELEMENTS
            and all(type(x) in (int, float) for x in data)):
        return None, "malformed value"
    if math.prod(shape) != len(data):
        return None, "malformed value"
    return np.array(data, dtype=float).reshape(shape), None


def _show(arr, limit=6):
    flat = arr.ravel()
    text = np.array2string(flat[:limit], precision=8, separator=", ")
    return text[:-1] + ", ...]" if flat.size > limit else text


def compare_value(key, got, expected, rule):
    """(ok, feedback line) for one emitted value."""
    want, _ = _as_array(expected)
    have, problem = _as_array(got)
    if have is None:
        return False, f"{key}: {problem}"
    if "below" in rule or "above" in rule:
        ok = have.size == 1 and np.isfinite(have).all()
        if ok and "below" in rule:
            ok = float(have.ravel()[0]) < rule["below"]
        if ok and "above" in rule:
            ok = float(have.ravel()[0]) > rule["above"]
        bound = " and ".join(f"{k} {rule[k]}" for k in ("below", "above") if k in rule)
        return ok, f"{key}: expected a value {bound}, got {_show(have)}"
    if want is None:
        return False, f"{key}: no reference value (instructor: check the reference run)"
    if have.shape != want.shape:
        return False, f"{key}: expected shape {want.shape}, got shape {have.shape}"
    rtol, atol = rule.get("rtol", DEFAULT_RTOL), rule.get("atol", DEFAULT_ATOL)
    ok = bool(np.allclose(have, want, rtol=rtol, atol=atol, equal_nan=False))
    if ok:
        return True, f"{key}: matches"
    with np.errstate(invalid="ignore"):
        diff = np.abs(have - want)
    bad = ~np.isclose(have, want, rtol=rtol, atol=atol)
    where = np.unravel_index(int(np.argmax(bad)), have.shape) if have.ndim else ()
    worst = np.nanmax(diff) if np.isfinite(diff).any() else float("nan")
    return False, (f"{key}: expected {_show(want)}, got {_show(have)} "
                   f"({int(bad.sum())} of {have.size} entries differ, first at index {tuple(int(i) for i in where)}, "
                   f"largest difference {worst:.3g})")


def score_check(meta, record, expected_record):
    """Score one check cell; `record` / `expected_record` are runner lines (or None)."""
    name, points = str(meta.get("check", "check")), float(meta["points"])
    visibility = meta.get("visibility", "visible")
    result = CheckResult(name, 0.0, points, visibility)
    expected_values = (expected_record or {}).get("results") or [{}]
    expected_values = expected_values[-1] if isinstance(expected_values[-1], dict) else {}
    keys = sorted(set(expected_values) | set(meta.get("expect", {})))
    if record is None:
        result.lines.append("not run: the grading run stopped before this check "
                            "(time limit for the whole submission?)")
        return result
    if record.get("status") != "ok" or not record.get("results"):
        error = record.get("error") or "the check emitted no values"
        result.lines.append(f"{record.get('status', 'error')}: {str(error)[:500]}")
        return result
    got = record["results"][-1] if isinstance(record["results"][-1], dict) else {}
    if not keys:
        result.lines.append("no reference values for this check (instructor: see the reference run)")
        return result
    good = 0
    for key in keys:
        rule = {k: meta[k] for k in ("rtol", "atol") if k in meta}
        rule.update(meta.get("expect", {}).get(key, {}))
        ok, line = compare_value(key, got.get(key), expected_values.get(key), rule)
        good += ok
        result.lines.append(("ok    " if ok else "WRONG ") + line)
    result.points = round(points * good / len(keys), 2)
    return result


def score(nb, records, expected):
    """Score every check of notebook `nb` (dict) from the runner records of a submission."""
    by_index = {r["index"]: r for r in records}
    exp_index = {r["index"]: r for r in expected}
    return [score_check(meta, by_index.get(i), exp_index.get(i)) for i, meta in check_cells(nb)]


def setup_problems(nb, records):
    """Feedback lines for setup cells (imports) that failed."""
    by_index = {r["index"]: r for r in records}
    lines = []
    for i, cell in enumerate(nb["cells"]):
        if "setup" in cell.get("metadata", {}).get("tags", []):
            record = by_index.get(i)
            if record is not None and record.get("status") != "ok":
                first = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                lines.append(f"setup cell `{first.splitlines()[-1][:80]}` failed: {str(record.get('error'))[:500]}")
    return lines
