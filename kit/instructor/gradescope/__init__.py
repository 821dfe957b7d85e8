"""Gradescope: the autograder bundle, and what runs for each submission in Gradescope's container.

- bundle.py: `python -m kit gradescope OUT.zip`, the bundle of what grading needs;
- autograder.py: run by the bundle's run_autograder for every submission;
- container.py: the isolation there (bubblewrap, or the single-use container mode where it cannot start);
- files/: setup.sh, run_autograder and README.md, at the bundle's root.
"""
