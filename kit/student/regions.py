"""Student regions: the code between the course's START / END marker lines.

A region is the run of lines strictly between a START marker line and the next
END marker line. Each region has a key, `(qualname, k)`: the function or
method it sits in (`"TwoLayerNet.loss"`, or `""` at module level) and its
order among the regions of that function (0, 1, ...). Keys are found from
indentation alone, so that a file that does not parse still has them.
`stub_regions` empties every region to a TODO stub that keeps the file
importable.
"""
import re

START = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
STUB = ("# TODO: write your code here.", "pass")

_DEFINITION = re.compile(r"^(\s*)(?:async\s+def|def|class)\s+([A-Za-z_]\w*)")


class RegionError(ValueError):
    """Markers that do not pair up (a START without its END, or the reverse)."""


def find_regions(lines):
    """
    Locate the student regions in a list of lines (without line ends).

    Returns:
    - A list of (start, end) index pairs: lines[start] is a START marker,
      lines[end] the matching END marker.

    Raises:
    - RegionError when markers do not pair up.
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


def indentation(line):
    """The leading white space of `line`."""
    return line[:len(line) - len(line.lstrip())]


def enclosing_name(lines, index):
    """
    The dotted name of the function or class that line `index` sits in.

    Walks back over the lines above, keeping each `def` / `class` line that is
    indented less than everything found so far: `"TwoLayerNet.loss"` for a line
    inside that method, `""` at module level.
    """
    width = len(indentation(lines[index]).expandtabs())
    names = []
    for line in reversed(lines[:index]):
        match = _DEFINITION.match(line)
        if not match:
            continue
        depth = len(match.group(1).expandtabs())
        if depth < width:
            names.append(match.group(2))
            width = depth
            if depth == 0:
                break
    return ".".join(reversed(names))


def region_keys(lines, regions=None):
    """
    The key `(qualname, k)` of each region of `lines`, in file order.

    Inputs:
    - lines: The file's lines.
    - regions: Its (start, end) pairs, if already found (see find_regions).
    """
    regions = find_regions(lines) if regions is None else regions
    keys, seen = [], {}
    for start, _ in regions:
        name = enclosing_name(lines, start)
        keys.append((name, seen.get(name, 0)))
        seen[name] = seen.get(name, 0) + 1
    return keys


def describe_key(key):
    """A region key in words: `region 2 of TwoLayerNet.loss`."""
    name, k = key
    return f"region {k + 1} of {name}" if name else f"module-level region {k + 1}"


def stub_regions(text):
    """
    Replace the body of every region by a TODO stub (a comment and `pass`).

    The marker lines are kept unchanged, and the stub takes the indentation of
    the START marker, so that the file still parses.
    """
    lines = text.splitlines()
    out, last = [], 0
    for s, e in find_regions(lines):
        indent = indentation(lines[s])
        out.extend(lines[last:s + 1])
        out.extend(indent + line for line in STUB)
        last = e
    out.extend(lines[last:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
