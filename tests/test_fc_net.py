"""The modular TwoLayerNet of cs231n.classifiers.fc_net: course values, the L2 convention, gradients."""
import inspect

import numpy as np
import pytest

from cs231n.classifiers import fc_net, neural_net
from cs231n.classifiers.fc_net import TwoLayerNet
from numgrad import max_rel_error as rel, numeric_grad

N, D, H, C = 3, 5, 50, 7
LOSS_REG0 = 3.4702243556
LOSS_REG1 = 26.5948426952
CORRECT_SCORES = np.asarray(
    [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
     [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
     [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.28463189]])


def course_setup():
    """The course's test model: linspace weights and inputs, y = [0, 5, 1]."""
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    y = np.asarray([0, 5, 1])
    return model, X, y


def random_setup(seed=0, reg=0.0):
    """A small net with random weights for which some ReLUs are inactive (unlike the course's)."""
    rng = np.random.default_rng(seed)
    model = TwoLayerNet(input_dim=12, hidden_dim=9, num_classes=4, reg=reg)
    model.params["W1"] = rng.standard_normal((12, 9))
    model.params["b1"] = 0.1 * rng.standard_normal(9)
    model.params["W2"] = rng.standard_normal((9, 4))
    model.params["b2"] = 0.1 * rng.standard_normal(4)
    X = rng.standard_normal((6, 3, 2, 2))  # multi-dimensional inputs are flattened
    y = rng.integers(4, size=6)
    return model, X, y


def test_init_shapes_scale_and_zero_biases():
    np.random.seed(231)
    std = 1e-3
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std)
    p = model.params
    assert set(p) == {"W1", "b1", "W2", "b2"}
    assert p["W1"].shape == (D, H) and p["b1"].shape == (H,)
    assert p["W2"].shape == (H, C) and p["b2"].shape == (C,)
    assert abs(p["W1"].std() - std) < std / 10
    assert abs(p["W2"].std() - std) < std / 10
    assert np.all(p["b1"] == 0) and np.all(p["b2"] == 0)
    assert model.reg == 0.0


def test_init_defaults_are_the_courses():
    np.random.seed(0)
    model = TwoLayerNet()
    assert model.params["W1"].shape == (3 * 32 * 32, 100)
    assert model.params["W2"].shape == (100, 10)
    assert abs(model.params["W1"].std() - 1e-3) < 1e-4
    assert model.reg == 0.0


def test_init_follows_numpy_global_seed():
    np.random.seed(5)
    a = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2).params["W1"]
    np.random.seed(5)
    b = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2).params["W1"]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, name", [
    ({"input_dim": 0}, "input_dim"), ({"hidden_dim": 2.5}, "hidden_dim"),
    ({"num_classes": -1}, "num_classes"), ({"weight_scale": -1.0}, "weight_scale"),
    ({"reg": -0.1}, "reg"),
])
def test_init_rejects_bad_arguments_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TwoLayerNet(**kwargs)


def test_course_scores():
    model, X, _ = course_setup()
    scores = model.loss(X)
    assert scores.shape == (N, C)
    assert np.abs(scores - CORRECT_SCORES).sum() < 1e-6


def test_course_losses_pin_the_one_half_convention():
    model, X, y = course_setup()
    loss0, _ = model.loss(X, y)
    assert abs(loss0 - LOSS_REG0) < 1e-10
    model.reg = 1.0
    loss1, _ = model.loss(X, y)
    assert abs(loss1 - LOSS_REG1) < 1e-10


@pytest.mark.parametrize("reg", [1.0, 0.7, 3e-3])
def test_penalty_is_half_reg_sum_of_squared_weights(reg):
    """loss(reg) - loss(0) = 0.5 * reg * (sum(W1**2) + sum(W2**2)); biases are not penalised."""
    model, X, y = course_setup()
    loss0, grads0 = model.loss(X, y)
    model.reg = reg
    loss_r, grads_r = model.loss(X, y)
    W1, W2 = model.params["W1"], model.params["W2"]
    penalty = 0.5 * reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    assert abs((loss_r - loss0) - penalty) < 1e-9 * max(1.0, penalty)
    np.testing.assert_allclose(grads_r["W1"] - grads0["W1"], reg * W1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads_r["W2"] - grads0["W2"], reg * W2, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(grads_r["b1"], grads0["b1"])
    np.testing.assert_array_equal(grads_r["b2"], grads0["b2"])


def test_classic_net_keeps_its_own_convention():
    """neural_net.TwoLayerNet penalises reg * sum(W**2): twice fc_net's penalty for the same reg."""
    model, X, y = course_setup()
    classic = neural_net.TwoLayerNet(D, H, C)
    classic.params = {k: v.copy() for k, v in model.params.items()}
    loss0_fc, _ = model.loss(X, y)
    loss0_classic, _ = classic.loss(X, y, reg=0.0)
    assert abs(loss0_fc - loss0_classic) < 1e-12  # same network without regularisation
    model.reg = 1.0
    fc_penalty = model.loss(X, y)[0] - loss0_fc
    classic_penalty = classic.loss(X, y, reg=1.0)[0] - loss0_classic
    assert abs(classic_penalty - 2 * fc_penalty) < 1e-8
    assert "0.5 * self.reg" in TwoLayerNet.__doc__ and "reg * sum(W**2)" in TwoLayerNet.__doc__


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_course_gradients_match_numerical(reg):
    model, X, y = course_setup()
    model.reg = reg
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        num = numeric_grad(lambda: model.loss(X, y)[0], param)
        assert rel(num, grads[name]) < 1e-6, name


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradients_with_inactive_relus_match_numerical(reg):
    model, X, y = random_setup(reg=reg)
    hidden_in = X.reshape(6, -1) @ model.params["W1"] + model.params["b1"]
    assert (hidden_in < 0).any() and (hidden_in > 0).any()
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        assert grads[name].shape == param.shape
        num = numeric_grad(lambda: model.loss(X, y)[0], param)
        # some entries are tiny (~1e-5): compare with an absolute floor, not a pure ratio
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-9, err_msg=name)


def test_scores_use_the_relu():
    model, X, _ = random_setup()
    scores = model.loss(X)
    Xf = X.reshape(X.shape[0], -1)
    p = model.params
    expected = np.maximum(Xf @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)


def test_net_is_built_from_the_layers():
    """No second copy of any formula: fc_net imports its math from cs231n.layers / layer_utils."""
    source = inspect.getsource(fc_net)
    for formula in ("np.exp", "np.log", "np.maximum", ".dot(", "@"):
        assert formula not in source, formula
    assert "softmax_loss(scores, y)" in source


def test_student_regions_use_the_course_markers():
    source = inspect.getsource(fc_net)
    start = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
    end = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
    assert source.count(start) == source.count(end) == 3


def test_star_import_brings_every_layer_and_sandwich_as_the_course_does():
    """The course's fc_net does `from ..layers import *`; its notebooks rely on the star import."""
    from cs231n import layer_utils, layers

    namespace = {}
    exec("from cs231n.classifiers.fc_net import *", namespace)
    expected = {name for module in (layers, layer_utils) for name, obj in vars(module).items()
                if inspect.isfunction(obj) and obj.__module__ == module.__name__
                and not name.startswith("_")}
    assert {"affine_forward", "affine_backward", "relu_forward", "relu_backward", "svm_loss",
            "softmax_loss", "affine_relu_forward", "affine_relu_backward"} <= expected
    for name in expected | {"TwoLayerNet"}:
        assert name in namespace, f"`from cs231n.classifiers.fc_net import *` lacks {name}"
        assert namespace[name] is getattr(layers, name, None) or \
            namespace[name] is getattr(layer_utils, name, None) or name == "TwoLayerNet"
    # only the course's names: no private helpers, no modules
    assert not [n for n in namespace if n.startswith("_") and n != "__builtins__"]


def trained_like_model(seed=0):
    model, X, y = random_setup(seed, reg=0.3)
    return model, X, y


def test_save_then_load_into_a_new_model_gives_the_same_network(tmp_path, monkeypatch, capsys):
    """The 2026 notebook ends with best_model.save("best_two_layer_net.npy")."""
    monkeypatch.chdir(tmp_path)
    model, X, y = trained_like_model()
    assert model.save("best_two_layer_net.npy") == "best_two_layer_net.npy"
    assert capsys.readouterr().out == "best_two_layer_net.npy saved.\n"  # as the course prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_two_layer_net.npy"]  # no temp files
    with np.load(tmp_path / "best_two_layer_net.npy", allow_pickle=False) as f:  # no pickle inside
        assert {"W1", "b1", "W2", "b2", "reg"} <= set(f.files)

    fresh = TwoLayerNet()  # default sizes, other weights: the file decides
    assert fresh.load(tmp_path / "best_two_layer_net.npy") is fresh
    assert capsys.readouterr().out.endswith("best_two_layer_net.npy loaded.\n")
    assert fresh.reg == model.reg == 0.3
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(fresh.params[name], model.params[name])
        assert fresh.params[name] is not model.params[name]
    np.testing.assert_array_equal(fresh.loss(X), model.loss(X))
    assert fresh.loss(X, y)[0] == model.loss(X, y)[0]


def test_save_replaces_an_older_file_and_keeps_float32(tmp_path):
    path = tmp_path / "net.npz"
    model, X, _ = trained_like_model()
    model.save(path)
    model.params = {k: v.astype(np.float32) for k, v in model.params.items()}
    model.params["b2"][:] = 7
    model.save(path)
    fresh = TwoLayerNet(input_dim=2, hidden_dim=2, num_classes=2).load(path)
    assert fresh.params["W1"].dtype == np.float32 and np.all(fresh.params["b2"] == 7)


def test_save_into_a_missing_folder_names_it(tmp_path):
    model, _, _ = trained_like_model()
    with pytest.raises(FileNotFoundError, match="folder .*nowhere does not exist"):
        model.save(tmp_path / "nowhere" / "net.npy")


def test_load_of_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no file .*missing\.npy.*model\.save"):
        TwoLayerNet().load(tmp_path / "missing.npy")


def test_load_of_the_courses_pickled_npy_is_refused_with_what_to_do(tmp_path):
    model, _, _ = trained_like_model()
    path = tmp_path / "course.npy"
    np.save(path, model.params)  # what the course's save writes: a pickled dict
    with pytest.raises(ValueError) as info:
        TwoLayerNet().load(path)
    message = str(info.value)
    assert "not written by TwoLayerNet.save" in message and "plain .npy" in message
    assert "model.save(" in message and "allow_pickle=True).item()" in message


@pytest.mark.parametrize("content, expected", [
    (b"not a model at all\n", "not written by TwoLayerNet.save"),
    ("lacks", "lacks b2"),
    ("shapes", "inconsistent shapes"),
    ("pickled", "holds something else"),
])
def test_load_of_a_file_that_is_not_a_saved_model_is_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "thing.npz"
    model, _, _ = trained_like_model()
    p = model.params
    if content == "lacks":
        np.savez(path, W1=p["W1"], b1=p["b1"], W2=p["W2"], reg=0.0, cs231n_format="x")
    elif content == "shapes":
        np.savez(path, W1=p["W1"], b1=p["b1"][:-1], W2=p["W2"], b2=p["b2"], reg=0.0,
                 cs231n_format="x")
    elif content == "pickled":
        np.savez(path, W1=np.array([{"a": 1}], dtype=object))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=expected):
        TwoLayerNet().load(path)
    assert "thing.npz" in str(pytest.raises(ValueError, TwoLayerNet().load, path).value)


# ----------------------------------------------------------------------------
# Regions left as their stubs: the error names the method and the fix
# ----------------------------------------------------------------------------

def fc_net_with_stubs(*keys):
    """fc_net.py run with the given regions emptied, as the student kit has them."""
    import types
    from pathlib import Path

    from kit.student.regions import STUB, find_regions, indentation, region_keys
    lines = Path(fc_net.__file__).read_text().splitlines()
    regions = find_regions(lines)
    found = dict(zip(region_keys(lines, regions), regions))
    for start, end in sorted((found[k] for k in keys), reverse=True):
        lines[start + 1:end] = [indentation(lines[start]) + line for line in STUB]
    module = types.ModuleType(fc_net.__name__)
    exec(compile("\n".join(lines), "fc_net_stubbed.py", "exec"), module.__dict__)
    return module.TwoLayerNet


def test_init_left_as_its_stub_is_named_when_the_params_are_used():
    model = fc_net_with_stubs(("TwoLayerNet.__init__", 0))(input_dim=D, hidden_dim=H, num_classes=C)
    with pytest.raises(NotImplementedError, match=r"write TwoLayerNet.__init__ in cs231n/classifiers/fc_net.py "
                                                  r"\(self.params has no 'W1', 'b1', 'W2', 'b2'\)"):
        model.loss(np.ones((2, D)))


def test_a_loss_under_an_unwritten_init_keeps_working_with_params_set():
    """The grader's loss checks set model.params themselves: an unwritten __init__ costs only its own check."""
    reference, X, y = course_setup()
    model = fc_net_with_stubs(("TwoLayerNet.__init__", 0))(input_dim=D, hidden_dim=H, num_classes=C)
    model.params = dict(reference.params)
    model.reg = 1.0
    assert abs(model.loss(X, y)[0] - LOSS_REG1) < 1e-10


def test_forward_pass_left_as_its_stub_is_named():
    with pytest.raises(NotImplementedError, match=r"TwoLayerNet.loss: scores is None: write the forward pass"):
        fc_net_with_stubs(("TwoLayerNet.loss", 0))(input_dim=D, hidden_dim=H, num_classes=C).loss(np.ones((2, D)))


def test_loss_region_left_as_its_stub_keeps_the_scores_and_the_solver_names_it():
    """loss() itself returns the stub's (0, {}) (the scores' check keeps its credit); training says what to write."""
    from cs231n.solver import Solver
    model, X, y = course_setup()
    stubbed = fc_net_with_stubs(("TwoLayerNet.loss", 1))(input_dim=D, hidden_dim=H, num_classes=C)
    stubbed.params = model.params
    assert np.abs(stubbed.loss(X) - CORRECT_SCORES).sum() < 1e-6
    assert stubbed.loss(X, y) == (0, {})
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    with pytest.raises(NotImplementedError, match=r"Solver: TwoLayerNet.loss\(X, y\) returned the loss 0 and no "
                                                  r"gradients: write the loss and the backward pass of "
                                                  r"TwoLayerNet.loss in cs231n/classifiers/fc_net.py"):
        Solver(stubbed, data, verbose=False).train()


def test_a_gradient_not_stored_is_named_by_the_solver():
    import types

    from cs231n.solver import Solver
    model, X, y = course_setup()
    lines = inspect.getsource(fc_net).replace('        grads["b1"] = db1\n', "")
    module = types.ModuleType(fc_net.__name__)
    exec(compile(lines, "fc_net_no_b1.py", "exec"), module.__dict__)
    bad = module.TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C)
    bad.params = model.params
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    with pytest.raises(NotImplementedError, match=r"Solver: TwoLayerNet.loss returned grads without b1: store it "
                                                  r"in grads\['b1'\] in TwoLayerNet.loss in "
                                                  r"cs231n/classifiers/fc_net.py"):
        Solver(bad, data, verbose=False).train()
