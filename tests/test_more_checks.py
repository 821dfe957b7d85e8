"""The self-check's more checks accept either one-sided derivative at the ReLU's kink, as the grader does."""
import json

import numpy as np
import pytest

from kit.student import more_checks


@pytest.fixture
def expected_values(tmp_path, monkeypatch):
    """The expected values as a release writes them (the reference solution of this source)."""
    path = tmp_path / "more_checks.json"
    path.write_text(json.dumps(more_checks.compute()))
    monkeypatch.setattr(more_checks, "EXPECTED", path)
    return json.loads(path.read_text())


def relu_rule(monkeypatch, rule):
    """relu_backward with another rule at x == 0, wherever the package binds it."""
    import cs231n.classifiers.neural_net as neural_net
    import cs231n.layer_utils as layer_utils
    import cs231n.layers as layers

    def relu_backward(dout, cache):
        x = np.asarray(cache)
        return dout * np.where(x == 0, rule, x > 0)

    for module in (layers, layer_utils, neural_net):
        monkeypatch.setattr(module, "relu_backward", relu_backward)


def test_only_the_values_at_the_kink_have_an_alternative(expected_values):
    assert {case: sorted(keys) for case, keys in expected_values[more_checks.AT_KINK].items()} == {
        "two_layer_net": ["b1"], "layers": ["relu_backward dx"], "fc_net": ["b1"], "optim": []}


@pytest.mark.parametrize("rule", [0.0, 1.0])
def test_either_one_sided_derivative_passes(expected_values, monkeypatch, rule):
    relu_rule(monkeypatch, rule)
    more_checks.test_two_layer_net_with_other_seeds_and_sizes()
    more_checks.test_layers_with_other_seeds_and_sizes()
    more_checks.test_fc_net_with_other_seeds_and_sizes()


def test_half_the_gradient_at_the_kink_fails(expected_values, monkeypatch):
    relu_rule(monkeypatch, 0.5)
    with pytest.raises(AssertionError, match="relu_backward dx"):
        more_checks.test_layers_with_other_seeds_and_sizes()
    with pytest.raises(AssertionError, match="b1"):
        more_checks.test_two_layer_net_with_other_seeds_and_sizes()
