"""The grading week, after `kit grade`: inline questions marked by hand (marks.py)."""
