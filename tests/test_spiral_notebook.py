"""nbval runs of notebooks/spiral.ipynb (the CS231n neural-network case study on spiral data).

The reference passes; a planted bug in cs231n.layers fails the accuracy check
of the model that uses the broken layer, and the first failed cell is that check.
"""
import nbformat
import pytest

from nbval_run import KIT_ROOT, Plant, assert_plant_caught, check_names, run_nbval

NOTEBOOK = "notebooks/spiral.ipynb"
LAYERS = "cs231n/layers.py"

PLANTED_BUGS = [
    ("linear classifier training accuracy", Plant(LAYERS, "dx[rows, y] -= 1", "dx[rows, y] += 1")),
    ("linear classifier training accuracy",
     Plant(LAYERS, "dw = x_rows.T @ dout", "dw = -(x_rows.T @ dout)")),
    # The linear classifier has no ReLU: only the net's check can see this one.
    ("neural network training accuracy", Plant(LAYERS, "dx = dout * (x > 0)", "dx = dout.copy()")),
]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_reference_notebook_passes_nbval(tmp_path):
    result = run_nbval(NOTEBOOK, tmp_path)
    assert result.returncode == 0, result.output[-5000:]
    assert "passed" in result.output


@pytest.mark.timeout(600)
@pytest.mark.parametrize("check, plant",
                         [pytest.param(c, p, id=f"{c}-{n}") for n, (c, p) in enumerate(PLANTED_BUGS)])
def test_planted_bug_fails_its_check(tmp_path, check, plant):
    assert_plant_caught(NOTEBOOK, tmp_path, check, [plant])


def _notebook():
    return nbformat.read(KIT_ROOT / NOTEBOOK, as_version=4)


def test_every_check_cell_has_a_planted_bug():
    checks = check_names(NOTEBOOK)
    assert checks == {check for check, _ in PLANTED_BUGS}


def test_notebook_uses_the_kit_layers_only():
    """The case study's math comes from cs231n.layers; only the L2 term is written in the notebook."""
    nb = _notebook()
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from cs231n.layers import" in source
    for formula in ("np.exp(", "np.log(", "np.maximum(", "np.dot(", "keepdims"):
        assert formula not in source, f"{formula} re-derives a formula of cs231n.layers"
    assert "0.5 * reg * np.sum(W * W)" in source and "dW += reg * W" in source


def test_stored_outputs_show_the_case_study_figures():
    nb = _notebook()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "training accuracy (linear): 0.49" in text
    assert "training accuracy (net): 0.98" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the data and the two decision boundaries
