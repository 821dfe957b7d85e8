"""Instructor and student tooling for the kit: release, check, collect, grade, the grading week.

    python -m kit release DIR            write the student kit (instructor side)
    python -m kit collect                check and zip a submission (student side)
    python -m kit grade SUBS --out DIR   autograde a folder of <student>.zip (instructor side)
    python -m kit report DIR             rewrite DIR/report.html and DIR/checks.csv (instructor side)
    python -m kit gradescope OUT.zip     the autograder bundle for Gradescope (instructor side)
    python -m kit manual|merge DIR       inline questions marked by hand (instructor side)
    python -m kit roster|export DIR      the roster, late policy and gradebook export (instructor side)
    python -m kit similarity SUBS        code students share, ranked (instructor side)

Layout, by trust (the student kit has only kit/student/):

    kit/
      student/          ships to students: `collect` and what it imports
      sandboxed/        runs inside the sandbox, next to student code: standalone, untrusted
      instructor/       the instructor's tools: never ship, never import student code
        release/        stage 1: the student kit (manifest, notebooks, leak check)
        grade/          stage 2: one run -> one submission -> checks, notebooks -> results, reports
        sandbox/        the box student code runs in, started and bounded from the grader
        gradescope/     the same grading, bundled for Gradescope's containers
        gradebook/      stage 3: after grading: marks given by hand, roster, late policy, export
        similarity/     stage 3: the code students wrote, compared (copydetect)

Nothing under kit/student/ or kit/sandboxed/ imports kit/instructor/
(tests/test_kit_layout.py checks these rules).
"""
import sys

# jsonschema (which nbformat and nbval import) imports rfc3987_syntax when it is installed,
# and that builds a grammar at import time (a second or more, in every process that reads a
# notebook); the kit never uses the "iri" format check it serves. Importing the kit first
# (`python -m kit`, `pytest -p kit...`) leaves it out.
sys.modules.setdefault("rfc3987_syntax", None)
