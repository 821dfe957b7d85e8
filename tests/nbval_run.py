"""Run a kit notebook under nbval in a scratch copy of the kit, optionally with a planted bug.

Tests use this to show that the notebooks catch wrong code: they copy the
kit, replace one line of the reference solution with a bug, run nbval on the
copy and look at which cells failed.
"""
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

KIT_ROOT = Path(__file__).resolve().parents[1]
SANITIZE = "notebooks/sanitize.cfg"
COPIED = ("cs231n", "notebooks")
# The kit package's __init__ (as in the student kit), loaded first with `-p kit`: it spares
# every notebook run the second that jsonschema's unused "iri" grammar takes to build.
KIT_INIT = "kit/__init__.py"


@dataclass
class Plant:
    """Replace `old` by `new` in the kit file `path` (relative to the kit root); `old` must occur once."""

    path: str
    old: str
    new: str


@dataclass
class NbvalResult:
    returncode: int
    output: str
    notebook: nbformat.NotebookNode
    failed: list = field(default_factory=list)  # code-cell numbers, as nbval counts them

    def failed_sources(self):
        """The sources of the failed code cells, in order."""
        code_cells = [c for c in self.notebook.cells if c.cell_type == "code"]
        return [code_cells[n].source for n in self.failed]


def code_cell_number(notebook, marker):
    """The nbval number of the one code cell whose source contains `marker`."""
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    hits = [n for n, c in enumerate(code_cells) if marker in c.source]
    if len(hits) != 1:
        raise ValueError(f"marker {marker!r} is in code cells {hits}, expected exactly one")
    return hits[0]


DATA = KIT_ROOT / "datasets" / "cifar-10-batches-py"
# Where a scratch kit gets its CIFAR-10: the kit's place, or the course's (next to data_utils.py).
DATA_PLACES = {"kit": "datasets/cifar-10-batches-py",
               "course": "cs231n/datasets/cifar-10-batches-py"}


def make_scratch_kit(dest, plants=(), data_at="kit", extra=None):
    """
    Copy the kit's package and notebooks into dest, link the data, add files, apply plants.

    Inputs:
    - data_at: "kit" or "course" (see DATA_PLACES): where the CIFAR-10 folder is linked;
      None: no data.
    - extra: {path in the scratch kit: source path} of files to add, e.g. a
      course-style notebook next to cs231n/, as the course's notebooks sit.
    """
    dest = Path(dest)
    for name in COPIED:
        # Not the nets a run of the notebooks saved here (best_net.npz): a scratch kit starts unrun.
        shutil.copytree(KIT_ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.npz", "*.npy"))
    (dest / KIT_INIT).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(KIT_ROOT / KIT_INIT, dest / KIT_INIT)
    if data_at is not None:
        link = dest / DATA_PLACES[data_at]
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(DATA.resolve(), target_is_directory=True)
    for rel, source in (extra or {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / rel)
    for plant in plants:
        target = dest / plant.path
        text = target.read_text()
        count = text.count(plant.old)
        if count != 1:
            raise ValueError(f"plant in {plant.path}: {plant.old!r} occurs {count} times, expected once")
        target.write_text(text.replace(plant.old, plant.new))
    return dest


def trim_notebook(path, last_marker=None, keep_markers=None):
    """
    Drop cells of the notebook at `path` that a planted-bug run does not need.

    Inputs:
    - last_marker: Drop every cell after the code cell holding this text.
    - keep_markers: Keep only the first code cell (the setup) and the code cells
      holding one of these texts.
    """
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if last_marker is not None:
        code_cells = code_cells[:code_cell_number(nb, last_marker) + 1]
    if keep_markers is not None:
        for marker in keep_markers:
            code_cell_number(nb, marker)  # each marker must name exactly one cell
        code_cells = code_cells[:1] + [c for c in code_cells[1:]
                                       if any(m in c.source for m in keep_markers)]
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or any(c is k for k in code_cells)]
    nbformat.write(nb, path)


def run_nbval(notebook, workdir, plants=(), last_marker=None, keep_markers=None,
              cell_timeout=600, timeout=1200, lax=False, data_at="kit", extra=None, env=None):
    """
    Run `pytest --nbval` on a kit notebook in a scratch copy of the kit.

    Inputs:
    - notebook: Path of the notebook relative to the kit root, e.g. "notebooks/two_layer_net.ipynb".
    - workdir: An empty directory for the scratch copy.
    - plants: Planted bugs (Plant objects) to apply to the copy.
    - last_marker, keep_markers: Cells to run, if not all; see trim_notebook.
    - cell_timeout, timeout: Limits in seconds for one cell and for the whole run.
    - lax: Only errors fail a cell (`--nbval-lax`), for notebooks without reference outputs.
    - data_at, extra: See make_scratch_kit.
    - env: Environment variables to set for the run.

    Returns:
    - An NbvalResult with the return code, the output, and the failed cell numbers.
    """
    kit = make_scratch_kit(workdir, plants, data_at=data_at, extra=extra)
    if last_marker is not None or keep_markers is not None:
        trim_notebook(kit / notebook, last_marker, keep_markers)
    cmd = [
        sys.executable, "-m", "pytest", "-p", "kit", "--nbval-lax" if lax else "--nbval", "--nbval-current-env",
        "--nbval-sanitize-with", SANITIZE, "--nbval-cell-timeout", str(cell_timeout),
        "-p", "no:cacheprovider", "-o", "addopts=", "-rf", "-q", notebook,
    ]
    # The scratch kit's own data only: a CIFAR10_DIR of the caller's shell does not leak in.
    run_env = {k: v for k, v in os.environ.items() if k != "CIFAR10_DIR"}
    run_env.update(MPLBACKEND="agg", PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    proc = subprocess.run(cmd, cwd=kit, capture_output=True, text=True, timeout=timeout,
                          env=run_env)
    output = proc.stdout + proc.stderr
    failed = sorted({int(n) for n in re.findall(r"^FAILED \S+::Cell (\d+)", output, re.M)})
    nb = nbformat.read(kit / notebook, as_version=4)
    return NbvalResult(proc.returncode, output, nb, failed)


def check_names(notebook):
    """The names of the check cells (first line `# Check: <name>`) of a notebook under KIT_ROOT."""
    nb = nbformat.read(KIT_ROOT / notebook, as_version=4)
    return {
        line[len("# Check: "):].strip()
        for cell in nb.cells if cell.cell_type == "code"
        for line in cell.source.splitlines() if line.startswith("# Check: ")
    }


def assert_plant_caught(notebook, workdir, check, plants, keep_markers=None):
    """
    Run nbval on the notebook with the bugs planted, up to the `# Check: <check>`
    cell, and assert that the run fails and that this check is the first cell to fail.
    """
    marker = f"# Check: {check}\n"
    result = run_nbval(notebook, workdir, plants=plants, last_marker=marker,
                       keep_markers=keep_markers)
    assert result.returncode != 0, f"nbval passed with the bug for {check!r}:\n{result.output[-3000:]}"
    assert result.failed, result.output[-3000:]
    assert result.failed[0] == code_cell_number(result.notebook, marker), (
        f"the first failed cell should be the {check!r} check, got:\n"
        f"{result.failed_sources()[0]}\n{result.output[-3000:]}"
    )
