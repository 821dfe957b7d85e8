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
- "rtol" / "atol": the tolerance for the whole check (default 1e-6 / 1e-8);
  "atol_of_max": r (in "expect" or for the whole check) adds r * max|expected| to the
  absolute tolerance: a tolerance scaled to the array, for large arrays whose
  entries near zero differ in the last bits with the BLAS's summation order;
- "requires": {key: [check name, key]} or {key: [[check name, key], ...]}: the value
  earns its points only when each named value of the same notebook also does (its
  check's requirements too, in turn). A public check's values require their hidden
  twin on unpublished inputs (published values copied into the code earn nothing), a
  gradient requires the same backward pass at full size under a CPU budget ("cpu_limit",
  which a numerical gradient cannot meet); the required check's "gate" says in words
  what it asks ("{cpu_limit}" stands for its budget), for the feedback;
- "cpu_limit": CPU seconds the cell may use (kit.instructor.grade.checkrun), below the
  submission's per-cell limit.
A check with several values gives partial credit: its points times the share
of values that are right; hidden checks never show expected values.

A value also passes when it matches an accepted variant of the reference (Expected.variants,
made by kit.instructor.grade.prepare): the reference with relu_backward's other one-sided
derivative at an exact kink (x >= 0), as valid a subgradient as the reference's x > 0.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from kit.instructor.grade.measures import MeasureError, derive

DEFAULT_RTOL, DEFAULT_ATOL = 1e-6, 1e-8
# After "the cell used more than N s of CPU" in a check with its own "cpu_limit".
BUDGET_NOTE = ", this check's budget (correct code needs a fraction of it; a numerical gradient cannot meet it)"
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
    right: dict = field(default_factory=dict)    # key -> whether the value is right (scored keys only)

    @property
    def status(self):
        return "passed" if self.points >= self.max_points else "failed"


@dataclass
class Expected:
    """The reference's values of one check cell (as CellOutcome.values), and those of its accepted variants."""
    values: dict
    variants: list = field(default_factory=list)   # [values dict]: other reference runs whose values also pass


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
        if "atol_of_max" in rule and want.size:
            atol += rule["atol_of_max"] * float(np.max(np.abs(want)))
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
        if record.status == "timeout" and "cpu_limit" in meta:
            detail = detail.replace(" (an infinite loop?)", BUDGET_NOTE)
        result.lines.append(f"{what}: {detail}".rstrip(": "))
        return result
    if not record.values:
        result.lines.append("the check emitted no values (did your code return None?)")
        return result
    want_raw = parse_values((expected_record.values if expected_record else None) or {})
    variants = [parse_values(v) for v in getattr(expected_record, "variants", None) or ()]
    got, want = _derived(meta, parse_values(record.values), want_raw)
    keys = meta.get("values") or sorted(k for k in want_raw)
    if not keys:
        result.lines.append("no reference values for this check (instructor: see the reference run)")
        return result
    for key in keys:
        rule = {k: meta[k] for k in ("rtol", "atol", "atol_of_max") if k in meta}
        rule.update((meta.get("expect") or {}).get(key, {}))
        ok, line = compare_value(key, got.get(key), want.get(key), rule, hidden)
        for variant in variants if not ok else ():
            if key in variant and compare_value(key, got.get(key), variant[key], rule, hidden)[0]:
                ok, line = True, f"{key}: matches"
                break
        result.right[key] = ok
        result.lines.append(("ok    " if ok else "WRONG ") + line)
    result.points = round(points * sum(result.right.values()) / len(keys), 2)
    return result


class RequirementError(ValueError):
    """A check's "requires" names a check or value that does not exist, or makes a cycle (instructor's error)."""


def requirements(meta, key):
    """[(check name, key)] that the value `key` of a check with metadata `meta` requires."""
    need = (meta.get("requires") or {}).get(key) or []
    pairs = [need] if need and isinstance(need[0], str) else need
    return [(str(name), str(k)) for name, k in pairs]


def check_requirements(checks, reference_keys):
    """
    Raise RequirementError unless every requirement of `checks` names a scored value of one of them, without cycles.

    Inputs:
    - checks: [Check] of one notebook.
    - reference_keys: {check name: set of the keys the reference scores}.
    """
    by_name = {c.name: c for c in checks}
    for c in checks:
        for key, _ in (c.meta.get("requires") or {}).items():
            for name, k in requirements(c.meta, key):
                if k not in reference_keys.get(name, ()):
                    raise RequirementError(f"check {c.name!r}: {key} requires {k} of {name!r}, which is not a value "
                                           f"of a check of its notebook")

    def visit(name, key, path):
        if (name, key) in path:
            raise RequirementError(f"check {name!r}: its requirements make a cycle through {key}")
        for needed in requirements(by_name[name].meta, key):
            visit(*needed, path | {(name, key)})
    for c in checks:
        for key in c.meta.get("requires") or {}:
            visit(c.name, key, frozenset())


def score_checks(checks, records, expected, explain=lambda text: text):
    """
    Score the checks of one notebook (score_check), then their "requires" (see the module docstring).

    Inputs:
    - checks: [Check] of one notebook.
    - records / expected: {cell index: CellOutcome} of the submission, and {cell index: Expected
      or CellOutcome} of the reference.
    - explain: As for score_check.

    Returns:
    - [CheckResult], in the order of `checks`.
    """
    results = [score_check(c, records.get(c.index), expected.get(c.index), explain) for c in checks]
    by_name = {c.name: (c, r) for c, r in zip(checks, results)}

    def unmet(name, key, seen=frozenset()):
        """None when the value is right and so is all it requires; else the (check, key) first found wrong."""
        check, result = by_name.get(name, (None, None))
        if result is None or not result.right.get(key) or (name, key) in seen:
            return name, key
        for needed in requirements(check.meta, key):
            wrong = unmet(*needed, seen | {(name, key)})
            if wrong:
                return wrong
        return None
    gated = {(c.name, key): unmet(c.name, key) for c, r in zip(checks, results) for key in r.right if r.right[key]}
    for check, result in zip(checks, results):
        keys = list(result.right)
        for i, key in enumerate(keys):
            wrong = gated.get((check.name, key))
            if wrong:
                result.right[key] = False
                result.lines[i] = "WRONG " + _gate_line(key, *by_name.get(wrong[0], (None, None)), wrong[1])
        if keys:
            result.points = round(check.points * sum(result.right.values()) / len(keys), 2)
    return results


def _gate_line(key, check, result, needed_key):
    """The feedback of a right value that earns nothing, because `needed_key` of `check` is wrong."""
    if check is None:
        return f"{key}: matches, but a value it requires is missing (instructor: see its \"requires\")"
    gate = str(check.meta.get("gate") or f"your code also passes the check \"{check.name}\"")
    gate = gate.replace("{cpu_limit}", f"{check.meta.get('cpu_limit', '?'):g}" if "cpu_limit" in check.meta else "?")
    keys = list(result.right)
    why = (result.lines[keys.index(needed_key)] if needed_key in keys and len(result.lines) == len(keys)
           else (result.lines[0] if result.lines else "it did not run"))
    why = why.removeprefix("WRONG ").removeprefix("ok    ").replace(" (an infinite loop?)", "").replace(BUDGET_NOTE, "")
    return f"{key}: matches, but it earns its points only when {gate}; yours did not ({why})"


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""

