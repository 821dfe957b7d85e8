"""Command line: python -m kit {release,collect,grade} ...

The student kit ships only `collect`; the other commands exist in the
instructor source.
"""
import argparse
import importlib.util
import sys


def _available(module):
    return importlib.util.find_spec(f"kit.{module}") is not None


def main(argv=None):
    # jsonschema (under nbformat) imports rfc3987_syntax when installed, which builds a
    # grammar at import time (seconds); the kit never needs that "iri" format check.
    sys.modules.setdefault("rfc3987_syntax", None)
    parser = argparse.ArgumentParser(prog="python -m kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="write the student kit into DIR (instructor)")
    p.add_argument("dir", help="destination directory (must not exist or be empty)")
    p.add_argument("--source", default=None, help="instructor source root (default: current directory)")

    p = sub.add_parser("collect", help="check your notebooks and code, write submission.zip (student)")
    p.add_argument("--root", default=".", help="kit root (default: current directory)")
    p.add_argument("--output", default="submission.zip", help="zip to write (default: submission.zip)")

    p = sub.add_parser("grade", help="autograde a directory of <student>.zip (instructor)")
    p.add_argument("submissions", help="directory holding one <student>.zip per student")
    p.add_argument("--out", required=True, help="output directory (grades.csv, <student>/results.json, ...)")
    p.add_argument("--source", default=None, help="instructor source root (default: the one holding kit/)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--scheduler", default=None, help="address of a Dask distributed scheduler")
    p.add_argument("--force", action="store_true", help="grade again submissions already graded")
    p.add_argument("--cell-timeout", type=float, default=20, help="seconds per check cell (default 20)")
    p.add_argument("--timeout", type=float, default=180, help="seconds per submission (default 180)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address-space limit per process (MiB)")
    p.add_argument("--isolation", choices=("auto", "bwrap", "rlimits"), default="auto",
                   help="bwrap when available (auto), or rlimits only")
    p.add_argument("--no-dedupe", action="store_true",
                   help="grade byte-identical zips each time (default: once, result copied)")
    p.add_argument("--checks", default=None, help="directory of check notebooks (default kit/checks)")

    args = parser.parse_args(argv)
    if args.command != "collect" and not _available(args.command):
        print(f"`python -m kit {args.command}` is an instructor command; the student kit has only "
              f"`python -m kit collect`.", file=sys.stderr)
        return 2
    module = importlib.import_module(f"kit.{args.command}")
    return module.main(args)


if __name__ == "__main__":
    sys.exit(main())
