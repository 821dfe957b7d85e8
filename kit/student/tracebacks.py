"""Where an error was raised, in the student's terms: the file of theirs and the line, not a traceback."""
import re
from pathlib import Path

from kit.student.regions import has_regions

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A frame, as Python ('File "x/cs231n/layers.py", line 3, in f') or IPython ('File x/cs231n/layers.py:3, in f(...)')
# writes it.
FRAME = re.compile(r'File "?([^",]*?(cs231n/[\w/]+\.py))"?(?:, line |:)(\d+)(?:, in ([\w.]+))?')


def clean(text):
    """`text` without the terminal colour codes of IPython's tracebacks."""
    return ANSI.sub("", str(text))


def _holds_student_code(path):
    try:
        return has_regions(Path(path).read_text(encoding="utf-8"))
    except OSError:
        return False


def location(traceback_text):
    """
    Where an error was raised, for a message: the deepest frame in the kit's cs231n/ package,
    preferring the files that hold student code.

    Inputs:
    - traceback_text: A traceback as text (ANSI colours allowed).

    Returns:
    - "cs231n/layers.py, line 42, in affine_forward", or "" when no frame is in cs231n/.
    """
    hits = FRAME.findall(clean(traceback_text))
    mine = [hit for hit in hits if _holds_student_code(hit[0])]
    if not (mine or hits):
        return ""
    _, rel, line, function = (mine or hits)[-1]
    return f"{rel}, line {line}" + (f", in {function}" if function else "")
