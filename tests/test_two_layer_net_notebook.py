"""nbval runs of notebooks/two_layer_net.ipynb: the reference passes, every planted bug fails its check.

The notebook's check cells start with a `# Check: <name>` line; each planted bug
must make the run fail, and the first failed cell must be the check meant to
catch it. Planted runs stop right after that check cell to stay fast.
"""
import pytest

from nbval_run import Plant, assert_plant_caught, check_names, run_nbval

NOTEBOOK = "notebooks/two_layer_net.ipynb"
LAYERS = "cs231n/layers.py"
NET = "cs231n/classifiers/neural_net.py"

PLANTED_BUGS = {
    # check name -> the bug it must catch
    "toy scores": Plant(LAYERS, "out = np.maximum(x, 0)", "out = np.abs(x)"),
    "toy loss": Plant(NET, "loss = data_loss + reg * (", "loss = data_loss + 0.5 * reg * ("),
    "large scores": Plant(LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x.copy()"),
    "toy gradients": Plant(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()"),
    "toy training": Plant(NET, "param -= step", "param += step"),
    "data": Plant(NOTEBOOK, "num_test=1000,", "num_test=1000, subtract_mean=False,"),
    "default net": Plant(NET, "iterations_per_epoch = max(num_train // batch_size, 1)",
                         "iterations_per_epoch = max(num_train / batch_size, 1)"),
    "best_net": Plant(NOTEBOOK, "num_iters = 3000 if full_data else 1000",
                      "num_iters = 3 if full_data else 1"),
    "answer format": Plant(NOTEBOOK, "inline_question_answer = [1, 3]",
                           "inline_question_answer = '1 and 3'"),
}

# The cells a planted run needs, where running every cell up to the check is slow.
NEEDED_CELLS = {
    "best_net": ["data = get_CIFAR10_data(", "input_size = 32 * 32 * 3", "best_net = None",
                 "# Check: best_net"],
    "answer format": ["inline_question_answer = ", "# Check: answer format"],
}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_reference_notebook_passes_nbval(tmp_path):
    result = run_nbval(NOTEBOOK, tmp_path)
    assert result.returncode == 0, result.output[-5000:]
    assert "passed" in result.output


@pytest.mark.timeout(900)
@pytest.mark.parametrize("check", sorted(PLANTED_BUGS))
def test_planted_bug_fails_its_check(tmp_path, check):
    assert_plant_caught(NOTEBOOK, tmp_path, check, [PLANTED_BUGS[check]],
                        keep_markers=NEEDED_CELLS.get(check))


def test_every_check_cell_has_a_planted_bug():
    assert check_names(NOTEBOOK) == set(PLANTED_BUGS), "each check cell needs a planted-bug test"
