"""Run the check notebooks of one submission in its sandbox, cell by cell, from the trusted side.

Each check notebook (kit/instructor/grade/checks/*.ipynb) is a list of code cells:
cells tagged "setup" (imports and helpers) and check cells (metadata
{"check": name, "points": p, ...}) that end with `emit(name=value, ...)`.
Setup cells run first; then the visible checks; then the hidden ones, so
that whatever the student's code learns from a hidden check can only reach
hidden feedback. A cell that times out or kills the sandbox costs that cell:
the sandbox is started again, the setup cells run again (silently), and the
next check follows. One sandbox serves all check notebooks of a submission,
each in its own namespace.

The records are made here, by the grader, from the replies matched to each
request's token; every value in them is the student's claim.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from kit.student.notebooks import checks, is_code, is_setup, plain_cells, run_order
from kit.instructor.sandbox.box import GraderFailure


@dataclass
class CheckNotebook:
    """A check notebook, read once from the instructor's checks folder (trusted)."""
    name: str
    cells: list     # plain cells (kit.student.notebooks.plain_cells)

    @classmethod
    def read(cls, path):
        return cls(Path(path).name, plain_cells(json.loads(Path(path).read_text(encoding="utf-8"))))

    def code_cells(self):
        return [(i, c) for i, c in enumerate(self.cells) if is_code(c)]

    def setup_cells(self):
        return [(i, c) for i, c in enumerate(self.cells) if is_setup(c)]

    @property
    def checks(self):
        """[Check] of the check cells, in the order they run: visible ones first, then hidden ones."""
        return run_order(checks(self.cells))


@dataclass
class Run:
    """All outcomes of one submission: {notebook name: {cell index: CellOutcome}}, and what happened."""
    records: dict = field(default_factory=dict)
    restarts: int = 0
    out_of_time: bool = False
    cpu: float = 0.0
    starts: list = field(default_factory=list)   # seconds each sandbox took to start


FATAL = ("timeout", "dead", "memory", "malformed")


class _Session:
    """The sandbox of a submission, started again (with the setup cells) after a fatal cell."""

    def __init__(self, make_sandbox, limits, run):
        self.make_sandbox, self.limits, self.run = make_sandbox, limits, run
        self.sandbox, self.setup = None, []   # setup: [(ns, cell, record)] run in this notebook

    def _start(self):
        self.sandbox = self.make_sandbox()
        self.sandbox.start()
        self.run.starts.append(self.sandbox.start_seconds)
        for ns, cell, first in self.setup:
            again = self.sandbox.run(cell["source"], ns=ns, name="setup", cpu_limit=self.limits.cell_timeout)
            self.run.cpu += again.cpu
            if first.status == "ok" and again.status != "ok":
                raise GraderFailure(f"{ns}: a setup cell that passed failed when the sandbox was started "
                                    f"again ({again.status}: {again.error})")

    def execute(self, ns, cell, name, cpu_limit):
        if self.sandbox is None:
            self._start()
        outcome = self.sandbox.run(cell["source"], ns=ns, name=name, cpu_limit=cpu_limit)
        self.run.cpu += outcome.cpu
        if outcome.status in FATAL:
            self.close()
            self.run.restarts += 1
        return outcome

    def close(self):
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None


def run_checks(make_sandbox, notebooks, limits):
    """
    Run every check notebook against one submission.

    Inputs:
    - make_sandbox: Callable returning a new, not yet started Sandbox.
    - notebooks: [CheckNotebook].
    - limits: The submission's Limits (cell_timeout and timeout are CPU seconds).

    Returns:
    - A Run.

    Raises:
    - GraderFailure when a sandbox cannot be started (at first or after a
      restart): the submission could not be graded.
    - Aborted when the run is stopped.
    """
    run = Run()
    session = _Session(make_sandbox, limits, run)
    try:
        for nb in notebooks:
            records = run.records.setdefault(nb.name, {})
            session.setup = []
            for i, cell in nb.setup_cells():
                records[i] = session.execute(nb.name, cell, "setup", limits.cell_timeout)
                if records[i].status not in FATAL:
                    session.setup.append((nb.name, cell, records[i]))
            for check in nb.checks:
                left = limits.timeout - run.cpu
                if left <= 0:
                    run.out_of_time = True
                    break
                records[check.index] = session.execute(nb.name, {"source": check.source}, check.name,
                                                       min(limits.cell_timeout, left, check.cpu_limit))
    finally:
        session.close()
    return run

