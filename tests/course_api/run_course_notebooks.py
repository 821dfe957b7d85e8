"""Run the course's own notebooks against the kit and list every error (a developer's tool).

    .venv/bin/python tests/course_api/run_course_notebooks.py COURSE_DIR [--data-at kit|course]

COURSE_DIR holds the course's public starter code by year, e.g.
COURSE_DIR/2026/assignment1/two_layer_net.ipynb. Nothing of it is copied into the
kit: each notebook is read from there, put next to a scratch copy of the kit's
cs231n/ (as the course's notebooks sit next to theirs), and executed top to
bottom with errors allowed. Cells that only make sense on Colab (google.colab,
%cd, !bash) are dropped, and the cells the students fill in (the Solver and the
tuning) get a short solution of the kit's own, so that every remaining error is
one of the kit's. The exit status is the number of notebooks with errors.
"""
import argparse
import re
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nbval_run import make_scratch_kit  # noqa: E402

COLAB = re.compile(r"google\.colab|^\s*%cd|^\s*!", re.M)
# Filled-in student cells, recognised by the variable they must set.
SOLUTIONS = [
    (re.compile(r"^solver = None", re.M),
     "solver = Solver(model, data, optim_config={'learning_rate': 1e-3}, lr_decay=0.95,\n"
     "                num_epochs=1, batch_size=200, print_every=100)\nsolver.train()\n"),
    (re.compile(r"^best_model = None", re.M), "best_model = model\n"),
    (re.compile(r"^best_net = None", re.M), "best_net = net\n"),
]


def prepare(nb):
    """Drop the Colab cells and fill in the student cells; return the notebook."""
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and COLAB.search(c.source))]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for pattern, solution in SOLUTIONS:
            if pattern.search(cell.source):
                cell.source = cell.source.rstrip() + "\n" + solution
    return nb


def run(path, data_at, timeout=600):
    """Execute one course notebook on a scratch kit; return [(cell number, first line, error)]."""
    nb = prepare(nbformat.read(path, as_version=4))
    with tempfile.TemporaryDirectory() as tmp:
        kit = make_scratch_kit(tmp, data_at=data_at)
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         allow_errors=True, resources={"metadata": {"path": str(kit)}})
        client.execute()
    errors = []
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            if out.output_type == "error":
                first = next((line for line in cell.source.splitlines()
                              if line.strip() and not line.startswith("#")), "")
                errors.append((n, first.strip(), f"{out.ename}: {out.evalue}".splitlines()[0]))
    return errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course_dir", type=Path)
    parser.add_argument("--data-at", choices=["kit", "course"], default="kit")
    parser.add_argument("--glob", default="*/assignment1/two_layer_net.ipynb")
    args = parser.parse_args(argv)
    failing = 0
    for path in sorted(args.course_dir.glob(args.glob)):
        errors = run(path, args.data_at)
        failing += bool(errors)
        print(f"{path.relative_to(args.course_dir)}: {len(errors)} error(s)")
        for n, first, error in errors:
            print(f"  cell {n}: {first[:70]}\n      {error[:200]}")
    return failing


if __name__ == "__main__":
    sys.exit(main())
