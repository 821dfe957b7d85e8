"""nbval runs of notebooks/two_layer_net.ipynb: the reference passes, every planted bug fails its check.

The notebook's check cells start with a `# Check: <name>` line; each planted bug
must make the run fail, and the first failed cell must be the check meant to
catch it. Planted runs stop right after that check cell to stay fast.
"""
import nbformat
import pytest

from nbval_run import KIT_ROOT, Plant, assert_plant_caught, check_names, code_cell_number, run_nbval

NOTEBOOK = "notebooks/two_layer_net.ipynb"
LAYERS = "cs231n/layers.py"
NET = "cs231n/classifiers/neural_net.py"

PLANTED_BUGS = {
    # check name -> the bug it must catch
    "toy scores": Plant(LAYERS, "out = np.maximum(x, 0)", "out = np.abs(x)"),
    # affine_forward without the reshape passes the toy checks (their inputs are rows already)
    "affine_forward on images": Plant(LAYERS, "out = x.reshape(x.shape[0], D) @ w", "out = x @ w"),
    "toy loss": Plant(NET, "loss = data_loss + reg * (", "loss = data_loss + 0.5 * reg * ("),
    "large scores": Plant(LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x.copy()"),
    "toy gradients": Plant(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()"),
    # half the gradient at exactly 0 (a centred numerical derivative) passes the numerical gradient check
    # (the ReLU's inputs there are never exactly 0)
    "relu_backward at zero": Plant(LAYERS, "dx = dout * (x > 0)", "dx = dout * ((x > 0) + 0.5 * (x == 0))"),
    "toy training": Plant(NET, "sgd_step(param, grads[name], learning_rate)",
                          "sgd_step(param, grads[name], -learning_rate)"),
    "data": Plant(NOTEBOOK, "num_test=1000,", "num_test=1000, subtract_mean=False,"),
    "default net": Plant(NET, "return max(num_train // batch_size, 1)",  # epoch_length
                         "return max(num_train / batch_size, 1)"),
    "best_net": Plant(NOTEBOOK, "num_iters = 4000 if full_data else 250",
                      "num_iters = 3 if full_data else 1"),
    "answer format": Plant(NOTEBOOK, "inline_question_answer = [1, 3]",
                           "inline_question_answer = '1 and 3'"),
}

# The cells a planted run needs, where running every cell up to the check is slow.
NEEDED_CELLS = {
    "best_net": ["data = get_CIFAR10_data(", "input_size = 32 * 32 * 3", "best_net = None",
                 "best_net.save('best_net.npz')", "# Check: best_net"],
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


# Mistakes whose check must also say what is wrong: check name -> (the mistake, what the
# failure must say).
EXPLAINED_BUGS = {
    "half L2": ("toy loss", Plant(NET, "loss = data_loss + reg * (", "loss = data_loss + 0.5 * reg * ("),
                "your loss uses 0.5 * reg * sum(W**2); this notebook's network regularizes with "
                "reg * (np.sum(W1 * W1) + np.sum(W2 * W2)), with no 0.5"),
    "no shift": ("large scores", PLANTED_BUGS["large scores"], "softmax_loss overflows on large scores"),
    "log of probabilities": (
        "large scores",
        Plant(LAYERS, "log_probs = shifted[rows, y] - np.log(sum_exp[:, 0])",
              "log_probs = np.log(exp_scores[rows, y] / sum_exp[:, 0])"),
        "with a finite gradient: not an overflow, but log(0)"),
    "relu half at zero": ("relu_backward at zero", PLANTED_BUGS["relu_backward at zero"],
                          "give 0 there (the rule x > 0) or the whole gradient (x >= 0), either one-sided "
                          "derivative; half of it is what a numerical derivative gives"),
    "no reshape": ("affine_forward on images", PLANTED_BUGS["affine_forward on images"],
                   "reshape x to (N, D) rows first"),
    # A fresh kit: the regions are unwritten and their variables stay None (or grads {}). The
    # layers come first, in the notebook's order, each named before TwoLayerNet.loss fails on it.
    "affine_forward not written": ("toy scores", Plant(LAYERS, "    out += b\n", "    out = None\n"),
                                   "affine_forward returned None: write affine_forward in cs231n/layers.py first"),
    "relu_forward not written": ("toy scores", Plant(LAYERS, "out = np.maximum(x, 0)", "out = None"),
                                 "relu_forward returned None: write relu_forward in cs231n/layers.py"),
    "softmax_loss not written": ("toy loss", Plant(LAYERS, "    loss = -log_probs.sum() / N\n", "    loss = None\n"),
                                 "softmax_loss returned None: write softmax_loss in cs231n/layers.py first"),
    # Once TwoLayerNet.loss has its backward pass, the toy loss runs it too: an unwritten layer it
    # calls is named there.
    "affine_backward not written": ("toy loss", Plant(LAYERS, "    dx = (dout @ w.T).reshape(x.shape)\n",
                                                      "    dx = None\n"),
                                    "affine_backward returned None: write affine_backward in cs231n/layers.py "
                                    "first (your backward pass in TwoLayerNet.loss calls it)"),
    "relu_backward not written": ("toy loss", Plant(LAYERS, "dx = dout * (x > 0)", "dx = None"),
                                  "relu_backward returned None: write relu_backward in cs231n/layers.py first"),
    # Neither the backward pass nor the layers it needs written: the gradients check names the layers.
    "backward layers not written": (
        "toy gradients",
        [Plant(NET, 'dh1, grads["W2"], grads["b2"] = affine_backward(dscores, fc2_cache)', "return loss, grads"),
         Plant(LAYERS, "    dx = (dout @ w.T).reshape(x.shape)\n", "    dx = None\n"),
         Plant(LAYERS, "dx = dout * (x > 0)", "dx = None")],
        "affine_backward returned None: write affine_backward in cs231n/layers.py first (then relu_backward)"),
    "forward not written": ("toy scores", Plant(NET, "scores, fc2_cache = affine_forward(h1, W2, b2)",
                                                "scores, fc2_cache = None, None"),
                            "net.loss(X) returned None: write the forward pass in TwoLayerNet.loss"),
    "loss not written": ("toy loss", Plant(NET, "loss = data_loss + reg * (sum_sq(W1) + sum_sq(W2))",
                                           "loss = None"),
                         "returned None as the loss: write the loss in TwoLayerNet.loss"),
    # The gradients computed but not put in grads (or not computed at all): the keys are named.
    "backward not written": ("toy gradients", Plant(NET, "        return loss, grads\n", "        return loss, {}\n"),
                             "grads has no W1, b1, W2, b2: in TwoLayerNet.loss (cs231n/classifiers/neural_net.py), "
                             "store them in grads['W1'], grads['b1'], grads['W2'], grads['b2']"),
    "gradient not stored": ("toy gradients", Plant(NET, 'grads["b1"] = da1.sum(axis=0)', 'db1 = da1.sum(axis=0)'),
                            "grads has no b1: in TwoLayerNet.loss (cs231n/classifiers/neural_net.py), "
                            "store it in grads['b1']"),
    # The check computes all four errors (W1, b1, b2 right too), then names the mistake their
    # pattern points to.
    "no L2 gradient": ("toy gradients", Plant(NET, '        grads["W2"] += 2 * reg * W2\n', ""),
                       "TwoLayerNet.loss: wrong gradient for W2 (relative error 1.0e+00) (W1, b1, b2 right): "
                       "the biases are right, so the data gradient is; look at the L2 term's gradient. This "
                       "loss adds reg * (np.sum(W1 * W1) + np.sum(W2 * W2)), with no one-half, whose gradient "
                       "for each weight matrix W is 2 * reg * W"),
    "averaged twice": ("toy gradients",
                       Plant(NET, 'dh1, grads["W2"], grads["b2"] = affine_backward(dscores, fc2_cache)',
                             'dh1, grads["W2"], grads["b2"] = affine_backward(dscores / N, fc2_cache)'),
                       "b1 and b2: each is 0.2 times the numerical one: the averaging over the N examples "
                       "is done twice or not at all"),
    "predict returns scores": ("toy training", Plant(NET, "y_pred = np.argmax(self.loss(X), axis=1)",
                                                     "y_pred = self.loss(X)"),
                               "predict must return one label per row, shape (200,): you returned scores of "
                               "shape (200, 3); take the argmax over the classes"),
}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("bug", sorted(EXPLAINED_BUGS))
def test_the_check_explains_the_mistake(tmp_path, bug):
    check, plant, message = EXPLAINED_BUGS[bug]
    marker = f"# Check: {check}\n"
    result = run_nbval(NOTEBOOK, tmp_path, plants=plant if isinstance(plant, list) else [plant], last_marker=marker)
    assert result.returncode != 0 and result.failed, result.output[-3000:]
    assert result.failed[0] == code_cell_number(result.notebook, marker), result.output[-3000:]
    flat = " ".join(result.output.split())
    assert message in flat, f"the failure of {check!r} should say {message!r}:\n{result.output[-3000:]}"


@pytest.mark.timeout(900)
def test_a_relu_that_lets_the_gradient_through_at_zero_passes_the_notebook(tmp_path):
    """x >= 0 is the other one-sided derivative at the kink: as right as x > 0 (the grader takes both too)."""
    marker = "# Check: relu_backward at zero\n"
    result = run_nbval(NOTEBOOK, tmp_path, plants=[Plant(LAYERS, "dx = dout * (x > 0)", "dx = dout * (x >= 0)")],
                       last_marker=marker)
    assert result.returncode == 0 and not result.failed, result.output[-3000:]


def test_the_intro_says_the_stored_outputs_are_the_references():
    nb = nbformat.read(KIT_ROOT / NOTEBOOK, as_version=4)
    intro = " ".join(nb.cells[0].source.split())
    assert "The outputs stored in this notebook are the reference solution's." in intro


def test_check_cells_keep_their_execution_counts_and_outputs():
    nb = nbformat.read(KIT_ROOT / NOTEBOOK, as_version=4)
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Check: ")]
    assert len(checks) == len(PLANTED_BUGS)
    for cell in checks:
        assert cell.execution_count is not None and cell.outputs, cell.source.splitlines()[0]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "OK" in text or "recorded" in text, cell.source.splitlines()[0]
