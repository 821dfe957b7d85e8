"""More checks for the self-check: like the grader's hidden ones, with other seeds and sizes.

`python -m kit check` runs these beside the notebooks. The notebooks check the
course's toy problem; these check the same functions on other inputs (their
expected values, computed by the reference solution when the kit was
released, ship in kit/student/reference/more_checks.json) and two things the
toy problem cannot see: that train() takes its SGD step on every parameter,
and that it samples its minibatches at random from all of X.

    python -m kit.student.more_checks --write PATH    (the release: the expected values)
"""
import argparse
import contextlib
import json
from pathlib import Path

import numpy as np

EXPECTED = Path(__file__).resolve().parent / "reference" / "more_checks.json"
NEURAL_NET = "cs231n/classifiers/neural_net.py"
#: The modules the cases use (the release computes the expected values only when a source has them).
MORE_CHECKS_USE = (NEURAL_NET, "cs231n/layers.py", "cs231n/classifiers/fc_net.py", "cs231n/optim.py")


# ---------------------------------------------------------------------------- the cases

def _toy_net(model_seed, data_seed, D, H, C, N, zero_rows=0):
    from cs231n.classifiers.neural_net import TwoLayerNet

    np.random.seed(model_seed)
    net = TwoLayerNet(D, H, C, std=1e-1)
    np.random.seed(data_seed)
    X = 10 * np.random.randn(N, D)
    X[:zero_rows] = 0.0   # with b1 = 0, these rows sit exactly on the ReLU kink
    y = np.arange(N) % C
    return net, X, y


def case_two_layer_net():
    """TwoLayerNet.loss and .predict on a net and data of other sizes than the toy problem's."""
    net, X, y = _toy_net(model_seed=3, data_seed=4, D=7, H=6, C=5, N=11, zero_rows=2)
    scores = net.loss(X)
    loss, grads = net.loss(X, y, reg=0.2)
    grads = grads if isinstance(grads, dict) else {}
    return {"scores": scores, "loss": loss, "labels": net.predict(X),
            **{name: grads.get(name) for name in ("W1", "b1", "W2", "b2")}}


def case_layers():
    """The layers of cs231n/layers.py on inputs of other sizes."""
    from cs231n import layers

    rng = np.random.RandomState(2024)
    x, w, b = rng.randn(2, 3, 5), rng.randn(15, 4), rng.randn(4)
    out, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(rng.randn(2, 4), cache)
    a = rng.randn(4, 7)
    a[::2, 1::3] = 0.0   # exact zeros: either one-sided derivative passes there (0, or the upstream gradient)
    r_out, r_cache = layers.relu_forward(a)
    r_dx = layers.relu_backward(rng.randn(4, 7), r_cache)
    s_loss, s_dx = layers.softmax_loss(rng.randn(9, 3), rng.randint(3, size=9))
    v_loss, v_dx = layers.svm_loss(rng.randn(9, 3), rng.randint(3, size=9))
    return {"affine_forward out": out, "affine_backward dx": dx, "affine_backward dw": dw,
            "affine_backward db": db, "relu_forward out": r_out, "relu_backward dx": r_dx,
            "softmax_loss loss": s_loss, "softmax_loss dx": s_dx, "svm_loss loss": v_loss, "svm_loss dx": v_dx}


def case_fc_net():
    """The modular TwoLayerNet (cs231n/classifiers/fc_net.py) with other sizes and reg."""
    from cs231n.classifiers import fc_net

    np.random.seed(12)
    model = fc_net.TwoLayerNet(input_dim=5, hidden_dim=8, num_classes=3, weight_scale=0.4, reg=0.7)
    model.params["b1"][:] = 0.0
    X, y = np.random.randn(10, 5), np.arange(10) % 3
    X[:3] = 0.0
    scores = model.loss(X)
    loss, grads = model.loss(X, y)
    grads = grads if isinstance(grads, dict) else {}
    return {"scores": scores, "loss": loss, **{name: grads.get(name) for name in ("W1", "b1", "W2", "b2")}}


def case_optim():
    """The update rules of cs231n/optim.py on other values (two steps each)."""
    from cs231n import optim

    rng = np.random.RandomState(31)
    w, dw, dw2 = rng.randn(3, 4), rng.randn(3, 4), rng.randn(3, 4)
    out = {}
    for rule, config in (("sgd_momentum", {"learning_rate": 3e-2, "momentum": 0.8}),
                         ("rmsprop", {"learning_rate": 3e-2, "decay_rate": 0.9}),
                         ("adam", {"learning_rate": 3e-2, "beta1": 0.8, "beta2": 0.95})):
        update = getattr(optim, rule)
        next_w, config = update(w.copy(), dw, dict(config))
        if next_w is not None and config is not None:
            next_w, config = update(next_w, dw2, config)
        out[rule] = next_w
    return out


CASES = {"two_layer_net": case_two_layer_net, "layers": case_layers, "fc_net": case_fc_net,
         "optim": case_optim}


AT_KINK = "relu passing at zero"   # the expected values with the other one-sided derivative at the ReLU's kink


@contextlib.contextmanager
def relu_passing_at_zero():
    """
    relu_backward with the other valid rule at exactly x == 0 (the gradient passes: x >= 0), wherever the
    package binds it, while the block runs: the reference's values for a student who chose that rule.
    """
    import importlib

    modules = [importlib.import_module(m) for m in ("cs231n.layers", "cs231n.layer_utils",
                                                     "cs231n.classifiers.neural_net")]
    saved = [(m, m.relu_backward) for m in modules if hasattr(m, "relu_backward")]

    def relu_backward(dout, cache):
        return dout * (np.asarray(cache) >= 0)

    for m, _ in saved:
        m.relu_backward = relu_backward
    try:
        yield
    finally:
        for m, original in saved:
            m.relu_backward = original


def compute(cases=CASES):
    """
    {case: {key: value as nested lists}} of the code importable now (the release: the reference's), and
    under AT_KINK the values that differ when relu_backward lets the gradient through at exactly 0.
    """
    def run():
        return {name: {key: np.asarray(value, dtype=float).tolist() for key, value in fn().items()}
                for name, fn in cases.items()}

    values = run()
    with relu_passing_at_zero():
        other = run()
    values[AT_KINK] = {case: {k: v for k, v in keys.items() if v != values[case][k]}
                       for case, keys in other.items()}
    return values


# ---------------------------------------------------------------------------- comparing

def alternatives(case):
    """{key: value} that also passes for `case`: the other one-sided derivative at the ReLU's kink."""
    try:
        return json.loads(EXPECTED.read_text(encoding="utf-8")).get(AT_KINK, {}).get(case, {})
    except (OSError, ValueError, AttributeError):
        return {}


def expected(case):
    try:
        return json.loads(EXPECTED.read_text(encoding="utf-8"))[case]
    except (OSError, ValueError, KeyError):
        import pytest

        pytest.skip(f"no expected values for '{case}' ({EXPECTED} is missing: a kit made by `python -m kit "
                    f"release` has it)")


def compare(case, where, got, rtol=1e-8, atol=1e-10, hints=None):
    """
    Assert that each value of `got` matches the reference's, naming each one that does not.

    Inputs:
    - case: The case name in the expected values.
    - where: {key: "the function and file that computes it"}, for the message.
    - got: {key: value} computed by the student's code.
    - hints: Optional function(wrong keys) -> a sentence about the likely mistake.
    """
    wrong, other = [], alternatives(case)
    for key, want in expected(case).items():
        value = got.get(key)
        want = np.asarray(want, dtype=float)
        if value is None:
            wrong.append((key, "is None (is that code region written yet?)"))
            continue
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            wrong.append((key, f"is not numbers ({type(value).__name__})"))
            continue
        if value.shape != want.shape:
            wrong.append((key, f"has shape {value.shape}, expected {want.shape}"))
        elif not np.allclose(value, want, rtol=rtol, atol=atol) and not (
                key in other and np.allclose(value, np.asarray(other[key], dtype=float), rtol=rtol, atol=atol)):
            error = np.max(np.abs(value - want) / np.maximum(1e-12, np.abs(value) + np.abs(want)))
            wrong.append((key, f"differs from the reference (max relative error {error:.1e})"))
    if wrong:
        lines = [f"  {key} ({where.get(key, where.get('*', ''))}) {why}" for key, why in wrong]
        hint = hints([k for k, _ in wrong]) if hints else None
        raise AssertionError("with other seeds and sizes than the notebook's:\n" + "\n".join(lines)
                             + (f"\n{hint}" if hint else ""))


def _net_hint(wrong):
    if "scores" in wrong:
        return "Start with the scores: the forward pass of TwoLayerNet.loss (affine - ReLU - affine)."
    if "loss" in wrong:
        return ("The scores are right but the loss is not: the softmax loss, averaged over the N rows, plus "
                "reg * (sum(W1 * W1) + sum(W2 * W2)) (no one-half in this net).")
    weights, biases = {"W1", "W2"} & set(wrong), {"b1", "b2"} & set(wrong)
    if weights and not biases:
        return ("The biases' gradients are right and the weights' are not: the gradient of the L2 term, "
                "2 * reg * W for this net, is likely missing or wrong.")
    if "b1" in wrong or "W1" in wrong:
        return ("The gradients of the first layer are wrong: check relu_backward (the gradient passes where "
                "the ReLU's input was > 0, none where it was < 0, and at exactly 0 either 0 or all of it) "
                "and the first affine layer's backward pass.")
    return None


# ---------------------------------------------------------------------------- the tests

def test_two_layer_net_with_other_seeds_and_sizes():
    where = {key: f"TwoLayerNet.loss in {NEURAL_NET}" for key in ("scores", "loss", "W1", "b1", "W2", "b2")}
    where["labels"] = f"TwoLayerNet.predict in {NEURAL_NET}"
    compare("two_layer_net", where, case_two_layer_net(), hints=_net_hint)


def test_layers_with_other_seeds_and_sizes():
    got = case_layers()
    where = {key: f"{key.split()[0]} in cs231n/layers.py" for key in got}
    compare("layers", where, got)


def test_fc_net_with_other_seeds_and_sizes():
    where = {"*": "TwoLayerNet.loss in cs231n/classifiers/fc_net.py"}
    compare("fc_net", where, case_fc_net(), hints=lambda wrong: (
        "The loss is off: fc_net's L2 term is 0.5 * reg * (sum(W1 * W1) + sum(W2 * W2)), with the one-half."
        if wrong == ["loss"] else None))


def test_update_rules_with_other_values():
    got = case_optim()
    compare("optim", {rule: f"{rule} in cs231n/optim.py (two steps, the second with the config the first "
                            f"returned)" for rule in got}, got)


class _Recorder:
    """Wraps net.loss to keep, for each call train() makes, the parameters, the batch and the gradients."""

    def __init__(self, net):
        self.net, self.loss, self.calls = net, net.loss, []

    def __call__(self, X, y=None, reg=0.0):
        params = {name: np.array(p, copy=True) for name, p in self.net.params.items()}
        result = self.loss(X, y, reg=reg)
        if y is not None:
            grads = result[1] if isinstance(result, tuple) and len(result) == 2 else None
            grads = {k: np.array(v, copy=True) for k, v in grads.items()} if isinstance(grads, dict) else {}
            self.calls.append((params, np.array(X, copy=True), grads))
        return result


def record_training(net, X, y, learning_rate, num_iters, batch_size):
    """
    Train `net` on (X, y) while recording every call train() makes to loss(X_batch, y_batch, reg).

    Used here and by the grader's hidden checks (kit/instructor/grade/checks/): the learning
    rate does not decay (learning_rate_decay=1.0), so each step is -learning_rate * grads.

    Returns:
    - A list, one entry per call: (parameters before the call, X_batch, grads), all copies.
    """
    recorder = _Recorder(net)
    net.loss = recorder
    try:
        net.train(X, y, X[:10], y[:10], learning_rate=learning_rate, learning_rate_decay=1.0, reg=1e-3,
                  num_iters=num_iters, batch_size=batch_size)
    finally:
        del net.loss
    return recorder.calls


def step_errors(net, calls, learning_rate):
    """
    How far each parameter's updates are from the SGD step, over the recorded calls.

    Returns:
    - ({name: the largest |next value - (value - learning_rate * grad)|, inf when it cannot be
      computed}, {name: whether train ever changed it}), for W1, b1, W2, b2.
    """
    after = [params for params, _, _ in calls[1:]] + [{k: np.asarray(v) for k, v in net.params.items()}]
    errors, moved = {}, {}
    for name in ("W1", "b1", "W2", "b2"):
        errors[name], moved[name] = 0.0, False
        for (before, _, grads), next_params in zip(calls, after):
            grad, value = grads.get(name), next_params.get(name)
            if grad is None or value is None or np.shape(value) != before[name].shape \
                    or np.shape(grad) != before[name].shape:
                errors[name] = float("inf")
                continue
            value = np.asarray(value, dtype=float)
            moved[name] |= not np.array_equal(value, before[name])
            errors[name] = max(errors[name], float(np.max(np.abs(value - (before[name] - learning_rate * grad)))))
    return errors, moved


def batch_rows(X, calls):
    """The rows of X (their indices; -1 for a row that is not one of X's) in each recorded minibatch."""
    index = {row.tobytes(): i for i, row in enumerate(X)}
    return [[index.get(np.asarray(row, dtype=X.dtype).tobytes(), -1) for row in batch] for _, batch, _ in calls]


def test_train_takes_the_sgd_step_on_every_parameter():
    learning_rate = 0.05
    net, X, y = _toy_net(model_seed=0, data_seed=1, D=6, H=5, C=3, N=60)
    calls = record_training(net, X, y, learning_rate=learning_rate, num_iters=4, batch_size=12)
    assert len(calls) == 4, (f"train(num_iters=4) called loss(X_batch, y_batch, reg) {len(calls)} times: "
                             f"once per iteration is expected (TwoLayerNet.train in {NEURAL_NET})")
    errors, moved = step_errors(net, calls, learning_rate)
    for name in ("W1", "b1", "W2", "b2"):
        if not moved[name]:
            raise AssertionError(
                f"train never changes {name}: the SGD step must update every parameter, the biases "
                f"included (self.params[{name!r}] -= learning_rate * grads[{name!r}]); see the update "
                f"in TwoLayerNet.train ({NEURAL_NET})")
        if not errors[name] <= 1e-10:
            raise AssertionError(
                f"train's update of {name} is not the SGD step params[{name!r}] - learning_rate * "
                f"grads[{name!r}] (with learning_rate_decay=1.0, the learning rate stays the one given): "
                f"see the update in TwoLayerNet.train ({NEURAL_NET})")


def test_train_samples_minibatches_at_random_from_all_rows():
    N, batch_size, num_iters = 400, 20, 30
    net, X, y = _toy_net(model_seed=0, data_seed=1, D=6, H=5, C=3, N=N)
    calls = record_training(net, X, y, learning_rate=1e-3, num_iters=num_iters, batch_size=batch_size)
    assert calls, f"train made no call to loss(X_batch, y_batch, reg) (TwoLayerNet.train in {NEURAL_NET})"
    batches = batch_rows(X, calls)
    sizes = {len(b) for b in batches}
    assert sizes == {batch_size}, (f"train's minibatches have {sorted(sizes)} rows; batch_size={batch_size} "
                                   f"was asked for (TwoLayerNet.train in {NEURAL_NET})")
    assert all(i >= 0 for b in batches for i in b), (
        f"train's minibatches hold rows that are not rows of X: X_batch must be rows of X "
        f"(TwoLayerNet.train in {NEURAL_NET})")
    used = {i for b in batches for i in b}
    sample = f"sample them at random from all {N} rows at each iteration: idx = np.random.choice(num_train, batch_size)"
    assert len({tuple(b) for b in batches}) > 1, (
        f"train used the same minibatch at every iteration: {sample} (TwoLayerNet.train in {NEURAL_NET})")
    assert len(used) > N // 2, (
        f"in {num_iters} iterations of {batch_size} rows, train's minibatches used only {len(used)} of the "
        f"{N} rows of X (rows {min(used)} to {max(used)}): {sample} (TwoLayerNet.train in {NEURAL_NET})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.student.more_checks", description=__doc__)
    parser.add_argument("--write", required=True, help="where to write the expected values (JSON)")
    args = parser.parse_args(argv)
    Path(args.write).parent.mkdir(parents=True, exist_ok=True)
    Path(args.write).write_text(json.dumps(compute()) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
