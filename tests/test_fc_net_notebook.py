"""nbval runs of notebooks/fc_net.ipynb: the reference passes, every planted bug fails its check.

The notebook's check cells start with a `# Check: <name>` line; each planted bug
must make the run fail, and the first failed cell must be the check meant to
catch it. Planted runs stop right after that check cell to stay fast.
"""
import nbformat
import pytest

from nbval_run import KIT_ROOT, Plant, assert_plant_caught, check_names, run_nbval

NOTEBOOK = "notebooks/fc_net.ipynb"
LAYERS = "cs231n/layers.py"
LAYER_UTILS = "cs231n/layer_utils.py"
FC_NET = "cs231n/classifiers/fc_net.py"
OPTIM = "cs231n/optim.py"

# (check name, the bug it must catch); a check may have several bugs.
PLANTED_BUGS = [
    ("affine_forward", Plant(LAYERS, "out += b", "out -= b")),
    ("affine_backward", Plant(LAYERS, "dw = x_rows.T @ dout", "dw = x_rows.T @ dout / x.shape[0]")),
    ("relu_forward", Plant(LAYERS, "out = np.maximum(x, 0)", "out = np.abs(x)")),
    ("relu_backward", Plant(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()")),
    ("affine_relu sandwich", Plant(LAYER_UTILS, "da = relu_backward(dout, relu_cache)", "da = dout")),
    ("svm_loss", Plant(LAYERS, "dx[rows, y] = -dx.sum(axis=1)", "dx[rows, y] = -1")),
    ("softmax_loss", Plant(LAYERS, "dx[rows, y] -= 1", "dx[rows, y] += 1")),
    ("fc_net initialization",
     Plant(FC_NET, 'self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)',
           'self.params["W1"] = np.random.randn(input_dim, hidden_dim)')),
    ("fc_net initialization",
     Plant(FC_NET, 'self.params["b2"] = np.zeros(num_classes)',
           'self.params["b2"] = np.full(num_classes, weight_scale)')),
    ("fc_net test-time forward pass",
     Plant(FC_NET, "scores, scores_cache = affine_forward(h1, W2, b2)",
           "scores, scores_cache = affine_forward(h1, W2, 0 * b2)")),
    ("fc_net loss without regularization",
     Plant(FC_NET, "loss = data_loss + reg_loss", "loss = data_loss / X.shape[0] + reg_loss")),
    ("fc_net loss with regularization",  # the one-half of the L2 convention dropped
     Plant(FC_NET, "reg_loss = 0.5 * self.reg * (", "reg_loss = self.reg * (")),
    ("fc_net gradients (reg = 0.0)",  # the upstream gradient averaged twice
     Plant(FC_NET, "_, dW1, db1 = affine_relu_backward(dh1, h1_cache)",
           "_, dW1, db1 = affine_relu_backward(dh1 / X.shape[0], h1_cache)")),
    ("fc_net gradients (reg = 0.7)",  # the gradient of 0.5 * reg * W**2 taken as 2 * reg * W
     Plant(FC_NET, 'grads["W1"] = dW1 + self.reg * W1', 'grads["W1"] = dW1 + 2 * self.reg * W1')),
    # The course's weights leave every ReLU active: only this check sees the ReLU.
    ("fc_net with active ReLUs",  # the ReLU forgotten in the backward pass
     Plant(FC_NET, "_, dW1, db1 = affine_relu_backward(dh1, h1_cache)",
           "_, dW1, db1 = affine_backward(dh1, h1_cache[0])")),
    ("fc_net with active ReLUs",  # the ReLU forgotten in the forward pass
     Plant(FC_NET, "h1, h1_cache = affine_relu_forward(X, W1, b1)",
           "h1, h1_cache = affine_forward(X, W1, b1)[0], affine_relu_forward(X, W1, b1)[1]")),
    ("Solver validation accuracy",
     Plant(OPTIM, 'next_w = w - config["learning_rate"] * dw\n',  # sgd's line, not rmsprop's
           'next_w = w + config["learning_rate"] * dw\n')),
    ("sgd_momentum",
     Plant(OPTIM, 'v = config["momentum"] * v - config["learning_rate"] * dw',
           'v = config["momentum"] * v + config["learning_rate"] * dw')),
    ("sgd_momentum",  # the velocity computed but not used
     Plant(OPTIM, "    next_w = w + v\n", "    next_w = w - config[\"learning_rate\"] * dw\n")),
    ("rmsprop",  # the gradient not squared in the cache
     Plant(OPTIM, "(1 - decay_rate) * dw * dw", "(1 - decay_rate) * dw")),
    ("rmsprop",  # the cache computed but not stored
     Plant(OPTIM, '    config["cache"] = cache\n', "")),
    ("adam",  # t used before it is incremented
     Plant(OPTIM, 't = config["t"] + 1', 't = config["t"]')),
    ("adam",  # no bias correction of the first moment
     Plant(OPTIM, "m_hat = m / (1 - beta1 ** t)", "m_hat = m")),
    ("best model accuracy",  # the tuned model not kept
     Plant(NOTEBOOK, "best_model = candidate", "best_model = TwoLayerNet(input_size, hidden_size, num_classes)")),
]

# The cells a planted run needs, where running every cell up to the check is slow.
NEEDED_CELLS = {check: [f"# Check: {check}"] for check in ("sgd_momentum", "rmsprop", "adam")}

# Planted bugs whose check comes after CIFAR-10 training: nearly whole-notebook runs.
LONG_CHECKS = {"Solver validation accuracy", "best model accuracy"}


def _params():
    params = []
    for n, (check, plant) in enumerate(PLANTED_BUGS):
        marks = [pytest.mark.slow] if check in LONG_CHECKS else []
        params.append(pytest.param(check, plant, id=f"{check}-{n}", marks=marks))
    return params


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_reference_notebook_passes_nbval(tmp_path):
    result = run_nbval(NOTEBOOK, tmp_path)
    assert result.returncode == 0, result.output[-5000:]
    assert "passed" in result.output


@pytest.mark.timeout(600)
@pytest.mark.parametrize("check, plant", _params())
def test_planted_bug_fails_its_check(tmp_path, check, plant):
    assert_plant_caught(NOTEBOOK, tmp_path, check, [plant], keep_markers=NEEDED_CELLS.get(check))


def _notebook():
    return nbformat.read(KIT_ROOT / NOTEBOOK, as_version=4)


def test_every_check_cell_has_a_planted_bug():
    checks = check_names(NOTEBOOK)
    assert checks == {check for check, _ in PLANTED_BUGS}, "each check cell needs a planted-bug test"


def test_notebook_layout():
    """First cell puts the kit on sys.path; ignored cells say so on their first line; outputs stored."""
    nb = _notebook()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith(
        "import sys\nfrom pathlib import Path\nsys.path.insert(0, str(Path.cwd().parent))")
    for cell in code:
        assert "NBVAL_IGNORE_OUTPUT" not in cell.source or \
            cell.source.startswith("# NBVAL_IGNORE_OUTPUT"), cell.source[:200]
        assert not any(o.output_type == "error" for o in cell.outputs), cell.source[:200]
    checks = [c for c in code if c.source.startswith("# Check: ")]
    assert checks and all(c.outputs for c in checks), "the stored notebook must hold reference outputs"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "the stored notebook should show its plots"


def test_inline_answers_are_machine_readable_solution_cells():
    nb = _notebook()
    answers = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("inline_question_"):
            assert "solution" in cell.metadata.get("tags", []), cell.source
            exec(cell.source, {}, answers)  # the cells are plain assignments of literals
    assert answers == {"inline_question_1_answer": [1, 2], "inline_question_2_answer": [1, 3]}
