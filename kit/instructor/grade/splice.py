"""Lay the student's regions into the instructor's scaffold: grade regions, not files.

The grader takes, from each submitted `.py` file, only the code between the
course's START / END markers and writes it into the released scaffold of the
same file (the instructor's current code outside the regions). Regions are
matched by key: the function or method they sit in and their order inside it
(see kit.student.regions), so a file from another year of the course, with
other code around its regions, is graded on its own regions; a scaffold fix
made after the release applies at regrade; and code outside the regions
never runs.

Helper definitions a student wrote just outside the regions are kept: a
function, class or `name = ...` assignment (a lambda, a constant) that the
scaffold does not define in that scope, at module level, in a class body, or
in the body of a function that has regions (a `relu = lambda x: ...` written
between the given lines and the first region). They go to the same place
relative to the regions, and the feedback names them. Nothing else outside the
regions is kept: statements, imports (a course-era `from past.builtins import
xrange` would not import), and changes to given lines.

When the student's file does not have a region for every region of the
scaffold (no markers at all, markers that do not pair, a function renamed),
the whole file is graded as it is, and the feedback says so. Regions of the
student's file that the scaffold does not have are ignored (and named).
"""
import ast
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
    after, kept = _helpers(sc_lines, sc_regions, sc_keys, st_lines, st_regions, st_keys, scaffold, student)
    out, origin = [], []

    def emit(begin, end):
        for i in range(begin, end):
            out.append(sc_lines[i])
            origin.append(None)
            for _, lines, numbers in sorted(after.get(i, ()), key=lambda item: item[0]):
                out.extend(lines)
                origin.extend(numbers)

    last = 0
    for key, (s, e) in zip(sc_keys, sc_regions):
        emit(last, s + 1)
        a, b = by_key[key]
        body = _reindent(st_lines[a + 1:b], indentation(sc_lines[s]))
        out.extend(body)
        origin.extend(range(a + 2, b + 1))
        last = e
    emit(last, len(sc_lines))
    result = Spliced("\n".join(out) + "\n", "regions", origin=origin)
    if kept:
        result.messages.append(f"{rel}: kept your definitions outside the regions: {', '.join(kept)} "
                               f"(the rest of the code around your regions is the instructor's)")
    extra = [k for k in st_keys if k not in set(sc_keys)]
    if extra:
        names = ", ".join(describe_key(k) for k in extra[:5]) + (" ..." if len(extra) > 5 else "")
        result.messages.append(f"{rel}: not graded (not part of this assignment): your {names}")
    return result


# ---------------------------------------------------------------------------- helpers outside regions

def _scopes(tree):
    """[(qualname, kind, node)] of the module, its classes and the functions of both ("" is the module)."""
    found = [("", "module", tree)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found.append((node.name, "class", node))
            found += [(f"{node.name}.{item.name}", "function", item) for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, "function", node))
    return found


def _first_line(node):
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])


def _stored_names(node):
    """The names a statement binds in its own scope (not inside the functions or classes it defines)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store):
            names.add(item.id)
        elif isinstance(item, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in item.names)
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(item))
    return names


def _definition(node):
    """The names a helper definition binds, or None when `node` is not one (a statement, an import)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else (
        [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else None)
    if targets and all(isinstance(t, ast.Name) for t in targets):
        return [t.id for t in targets]
    return None


def _scope_names(kind, node):
    names = set()
    if kind == "function":
        args = node.args
        names.update(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs)
        names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    for item in node.body:
        names |= _stored_names(item)
    return names


def _helpers(sc_lines, sc_regions, sc_keys, st_lines, st_regions, st_keys, scaffold, student):
    """
    The student's helper definitions outside the regions, placed in the scaffold.

    Returns:
    - after: {scaffold line index: [(depth, lines, student line numbers)]} to write after that
      line, innermost scope first.
    - kept: The names kept, with their lines, for the feedback.
    """
    try:
        st_tree, sc_tree = parse(student), parse(scaffold)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}, []
    sc_scopes = {name: (kind, node) for name, kind, node in _scopes(sc_tree)}
    st_inside = [(a + 1, b + 1) for a, b in st_regions]              # 1-based marker lines
    sc_by_key = dict(zip(sc_keys, sc_regions))
    st_by_name = {}
    for key, (a, b) in zip(st_keys, st_regions):
        st_by_name.setdefault(key[0], []).append((key, a + 1, b + 1))
    after, kept = {}, []
    for name, kind, node in _scopes(st_tree):
        if name not in sc_scopes or sc_scopes[name][0] != kind:
            continue
        if kind == "function" and name not in st_by_name:
            continue   # only functions with regions: the rest of a given function is the instructor's
        sc_kind, sc_node = sc_scopes[name]
        given = _scope_names(sc_kind, sc_node)
        for item in node.body:
            names = _definition(item)
            first, last = _first_line(item), item.end_lineno
            if (not names or any(n in given for n in names)
                    or any(a <= last and first <= b for a, b in st_inside)):
                continue
            if kind == "module":
                at, indent = len(sc_lines) - 1, ""
            elif kind == "class":
                at, indent = _class_end(sc_node, sc_regions), indentation(sc_lines[sc_node.body[0].lineno - 1])
            else:
                following = [key for key, a, _ in st_by_name[name] if a > last]
                if following:
                    s, _ = sc_by_key[following[0]]
                    at = s - 1
                else:
                    s, at = sc_by_key[st_by_name[name][-1][0]]
                indent = indentation(sc_lines[s])
            lines = _reindent(st_lines[first - 1:last], indent)
            if kind == "module":
                lines = [""] + lines
            numbers = ([None] if kind == "module" else []) + list(range(first, last + 1))
            depth = {"function": 0, "class": 1, "module": 2}[kind]   # a class ends before the module does
            after.setdefault(at, []).append((depth, lines, numbers))
            kept.append(f"{', '.join(names)} (line {first})")
    return after, kept


def _class_end(node, regions):
    """The 0-based index of a class's last line in the scaffold, moved to a region's END line if inside one."""
    end = node.end_lineno - 1
    for s, e in regions:
        if s < end < e:
            return e
    return end


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
