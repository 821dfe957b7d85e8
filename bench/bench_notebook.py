"""The main notebook end to end: how long it takes, and what its tuning reaches.

    .venv/bin/python bench/bench_notebook.py [--data synthetic|datasets] [--keep DIR]

Executes notebooks/two_layer_net.ipynb (the reference solution: its tuning
cell is the reference answer) in a fresh kernel, in a scratch copy of the kit,
the way `make run` does, and prints the time of the whole notebook and of its
tuning cell, with the accuracies it reports:

- --data synthetic (default): a full-size CIFAR-10 of synthetic images, in the
  official format (5 x 10,000 training and 10,000 test images, 32 x 32 x 3
  uint8), so that the notebook runs its full-data branch (49,000 / 1,000 /
  1,000) at the real sizes. Each image is its class's random template (5%)
  mixed with noise (95%), so that the nets have something to learn; the times
  are those of the real data, the accuracies are not;
- --data datasets: the CIFAR-10 copy in datasets/ (the full dataset, or the
  offline mirror, on which the notebook shrinks its split and says so).

The first load of a dataset builds its cache (cs231n.data_utils), as it does
on a first `make run`; that is part of the time.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(KIT_ROOT / "tests"))

from kit_fixtures import write_synthetic_cifar  # noqa: E402

NOTEBOOK = "notebooks/two_layer_net.ipynb"
SUMMARY_TAG = "BENCH_NOTEBOOK_SUMMARY "

# Appended to the scratch copy of the notebook: what the notebook computed.
SUMMARY_CELL = """
import json as _json
print(%r + _json.dumps({
    "train_rows": int(len(X_train)), "full_data": bool(full_data),
    "default_val_acc": float(val_acc), "best_val": float(best_val),
    "test_acc": float(test_acc),
    "tuning_table": format_table(tuning_results) if "tuning_results" in globals() else None,
}))
""" % SUMMARY_TAG


def make_kit(workdir, data):
    """A scratch copy of the kit's package and notebooks in workdir, with its dataset."""
    kit = Path(workdir) / "kit"
    for name in ("cs231n", "notebooks"):
        shutil.copytree(KIT_ROOT / name, kit / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    if data == "synthetic":
        write_synthetic_cifar(kit / "datasets" / "cifar-10-batches-py")
    else:
        (kit / "datasets").symlink_to(KIT_ROOT / "datasets", target_is_directory=True)
    return kit


def cell_seconds(cell):
    """Wall time of an executed cell, from the timestamps nbclient records."""
    t = cell.metadata.get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def run_notebook(data="synthetic", keep=None):
    """
    Execute the notebook in a scratch kit; return a summary dict: seconds (whole
    notebook, kernel start included), tuning_seconds, train_rows, full_data,
    default_val_acc, best_val, test_acc, tuning_table, errors (cells that raised).
    """
    import nbclient
    import nbformat

    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench_notebook_"))
    try:
        kit = make_kit(workdir, data)
        nb = nbformat.read(kit / NOTEBOOK, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(SUMMARY_CELL))
        os.environ.setdefault("MPLBACKEND", "agg")
        client = nbclient.NotebookClient(
            nb, timeout=1800, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": str(kit / "notebooks")}})
        t0 = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - t0
        summary, errors, tuning = {}, [], 0.0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if "search(" in cell.source:
                tuning = cell_seconds(cell)
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    errors.append("%s: %s" % (cell.source.splitlines()[0], out.ename))
                text = out.get("text", "")
                if SUMMARY_TAG in text:
                    summary = json.loads(text.split(SUMMARY_TAG, 1)[1])
        summary.update(seconds=seconds, tuning_seconds=tuning, errors=errors, data=data)
        return summary
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    sys.path.insert(0, str(KIT_ROOT / "bench"))
    from bench_train import blas_line, cpu_model
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="synthetic", choices=["synthetic", "datasets"])
    parser.add_argument("--keep", default=None, help="work in DIR and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    load = " ".join("%.1f" % v for v in os.getloadavg())
    s = run_notebook(args.data, args.keep)
    print("CPU: %s, %d logical cores; load average before %s, after %s" % (
        cpu_model(), os.cpu_count(), load, " ".join("%.1f" % v for v in os.getloadavg())))
    print(blas_line())
    print("data: %s, %s train rows (full-data branch: %s)" % (
        args.data, s.get("train_rows", "?"), s.get("full_data", "?")))
    print("two_layer_net.ipynb: %.1f s in all, tuning cell %.1f s (budget for the notebook: 300 s)"
          % (s["seconds"], s["tuning_seconds"]))
    if "best_val" in s:
        print("default net val %.3f; best_net val %.3f, test %.3f"
              % (s["default_val_acc"], s["best_val"], s["test_acc"]))
        print(s["tuning_table"] or "")
    if s["errors"]:
        print("cells that raised: " + "; ".join(s["errors"]))
        if args.data == "synthetic":
            print("  (on synthetic images an accuracy threshold, such as the default net's 0.25 for "
                  "the full data, is no test: its value is CIFAR-10's)")


if __name__ == "__main__":
    main()
