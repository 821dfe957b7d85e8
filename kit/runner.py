"""Run a check notebook cell by cell and print one JSON line per code cell.

This script runs inside the sandbox, next to the student's code: it is not
trusted, and it compares nothing. It reads the notebook (JSON) on stdin,
executes it with nbclient in a fresh kernel whose working directory is the
kit root given as argument, and writes for each code cell:

    {"index": i, "check": name-or-null, "status": "ok" | "error" | "timeout" | "dead",
     "results": [...values the cell emitted...], "error": "...", "stdout": "..."}

A cell that times out or kills its kernel costs that cell only: the kernel is
restarted, the cells tagged "setup" run again, and execution goes on with the
next cell. Standalone on purpose: it imports nothing from the kit.

    python runner.py KIT_ROOT CELL_TIMEOUT < (nonce line, then checks.ipynb)

The first line of stdin is a nonce from the grader; every record carries it,
so that lines forged by student code (which never sees stdin) are ignored.
"""
import json
import logging
import os
import signal
import subprocess
import sys

# jsonschema imports rfc3987_syntax when installed, which builds a grammar at import
# (seconds); nbformat never needs its "iri" format check, so keep it out.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError

RESULT_MIME = "application/vnd.kit.result+json"
MAX_TEXT = 2000


def is_setup(cell):
    return "setup" in cell.get("metadata", {}).get("tags", [])


def summarize(cell):
    results, texts, error = [], [], None
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind in ("display_data", "execute_result") and RESULT_MIME in out.get("data", {}):
            results.append(out["data"][RESULT_MIME])
        elif kind == "stream":
            texts.append(out.get("text", ""))
        elif kind == "error":
            error = f"{out.get('ename')}: {out.get('evalue')}"[:MAX_TEXT]
    return results, "".join(texts)[-MAX_TEXT:], error


NONCE = ""


def kill_kernel(client):
    """SIGKILL the kernel's process group (it runs in its own session)."""
    provisioner = getattr(client.km, "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
    if not pid:
        return
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
            return
        except OSError:
            pass


def emit(line):
    line["nonce"] = NONCE
    # Start on a fresh line: student code may have left a partial line in this pipe.
    sys.stdout.write("\n" + json.dumps(line) + "\n")
    sys.stdout.flush()


def main():
    root, cell_timeout = sys.argv[1], float(sys.argv[2])
    logging.disable(logging.CRITICAL)
    global NONCE
    NONCE = sys.stdin.readline().strip()
    nb = nbformat.reads(sys.stdin.read(), as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    setup = [i for i in code if is_setup(nb.cells[i])]
    pending = list(code)
    while pending:
        client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                                interrupt_on_timeout=False, startup_timeout=60, shutdown_kernel="immediate",
                                resources={"metadata": {"path": root}})
        restart = False
        with client.setup_kernel(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL):
            if pending[0] != code[0]:  # a restarted kernel: run the setup cells again, silently
                for i in setup:
                    try:
                        client.execute_cell(nb.cells[i], i)
                    except (CellTimeoutError, DeadKernelError):
                        for j in pending:
                            emit({"index": j, "check": nb.cells[j].metadata.get("check"),
                                  "status": "dead", "results": [], "stdout": "",
                                  "error": "the kernel could not be restarted after an earlier failure"})
                        return 0
            while pending:
                i = pending.pop(0)
                cell = nb.cells[i]
                status = "ok"
                try:
                    client.execute_cell(cell, i)
                except CellTimeoutError:
                    status, restart = "timeout", True
                except DeadKernelError:
                    status, restart = "dead", True
                if restart:  # stop the kernel before reporting, so that it writes nothing more
                    kill_kernel(client)
                results, text, error = summarize(cell)
                if status == "timeout":
                    error = f"the cell ran longer than {cell_timeout:g} s (infinite loop?)"
                elif status == "dead":
                    error = "the kernel died (a crash, os._exit or too much memory)"
                elif error:
                    status = "error"
                emit({"index": i, "check": cell.metadata.get("check"), "status": status,
                      "results": results, "stdout": text, "error": error})
                if restart:
                    break
            if restart:
                kill_kernel(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
