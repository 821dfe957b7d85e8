"""Lay the student's regions into the instructor's scaffold: grade regions, not files.

The grader takes, from each submitted `.py` file, only the code between the
course's START / END markers and writes it into the released scaffold of the
same file (the instructor's current code outside the regions). Regions are
matched by key: the function or method they sit in and their order inside it
(see kit.student.regions), so a file from another year of the course, with
other code around its regions, is graded on its own regions; a scaffold fix
made after the release applies at regrade; and code outside the regions
never runs.

When the student's file does not have a region for every region of the
scaffold (no markers at all, markers that do not pair, a function renamed),
the whole file is graded as it is, and the feedback says so. Regions of the
student's file that the scaffold does not have are ignored (and named).
"""
import re
from dataclasses import dataclass, field

from kit.instructor.pyparse import parse
from kit.student.regions import RegionError, describe_key, find_regions, indentation, region_keys


@dataclass
class Spliced:
    """
    The file the grader runs, and how it was made.

    - text: the source to run.
    - mode: "regions" (student regions in the instructor's scaffold) or "file"
      (the student's whole file).
    - messages: feedback lines about the file.
    - origin: for each line of `text` (0-based), the 1-based line of the
      student's file it comes from, or None for scaffold lines.
    """
    text: str
    mode: str
    messages: list = field(default_factory=list)
    origin: list = field(default_factory=list)

    def student_line(self, line):
        """The student's line number for 1-based `line` of `text`, or None (scaffold or out of range)."""
        if 1 <= line <= len(self.origin):
            return self.origin[line - 1]
        return None


def _reindent(lines, new):
    """
    The lines of a region body moved to indentation `new` (the scaffold's START marker's).

    The body's own level is the white space that all its code lines share
    (comments and blank lines may sit anywhere); lines that do not start with
    it are kept as they are.
    """
    code = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not code:
        return list(lines)
    old = indentation(code[0])
    for line in code[1:]:
        while not line.startswith(old):
            old = old[:-1]
    if old == new:
        return list(lines)
    return [new + line[len(old):] if line.startswith(old) and line.strip() else line for line in lines]


def splice(rel, scaffold, student):
    """
    The file to grade for `rel`, from the released scaffold and the student's text.

    Inputs:
    - rel: The file's path in the kit (for messages), e.g. "cs231n/layers.py".
    - scaffold: The released file (instructor code, regions stubbed).
    - student: The student's submitted file.

    Returns:
    - A Spliced.
    """
    sc_lines, st_lines = scaffold.splitlines(), student.splitlines()
    sc_regions = find_regions(sc_lines)
    sc_keys = region_keys(sc_lines, sc_regions)
    whole = Spliced(student, "file", origin=list(range(1, len(st_lines) + 1)))
    try:
        st_regions = find_regions(st_lines)
    except RegionError as err:
        whole.messages.append(f"{rel}: the START / END OF YOUR CODE lines do not pair up ({err}): "
                              f"the whole file was graded as you wrote it")
        return whole
    if not st_regions:
        whole.messages.append(f"{rel}: no START / END OF YOUR CODE lines found: the whole file was "
                              f"graded as you wrote it")
        return whole
    st_keys = region_keys(st_lines, st_regions)
    by_key = dict(zip(st_keys, st_regions))
    missing = [k for k in sc_keys if k not in by_key]
    if missing:
        names = ", ".join(describe_key(k) for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
        whole.messages.append(f"{rel}: your file has no {names} (regions are matched by the function "
                              f"they are in): the whole file was graded as you wrote it")
        return whole
    out, origin, last = [], [], 0
    for key, (s, e) in zip(sc_keys, sc_regions):
        out.extend(sc_lines[last:s + 1])
        origin.extend([None] * (s + 1 - last))
        a, b = by_key[key]
        body = _reindent(st_lines[a + 1:b], indentation(sc_lines[s]))
        out.extend(body)
        origin.extend(range(a + 2, b + 1))
        last = e
    out.extend(sc_lines[last:])
    origin.extend([None] * (len(sc_lines) - last))
    result = Spliced("\n".join(out) + "\n", "regions", origin=origin)
    extra = [k for k in st_keys if k not in set(sc_keys)]
    if extra:
        names = ", ".join(describe_key(k) for k in extra[:5]) + (" ..." if len(extra) > 5 else "")
        result.messages.append(f"{rel}: not graded (not part of this assignment): your {names}")
    return result


def syntax_message(rel, spliced):
    """
    A feedback line when the file to grade does not parse, naming the student's file and line.

    Returns:
    - None when the text parses.
    """
    try:
        parse(spliced.text, filename=rel)
        return None
    except SyntaxError as err:
        line = spliced.student_line(err.lineno or 0)
        where = f"{rel}, line {line}" if line else (
            f"{rel} (the code around your regions, line {err.lineno})" if err.lineno else rel)
        text = f": {err.text.strip()}" if err.text and err.text.strip() else ""
        return f"{where}: SyntaxError: {err.msg}{text}"
    except (ValueError, RecursionError, MemoryError) as err:
        return f"{rel}: cannot be read as Python source ({type(err).__name__})"


_TRACE_LINE = re.compile(r'File "/kit/([^"]+)", line (\d+)')


def map_traceback(text, spliced_files):
    """
    Rewrite `File "/kit/<rel>", line N` in a traceback to the student's own line numbers.

    Inputs:
    - text: Traceback text from the sandbox.
    - spliced_files: {rel: Spliced} of the submission.
    """
    def repl(match):
        rel, line = match.group(1), int(match.group(2))
        spliced = spliced_files.get(rel)
        if spliced is None or spliced.mode == "file":
            return f'File "{rel}", line {line}'
        own = spliced.student_line(line)
        return f'File "{rel}", line {own}' if own else f'File "{rel}" (given code, line {line})'
    return _TRACE_LINE.sub(repl, text)
