"""
Parsing Python source in a grader that grades several submissions at once, in threads.

CPython 3.11 (seen on 3.11.7) keeps the AST constructor's recursion depth in
state that all threads share. When a garbage-collection finalizer lets another
thread run in the middle of `ast.parse` (closing a pipe of a finished sandbox
does), that thread's parse moves the shared depth and one of the two fails with
`SystemError: AST constructor recursion depth mismatch`: a correct submission
would get "could not grade". Every parse of the grader goes through `parse`,
which holds one lock; parsing takes milliseconds, so nothing waits long.
"""
import ast
import threading

_LOCK = threading.Lock()


def parse(source, filename="<unknown>"):
    """
    ast.parse, one thread at a time.

    Inputs:
    - source: Python source text.
    - filename: the name SyntaxError messages give.

    Returns:
    - The module's ast.Module.

    Raises:
    - SyntaxError for text that does not parse, including text nested too
      deeply for the parser (which CPython reports as MemoryError or
      RecursionError).
    """
    with _LOCK:
        try:
            return ast.parse(source, filename=filename)
        except (MemoryError, RecursionError):
            raise SyntaxError("the code is nested too deeply to compile", (filename, None, None, None)) from None
