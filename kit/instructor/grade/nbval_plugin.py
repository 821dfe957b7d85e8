"""A pytest plugin for the grader: nbval's kernel runs in the sandbox; pytest and nbval stay outside.

    python -m pytest -p kit.instructor.grade.nbval_plugin --nbval NOTEBOOK ...

with the environment variable KIT_NBVAL_SANDBOX naming a JSON file written by
kit.instructor.grade.nbgrade:

    {"command": [...], "connection_dir": "...", "results": "...", "max_message": bytes,
     "owner": [uid, gid] or null}

- Every kernel nbval starts is launched with `command` in front of
  `python -m ipykernel_launcher -f CONNECTION_FILE` (the bubblewrap sandbox
  of the submission, see kit.instructor.sandbox.box), and talks to this process
  through IPC sockets in `connection_dir`, a folder shared with the sandbox
  (the sandbox has no network, not even loopback); the connection file is
  given to the sandbox's user (`owner`). Messages larger than
  `max_message` bytes drop the connection instead of filling this process.
- So the kernel, which runs the student's code, is in the sandbox, while
  nbval's comparison of each cell's outputs with the reference outputs
  happens here, in pytest, in the trusted process.
- Each cell's outcome is appended to `results` (one JSON line per cell, as
  soon as it is known), so that a run stopped by the grader's time limit
  keeps the cells that finished.
"""
import json
import os

import pytest

from kit.student.notebooks import output_text

CONFIG_VARIABLE = "KIT_NBVAL_SANDBOX"
MAX_TEXT = 2000   # characters of a cell's text output kept for the feedback (the end)


def _config():
    with open(os.environ[CONFIG_VARIABLE], encoding="utf-8") as f:
        return json.load(f)


def _install(config):
    import zmq
    from jupyter_client.manager import KernelManager
    import nbval.kernel

    limit = int(config.get("max_message", 64 * 2**20))

    def bounded_context():
        context = zmq.Context()
        context.setsockopt(zmq.MAXMSGSIZE, limit)
        return context

    class SandboxedKernelManager(KernelManager):
        """nbval's kernel, started in the submission's sandbox, reached over IPC sockets."""

        def __init__(self, **kwargs):
            kwargs.setdefault("context", bounded_context())
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = os.path.join(config["connection_dir"], "kernel")
            self.connection_file = os.path.join(config["connection_dir"], "connection.json")

        def write_connection_file(self, **kwargs):
            # The kernel runs as the sandbox's user: it must read the file (which holds the key).
            result = super().write_connection_file(**kwargs)
            owner = config.get("owner")
            if owner:
                os.chown(self.connection_file, owner[0], owner[1])
            return result

        def format_kernel_cmd(self, extra_arguments=None):
            return list(config["command"]) + ["-m", "ipykernel_launcher", "-f", self.connection_file]

        def client(self, **kwargs):
            kwargs.setdefault("context", bounded_context())
            return super().client(**kwargs)

    nbval.kernel.KernelManager = SandboxedKernelManager


def pytest_configure(config):
    if os.environ.get(CONFIG_VARIABLE):
        _install(_config())


def _cell_number(nodeid):
    tail = nodeid.rsplit("::", 1)[-1]
    return int(tail.split()[-1]) if tail.startswith("Cell ") else None


def _record(report):
    number = _cell_number(report.nodeid)
    if number is None or not os.environ.get(CONFIG_VARIABLE):
        return
    xfail = hasattr(report, "wasxfail")
    if report.passed:
        outcome = "passed"
    elif report.skipped and xfail:
        outcome = "xfailed"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "failed"
    text = ""
    if report.longrepr is not None and outcome != "passed":
        text = str(report.longrepr)[-6000:]
    line = json.dumps({"cell": number, "when": report.when, "outcome": outcome, "text": text,
                       "expected": getattr(report, "kit_expected", None), "got": getattr(report, "kit_got", None),
                       "seconds": round(getattr(report, "duration", 0.0), 3),
                       "outputs": getattr(report, "kit_outputs", None)})
    with open(_config()["results"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


#: What the executed notebook kept for the instructor holds of a cell's outputs: text and
#: images only (a student's HTML or JavaScript never reaches the instructor's browser).
KEPT_TYPES = ("text/plain", "image/png", "image/jpeg")
MAX_KEPT = 2 * 2**20


def _kept_outputs(outputs):
    """The outputs of a cell as nbformat dicts, text and images only, at most MAX_KEPT bytes."""
    kept, size = [], 0
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "stream":
            entry = {"output_type": "stream", "name": out.get("name", "stdout"), "text": str(out.get("text", ""))}
        elif kind in ("execute_result", "display_data"):
            data = {k: v for k, v in (out.get("data") or {}).items() if k in KEPT_TYPES}
            if not data:
                continue
            entry = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                entry["execution_count"] = None
        elif kind == "error":
            entry = {"output_type": "error", "ename": str(out.get("ename", "")),
                     "evalue": str(out.get("evalue", "")), "traceback": [str(t) for t in out.get("traceback", [])]}
        else:
            continue
        size += len(json.dumps(entry))
        if size > MAX_KEPT:
            kept.append({"output_type": "stream", "name": "stderr",
                         "text": "(the rest of this cell's output was not kept: too large)\n"})
            break
        kept.append(entry)
    return kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep what the cell printed and what the reference printed, for the feedback."""
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and hasattr(item, "test_outputs") and hasattr(item, "cell"):
        report.kit_got = output_text(item.test_outputs)[-MAX_TEXT:]
        report.kit_expected = output_text(item.cell.get("outputs"))[-MAX_TEXT:]
        report.kit_outputs = _kept_outputs(item.test_outputs)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _record(report)
