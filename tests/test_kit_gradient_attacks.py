"""Gradients that are not analytic, and published values copied into the code, earn nothing.

- A numerical backward pass (the complex step, centred differences in long double or
  float64), however precise, costs a forward pass per parameter: the hidden full-size
  checks run under a CPU budget ("cpu_limit") that the reference meets many times over
  and that it cannot, and every gradient value of the other checks "requires" them.
- A public check's values require its hidden twin on unpublished inputs: hard-coded
  published values with otherwise wrong code score what the wrong code scores.
- At an exact ReLU kink either one-sided derivative passes (x > 0 or x >= 0), their
  mean (a centred numerical derivative) does not.

The planted files are written as a student would (code inside the regions, kit_fixtures).
"""
import json
import tempfile

import nbformat
import numpy as np
import pytest

import kit_fixtures as fx
from kit.instructor.grade.checkrun import CheckNotebook
from kit.instructor.grade.compare import (Expected, RequirementError, check_requirements, requirements,
                                          score_checks)
from kit.instructor.grade.prepare import CHECKS, SOURCE, reference_run, relu_variant
from kit.instructor.grade.run import grade
from kit.instructor.sandbox.box import CellOutcome
from kit.instructor.sandbox.isolation import Limits, locate_bwrap
from kit.student.notebooks import as_check, checks

LIMITS = Limits(cell_timeout=3, timeout=150, memory_mb=1024)
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")

FULL_NN = "TwoLayerNet.loss's backward pass at full size"
FULL_FC = "fc_net's backward pass at full size"
FULL_AFFINE = "affine_backward at full size"
TWIN_NN = "scores, loss and gradients with other seeds and sizes"
TWIN_LAYERS = "layers with other seeds and sizes"
GRADS = ("W1", "b1", "W2", "b2")
# Every gradient value of TwoLayerNet.loss (neural_net): a numerical backward pass must lose each one.
NN_GRADIENTS = {("toy gradients", k) for k in GRADS} | {(TWIN_NN, k) for k in GRADS} | {(FULL_NN, k) for k in GRADS}
AFFINE_GRADIENTS = ({("affine layer", k) for k in ("dx", "dw", "db")} | {(TWIN_LAYERS, k) for k in ("dx", "dw", "db")}
                    | {(FULL_AFFINE, k) for k in ("dx", "dw", "db")})


def grading_checks():
    return checks(nbformat.read(CHECKS / "grading.ipynb", as_version=4).cells)


# ---------------------------------------------------------------------------- the rule, on its own

def emitted(**values):
    return {k: {"shape": list(np.shape(v)), "data": np.ravel(np.asarray(v, dtype=float)).tolist()}
            for k, v in values.items()}


def check(index, name, visibility="visible", **meta):
    meta = dict(check=name, points=2, visibility=visibility, **meta)
    return as_check(index, {"cell_type": "code", "source": f"# Check: {name}\nemit(a=1)", "metadata": meta})


def test_a_value_earns_its_points_only_with_what_it_requires():
    cells = [check(0, "public", requires={"a": ["twin", "a"], "b": ["twin", "b"]}),
             check(1, "twin", "after_published", requires={"b": ["full", "b"]},
                   gate="the same code also works on unpublished inputs"),
             check(2, "full", "after_published", cpu_limit=2, gate="it also works at full size within {cpu_limit} s")]
    expected = {0: Expected(emitted(a=1.0, b=2.0)), 1: Expected(emitted(a=3.0, b=4.0)), 2: Expected(emitted(b=5.0))}
    right = {0: CellOutcome("ok", emitted(a=1.0, b=2.0)), 1: CellOutcome("ok", emitted(a=3.0, b=4.0)),
             2: CellOutcome("ok", emitted(b=5.0))}
    assert [r.points for r in score_checks(cells, right, expected)] == [2.0, 2.0, 2.0]
    # Wrong on the twin's a (unpublished inputs), and the full-size cell over its budget.
    wrong = {**right, 1: CellOutcome("ok", emitted(a=3.5, b=4.0)),
             2: CellOutcome("timeout", error="the cell used more than 2 s of CPU (an infinite loop?)")}
    public, twin, full = score_checks(cells, wrong, expected)
    assert (public.points, twin.points, full.points) == (0.0, 0.0, 0.0)
    assert full.lines == ["stopped: the cell used more than 2 s of CPU, this check's budget (correct code needs a "
                          "fraction of it; a numerical gradient cannot meet it)"]
    assert public.lines[0] == ("WRONG a: matches, but it earns its points only when the same code also works on "
                               "unpublished inputs; yours did not (a: does not match the expected values "
                               "(1 of 1 entries differ))")
    # b requires the twin's b, which requires the full-size check: the line names the root cause.
    assert public.lines[1] == ("WRONG b: matches, but it earns its points only when it also works at full size "
                               "within 2 s; yours did not (stopped: the cell used more than 2 s of CPU)")
    assert "3." not in public.lines[0] and "expected [" not in " ".join(public.lines)   # no hidden value shown


def test_requirements_name_values_that_exist_without_cycles():
    a = check(0, "a", requires={"x": ["b", "y"]})
    assert requirements(a.meta, "x") == [("b", "y")] and requirements(a.meta, "z") == []
    assert requirements(check(0, "a", requires={"x": [["b", "y"], ["c", "z"]]}).meta, "x") == [("b", "y"), ("c", "z")]
    check_requirements([a, check(1, "b")], {"a": {"x"}, "b": {"y"}})
    with pytest.raises(RequirementError, match="requires y of 'b'"):
        check_requirements([a, check(1, "b")], {"a": {"x"}, "b": {"z"}})
    with pytest.raises(RequirementError, match="cycle"):
        check_requirements([a, check(1, "b", requires={"y": ["a", "x"]})], {"a": {"x"}, "b": {"y"}})


def test_a_tolerance_scaled_to_the_array_and_the_accepted_variants():
    cell = check(0, "full", expect={"g": {"rtol": 1e-10, "atol": 0.0, "atol_of_max": 1e-12}})
    want = np.array([1.0, 1e-9, -2.0])
    scored = score_checks([cell], {0: CellOutcome("ok", emitted(g=want + [0, 1e-13, 0]))},
                          {0: Expected(emitted(g=want))})
    assert scored[0].points == 2.0                 # 1e-13 off an entry near zero: summation order
    for off in ([0, 1e-11, 0], [1e-8, 0, 0]):      # a numerical gradient's error is not
        assert score_checks([cell], {0: CellOutcome("ok", emitted(g=want + off))},
                            {0: Expected(emitted(g=want))})[0].points == 0.0
    kink = Expected(emitted(g=[0.0, 1.0]), [emitted(g=[0.5, 1.0])])
    assert score_checks([check(0, "k")], {0: CellOutcome("ok", emitted(g=[0.5, 1.0]))}, {0: kink})[0].points == 2.0
    assert score_checks([check(0, "k")], {0: CellOutcome("ok", emitted(g=[0.25, 1.0]))}, {0: kink})[0].points == 0.0


# ---------------------------------------------------------------------------- the grading notebook

def test_public_values_require_a_hidden_twin_and_gradients_a_full_size_check():
    cells = grading_checks()
    by_name = {c.name: c for c in cells}

    def roots(name, key):
        needed = requirements(by_name[name].meta, key)
        return {(name, key)} | {r for n, k in needed for r in roots(n, k)}
    exempt = {"toy training", "fc_net init"}   # measured by the grader, nothing published to copy
    for c in cells:
        keys = c.meta.get("values") or list(c.meta.get("requires") or {})
        if c.visibility == "visible" and c.name not in exempt:
            assert set(c.meta.get("requires") or {}) and all(requirements(c.meta, k) for k in keys), c.name
            assert all(any(by_name[n].hidden for n, _ in roots(c.name, k) - {(c.name, k)}) for k in keys), c.name
    gradients = {("toy gradients", k) for k in GRADS} | {("fc_net gradients", k) for k in GRADS} | {
        ("affine layer", k) for k in ("dx", "dw", "db")} | {("softmax loss", "dx"), ("svm loss", "dx"),
                                                            ("softmax stability with large scores", "dx")}
    gradients |= {(TWIN_NN, k) for k in GRADS} | {("fc_net with other seeds and sizes", k) for k in GRADS} | {
        (TWIN_LAYERS, k) for k in ("dx", "dw", "db", "s_dx", "v_dx")} | {("softmax stability with other large scores", "dx")}
    for name, key in gradients:
        assert any("cpu_limit" in by_name[n].meta for n, _ in roots(name, key)), (name, key)


def test_the_full_size_budget_is_many_times_what_the_reference_needs(tmp_path):
    notebooks = [CheckNotebook.read(CHECKS / "grading.ipynb")]
    records = reference_run(SOURCE, notebooks, Limits(), tmp_path)["grading.ipynb"]
    budgets = {c.name: (c.cpu_limit, records[c.index].cpu) for c in notebooks[0].checks if "cpu_limit" in c.meta}
    assert len(budgets) == 5, budgets
    for name, (budget, cpu) in budgets.items():
        assert cpu * 5 < budget, (name, cpu, budget)    # about 0.1 s of CPU against 2 s
    print("reference CPU of the full-size checks:", {n: round(c, 3) for n, (_, c) in budgets.items()})


def test_the_relu_variant_flips_only_the_mask(tmp_path):
    folder = relu_variant(SOURCE, tmp_path / "variant")
    mine, theirs = (SOURCE / fx.LAYERS).read_text().splitlines(), (folder / fx.LAYERS).read_text().splitlines()
    assert [(a, b) for a, b in zip(mine, theirs) if a != b] == [("    dx = dout * (x > 0)", "    dx = dout * (x >= 0)")]
    assert (folder / "kit/student/more_checks.py").is_file()


# ---------------------------------------------------------------------------- graded plants

@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    ref = fx.reference_files()
    plants = {"correct": ref, "numerical_affine": fx.in_region(ref, fx.LAYERS, "affine_backward", fx.NUMERICAL_AFFINE),
              "relu_passes_at_zero": fx.apply(ref, fx.RELU_PASSES_AT_ZERO),
              "wrong": fx.apply(ref, fx.WRONG_CODE), "wrong_hard_coded": fx.hard_coded(fx.apply(ref, fx.WRONG_CODE))}
    for name, code in fx.NUMERICAL_ATTACKS.items():
        plants[name] = fx.in_region(ref, fx.NET, "TwoLayerNet.loss", code, k=2)
    for name, files in plants.items():
        fx.write_zip(subs / f"{name}.zip", files)
    run = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    return {"rows": {r["student"]: r for r in run.rows},
            "results": {n: json.loads((out / n / "results.json").read_text()) for n in plants}}


def values(results):
    """{(check, key): (right, feedback line)} of every scored value (a check that did not finish has none)."""
    out = {}
    for test in results["tests"]:
        for line in test["output"].splitlines():
            if line.startswith(("ok    ", "WRONG ")) and ":" in line:
                out[(test["name"], line[6:].split(":")[0])] = (line.startswith("ok"), line)
    return out


def kept(results, wanted):
    """The values of `wanted` that earned points: right, in a check that scored."""
    got, scores = values(results), {t["name"]: t["score"] for t in results["tests"]}
    return {(name, key) for name, key in wanted if scores[name] > 0 and got.get((name, key), (False,))[0]}


def score(attacked, name):
    return float(attacked["rows"][name]["score"])


@needs_bwrap
def test_the_reference_and_a_relu_passing_at_zero_get_full_marks(attacked):
    for name in ("correct", "relu_passes_at_zero"):
        row = attacked["rows"][name]
        assert row["status"] == "graded" and float(row["score"]) == float(row["max_score"]) > 0, \
            json.dumps(attacked["results"][name]["tests"], indent=1)[:3000]


@needs_bwrap
@pytest.mark.parametrize("name", sorted(fx.NUMERICAL_ATTACKS))
def test_a_numerical_backward_pass_loses_every_gradient_point(attacked, name):
    assert not kept(attacked["results"][name], NN_GRADIENTS)
    got = values(attacked["results"][name])
    toy = got[("toy gradients", "W1")][1]
    if name != "float64_centred":   # its values are off already (about 1e-10); the others match, and are told why
        assert "matches, but it earns its points only when the same backward pass also works at full size" in toy, toy
        assert "within 2 s of CPU" in toy and "yours did not (stopped: the cell used more than 2 s of CPU)" in toy, toy
    assert got[("toy scores", "scores")][0] and got[("toy loss", "loss")][0]   # its forward pass is right
    assert score(attacked, name) == pytest.approx(score(attacked, "correct") - 3 - 4 * 3 / 7 - 1, abs=0.011)


@needs_bwrap
def test_a_numerical_affine_backward_loses_every_gradient_point_built_on_it(attacked):
    assert not kept(attacked["results"]["numerical_affine"], AFFINE_GRADIENTS | NN_GRADIENTS)
    assert kept(attacked["results"]["numerical_affine"], {("toy scores", "scores")})   # the forward passes are right


@needs_bwrap
def test_published_values_copied_into_wrong_code_gain_nothing(attacked):
    assert score(attacked, "wrong_hard_coded") <= score(attacked, "wrong") < score(attacked, "correct")
    got = values(attacked["results"]["wrong_hard_coded"])
    for check_key in (("toy scores", "scores"), ("toy loss", "loss"), ("fc_net scores and loss (course values)", "loss_reg1"),
                      ("sgd_momentum", "next_w"), ("rmsprop", "next_w"), ("adam", "next_w")):
        right, line = got[check_key]
        assert not right and "matches, but it earns its points only when the same code also gives the right values on " \
                              "unpublished inputs" in line and "published values copied into the code earn nothing" in line
        assert "expected [" not in line and "does not match the expected values" in line   # no hidden value shown
