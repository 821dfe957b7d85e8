"""What a hostile submission costs the grader: wall time of one slot, for each kind of bomb.

    .venv/bin/python bench/bench_bombs.py [--kit ROOT] [--hogs 2] [--as-user NAME --python PY] [BOMB ...]

Each bomb is the reference solution with a few lines planted at the start of
affine_forward (a student region that most checks run): `spinner` (an
infinite loop), `fork` (a classic fork bomb), `sleeper` (sleeps an hour),
`memory` (16 processes of 400 MB each, each under the per-process bound),
`killer` (the executor is killed just before it acknowledges the next
request). Each is graded with
`python -m kit grade --jobs 2` of the kit at --kit (default: this checkout;
another checkout, such as the main branch, for a "before" figure), beside a
correct submission, optionally with --hogs CPU-bound processes running
meanwhile. For each it prints the wall time of the whole command, the bomb's
own grading time (its results.json execution_time), the status and score of
both submissions, the highest load average seen and, for `memory`, the
highest memory in use (MemTotal - MemAvailable) above what was in use before.
--as-user grades as a user that is not root (no cgroups); the folders it uses
are opened to it.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
sys.path.insert(0, str(HERE))

import kit_fixtures as fx  # noqa: E402

BOMBS = {
    "spinner": "while True:\n    pass",
    "fork": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    "sleeper": "import time\ntime.sleep(3600)",
    "memory": ("import os, time\nfor _ in range(16):\n    if os.fork() == 0:\n        try:\n"
               "            block = bytearray(400 * 2**20)\n            time.sleep(3600)\n"
               "        finally:\n            os._exit(0)\ntime.sleep(3600)"),
    "killer": "import json, os\njson.loads = lambda *a, **k: os.kill(os.getpid(), 9)",
}


def bomb_files(kind):
    return fx.in_region(fx.reference_files(), fx.LAYERS, "affine_forward", BOMBS[kind])


def used_memory():
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":")
            info[key] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


class Watch(threading.Thread):
    """The highest load average and memory in use while the grader runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.load, self.base = threading.Event(), 0.0, used_memory()
        self.memory = 0

    def run(self):
        while not self.stop.wait(0.2):
            with open("/proc/loadavg") as f:
                self.load = max(self.load, float(f.read().split()[0]))
            self.memory = max(self.memory, used_memory() - self.base)


def grade(kind, kit, hogs, user, extra, python=None):
    folder = Path(tempfile.mkdtemp(prefix=f"bench-bomb-{kind}-"))
    subs, out = folder / "subs", folder / "out"
    subs.mkdir()
    fx.write_zip(subs / "bomb.zip", bomb_files(kind))
    fx.write_zip(subs / "neighbour.zip", fx.append_code(fx.reference_files(), fx.LAYERS, "# neighbour"))
    python = python or Path(kit) / ".venv" / "bin" / "python"
    cmd = [str(python), "-m", "kit", "grade", str(subs), "--out", str(out), "--jobs", "2", *extra]
    if user:
        os.chmod(folder, 0o777)
        for path in (subs, *subs.iterdir()):
            os.chmod(path, 0o777 if path.is_dir() else 0o644)
        cmd = ["runuser", "-u", user, "--", "env", f"HOME={folder}", f"TMPDIR={folder}", *cmd]
    hog_procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                 for _ in range(hogs)]
    watch = Watch()
    watch.start()
    began = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=kit, capture_output=True, text=True)
    finally:
        wall = time.monotonic() - began
        watch.stop.set()
        for hog in hog_procs:
            hog.kill()
    rows = {}
    if (out / "grades.csv").exists():
        with open(out / "grades.csv") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
    own = None
    if (out / "bomb" / "results.json").exists():
        own = json.loads((out / "bomb" / "results.json").read_text()).get("execution_time")
    line = {"kind": kind, "command_wall_s": round(wall, 1), "bomb_grading_s": own,
            "exit": proc.returncode, "peak_load": round(watch.load, 1)}
    if kind == "memory":
        line["peak_memory_mb_above_start"] = round(watch.memory / 2**20)
    for name in ("bomb", "neighbour"):
        row = rows.get(name, {})
        line[name] = f"{row.get('status')} {row.get('score')}/{row.get('max_score')}"
        if name == "bomb":
            line["reason"] = row.get("reason", "")[:200]
    if not rows:
        line["stderr"] = proc.stderr[-500:]
    print(json.dumps(line), flush=True)
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bombs", nargs="*", default=list(BOMBS), choices=list(BOMBS))
    parser.add_argument("--kit", default=str(HERE), help="the checkout whose `python -m kit grade` runs")
    parser.add_argument("--hogs", type=int, default=0, help="CPU-bound processes beside the grader")
    parser.add_argument("--as-user", default=None, help="run the grader as this (unprivileged) user")
    parser.add_argument("--python", default=None,
                        help="the interpreter of the grader (default: the --kit's .venv; with --as-user, one that "
                             "user can run, with the kit's packages)")
    parser.add_argument("--grade-args", default="", help="more options of kit grade, space-separated")
    args = parser.parse_args()
    for kind in args.bombs:
        grade(kind, args.kit, args.hogs, args.as_user, args.grade_args.split(), args.python)


if __name__ == "__main__":
    main()
