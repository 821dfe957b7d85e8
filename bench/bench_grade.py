"""Grading throughput: submissions per minute for `python -m kit grade --jobs N`.

Plants N distinct submissions (the reference solution and the course's bugs,
each made unique by a comment so that no result is reused), grades them with
dedupe off, and prints the figure. Not a test.

    .venv/bin/python bench/bench_grade.py --submissions 20 --jobs 2
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
sys.modules.setdefault("rfc3987_syntax", None)  # see kit/__main__.py

import kit_fixtures as fx  # noqa: E402
from kit.grade import grade  # noqa: E402
from kit.sandbox import Limits  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--isolation", default="auto", choices=("auto", "bwrap", "rlimits"))
    args = parser.parse_args()
    ref = fx.reference_files()
    kinds = [ref] + [fx.apply(ref, bug) for bug in fx.BUGS.values()]
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        subs.mkdir()
        for i in range(args.submissions):
            files = fx.append_code(kinds[i % len(kinds)], fx.LAYERS, f"# submission {i}")
            fx.write_zip(subs / f"student{i:03d}.zip", files)
        prepared = []
        start = time.monotonic()
        grade(subs, out, jobs=args.jobs, dedupe=False, isolation=args.isolation, limits=Limits(),
              log=lambda msg: prepared.append((time.monotonic(), msg)))
        total = time.monotonic() - start
        first = prepared[0][0] - start if prepared else 0.0
    grading = total - first
    print(f"{args.submissions} submissions, --jobs {args.jobs}: {total:.1f} s in all "
          f"(release + reference run + first submission: {first:.1f} s)")
    print(f"throughput: {args.submissions / total * 60:.1f} submissions per minute overall, "
          f"{(args.submissions - 1) / grading * 60:.1f} per minute once started")


if __name__ == "__main__":
    main()
