"""What notebook grading costs per submission on the full-size CIFAR-10, and for a class. Not a test.

    .venv/bin/python bench/bench_nbgrade.py [--data DIR] [--students 300] [--cores 2 32]

Grades two submissions with `kit grade --data` (one at a time, --jobs 1), on
a full-size CIFAR-10 of synthetic images (50,000 + 10,000, the official format;
bench_notebook.write_synthetic_cifar at signal 0.08, where the notebook's
accuracy targets can be met) unless --data names a real copy:

- the reference: the reference solution, with a best_net tuned the way its
  tuning cell does (cs231n.tuning.search, 500 hidden units, 4000 iterations);
- a typical student: the same code, with a best_net from a plain loop over
  two learning rates (100 hidden units, 1500 iterations each), the course's habit.

Side by side, CPU seconds per submission:
- baseline: the grader before the saved model, which ran the whole notebook
  with its tuning for every submission: the reference run's CPU (the trusted
  run the grader still makes once, which prepare logs);
- each submission: the CPU of its notebook's kernel in the sandbox (its
  cgroup; results.json extra_data.notebooks), of its code check cells
  (extra_data.timing.cells_cpu), and of the grader's own processes (this
  process and the children it waited for: nbval, pytest, sandbox starts, the
  report; the mean per submission), added up;
- floor: loading the data once (get_CIFAR10_data, float32), which every
  notebook run must do.
Then the arithmetic for --students on each of --cores (CPU seconds / cores,
perfect packing: a lower bound on the wall time).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import kit  # noqa: E402,F401  (first: see kit/__init__.py)
import kit_fixtures as fx  # noqa: E402
from bench_notebook import write_synthetic_cifar  # noqa: E402
from bench_train import blas_line  # noqa: E402
from kit.instructor.grade.run import grade  # noqa: E402

NOTEBOOK = "notebooks/two_layer_net.ipynb"
MODEL = "notebooks/best_net.npz"

TYPICAL_STUDENT = '''
import os, sys
import numpy as np
sys.path.insert(0, {root!r})
from cs231n.data_utils import get_CIFAR10_data
from cs231n.classifiers.neural_net import TwoLayerNet
os.environ["CIFAR10_DIR"] = {data!r}
data = get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, dtype=np.float32)
X, y = data["X_train"].reshape(49000, -1), data["y_train"]
Xv, yv = data["X_val"].reshape(1000, -1), data["y_val"]
best, best_val = None, -1
for lr in [5e-4, 1e-3]:
    net = TwoLayerNet(3072, 100, 10)
    net.train(X, y, Xv, yv, num_iters=1500, batch_size=200, learning_rate=lr, learning_rate_decay=0.95, reg=0.1)
    val = (net.predict(Xv) == yv).mean()
    if val > best_val:
        best, best_val = net, val
best.save({out!r})
'''

FLOOR = '''
import os, sys, resource
import numpy as np
sys.path.insert(0, {root!r})
os.environ["CIFAR10_DIR"] = {data!r}
from cs231n.data_utils import get_CIFAR10_data
get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, dtype=np.float32)
r = resource.getrusage(resource.RUSAGE_SELF)
print(r.ru_utime + r.ru_stime)
'''


def cpu_now():
    """CPU seconds of this process and its waited-for descendants."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def submissions(folder, data):
    """Write reference.zip and student.zip to folder."""
    files = fx.reference_files()
    files[NOTEBOOK] = (ROOT / NOTEBOOK).read_bytes()
    print("training the reference's best_net (4000 iterations, 500 hidden units) ...", flush=True)
    fx.write_zip(folder / "reference.zip", dict(files, **{MODEL: fx.saved_model(data, num_iters=4000)}))
    print("training the typical student's best_net (a plain loop) ...", flush=True)
    out = folder / "student.npz"
    subprocess.run([sys.executable, "-c", TYPICAL_STUDENT.format(root=str(ROOT), data=str(data), out=str(out))],
                   check=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    fx.write_zip(folder / "student.zip", dict(files, **{MODEL: out.read_bytes()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="a CIFAR-10 folder (default: full-size synthetic)")
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 32])
    args = parser.parse_args()
    print(blas_line())
    with tempfile.TemporaryDirectory(prefix="bench-nbgrade-") as tmp:
        tmp = Path(tmp)
        data = Path(args.data).resolve() if args.data else tmp / "cifar-10-batches-py"
        if not args.data:
            print("writing a full-size synthetic CIFAR-10 ...", flush=True)
            write_synthetic_cifar(data, signal=0.08)
        subs = tmp / "subs"
        subs.mkdir()
        submissions(subs, data)
        floor = float(subprocess.run([sys.executable, "-c", FLOOR.format(root=str(ROOT), data=str(data))],
                                     check=True, capture_output=True, text=True).stdout.split()[-1])
        marks, logs = {}, []

        def log(line):
            logs.append(line)
            print(line, flush=True)
            if "graded in the sandbox, the reference earns" in line:
                marks["graded_from"] = (cpu_now(), time.monotonic())
        began = (cpu_now(), time.monotonic())
        run = grade(subs, tmp / "out", data=data, jobs=1, log=log)
        end = (cpu_now(), time.monotonic())
        results = {r["student"]: json.loads((tmp / "out" / r["student"] / "results.json").read_text())
                   for r in run.rows}
    reference_run = next(float(line.split("used ")[1].split(" s")[0]) for line in logs
                         if "the reference run used" in line)
    start = marks.get("graded_from", began)
    grader = (end[0] - start[0]) / len(results)
    print()
    print(f"CPU seconds per submission, notebook grading on {'full-size synthetic' if not args.data else data} "
          f"data ({len(results)} submissions, --jobs 1):")
    print(f"  baseline (the whole notebook with its tuning, as graded before): {reference_run:7.1f}")
    totals = []
    for name, res in sorted(results.items()):
        nb = res["extra_data"]["notebooks"]["two_layer_net.ipynb"]
        checks = res["extra_data"]["timing"].get("cells_cpu", 0.0)
        total = nb["cpu_seconds"] + checks + grader
        totals.append(total)
        print(f"  {name:10s} {res['score']:g}/{res['extra_data']['max_score']:g}: {total:6.1f} = notebook kernel "
              f"{nb['cpu_seconds']:.1f} (wall {nb['wall_seconds']:.1f}) + code check cells {checks:.1f} "
              f"+ the grader's own processes {grader:.1f} (nbval, pytest, sandbox starts, report; mean)")
    print(f"  floor (loading the data once, from its cache): {floor:7.1f}")
    print(f"  setup, once per run (reference run, its grading in the sandbox, release, preflight): "
          f"{start[0] - began[0]:.0f} s of CPU, {start[1] - began[1]:.0f} s of wall time")
    print()
    per_submission = max(totals)
    for cores in args.cores:
        minutes = args.students * per_submission / cores / 60
        old = args.students * reference_run / cores / 3600
        print(f"  {args.students} students on {cores} cores: {args.students} x {per_submission:.1f} CPU-s / {cores} "
              f"= {minutes:.1f} min, plus the setup once (baseline: {old:.1f} h)")


if __name__ == "__main__":
    main()
