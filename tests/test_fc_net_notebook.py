"""nbval runs of notebooks/fc_net.ipynb: the reference passes, every planted bug fails its check.

The notebook's check cells start with a `# Check: <name>` line; each planted bug
must make the run fail, and the first failed cell must be the check meant to
catch it. Planted runs stop right after that check cell to stay fast.
"""
import nbformat
import pytest

from nbval_run import KIT_ROOT, Plant, assert_plant_caught, check_names, code_cell_number, run_nbval

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
    ("answer format (inline question 1)",
     Plant(NOTEBOOK, "inline_question_1_answer = [1, 2]", "inline_question_1_answer = '1 and 2'")),
    ("answer format (inline question 2)",
     Plant(NOTEBOOK, "inline_question_2_answer = [1, 3]", "inline_question_2_answer = [1, 5]")),
    ("best model accuracy",  # the tuned model not kept
     Plant(NOTEBOOK, "best_model = candidate", "best_model = TwoLayerNet(input_size, hidden_size, num_classes)")),
]

# The cells a planted run needs, where running every cell up to the check is slow.
NEEDED_CELLS = {check: [f"# Check: {check}"] for check in ("sgd_momentum", "rmsprop", "adam")}
NEEDED_CELLS.update({f"answer format (inline question {q})": [f"inline_question_{q}_answer = ",
                                                                f"# Check: answer format (inline question {q})"]
                     for q in (1, 2)})

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


# Mistakes whose check must also say what is wrong: name -> (the check, the mistake, what the
# failure must say, and the cell that fails if not the check: a marker of its source).
INIT_REGION = ('        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)\n'
               '        self.params["b1"] = np.zeros(hidden_dim)\n'
               '        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)\n'
               '        self.params["b2"] = np.zeros(num_classes)\n')
STUB = "# TODO: write your code here.\n{0}pass\n"


def stub(path, body, indent="        "):
    """The region `body` of the kit file `path` left as its stub, as the student kit has it."""
    return Plant(path, body, indent + STUB.format(indent))


def notebook_stub(first, last):
    """The notebook's region from the JSON line `first` to the JSON line `last` left as its stub."""
    text = (KIT_ROOT / NOTEBOOK).read_text()
    start = text.index(first)
    end = text.index(last, start) + len(last)
    return Plant(NOTEBOOK, text[start:end], '"# TODO: write your code here.\\n",\n    "pass\\n",')


def file_region_stub(path, first, last, indent="    "):
    """The region of the kit file `path` from the line holding `first` to the line `last` left as its stub."""
    text = (KIT_ROOT / path).read_text()
    start = text.rindex("\n", 0, text.index(first)) + 1
    end = text.index(last, start) + len(last)
    return Plant(path, text[start:end], indent + STUB.format(indent))


EXPLAINED_BUGS = {
    "no one-half": ("fc_net loss with regularization", PLANTED_BUGS[11][1],
                    "Problem with regularization loss: fc_net's TwoLayerNet adds 0.5 * reg * (np.sum(W1 * W1) "
                    "+ np.sum(W2 * W2)) = 23.12461834 here to the data loss (the convention 0.5 * reg * "
                    "sum(W**2), with the one-half: its gradient is reg * W); your loss is 49.71946103, too "
                    "large by that term: the one-half is missing", None),
    "averaged twice": ("fc_net gradients (reg = 0.0)", PLANTED_BUGS[12][1],
                       "W1 and b1: each is 0.3333 times the numerical one: the averaging over the N examples "
                       "is done twice or not at all", None),
    "2 * reg * W": ("fc_net gradients (reg = 0.7)", PLANTED_BUGS[13][1],
                    "fc_net TwoLayerNet.loss: wrong gradient for W1 (relative error", None),
    "2 * reg * W, the hint": ("fc_net gradients (reg = 0.7)", PLANTED_BUGS[13][1],
                              "(W2, b1, b2 right): the biases are right, so the data gradient is; look at the "
                              "L2 term's gradient. This loss adds 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * "
                              "W2)), whose gradient for each weight matrix W is reg * W", None),
    "svm_loss not written": (
        "svm_loss", stub(LAYERS, "    N = x.shape[0]\n    rows = np.arange(N)\n    margins = x - x[rows, y][:, None] + 1.0\n"
                                 "    np.maximum(margins, 0, out=margins)\n    margins[rows, y] = 0\n"
                                 "    loss = margins.sum() / N\n    dx = (margins > 0).astype(x.dtype)\n"
                                 "    dx[rows, y] = -dx.sum(axis=1)\n    dx /= N\n", indent="    "),
        "f calls svm_loss, which gave None: write svm_loss in cs231n/layers.py", None),
    "__init__ not written": ("fc_net initialization", stub(FC_NET, INIT_REGION),
                             "write TwoLayerNet.__init__ in cs231n/classifiers/fc_net.py (self.params has no "
                             "'W1', 'b1', 'W2', 'b2')", None),
    "loss not written": (
        "fc_net loss without regularization",
        stub(FC_NET, '        data_loss, dscores = softmax_loss(scores, y)\n'
                     '        reg_loss = 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))\n'
                     '        loss = data_loss + reg_loss\n'
                     '        dh1, dW2, db2 = affine_backward(dscores, scores_cache)\n'
                     '        _, dW1, db1 = affine_relu_backward(dh1, h1_cache)\n'
                     '        grads["W1"] = dW1 + self.reg * W1\n        grads["b1"] = db1\n'
                     '        grads["W2"] = dW2 + self.reg * W2\n        grads["b2"] = db2\n'),
        "the loss is still 0 and grads is empty: write the loss and the backward pass in the second code "
        "region of TwoLayerNet.loss in cs231n/classifiers/fc_net.py", None),
    "sgd_momentum not written": (
        "sgd_momentum", stub(OPTIM, '    v = config["momentum"] * v - config["learning_rate"] * dw\n'
                                    '    next_w = w + v\n', indent="    "),
        "sgd_momentum: next_w is None: write `sgd_momentum` in `cs231n/optim.py`", None),
    "grads not stored": ("fc_net gradients (reg = 0.0)", Plant(FC_NET, 'grads["b1"] = db1', "pass"),
                         "grads has no b1: store it in grads['b1'] in TwoLayerNet.loss "
                         "(cs231n/classifiers/fc_net.py)", None),
    "adam not written": (
        "adam", file_region_stub(OPTIM, "beta1, beta2 = config[\"beta1\"], config[\"beta2\"]\n",
                                   '    config["t"], config["m"], config["v"] = t, m, v\n'),
        "adam: next_w is None: write `adam` in `cs231n/optim.py`", None),
    # The Solver's region of the notebook left as its stub: the training cell says so itself.
    "Solver not written": (
        "Solver validation accuracy",
        notebook_stub('"solver = Solver(model, data,\\n",', '"solver.train()\\n",'),
        "solver is None: write the code region of this cell: create a Solver for model and data", "solver = None\n"),
    # Too little training on the offline subset: the failure gives the bar for the data loaded.
    "below the bar": ("Solver validation accuracy",
                      Plant(NOTEBOOK, "num_epochs=10, batch_size=100,", "num_epochs=1, batch_size=100,"),
                      "is not above 0.33, the bar for the offline subset of CIFAR-10 (0.30 on the full "
                      "CIFAR-10, 0.33 on the offline subset)", None),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("bug", sorted(EXPLAINED_BUGS))
def test_the_check_explains_the_mistake(tmp_path, bug):
    check, plant, message, failing = EXPLAINED_BUGS[bug]
    marker = f"# Check: {check}\n"
    result = run_nbval(NOTEBOOK, tmp_path, plants=[plant], last_marker=marker,
                       keep_markers=NEEDED_CELLS.get(check))
    assert result.returncode != 0 and result.failed, result.output[-3000:]
    assert result.failed[0] == code_cell_number(result.notebook, failing or marker), result.output[-3000:]
    flat = " ".join(result.output.split())
    assert message in flat, f"the failure of {check!r} should say {message!r}:\n{result.output[-3000:]}"


def test_the_solver_text_states_both_bars():
    nb = _notebook()
    solver_text = " ".join(next(c.source for c in nb.cells
                                if c.cell_type == "markdown" and c.source.startswith("## Solver")).split())
    assert "above `0.30` on the full CIFAR-10 and above `0.33` on the small offline subset" in solver_text
    assert "similar figure" not in solver_text
