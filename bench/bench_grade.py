"""Grading throughput and where a submission's seconds go. Not a test.

    .venv/bin/python bench/bench_grade.py [--submissions 40] [--jobs 2] [--load 2]

1. Parts, each timed alone (medians of --repeat runs): an empty bubblewrap
   sandbox; the interpreter started the way the sandbox starts it; NumPy's
   import; the student package's imports; a whole sandbox up to its probe
   (bwrap, launch, executor, NumPy).
2. Throughput: --submissions byte-distinct submissions (the reference and the
   course's bugs) graded with --jobs, dedupe off, quiet and then with --load
   CPU-bound processes running beside the grader, side by side. Each run
   prints submissions per minute once started (the release, the reference run
   and the preflight are timed apart) and the per-submission phases the
   grader records (extra_data.timing in results.json): extracting and
   splicing, sandbox starts, the check cells (CPU and wall), scoring.
3. The check cells one by one: CPU seconds of each, on the reference.

Goal lines: 120 submissions per minute on 2 cores (checks only), and loaded
at least 0.7x quiet.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import kit  # noqa: E402,F401  (first: see kit/__init__.py)
import kit_fixtures as fx  # noqa: E402
from kit.instructor.grade.run import grade  # noqa: E402
from kit.instructor.sandbox import cgroups  # noqa: E402
from kit.instructor.sandbox.box import Sandbox  # noqa: E402
from kit.instructor.sandbox.commands import KitView  # noqa: E402
from kit.instructor.sandbox.isolation import Limits, choose_isolation, locate_bwrap  # noqa: E402

GOAL_PER_MINUTE = 120
GOAL_LOADED = 0.7


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parts(repeat):
    """Seconds of each part of a sandbox start, measured alone."""
    py = [sys.executable, "-I", "-B"]
    out = {
        "interpreter (python -I -B -c pass)": median_time(lambda: subprocess.run(py + ["-c", "pass"]), repeat),
        "NumPy import": median_time(lambda: subprocess.run(py + ["-c", "import numpy"]), repeat),
        "student package imports": median_time(lambda: subprocess.run(
            py + ["-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import numpy, cs231n.layers, "
                        "cs231n.classifiers.neural_net, cs231n.classifiers.fc_net, cs231n.optim"], check=True), repeat),
    }
    out["NumPy import"] -= out["interpreter (python -I -B -c pass)"]
    out["student package imports"] -= out["NumPy import"] + out["interpreter (python -I -B -c pass)"]
    bwrap = locate_bwrap()
    if bwrap:
        out["empty bubblewrap sandbox (bwrap ... true)"] = median_time(lambda: subprocess.run(
            [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
             "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "/usr/bin/true"]), repeat)
        iso = choose_isolation("bwrap", cgroups=cgroups.detect())

        def sandbox():
            with Sandbox(KitView(ROOT), iso, Limits()) as box:
                box.start()
        out["whole sandbox to its probe (cgroups, bwrap, launch, executor, NumPy)"] = median_time(sandbox, repeat)
    return out


def plant(subs, n):
    ref = fx.reference_files()
    kinds = [ref] + [fx.apply(ref, bug) for bug in fx.BUGS.values()]
    for i in range(n):
        fx.write_zip(subs / f"student{i:03d}.zip", fx.append_code(kinds[i % len(kinds)], fx.LAYERS, f"# {i}"))


def throughput(n, jobs, load):
    """(per minute once started, setup seconds, {phase: mean seconds}) of one grading run."""
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        subs.mkdir()
        plant(subs, n)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
        marks = []
        try:
            start = time.monotonic()
            grade(subs, out, jobs=jobs, dedupe=False, limits=Limits(),
                  log=lambda msg: marks.append(time.monotonic()) if msg.startswith("[") else None)
        finally:
            for hog in hogs:
                hog.kill()
        first, last = marks[0], marks[-1]
        per_minute = (len(marks) - 1) / (last - first) * 60 if last > first else float("nan")
        phases = {}
        for path in out.glob("*/results.json"):
            for key, value in json.loads(path.read_text())["extra_data"]["timing"].items():
                phases.setdefault(key, []).append(value)
        return per_minute, first - start, {k: statistics.mean(v) for k, v in phases.items()}


def cell_costs():
    """[(check, cpu seconds, wall seconds)] of each cell on the reference, in one sandbox."""
    from kit.instructor.grade.checkrun import CheckNotebook, run_checks
    from kit.instructor.release.manifest import CHECKS_DIR

    iso = choose_isolation("bwrap", cgroups=cgroups.detect())
    nbs = [CheckNotebook.read(p) for p in sorted((ROOT / CHECKS_DIR).glob("*.ipynb"))]
    run = run_checks(lambda: Sandbox(KitView(ROOT), iso, Limits()), nbs, Limits())
    rows = []
    for nb in nbs:
        for i, cell in nb.code_cells():
            record = run.records[nb.name].get(i)
            if record:
                rows.append((cell["metadata"].get("check", "setup: " + cell["source"].splitlines()[-1][:40]),
                             record.cpu, record.wall))
    return rows, run.starts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--load", type=int, default=2, help="CPU-bound processes beside the loaded run")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {sys.version.split()[0]}; bubblewrap {locate_bwrap() or 'missing'}; "
          f"cgroups: {'yes' if cgroups.detect() else 'no'}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print("\n1. Parts of a sandbox start, each alone (median seconds)")
    for name, seconds in parts(args.repeat).items():
        print(f"   {seconds * 1000:8.1f} ms  {name}")
    print(f"\n2. Throughput, {args.submissions} distinct submissions, --jobs {args.jobs}")
    quiet = throughput(args.submissions, args.jobs, 0)
    loaded = throughput(args.submissions, args.jobs, args.load)
    print(f"   {'':34s}{'quiet':>12s}{f'{args.load} CPU hogs':>14s}")
    print(f"   {'submissions per minute':34s}{quiet[0]:12.1f}{loaded[0]:14.1f}   (goal {GOAL_PER_MINUTE}; "
          f"loaded/quiet {loaded[0] / quiet[0]:.2f}, goal >= {GOAL_LOADED})")
    print(f"   {'setup: release, reference, preflight (s)':34s}{quiet[1]:12.2f}{loaded[1]:14.2f}")
    names = {"prepare": "extract + splice", "sandbox_start": "sandbox starts", "sandboxes": "sandboxes (count)",
             "cells_cpu": "check cells, CPU", "cells_wall": "check cells, wall", "score": "scoring",
             "run": "run (starts + cells)"}
    for key, label in names.items():
        if key in quiet[2]:
            unit = "" if key == "sandboxes" else " (ms)"
            scale = 1 if key == "sandboxes" else 1000
            print(f"   {'per submission: ' + label + unit:34s}{quiet[2][key] * scale:12.1f}"
                  f"{loaded[2][key] * scale:14.1f}")
    met = quiet[0] >= GOAL_PER_MINUTE and loaded[0] >= GOAL_LOADED * quiet[0]
    print(f"   goals {'met' if met else 'MISSED'}")
    print("\n3. Check cells on the reference, one sandbox (ms)")
    rows, starts = cell_costs()
    print(f"   sandbox start: {starts[0] * 1000:.1f} ms")
    for name, cpu, wall in rows:
        print(f"   {cpu * 1000:8.1f} cpu {wall * 1000:8.1f} wall  {name}")


if __name__ == "__main__":
    main()
