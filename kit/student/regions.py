"""Student regions: the code between the course's START / END marker lines.

A region is the run of lines strictly between a START marker line and the next
END marker line. `stub_regions` empties every region to a TODO stub that keeps
the file importable; `region_lines` lists what the regions hold (the reference
solution, in the instructor source).
"""
import re

START = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"


class RegionError(ValueError):
    """Markers that do not pair up (a START without its END, or the reverse)."""


def find_regions(lines):
    """
    Locate the student regions in a list of lines (without line ends).

    Returns:
    - A list of (start, end) index pairs: lines[start] is a START marker,
      lines[end] the matching END marker.
    """
    regions, open_at = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == START:
            if open_at is not None:
                raise RegionError(f"line {i + 1}: START marker inside the region opened at line {open_at + 1}")
            open_at = i
        elif text == END:
            if open_at is None:
                raise RegionError(f"line {i + 1}: END marker without a START marker")
            regions.append((open_at, i))
            open_at = None
    if open_at is not None:
        raise RegionError(f"line {open_at + 1}: START marker without an END marker")
    return regions


def has_regions(text):
    """True when some line of `text` is a START marker line."""
    return START in text and any(line.strip() == START for line in text.splitlines())


def region_lines(text):
    """The lines strictly inside the regions of `text`."""
    lines = text.splitlines()
    return [line for s, e in find_regions(lines) for line in lines[s + 1:e]]


def outside_lines(text):
    """The lines of `text` outside every region (marker lines included)."""
    lines = text.splitlines()
    inside = {i for s, e in find_regions(lines) for i in range(s + 1, e)}
    return [line for i, line in enumerate(lines) if i not in inside]


def stub_lines(indent, what="code"):
    return [f"{indent}# TODO: write your {what} here.", f"{indent}pass"]


def stub_regions(text, what="code"):
    """
    Replace the body of every region by a TODO stub (a comment and `pass`).

    The marker lines are kept unchanged, and the stub takes the indentation of
    the START marker, so that the file still parses.
    """
    lines = text.splitlines()
    out, last = [], 0
    for s, e in find_regions(lines):
        indent = re.match(r"\s*", lines[s]).group(0)
        out.extend(lines[last:s + 1])
        out.extend(stub_lines(indent, what))
        last = e
    out.extend(lines[last:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
