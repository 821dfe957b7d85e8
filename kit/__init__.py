"""Instructor and student tooling for the kit: release, collect, grade.

    python -m kit release DIR            write the student kit (instructor side)
    python -m kit collect                check and zip a submission (student side)
    python -m kit grade SUBS --out DIR   autograde a folder of <student>.zip (instructor side)

The student kit ships only what `collect` needs (kit/__init__.py, __main__.py,
regions.py, files.py, collect.py); grading code and the check notebooks in
kit/checks/ stay with the instructor.
"""
