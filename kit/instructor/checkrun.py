"""Run the check notebooks of one submission in its sandbox, cell by cell, from the trusted side.

Each check notebook (kit/instructor/checks/*.ipynb) is a list of code cells:
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

from kit.instructor.cells import plain_cells
from kit.instructor.sandbox import GraderFailure

HIDDEN = ("hidden", "after_published")


@dataclass
class CheckNotebook:
    """A check notebook, read once from the instructor's checks folder (trusted)."""
    name: str
    cells: list     # plain cells (kit.instructor.cells.plain_cells)

    @classmethod
    def read(cls, path):
        return cls(Path(path).name, plain_cells(json.loads(Path(path).read_text(encoding="utf-8"))))

    def code_cells(self):
        return [(i, c) for i, c in enumerate(self.cells) if c["cell_type"] == "code"]

    def setup_cells(self):
        return [(i, c) for i, c in self.code_cells() if "setup" in c["tags"]]

    def check_cells(self):
        """[(index, cell)] of the check cells: visible ones first, then hidden ones, each in order."""
        checks = [(i, c) for i, c in self.code_cells() if "points" in c["metadata"]]
        return ([x for x in checks if x[1]["metadata"].get("visibility", "visible") not in HIDDEN]
                + [x for x in checks if x[1]["metadata"].get("visibility", "visible") in HIDDEN])


@dataclass
class Record:
    """What one cell of a check notebook did (status as in kit.instructor.sandbox.CellOutcome)."""
    index: int
    status: str
    values: dict = None
    stdout: str = ""
    error: str = None
    cpu: float = 0.0
    wall: float = 0.0


@dataclass
class Run:
    """All records of one submission: {notebook name: {cell index: Record}}, and what happened."""
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
                outcome = session.execute(nb.name, cell, "setup", limits.cell_timeout)
                records[i] = _record(i, outcome)
                if outcome.status not in FATAL:
                    session.setup.append((nb.name, cell, records[i]))
            for i, cell in nb.check_cells():
                left = limits.timeout - run.cpu
                if left <= 0:
                    run.out_of_time = True
                    break
                outcome = session.execute(nb.name, cell, cell["metadata"].get("check", ""),
                                          min(limits.cell_timeout, left))
                records[i] = _record(i, outcome)
    finally:
        session.close()
    return run


def _record(index, outcome):
    return Record(index, outcome.status, outcome.values, outcome.stdout, outcome.error, outcome.cpu, outcome.wall)
