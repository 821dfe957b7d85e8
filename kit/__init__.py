"""Instructor and student tooling for the kit: release, collect, grade.

    python -m kit release DIR            write the student kit (instructor side)
    python -m kit collect                check and zip a submission (student side)
    python -m kit grade SUBS --out DIR   autograde a folder of <student>.zip (instructor side)
    python -m kit report DIR             rewrite DIR/report.html and DIR/checks.csv (instructor side)
    python -m kit gradescope OUT.zip     the autograder bundle for Gradescope (instructor side)

Layout, by trust:
- kit/student/: ships to students (`collect` and what it imports);
- kit/instructor/: the instructor's tools (release, grade, report, the check
  notebooks); never ships, and never imports student code;
- kit/sandboxed/: runs inside the sandbox next to student code (the check
  executor and its launcher); standalone, untrusted, never ships.
"""
