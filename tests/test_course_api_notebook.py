"""Notebooks written only against the course's public API run on the kit.

tests/course_api/two_layer_net_course_api.ipynb is the kit's own notebook in the
style of the course's modular-era two_layer_net.ipynb (2021 to 2026): it sits
next to cs231n/ as the course's notebooks do, star-imports
cs231n.classifiers.fc_net, loads the data with get_CIFAR10_data() from the
default place, tunes with Solver and ends with best_model.save(...). It has no
stored outputs, so nbval runs it in lax mode: any error fails it.

tests/course_api/two_layer_net_classic_api.ipynb does the same for the classic
era (2017 to 2020): neural_net.TwoLayerNet and its train() stats, load_CIFAR10
from the course's relative path, images flattened channels last.

Planted runs show that the run can fail: each breaks one thing the course's
notebooks rely on, and the first failing cell must be the one that uses it.
"""
import pytest

from nbval_run import KIT_ROOT, Plant, code_cell_number, run_nbval

SOURCE = KIT_ROOT / "tests" / "course_api" / "two_layer_net_course_api.ipynb"
CLASSIC = KIT_ROOT / "tests" / "course_api" / "two_layer_net_classic_api.ipynb"
NOTEBOOK = "two_layer_net.ipynb"  # at the root of the scratch kit, next to cs231n/
FC_NET = "cs231n/classifiers/fc_net.py"


def run(tmp_path, **kwargs):
    return run_nbval(NOTEBOOK, tmp_path, lax=True, extra={NOTEBOOK: SOURCE}, **kwargs)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("data_at", ["kit", "course"])
def test_course_api_notebook_runs_on_the_kit_with_no_error(tmp_path, data_at):
    """With the data where get_datasets.py puts it, or where the course's scripts put it."""
    result = run(tmp_path, data_at=data_at)
    assert result.returncode == 0, result.output[-5000:]
    assert not result.failed
    assert (tmp_path / "best_two_layer_net.npy").is_file()  # saved where the notebook runs


@pytest.mark.timeout(600)
def test_classic_course_api_notebook_runs_on_the_kit_with_no_error(tmp_path):
    """The data where the course's scripts put it: the classic notebook loads that path itself."""
    result = run_nbval(NOTEBOOK, tmp_path, lax=True, extra={NOTEBOOK: CLASSIC}, data_at="course")
    assert result.returncode == 0, result.output[-5000:]
    assert not result.failed


@pytest.mark.timeout(600)
def test_classic_notebook_with_the_data_in_the_kits_place_is_told_where_it_is(tmp_path):
    result = run_nbval(NOTEBOOK, tmp_path, lax=True, extra={NOTEBOOK: CLASSIC}, data_at="kit")
    assert result.failed[0] == code_cell_number(result.notebook, "from cs231n.data_utils import load_CIFAR10")
    assert "CIFAR-10 directory not found: cs231n/datasets/cifar-10-batches-py" in result.output
    assert "datasets/cifar-10-batches-py: pass that path" in result.output


PLANTS = [
    # (what breaks, the plant, a text of the first cell that must fail)
    ("star import without the layers", Plant(FC_NET, "__all__ = [\"TwoLayerNet\"] + _functions_of(layers)",
                                             "__all__ = [\"TwoLayerNet\"] + 0 * _functions_of(layers)"),
     "out, cache = affine_forward(x, w, b)"),
    ("no save", Plant(FC_NET, "    def save(self, path):", "    def _save(self, path):"),
     'best_model.save("best_two_layer_net.npy")'),
    ("channels-last data", Plant("cs231n/data_utils.py", '"X_train": _gather(Xtr, 0, num_training, dtype, mean),',
                                 '"X_train": _gather(Xtr, 0, num_training, dtype, mean).transpose(0, 2, 3, 1),'),
     "data = get_CIFAR10_data()"),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("what, plant, cell", [pytest.param(*p, id=p[0]) for p in PLANTS])
def test_the_run_fails_where_the_course_api_is_broken(tmp_path, what, plant, cell):
    result = run(tmp_path, plants=[plant])
    assert result.returncode != 0, f"the notebook ran with {what}:\n{result.output[-3000:]}"
    assert result.failed and result.failed[0] == code_cell_number(result.notebook, cell), \
        result.output[-3000:]


@pytest.mark.timeout(600)
def test_the_run_fails_without_data_and_says_where_it_looked(tmp_path):
    result = run(tmp_path, data_at=None)
    assert result.failed[0] == code_cell_number(result.notebook, "data = get_CIFAR10_data()")
    assert "CIFAR-10 not found. Looked in:" in result.output
    assert "python get_datasets.py" in result.output


@pytest.mark.parametrize("notebook", [SOURCE, CLASSIC], ids=["modular", "classic"])
def test_the_notebooks_use_only_the_course_api(notebook):
    """No kit-only name: only what the course's own starter code has."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if notebook == SOURCE:
        assert "from cs231n.classifiers.fc_net import *" in source
        assert "get_CIFAR10_data()" in source and "Solver(model, data," in source
        assert 'best_model.save("best_two_layer_net.npy")' in source
    else:
        assert "from cs231n.classifiers.neural_net import TwoLayerNet" in source
        assert "stats = net.train(X_train, y_train, X_val, y_val," in source
        assert "load_CIFAR10(cifar10_dir)" in source and "past" not in source
    for kit_only in ("sys.path", "cifar10_dir=", "dtype=", "snapshot_every", "weight_explorer",
                     "cs231n.tuning", "positive_int", "find_CIFAR10_dir", "compute_dx"):
        assert kit_only not in source, kit_only
    assert all(not c.outputs for c in nb.cells if c.cell_type == "code")
