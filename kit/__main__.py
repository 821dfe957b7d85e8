"""Command line: python -m kit {release,check,collect,grade,report,manual,merge,roster,export,similarity,gradescope} ...

The student kit ships only `check` and `collect` (kit/student/); the other commands are
the instructor's (kit/instructor/) and exist only in the instructor source.
"""
import argparse
import importlib
import importlib.util
import sys

COMMANDS = {"release": "kit.instructor.release.student_kit", "check": "kit.student.check",
            "collect": "kit.student.collect",
            "grade": "kit.instructor.grade.run", "report": "kit.instructor.grade.classreport",
            "gradescope": "kit.instructor.gradescope.bundle", "manual": "kit.instructor.gradebook.marks",
            "merge": "kit.instructor.gradebook.marks", "roster": "kit.instructor.gradebook.roster",
            "export": "kit.instructor.gradebook.export", "similarity": "kit.instructor.similarity"}


def _available(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _late_options(p):
    p.add_argument("--due", default=None, help="the due time, e.g. 2026-10-21T23:59 (ISO 8601)")
    p.add_argument("--late-penalty", default=None, help="with --due: the share of the score lost per day late, "
                                                        "e.g. 10%%/day")
    p.add_argument("--late-days", type=int, default=None,
                   help="with --due: days late accepted without penalty (0 points after)")
    p.add_argument("--times", default=None, help="a CSV of upload times: columns submission (zip name), "
                                                 "submitted_at (ISO 8601)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="write the student kit into DIR (instructor)")
    p.add_argument("dir", help="destination directory (must not exist or be empty)")
    p.add_argument("--source", default=None, help="instructor source root (default: current directory)")

    p = sub.add_parser("check", help="run your notebooks on your current code against the reference outputs "
                                     "(student; `make test`)")
    p.add_argument("notebooks", nargs="*", help="only these notebooks, e.g. two_layer_net (default: all); the more "
                                                "checks always run")
    p.add_argument("--root", default=".", help="kit root (default: current directory)")

    p = sub.add_parser("collect", help="check your notebooks and code, write submission.zip (student)")
    p.add_argument("--root", default=".", help="kit root (default: current directory)")
    p.add_argument("--output", default="submission.zip", help="zip to write (default: submission.zip)")
    p.add_argument("--partial", action="store_true",
                   help="write the zip even when checks fail or cells were not run (unfinished work)")
    p.add_argument("--id", default=None,
                   help="your id in the course's roster (as your instructor gives it), written into the zip")
    p.add_argument("--no-check", action="store_true",
                   help="do not run the self-check first (only that the notebooks were run and the code imports)")

    p = sub.add_parser("grade", help="autograde a directory of <student>.zip (instructor)")
    p.add_argument("submissions", help="directory holding one <student>.zip per student")
    p.add_argument("--out", required=True, help="output directory (grades.csv, <student>/results.json, ...)")
    p.add_argument("--source", default=None, help="instructor source root (default: the one holding kit/)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--scheduler", default=None, help="address of a Dask distributed scheduler")
    p.add_argument("--force", action="store_true", help="grade again every submission")
    p.add_argument("--retry-errors", action="store_true",
                   help="grade again only the submissions whose status is error")
    p.add_argument("--cell-timeout", type=float, default=20,
                   help="CPU seconds per check cell (default 20)")
    p.add_argument("--timeout", type=float, default=90,
                   help="CPU seconds for all the code checks of one submission, sandbox restarts included "
                        "(default 90)")
    p.add_argument("--wall-timeout", type=float, default=90,
                   help="seconds of wall time for all the code checks of one submission, sandbox starts and "
                        "restarts included, less the time spent waiting for a CPU (default 90)")
    p.add_argument("--memory-mb", type=int, default=2048, help="memory of one sandbox, in MiB (default 2048)")
    p.add_argument("--memory-per-process", action="store_true",
                   help="where a sandbox's memory cannot be bounded as a whole (no cgroups, no bubblewrap, not "
                        "root), grade with each process's memory bounded alone")
    p.add_argument("--tmp-mb", type=int, default=256,
                   help="size of a sandbox's /tmp and /dev/shm, and the largest file it may write, in MiB "
                        "(default 256)")
    p.add_argument("--isolation", choices=("auto", "bwrap", "rlimits"), default="auto",
                   help="auto or bwrap: bubblewrap, required; rlimits: no file-system sandbox (unsafe)")
    p.add_argument("--bwrap", default=None, help="path of the bubblewrap executable (default: found on PATH)")
    p.add_argument("--no-dedupe", action="store_true",
                   help="grade byte-identical zips each time (default: once, result copied)")
    p.add_argument("--checks", default=None, help="directory of check notebooks (default kit/instructor/grade/checks)")
    p.add_argument("--data", default=None,
                   help="a CIFAR-10 folder (cifar-10-batches-py), relative to the current folder: also grade "
                        "the notebooks with nbval")
    p.add_argument("--nb-timeout", type=float, default=None,
                   help="CPU seconds per notebook (default: three times what the reference's notebook takes "
                        "when graded in the sandbox)")
    p.add_argument("--data-url", default=None,
                   help="with --scheduler and --data: the URL (http, https, file://) of the CIFAR-10 archive that "
                        "--data was extracted from; a worker without a copy fetches it once, MD5-checked")
    p.add_argument("--data-md5", default=None,
                   help="the MD5 of the --data-url archive (default: the official archive's)")
    p.add_argument("--worker-wait", type=float, default=None,
                   help="with --scheduler: seconds with no Dask worker after which the run stops (default 60)")

    p = sub.add_parser("report", help="write report.html and checks.csv of a grading folder (instructor)")
    p.add_argument("dir", help="the --out folder of a grading run (grades.csv, <student>/results.json)")
    p = sub.add_parser("manual", help="write the marking sheet of the inline questions, manual_marks.csv, and a "
                                      "page per question (instructor)")
    p.add_argument("grades", help="the --out folder of a grading run")
    p.add_argument("--source", default=None, help="instructor source root (default: the one holding kit/)")
    p = sub.add_parser("merge", help="add the marks of a marking sheet to grades.csv, results.json and the "
                                     "report (instructor)")
    p.add_argument("grades", help="the --out folder of a grading run")
    p.add_argument("sheet", nargs="?", default=None, help="the marking sheet (default GRADES/manual_marks.csv)")
    p.add_argument("--source", default=None, help="instructor source root (default: the one holding kit/)")
    p = sub.add_parser("roster", help="match a roster to the submissions, with the late policy: roster.csv "
                                      "(instructor)")
    p.add_argument("grades", help="the --out folder of a grading run")
    p.add_argument("roster", help="the roster, a CSV file with the columns id, name, email")
    p.add_argument("--submissions", required=True, help="the folder of <student>.zip files that was graded")
    _late_options(p)
    p = sub.add_parser("export", help="write the gradebook CSV a learning management system imports (instructor)")
    p.add_argument("grades", help="the --out folder of a grading run, with its roster.csv")
    p.add_argument("--format", choices=("canvas", "csv"), default="canvas", help="canvas (default) or csv")
    p.add_argument("--output", default=None, help="the file to write (default GRADES/gradebook-FORMAT.csv)")
    p.add_argument("--assignment", default="Two-layer neural network",
                   help="the assignment's column name in the gradebook")
    p = sub.add_parser("similarity", help="rank pairs of submissions (and public solutions) by the code they "
                                          "share, offline report (instructor)")
    p.add_argument("submissions", help="the folder of <student>.zip files")
    p.add_argument("--public", default=None, help="a folder of known public solutions (folders, zips or .py files)")
    p.add_argument("--out", required=True, help="where to write index.html, pairs.csv and pairs/")
    p.add_argument("--source", default=None, help="instructor source root (default: the one holding kit/)")
    p = sub.add_parser("gradescope", help="write the autograder bundle for Gradescope (instructor)")
    p.add_argument("out", help="the zip to write, for Gradescope's \"Zip file upload\"")
    p.add_argument("--source", default=None, help="instructor source root (default: the one holding kit/)")
    p.add_argument("--isolation", choices=("auto", "bwrap", "rlimits"), default="auto",
                   help="auto or bwrap: bubblewrap, required on Gradescope; rlimits: no file-system sandbox")
    p.add_argument("--wheels", default=None, help="folder of wheels that setup.sh installs without the network")
    p.add_argument("--venv", default="/opt/kit-venv", help="where setup.sh makes the grading virtualenv")
    p.add_argument("--visibility", choices=("visible", "hidden", "after_due_date", "after_published"),
                   default="visible", help="Gradescope's visibility of the whole result (default visible)")
    p.add_argument("--cell-timeout", type=float, default=20, help="CPU seconds per check cell (default 20)")
    p.add_argument("--timeout", type=float, default=90,
                   help="CPU seconds for the code checks of a submission (default 90)")
    p.add_argument("--wall-timeout", type=float, default=90,
                   help="seconds of wall time for the code checks of a submission (default 90)")
    p.add_argument("--memory-mb", type=int, default=2048, help="memory of one sandbox, in MiB (default 2048)")
    p.add_argument("--data-url", default=None,
                   help="CIFAR-10 archive setup.sh downloads, to grade the notebooks (default: the official one)")
    p.add_argument("--data-md5", default=None,
                   help="MD5 of that archive (needed with --data-url; default: the official archive's)")
    p.add_argument("--no-data", action="store_true", help="no CIFAR-10 download: grade the code checks only")
    p.add_argument("--nb-timeout", type=float, default=None,
                   help="CPU seconds per notebook (default: three times the reference notebook's runtime)")

    args = parser.parse_args(argv)
    module = COMMANDS[args.command]
    if not _available(module):
        print(f"`python -m kit {args.command}` is an instructor command; the student kit has only "
              f"`python -m kit check` and `python -m kit collect`.", file=sys.stderr)
        return 2
    return importlib.import_module(module).main(args)


if __name__ == "__main__":
    sys.exit(main())
