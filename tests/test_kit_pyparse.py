"""kit.instructor.pyparse: the grader parses Python in several threads at once.

On CPython 3.11 two threads parsing at the same time can fail with
`SystemError: AST constructor recursion depth mismatch` when a finalizer lets
the other thread run mid-parse; graded in threads, a correct submission got
"could not grade" that way. Every parse of the grader holds one lock.
"""
import gc
import sys
import threading
import time

import pytest

from kit.instructor import pyparse
from kit.instructor.grade import manual, splice
from kit.instructor.pyparse import parse


class RecordingLock:
    """A lock that counts how often it was taken."""

    def __init__(self):
        self.lock, self.taken = threading.Lock(), 0

    def __enter__(self):
        self.lock.acquire()
        self.taken += 1

    def __exit__(self, *exc):
        self.lock.release()


def test_the_graders_parses_take_the_lock(monkeypatch):
    lock = RecordingLock()
    monkeypatch.setattr(pyparse, "_LOCK", lock)
    assert splice.syntax_message("m.py", splice.splice("m.py", "x = 1\n", "x = 1\n")) is None
    assert lock.taken == 1
    assert manual._answer_value("answer = [1, 3]") == "[1, 3]"
    assert lock.taken == 2


class _Finalized:
    """Garbage whose finalizer lets other threads run (as a closed pipe's does)."""

    def __del__(self):
        time.sleep(1e-5)


def _parse_beside_finalizers(parser, objects=4000):
    """
    Parse in two threads while a third makes `objects` pieces of cyclic garbage with finalizers.

    Returns:
    - The SystemErrors the parses raised (a list).
    """
    source = open(splice.__file__, encoding="utf-8").read()
    errors, garbage_done = [], threading.Event()

    def parse_loop():
        while not garbage_done.is_set():
            try:
                parser(source)
            except SystemError as err:
                errors.append(err)

    def garbage():
        for _ in range(objects):  # bounded: each finalizer sleeps, and they run in the parsing threads
            g = _Finalized()
            g.cycle = g  # freed by the collector, at any allocation of another thread
        gc.collect()
        garbage_done.set()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    threads = [threading.Thread(target=parse_loop) for _ in range(2)] + [threading.Thread(target=garbage)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        garbage_done.set()
        sys.setswitchinterval(previous)
    return errors


@pytest.mark.timeout(120)
def test_parsing_in_threads_beside_finalizers_never_fails():
    assert _parse_beside_finalizers(parse) == []


def test_code_nested_too_deeply_is_a_syntax_error_not_a_grader_error():
    with pytest.raises(SyntaxError, match="nested too deeply"):
        parse("x = " + "-" * 100_000 + "1\n", filename="layers.py")
