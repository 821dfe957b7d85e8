"""The Solver: epochs, learning-rate decay, histories, best parameters, accuracy, checkpoints."""
import pickle

import numpy as np
import pytest

from cs231n import optim
from cs231n.classifiers.fc_net import TwoLayerNet
from cs231n.solver import Solver


def make_data(num_train=250, num_val=40, D=6, C=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "X_train": rng.standard_normal((num_train, D)),
        "y_train": rng.integers(C, size=num_train),
        "X_val": rng.standard_normal((num_val, D)),
        "y_val": rng.integers(C, size=num_val),
    }


def make_model(D=6, C=3, H=8, seed=0, **kwargs):
    np.random.seed(seed)
    return TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-1, **kwargs)


class CountingModel:
    """A model stub: predicts class 0 and records how many rows each test-time call sees."""

    def __init__(self, C=3):
        self.params = {"W": np.zeros(1)}
        self.C = C
        self.calls = []

    def loss(self, X, y=None):
        self.calls.append(len(X))
        scores = np.zeros((len(X), self.C))
        scores[:, 0] = 1.0
        if y is None:
            return scores
        return 0.0, {"W": np.zeros(1)}


def test_iterations_per_epoch_is_an_integer_and_histories_have_one_entry_per_epoch():
    # 250 // 100 = 2 iterations an epoch (not 2.5): 3 epochs are 6 iterations.
    solver = Solver(make_model(), make_data(num_train=250), batch_size=100, num_epochs=3,
                    verbose=False)
    solver.train()
    assert len(solver.loss_history) == 6
    assert solver.epoch == 3
    # after the first iteration, then at the end of each epoch
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4


def test_fewer_examples_than_a_batch_still_make_one_iteration_an_epoch():
    solver = Solver(make_model(), make_data(num_train=30), batch_size=100, num_epochs=4,
                    verbose=False)
    solver.train()
    assert len(solver.loss_history) == 4
    # the first iteration is also the end of epoch 1: one check each epoch, as in the course
    assert len(solver.val_acc_history) == 4


def test_learning_rate_decays_once_per_epoch(monkeypatch):
    seen = []

    def recording_sgd(w, dw, config=None):
        seen.append(config["learning_rate"])
        return w, config

    monkeypatch.setattr(optim, "sgd", recording_sgd)
    model = make_model()
    solver = Solver(model, make_data(num_train=250), update_rule="sgd",
                    optim_config={"learning_rate": 1.0}, lr_decay=0.5, batch_size=100,
                    num_epochs=3, verbose=False)
    solver.train()
    per_step = seen[::len(model.params)]  # one rule call per parameter per step
    assert per_step == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == 0.125
    assert solver.optim_config == {"learning_rate": 1.0}  # the caller's dict is not changed


def test_best_params_are_a_copy_of_the_best_and_end_up_in_the_model():
    data = make_data(num_train=200, num_val=60)
    model = make_model()
    solver = Solver(model, data, optim_config={"learning_rate": 0.5}, batch_size=20,
                    num_epochs=5, verbose=False)
    solver.train()
    assert solver.best_val_acc == max(solver.val_acc_history)
    assert set(solver.best_params) == set(model.params)
    for k, v in solver.best_params.items():
        np.testing.assert_array_equal(model.params[k], v)
        assert model.params[k] is not v and not np.shares_memory(model.params[k], v)
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc
    snapshot = {k: v.copy() for k, v in solver.best_params.items()}
    for v in model.params.values():
        v += 1.0  # changing the model in place leaves best_params alone
    for k, v in solver.best_params.items():
        np.testing.assert_array_equal(v, snapshot[k])


def test_check_accuracy_subsamples_without_replacement_and_batches():
    model = CountingModel()
    solver = Solver(model, make_data(), verbose=False)
    X = np.zeros((100, 6))
    y = np.zeros(100, dtype=int)
    y[:25] = 0
    y[25:] = 1
    assert solver.check_accuracy(X, y, batch_size=30) == 0.25
    assert model.calls == [30, 30, 30, 10]
    model.calls.clear()
    np.random.seed(0)
    acc = solver.check_accuracy(X, y, num_samples=37, batch_size=10)
    assert model.calls == [10, 10, 10, 7]
    assert acc * 37 == pytest.approx(round(acc * 37))
    model.calls.clear()
    solver.check_accuracy(X, y, num_samples=500)  # more than there are: no subsampling
    assert sum(model.calls) == 100


def test_subsample_is_drawn_without_replacement(monkeypatch):
    drawn = {}
    real_choice = np.random.choice

    def spy(a, size=None, replace=True, p=None):
        drawn["replace"] = replace
        return real_choice(a, size, replace, p)

    solver = Solver(CountingModel(), make_data(), verbose=False)
    monkeypatch.setattr(np.random, "choice", spy)
    solver.check_accuracy(np.zeros((50, 6)), np.zeros(50, dtype=int), num_samples=10)
    assert drawn["replace"] is False


def test_num_train_samples_limits_the_training_accuracy_check():
    model = CountingModel()
    solver = Solver(model, make_data(num_train=300, num_val=40), batch_size=300, num_epochs=1,
                    num_train_samples=50, num_val_samples=None, verbose=False)
    solver.train()
    assert model.calls == [300, 50, 40]  # one step, then train (50 of 300) and val (all 40)


@pytest.mark.parametrize("rule", ["nope", "np", "_check_config", "__builtins__", 3])
def test_unknown_update_rule_is_a_value_error(rule):
    with pytest.raises(ValueError, match="update_rule"):
        Solver(make_model(), make_data(), update_rule=rule)


@pytest.mark.parametrize("rule", optim.__all__)
def test_every_rule_of_optim_is_accepted(rule):
    solver = Solver(make_model(), make_data(), update_rule=rule, num_epochs=1, verbose=False)
    solver.train()
    assert np.isfinite(solver.loss_history).all()


def test_unknown_keyword_arguments_are_named():
    with pytest.raises(ValueError, match='"learning_rate".*"epochs"|"epochs".*"learning_rate"'):
        Solver(make_model(), make_data(), learning_rate=1e-3, epochs=3)


@pytest.mark.parametrize("kwargs, name", [
    ({"batch_size": 0}, "batch_size"), ({"print_every": 0}, "print_every"),
    ({"num_epochs": -1}, "num_epochs"), ({"num_epochs": 2.5}, "num_epochs"),
    ({"lr_decay": 0.0}, "lr_decay"), ({"batch_size": True}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"), ({"num_epochs": False}, "num_epochs"),
])
def test_bad_settings_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Solver(make_model(), make_data(), **kwargs)


def test_missing_or_mismatched_data_is_named():
    data = make_data()
    del data["y_val"]
    with pytest.raises(ValueError, match="y_val"):
        Solver(make_model(), data)
    data = make_data()
    data["y_train"] = data["y_train"][:-1]
    with pytest.raises(ValueError, match="y_train"):
        Solver(make_model(), data)


def test_checkpoints_are_written_each_epoch(tmp_path):
    name = str(tmp_path / "ckpt")
    solver = Solver(make_model(), make_data(num_train=200), batch_size=100, num_epochs=2,
                    checkpoint_name=name, verbose=False)
    solver.train()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ckpt_epoch_0.pkl", "ckpt_epoch_1.pkl", "ckpt_epoch_2.pkl"]  # no temporary left
    with open(tmp_path / "ckpt_epoch_2.pkl", "rb") as f:
        checkpoint = pickle.load(f)
    assert checkpoint["epoch"] == 2
    assert len(checkpoint["loss_history"]) == 4
    assert len(checkpoint["val_acc_history"]) == 3
    assert set(checkpoint["model"].params) == {"W1", "b1", "W2", "b2"}


def test_progress_output_is_bounded(capsys):
    # 500 // 10 = 50 iterations an epoch, 4 epochs: 200 iterations.
    solver = Solver(make_model(), make_data(num_train=500), batch_size=10, num_epochs=4,
                    print_every=100, verbose=True)
    solver.train()
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("(Iteration") for line in lines) == 2  # iterations 1 and 101
    assert sum(line.startswith("(Epoch") for line in lines) == 5  # epoch 0, then one a epoch
    assert len(lines) == 7


def test_quiet_when_not_verbose(capsys):
    Solver(make_model(), make_data(), num_epochs=2, verbose=False).train()
    assert capsys.readouterr().out == ""


def test_overfits_a_small_dataset():
    rng = np.random.default_rng(1)
    data = {
        "X_train": rng.standard_normal((50, 3, 4, 4)),
        "y_train": rng.integers(10, size=50),
        "X_val": rng.standard_normal((20, 3, 4, 4)),
        "y_val": rng.integers(10, size=20),
    }
    np.random.seed(0)
    model = TwoLayerNet(input_dim=48, hidden_dim=100, num_classes=10, weight_scale=1e-2)
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 0.5},
                    batch_size=25, num_epochs=40, verbose=False)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert solver.loss_history[-1] < 0.1


def test_snapshots_record_W1_during_training():
    # 250 // 50 = 5 iterations an epoch, 4 epochs: 20 iterations.
    data = make_data(num_train=250)
    solver = Solver(make_model(), data, batch_size=50, num_epochs=4, verbose=False,
                    update_rule="sgd", optim_config={"learning_rate": 1e-1}, snapshot_every=6)
    W1_start = solver.model.params["W1"].copy()
    solver.train()
    assert solver.snapshot_iters == [0, 6, 12, 18, 20]
    assert len(solver.W1_snapshots) == 5
    np.testing.assert_array_equal(solver.W1_snapshots[0], W1_start)
    # Each snapshot is a copy of W1 as it was then: they all differ.
    for earlier, later in zip(solver.W1_snapshots, solver.W1_snapshots[1:]):
        assert not np.array_equal(earlier, later)

    # The same training with snapshots off: same losses, no snapshots kept.
    plain = Solver(make_model(), data, batch_size=50, num_epochs=4, verbose=False,
                   update_rule="sgd", optim_config={"learning_rate": 1e-1})
    np.random.seed(0)
    plain.train()
    np.random.seed(0)
    again = Solver(make_model(), data, batch_size=50, num_epochs=4, verbose=False,
                   update_rule="sgd", optim_config={"learning_rate": 1e-1}, snapshot_every=1,
                   max_snapshots=4)
    np.random.seed(0)
    again.train()
    assert plain.snapshot_iters == [] and plain.W1_snapshots == []
    assert again.loss_history == plain.loss_history
    assert len(again.snapshot_iters) <= 4 and again.snapshot_iters[0] == 0
    assert again.snapshot_iters[-1] == 20


def test_snapshot_settings_are_checked():
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="^Solver: snapshot_every must be a positive integer"):
            Solver(make_model(), make_data(), snapshot_every=bad, verbose=False)
    with pytest.raises(ValueError, match="^Solver: max_snapshots must be at least 2"):
        Solver(make_model(), make_data(), snapshot_every=1, max_snapshots=1, verbose=False)
    with pytest.raises(ValueError, match="W1"):
        Solver(CountingModel(), make_data(), snapshot_every=5, verbose=False)


def test_check_accuracy_arguments_are_checked_by_the_shared_rule():
    solver = Solver(make_model(), make_data(), verbose=False)
    data = make_data()
    for kwargs, name in (({"batch_size": 0}, "batch_size"), ({"batch_size": 1.5}, "batch_size"),
                         ({"num_samples": True}, "num_samples")):
        with pytest.raises(ValueError, match=f"^check_accuracy: {name} must be a positive integer"):
            solver.check_accuracy(data["X_val"], data["y_val"], **kwargs)
    assert solver.check_accuracy(data["X_val"], data["y_val"], batch_size=7.0) >= 0  # integral float


def test_zero_epochs_train_nothing():
    solver = Solver(make_model(), make_data(), num_epochs=0, verbose=False)
    solver.train()
    assert solver.loss_history == []


def test_an_update_rule_that_returns_none_is_named(monkeypatch):
    """A course-era optim.py with an unwritten rule returns (None, config): the Solver names the rule."""
    def sgd_momentum(w, dw, config=None):
        return None, config

    monkeypatch.setattr(optim, "sgd_momentum", sgd_momentum)
    solver = Solver(make_model(), make_data(), update_rule="sgd_momentum", verbose=False)
    with pytest.raises(NotImplementedError, match=r"Solver: sgd_momentum returned None as next_w: "
                                                  r"write `sgd_momentum` in `cs231n/optim.py`"):
        solver.train()


@pytest.mark.parametrize("result", [None, (None, {}), 2.0])
def test_a_model_loss_that_returns_no_loss_is_named(result):
    model = CountingModel()
    model.loss = lambda X, y=None: result
    solver = Solver(model, make_data(), verbose=False)
    with pytest.raises(NotImplementedError, match=r"Solver: CountingModel.loss\(X, y\) must return \(loss, grads\)"):
        solver.train()


def test_grads_without_a_parameter_are_named():
    model = CountingModel()
    model.loss = lambda X, y=None: (1.0, {})
    with pytest.raises(NotImplementedError, match=r"Solver: CountingModel.loss returned grads without W: store it "
                                                  r"in grads\['W'\] in CountingModel.loss in test_solver.py"):
        Solver(model, make_data(), verbose=False).train()


def test_the_loss_regions_stub_is_named():
    """fc_net's loss region left as its stub returns (0, {})."""
    model = CountingModel()
    model.loss = lambda X, y=None: (0, {})
    with pytest.raises(NotImplementedError, match=r"Solver: CountingModel.loss\(X, y\) returned the loss 0 and no "
                                                  r"gradients: write the loss and the backward pass"):
        Solver(model, make_data(), verbose=False).train()


def test_a_model_without_params_names_its_init():
    """fc_net's __init__ left as its stub leaves model.params empty."""
    model = make_model()
    model.params = {}
    with pytest.raises(NotImplementedError, match=r"Solver: model.params is empty: write TwoLayerNet.__init__ in "
                                                  r"cs231n/classifiers/fc_net.py"):
        Solver(model, make_data(), snapshot_every=5)
