"""kit.instructor.grade.checkrun: the order check cells run in, and what a fatal cell or the time limit costs.

The executor runs here in the trusted mode of the reference run (no bubblewrap
needed): what is tested is the order and the restarts, not the isolation
(tests/test_kit_sandbox.py tests that).
"""
import json
import re

import pytest

from kit.instructor.grade.checkrun import CheckNotebook, run_checks
from kit.instructor.sandbox.box import GraderFailure, Sandbox
from kit.instructor.sandbox.commands import KitView
from kit.instructor.sandbox.isolation import Isolation, Limits

LIMITS = Limits(cell_timeout=2, timeout=60)


def code(source, **meta):
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": [], "execution_count": None}


def check(name, body, visibility="visible"):
    return code(f"# Check: {name}\nimport trace\ntrace.seen.append({name!r})\n{body}\n"
                f"emit(order=len(trace.seen), setup=SETUP)", check=name, points=1, visibility=visibility)


@pytest.fixture
def kit(tmp_path):
    """A kit root with one module that remembers, for the life of the executor, which checks ran."""
    root = tmp_path / "kit"
    root.mkdir()
    (root / "trace.py").write_text("seen = []\n")
    return root


def notebook(folder, name, cells):
    path = folder / name
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return CheckNotebook.read(path)


def run(kit, notebooks, limits=LIMITS):
    return run_checks(lambda: Sandbox(KitView(kit), Isolation("none"), limits, scratch_root=kit.parent),
                      notebooks, limits)


def values(outcome):
    return {k: v["data"][0] for k, v in (outcome.values or {}).items()}


def test_setup_first_then_visible_checks_then_hidden_ones_each_notebook_in_its_namespace(kit, tmp_path):
    a = notebook(tmp_path, "a.ipynb", [
        check("hidden first", "", visibility="after_published"), code("SETUP = 1", tags=["setup"]),
        check("visible", ""), check("hidden", "", visibility="hidden"), check("visible too", "")])
    b = notebook(tmp_path, "b.ipynb", [code("SETUP = 2", tags=["setup"]), check("other notebook", "")])
    result = run(kit, [a, b])
    records = result.records["a.ipynb"]
    assert {i: values(records[i])["order"] for i in (2, 4, 0, 3)} == {2: 1, 4: 2, 0: 3, 3: 4}
    assert values(result.records["b.ipynb"][1]) == {"order": 5, "setup": 2}
    assert records[1].status == "ok" and result.restarts == 0 and len(result.starts) == 1
    assert [c.name for c in a.checks] == ["visible", "visible too", "hidden first", "hidden"]


def test_a_fatal_cell_costs_only_itself_the_sandbox_starts_again_with_its_setup(kit, tmp_path):
    nb = notebook(tmp_path, "a.ipynb", [
        code("SETUP = 7", tags=["setup"]), check("before", ""), check("spins", "while True:\n    pass"),
        check("exits", "import os\nos._exit(3)"), check("after", "")])
    result = run(kit, [nb])
    records = result.records["a.ipynb"]
    assert values(records[1]) == {"order": 1, "setup": 7}
    assert records[2].status == "timeout" and "more than 2 s of CPU" in records[2].error
    assert records[3].status == "dead" and "exit status 3" in records[3].error
    assert values(records[4]) == {"order": 1, "setup": 7}    # a new executor: its trace starts again
    assert result.restarts == 2 and len(result.starts) == 3


def test_the_time_limit_of_a_submission_stops_the_checks_left(kit, tmp_path):
    spin = "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end:\n    pass"
    nb = notebook(tmp_path, "a.ipynb", [code("SETUP = 0", tags=["setup"]), check("one", spin), check("two", spin),
                                        check("three", "")])
    result = run(kit, [nb], Limits(cell_timeout=5, timeout=2.5))
    records = result.records["a.ipynb"]
    assert records[1].status == "ok"
    assert records[2].status == "timeout"   # it had what was left of the 2.5 s (about 1 s), not its 5 s
    limit = float(re.search(r"used more than ([\d.]+) s of CPU", records[2].error).group(1))
    assert limit < 1.5 and records[2].cpu < 1.5, records[2]
    assert records[3].status == "not run" and "CPU time" in records[3].error and "used up" in result.out_of_time
    assert result.not_run == ["three"]


def test_a_setup_cell_that_passed_and_then_fails_is_the_graders_failure(kit, tmp_path):
    marker = tmp_path / "ran-once"
    nb = notebook(tmp_path, "a.ipynb", [
        code(f"import os\nassert not os.path.exists({str(marker)!r})\nopen({str(marker)!r}, 'w').close()\nSETUP = 0",
             tags=["setup"]),
        check("exits", "import os\nos._exit(1)"), check("after", "")])
    with pytest.raises(GraderFailure, match="a setup cell that passed failed when the sandbox was started again"):
        run(kit, [nb])
