"""Run check cells for the grader: inside the sandbox, next to the student's code.

This process is not trusted: the student's code runs in it and can change
anything here. It compares nothing and knows no expected value; the grader
treats every value it reports as the student's claim, and checks that matter
are recomputed by the grader from the data it reports.

    python -I -B executor.py KIT_ROOT

Protocol (one JSON object per line). The grader writes requests on stdin:

    {"token": t, "ns": "grading.ipynb", "code": "...", "name": "toy loss"}

and reads, on stdout, an acknowledgement as soon as a request is read, then
the result when the cell is done:

    {"token": t, "started": true}
    {"token": t, "status": "ok" | "error", "values": {...} | null,
     "stdout": "...", "error": "..." | null}

Each request carries a fresh token: the grader accepts one acknowledgement
and one result per token, the first, so that code run by one cell can at
most speak for that cell. Values sent with `emit(name=value, ...)` are
converted here to plain {"shape": [...], "data": [...]} lists of floats.
Standalone on purpose: it imports nothing from the kit.
"""
import json
import os
import sys
import traceback

MAX_TEXT = 3000
MAX_VALUES = 2_000_000


class _Capture:
    """A stand-in for sys.stdout / sys.stderr that keeps the last MAX_TEXT characters."""

    def __init__(self):
        self.parts, self.size = [], 0

    def write(self, text):
        text = str(text)
        self.parts.append(text)
        self.size += len(text)
        if self.size > 4 * MAX_TEXT:
            joined = "".join(self.parts)[-MAX_TEXT:]
            self.parts, self.size = [joined], len(joined)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        return "".join(self.parts)[-MAX_TEXT:]


class Cell:
    """What one cell emitted."""

    def __init__(self):
        self.values = None


def make_emit(state, np):
    def emit(**values):
        """Send computed values to the grader, as plain lists of floats."""
        out = {}
        for key, value in values.items():
            try:
                arr = np.asarray(value, dtype=np.float64)
                if arr.size > MAX_VALUES:
                    raise ValueError(f"{arr.size} numbers, more than {MAX_VALUES}")
                out[str(key)] = {"shape": [int(n) for n in arr.shape], "data": arr.ravel().tolist()}
            except Exception as err:  # noqa: BLE001 - any failure is the student's value
                out[str(key)] = {"error": f"{type(err).__name__}: {err}"[:300]}
        if state.cell.values is None:
            state.cell.values = out
    return emit


class State:
    cell = Cell()


def describe_error(err):
    """The traceback of a failed cell, without this file's frames."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename != __file__]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(err), err)
    return "".join(lines)[-MAX_TEXT:]


def main():
    root = sys.argv[1]
    # The protocol keeps its own copies of stdin / stdout; fds 0 and 1 then point at
    # /dev/null so that prints from C code or child processes cannot mix with it.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.chdir(root)
    sys.path.insert(0, root)
    import numpy as np

    state = State()
    emit = make_emit(state, np)
    namespaces = {}

    def reply(record):
        replies.write(b"\n" + json.dumps(record).encode() + b"\n")
        replies.flush()

    for line in requests:
        try:
            request = json.loads(line)
            token, code = str(request["token"]), str(request["code"])
        except (ValueError, KeyError, TypeError):
            continue
        reply({"token": token, "started": True})
        ns = namespaces.setdefault(str(request.get("ns", "")), {"__name__": "__main__", "emit": emit})
        state.cell = Cell()
        capture = _Capture()
        status, error = "ok", None
        sys.stdout, sys.stderr = capture, capture
        try:
            exec(compile(code, f"<check: {request.get('name') or 'cell'}>", "exec"), ns)
        except BaseException as err:  # noqa: BLE001 - SystemExit too: the cell failed
            status, error = "error", describe_error(err)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        try:
            reply({"token": token, "status": status, "values": state.cell.values,
                   "stdout": capture.text(), "error": error})
        except (TypeError, ValueError) as err:
            reply({"token": token, "status": "error", "values": None, "stdout": "",
                   "error": f"the cell's output could not be sent: {err}"[:MAX_TEXT]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
