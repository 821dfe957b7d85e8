"""Update rules: the course's reference steps and hand-computed ones."""
import numpy as np
import pytest

from cs231n import optim
from cs231n.optim import adam, rmsprop, sgd, sgd_momentum

N, D = 4, 5


def rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@pytest.fixture
def wd():
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    return w, dw


def test_sgd_hand_computed_step_and_default(wd):
    w, dw = wd
    w0 = w.copy()
    next_w, config = sgd(w, dw)
    assert config["learning_rate"] == 1e-2
    np.testing.assert_allclose(next_w, w0 - 1e-2 * dw, rtol=0, atol=1e-15)
    next_w, config = sgd(w, dw, {"learning_rate": 0.5})
    np.testing.assert_allclose(next_w, w0 - 0.5 * dw, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(w, w0)  # a new array; w is left untouched


def test_sgd_momentum_course_reference(wd):
    w, dw = wd
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, config = sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.1406,     0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406,     0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    assert rel(next_w, expected_next_w) < 1e-7
    assert rel(config["velocity"], expected_velocity) < 1e-7
    # by hand: v = 0.9 v - lr dw; w + v
    np.testing.assert_allclose(config["velocity"], 0.9 * v - 1e-3 * dw, rtol=1e-14)


def test_sgd_momentum_defaults_and_first_step_from_rest(wd):
    w, dw = wd
    next_w, config = sgd_momentum(w, dw)
    assert config["learning_rate"] == 1e-2 and config["momentum"] == 0.9
    np.testing.assert_allclose(next_w, w - 1e-2 * dw, rtol=1e-14)
    next_w2, config = sgd_momentum(next_w, dw, config)
    np.testing.assert_allclose(next_w2, next_w + 0.9 * (-1e-2 * dw) - 1e-2 * dw, rtol=1e-14)


def test_rmsprop_course_reference(wd):
    w, dw = wd
    cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "cache": cache}
    next_w, config = rmsprop(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737,   -0.08078555, -0.02881884,  0.02316247,  0.07515774],
        [0.12716641,   0.17918792,  0.23122175,  0.28326742,  0.33532447],
        [0.38739248,   0.43947102,  0.49155973,  0.54365823,  0.59576619]])
    expected_cache = np.asarray([
        [0.5976,     0.6126277,  0.6277108,  0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518,  0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    assert rel(next_w, expected_next_w) < 1e-6  # the course sees 9.5e-08 (8 printed digits)
    assert rel(config["cache"], expected_cache) < 1e-7
    assert config["decay_rate"] == 0.99 and config["epsilon"] == 1e-8


def test_adam_course_reference(wd):
    w, dw = wd
    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, config = adam(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274,  -0.08544591, -0.03286534,  0.01971428,  0.0722929],
        [0.1248705,    0.17744702,  0.23002243,  0.28259667,  0.33516969],
        [0.38774145,   0.44031188,  0.49288093,  0.54544852,  0.59801459]])
    expected_v = np.asarray([
        [0.69966,    0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431,  0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48,       0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    assert rel(next_w, expected_next_w) < 1e-6  # the course sees 1.1e-07 (8 printed digits)
    assert rel(config["v"], expected_v) < 1e-7
    assert rel(config["m"], expected_m) < 1e-7
    assert config["t"] == 6  # t is incremented before it is used


def test_adam_first_step_is_learning_rate_times_sign(wd):
    """With bias correction the first Adam step is lr * dw / |dw| (up to epsilon)."""
    w, dw = wd
    next_w, config = adam(w, dw)
    assert config["learning_rate"] == 1e-3 and config["t"] == 1
    assert config["beta1"] == 0.9 and config["beta2"] == 0.999
    np.testing.assert_allclose(next_w, w - 1e-3 * np.sign(dw), rtol=0, atol=1e-9)


@pytest.mark.parametrize("rule", optim.__all__)
def test_every_rule_checks_its_inputs(rule, wd):
    w, dw = wd
    update = getattr(optim, rule)
    with pytest.raises(ValueError, match="dw must have the shape of w"):
        update(w, dw[:2])
    with pytest.raises(TypeError, match="config must be a dict"):
        update(w, dw, config=[("learning_rate", 1.0)])
    next_w, config = update(w, dw, None)
    assert next_w.shape == w.shape and isinstance(config, dict)


def test_rule_names():
    assert optim.__all__ == ["sgd", "sgd_momentum", "rmsprop", "adam"]


def optim_with_stubs():
    """optim.py run with every region emptied, as the student kit has it."""
    import types
    from pathlib import Path

    from kit.student.regions import stub_regions
    module = types.ModuleType(optim.__name__)
    exec(compile(stub_regions(Path(optim.__file__).read_text()), "optim_stubbed.py", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("rule", ["sgd_momentum", "rmsprop", "adam"])
def test_a_rule_left_as_its_stub_is_named_by_the_solver(rule, monkeypatch):
    """The stub returns (None, config), as the course's does (a grading check gets what the code
    gives); the Solver, which would store None as the weights, names the rule and its file."""
    from cs231n.classifiers.fc_net import TwoLayerNet
    from cs231n.solver import Solver
    stubbed = optim_with_stubs()
    w, dw = np.ones((2, 3)), np.ones((2, 3))
    assert getattr(stubbed, rule)(w, dw)[0] is None
    monkeypatch.setattr(optim, rule, getattr(stubbed, rule))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.integers(3, size=20)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(TwoLayerNet(input_dim=4, hidden_dim=5, num_classes=3), data, update_rule=rule, verbose=False)
    with pytest.raises(NotImplementedError, match=rf"Solver: {rule} returned None as next_w: write `{rule}` "
                                                  rf"in `cs231n/optim.py`"):
        solver.train()
