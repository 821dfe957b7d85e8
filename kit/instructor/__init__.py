"""The instructor's tools, by stage (never shipped to students; student code is never imported here).

- notebooks.py: the one reader of notebook cells and of their grading metadata;
- pyparse.py: parsing Python source, one thread at a time;
- release/: the student kit, written from this source (`python -m kit release`);
- grade/: autograding a folder of submissions (`python -m kit grade`, `python -m kit report`);
- sandbox/: the sandbox that student code runs in, started and bounded from here;
- gradescope/: the autograder bundle (`python -m kit gradescope`) and what runs in its container.
"""
