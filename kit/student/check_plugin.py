"""The pytest plugin of `python -m kit check`: each check named by its title, each failure in plain words.

`python -m kit check` (kit.student.check) runs pytest with nbval on copies of
the notebooks (the reference's cells, the student's solution cells) and on
kit/student/more_checks.py, with this plugin. It

- names every test as `collect` and the grader do: a check cell by its title
  (`two_layer_net.ipynb: toy training`), another code cell by its number
  among the notebook's code cells (`code cell 12`) and its first line;
- turns each failure into a short message: the error the cell raised (and
  where, in the student's files), or what the reference printed beside what
  the student's code printed; a failure that may follow from an earlier one
  in the same notebook says so;
- prints the verdict of every check at the end, and writes it as JSON to the
  file named by $KIT_CHECK_REPORT (for `collect`).

A bare `pytest` in the student kit would compare the notebooks with the outputs
saved in them, the student's own after a save: the plugin stops it and names
the command to run instead.
"""
import difflib
import json
import os

import pytest

from kit.student.notebooks import CHECK_PREFIX, cell_label, output_text
from kit.student.tracebacks import clean, location

ACTIVE = "KIT_CHECK"            # set by kit.student.check
REPORT = "KIT_CHECK_REPORT"     # where the verdicts go, as JSON
COPY_PREFIX = ".check-"         # the copies of the notebooks that run
MAX_TEXT = 1500
SHORT_OUTPUT = 12   # lines of both outputs together: longer ones are shown as the lines that differ
MORE = "more checks (other seeds and sizes)"   # independent tests: no failure follows from another
MARKS = {"passed": "  ok    ", "failed": "  FAIL  ", "skipped": "  skip  "}
_session = {}   # the pytest config of this run (pytest_runtest_logreport gets reports only)


def pytest_configure(config):
    if not os.environ.get(ACTIVE):
        pytest.exit("The self-check is `make test` (or `.venv/bin/python -m kit check`): it runs your notebooks "
                    "on your current code and compares them with the reference outputs. A bare `pytest` would "
                    "compare them with the outputs saved in them, your own once you have saved.", returncode=4)
    config.kit_results = []
    config.kit_first_failure = {}
    config.kit_group = None
    _session["config"] = config


def _label(item):
    """(group, name) of a test: the notebook and the check's title, or more_checks and the test's name."""
    cell = getattr(item, "cell", None)
    if cell is None:
        return MORE, item.name.replace("test_", "", 1).replace("_", " ")
    group = item.path.name[len(COPY_PREFIX):] if item.path.name.startswith(COPY_PREFIX) else item.path.name
    number, code_cells = 0, [c for c in item.parent.nb.cells if c.cell_type == "code"]
    for n, other in enumerate(code_cells, start=1):
        if other is cell:
            number = n
    return group, cell_label(cell.source, number)


def pytest_collection_modifyitems(items):
    for item in items:
        group, name = _label(item)
        item.kit_label = (group, name)
        cell = getattr(item, "cell", None)
        item.kit_is_check = cell is None or cell.source.strip().startswith(CHECK_PREFIX)


def _where(traceback_text):
    found = location(traceback_text)
    return f" (in {found})" if found else ""


def _shorten(text):
    text = text.strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " ..."


def _cell_message(item, longrepr):
    """What went wrong in a notebook cell, from its outputs (nbval keeps them on the item)."""
    outputs = getattr(item, "test_outputs", None) or []
    for out in outputs:
        if out.get("output_type") == "error":
            trace = "\n".join(out.get("traceback") or [])
            return _shorten(f"{out.get('ename')}: {clean(out.get('evalue'))}{_where(trace)}")
    if outputs or item.cell.get("outputs"):
        reference, yours = (clean(output_text(o)).strip() for o in (item.cell.get("outputs"), outputs))
        if len(reference.splitlines()) + len(yours.splitlines()) > SHORT_OUTPUT:
            diff = difflib.unified_diff(reference.splitlines(), yours.splitlines(), lineterm="", n=1)
            lines = [line for line in diff if not line.startswith(("---", "+++", "@@"))]
            return _shorten("the output differs from the reference's (- the reference printed, + your code "
                            "printed; other lines are the same):\n" + _indent("\n".join(lines)))
        return _shorten(f"the reference printed:\n{_indent(reference)}\n"
                        f"your code printed:\n{_indent(yours) or '    (nothing)'}")
    return _shorten(clean(longrepr).strip().splitlines()[-1] if longrepr else "failed")


def _indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def _test_message(call):
    err = call.excinfo.value
    if isinstance(err, AssertionError):
        return _shorten(str(err).split("\nassert ")[0])
    trace = "\n".join(f'File "{entry.path}", line {entry.lineno + 1}, in {entry.name}'
                      for entry in call.excinfo.traceback)
    return _shorten(f"{type(err).__name__}: {err}{_where(trace)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.kit_label = getattr(item, "kit_label", ("", item.name))
    report.kit_is_check = getattr(item, "kit_is_check", True)
    if report.failed:
        if getattr(item, "cell", None) is not None:
            report.kit_message = _cell_message(item, report.longrepr)
        elif call.excinfo is not None:
            report.kit_message = _test_message(call)
        else:
            report.kit_message = _shorten(str(report.longrepr))


def pytest_report_teststatus(report, config):
    """No progress dots: each verdict is printed as a line of its own, as soon as it is known."""
    if report.when == "call" or report.failed or report.skipped:
        return report.outcome, "", ""
    return None


def _write(config, line):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line, flush=True)


def _print(config, result):
    if result["notebook"] != config.kit_group:
        config.kit_group = result["notebook"]
        _write(config, result["notebook"])
    _write(config, MARKS[result["status"]] + result["check"])
    for line in result["message"].splitlines() if result["status"] != "passed" else []:
        _write(config, " " * len(MARKS["passed"]) + line)


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.failed or report.skipped):
        return
    if report.when == "teardown" and report.passed:
        return
    config = _session["config"]
    group, name = report.kit_label
    status = "failed" if report.failed else "skipped" if report.skipped else "passed"
    message = getattr(report, "kit_message", "")
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).replace("Skipped: ", "")
    if report.failed and group != MORE:
        first = config.kit_first_failure.setdefault(group, name)
        if first != name:
            message += f"\n(this may follow from the failure of '{first}' above)"
    if report.passed and not report.kit_is_check:
        return
    result = {"notebook": group, "check": name, "status": status, "message": message,
              "is_check": report.kit_is_check}
    config.kit_results.append(result)
    _print(config, result)


def pytest_terminal_summary(terminalreporter, config):
    results = getattr(config, "kit_results", None)
    if results is None:
        return
    write = terminalreporter.write_line
    failed = [r for r in results if r["status"] == "failed"]
    write("")
    if failed:
        # The first failure of each notebook (and of the more checks); the others may follow from it.
        first = [r for r in failed
                 if r["notebook"] == MORE or config.kit_first_failure.get(r["notebook"]) == r["check"]]
        write(f"{len(failed)} problem(s); the first of each notebook, and the more checks:")
        for r in first:
            write(f"  {r['notebook']}: {r['check']}")
        if len(failed) > len(first):
            write(f"  (and {len(failed) - len(first)} more after them, listed above; they may follow from these)")
        write(f"The first one to fix: '{failed[0]['check']}' ({failed[0]['notebook']}); its message is above.")
    else:
        write("Every check passes on your current code.")
    path = os.environ.get(REPORT)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f)
