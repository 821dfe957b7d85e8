"""cs231n.tuning: the parallel search gives the results of plain sequential training."""
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n import tuning
from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.tuning import best_result, format_table, grid, search
from kit.student.regions import find_regions

KIT_ROOT = Path(__file__).resolve().parents[1]


def problem(N=300, D=20, C=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = 2 * rng.standard_normal((C, D))
    y = rng.integers(C, size=N)
    X = centers[y] + rng.standard_normal((N, D))
    return X[:240], y[:240], X[240:], y[240:]


# 240 rows in batches of 40: 6 iterations per epoch; check_every=5 makes the
# search train in chunks of one epoch, 25 iterations = 4 whole epochs + 1.
COMMON = dict(num_iters=25, batch_size=40, std=1e-2, check_every=5)


def sequential(X, y, Xv, yv, seed=0, snapshot_every=None, max_snapshots=32, **config):
    np.random.seed(seed)
    net = TwoLayerNet(X.shape[1], config["hidden_size"], 3, std=COMMON["std"])
    stats = net.train(X, y, Xv, yv, learning_rate=config["learning_rate"], reg=config["reg"],
                      num_iters=COMMON["num_iters"], batch_size=COMMON["batch_size"],
                      snapshot_every=snapshot_every, max_snapshots=max_snapshots)
    return net, stats


def test_results_match_sequential_training():
    X, y, Xv, yv = problem()
    configs = grid(hidden_size=[10, 16], learning_rate=[0.1], reg=[1e-3, 0.1])
    results, best_net = search(configs, X, y, Xv, yv, n_jobs=1, seed=7, **COMMON)
    assert [r["config"]["hidden_size"] for r in results] == [10, 10, 16, 16]
    for config, result in zip(configs, results):
        net, stats = sequential(X, y, Xv, yv, seed=7, **config)
        assert result["final_loss"] == stats["loss_history"][-1]
        assert result["iters"] == 25 and not result["diverged"]
        assert result["val_acc"] == (net.predict(Xv) == yv).mean()
        assert 0.0 <= result["train_acc"] <= 1.0 and result["seconds"] >= 0.0
        assert result["config"]["seed"] == 7
    best = max(results, key=lambda r: r["val_acc"])
    assert (best_net.predict(Xv) == yv).mean() == best["val_acc"]


def test_diverging_config_is_stopped_early_and_marked():
    X, y, Xv, yv = problem()
    configs = [dict(hidden_size=10, learning_rate=0.1, reg=1e-3),
               dict(hidden_size=10, learning_rate=1e4, reg=1e-3)]
    results, best_net = search(configs, X, y, Xv, yv, n_jobs=1, **COMMON)
    good, bad = results
    assert not good["diverged"] and good["iters"] == 25
    assert bad["diverged"] and bad["iters"] < 25
    # checked after each chunk of whole epochs (6 iterations here), as train counts them
    assert bad["iters"] % 6 == 0 and len(bad["stats"]["loss_history"]) == bad["iters"]
    assert bad["stats"]["acc_iters"] == list(range(0, bad["iters"], 6))
    assert (best_net.predict(Xv) == yv).mean() == good["val_acc"]
    assert "yes" in format_table(results)


def test_two_workers_give_the_same_results_as_one():
    X, y, Xv, yv = problem()
    configs = grid(hidden_size=[10], learning_rate=[0.1, 0.03], reg=[1e-3, 0.1])
    one, _ = search(configs, X, y, Xv, yv, n_jobs=1, **COMMON)
    two, best_net = search(configs, X, y, Xv, yv, n_jobs=2, **COMMON)
    assert isinstance(best_net, TwoLayerNet)
    for a, b in zip(one, two):
        assert a["config"] == b["config"]
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"]
        assert b["final_loss"] == pytest.approx(a["final_loss"], rel=1e-12)


def test_bad_config_keys_are_named():
    X, y, Xv, yv = problem()
    with pytest.raises(ValueError, match="'lr'.*'regularisation'"):
        search([dict(lr=1e-3, regularisation=0.1)], X, y, Xv, yv, n_jobs=1)
    with pytest.raises(ValueError, match="'momentum'"):
        grid(momentum=[0.9])
    with pytest.raises(ValueError, match="'hidden'"):
        search([dict(hidden_size=10)], X, y, Xv, yv, n_jobs=1, hidden=5)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="search: n_jobs must be a positive integer"):
            search([dict(hidden_size=10)], X, y, Xv, yv, n_jobs=bad)


def test_format_table_lists_every_config():
    X, y, Xv, yv = problem()
    configs = grid(hidden_size=[10], learning_rate=[0.1], reg=[1e-3, 0.1, 1.0])
    results, _ = search(configs, X, y, Xv, yv, n_jobs=1, **COMMON)
    table = format_table(results)
    lines = table.splitlines()
    assert len(lines) == 1 + 3
    assert "reg" in lines[0] and "val_acc" in lines[0] and "diverged" in lines[0]
    assert sum(line.startswith("*") for line in lines) == 1


def test_histories_and_snapshots_equal_one_long_train_call():
    X, y, Xv, yv = problem()
    configs = grid(hidden_size=[10, 16], learning_rate=[0.1], reg=[1e-3])
    results, best_net = search(configs, X, y, Xv, yv, n_jobs=1, seed=3, snapshot_every=4,
                               **COMMON)
    best = best_result(results)
    assert best_net is not None and best["val_acc"] == max(r["val_acc"] for r in results)
    net, stats = sequential(X, y, Xv, yv, **best["config"], snapshot_every=4)
    for key in ("loss_history", "train_acc_history", "val_acc_history", "acc_iters",
                "snapshot_iters"):
        assert best["stats"][key] == stats[key], key
    assert stats["acc_iters"] == [0, 6, 12, 18, 24]  # one record per epoch, across the chunks
    assert stats["snapshot_iters"] == [0, 4, 8, 12, 16, 20, 24, 25]
    assert best["stats"]["learning_rate"] == stats["learning_rate"]  # decayed once per epoch, 5 times
    for ours, theirs in zip(best["stats"]["W1_snapshots"], stats["W1_snapshots"]):
        np.testing.assert_array_equal(ours, theirs)
    # Only the best run keeps its snapshots.
    assert sum("W1_snapshots" in r["stats"] for r in results) == 1


def test_snapshots_are_thinned_like_train_and_kept_when_a_run_diverges():
    X, y, Xv, yv = problem()
    config = dict(hidden_size=10, learning_rate=0.1, reg=1e-3)
    results, _ = search([config], X, y, Xv, yv, n_jobs=1, snapshot_every=1, max_snapshots=8,
                        **COMMON)
    _, stats = sequential(X, y, Xv, yv, **config, snapshot_every=1, max_snapshots=8)
    assert results[0]["stats"]["snapshot_iters"] == stats["snapshot_iters"]
    assert len(stats["snapshot_iters"]) <= 8

    bad = dict(hidden_size=10, learning_rate=1e4, reg=1e-3)
    results, best_net = search([bad], X, y, Xv, yv, n_jobs=1, snapshot_every=2, **COMMON)
    assert results[0]["diverged"] and best_net is None and best_result(results) is None
    assert len(results[0]["stats"]["loss_history"]) == results[0]["iters"]


def test_the_module_does_not_hand_out_the_notebooks_reference_answer():
    """tuning.py ships to students; the reference configuration lives in the notebook's solution only."""
    nb = nbformat.read(KIT_ROOT / "notebooks/two_layer_net.ipynb", as_version=4)
    cells = [c for c in nb.cells if "solution" in c.metadata.get("tags", []) and "search(" in c.source]
    assert len(cells) == 1, "the tuning cell of two_layer_net.ipynb is one solution cell calling search"
    lines = cells[0].source.splitlines()
    solution = [line for s, e in find_regions(lines) for line in lines[s + 1:e]]
    answer = [" ".join(line.split()) for line in solution if "grid(" in line]
    assert answer, "the reference answer builds its configurations with grid(...)"
    source = " ".join(Path(tuning.__file__).read_text().split())
    for line in answer:
        assert line not in source
    assert tuning.DEFAULTS["hidden_size"] == 50 and tuning.DEFAULTS["learning_rate"] == 1e-4
