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

The code checks of a submission share one budget of CPU seconds and one of
wall seconds (less the time spent waiting for a CPU), across restarts
(Budget): a check gets what is left of them, at most its own cell limit, and
once they are spent the remaining checks are not run, each with the reason.

Whose fault a dead sandbox is, is found by experiment: when the sandbox ends
before it acknowledged a cell after student code ran in it, the grader runs
the same cells with the reference code in the same conditions (a sandbox of
the same isolation and limits, the instructor's files over the release). If
the reference passes, the submission's code ended the grading process: that
check scores nothing, with the reason, and grading goes on. If it does not,
it is the grader's failure (GraderFailure: retried, then status `error`).

The records are made here, by the grader, from the replies matched to each
request's token; every value in them is the student's claim.
"""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from kit.student.notebooks import checks, is_code, is_setup, plain_cells, run_order
from kit.instructor.sandbox.box import CellOutcome, GraderFailure
from kit.instructor.sandbox.isolation import WALL_EXTRA

MAX_EXPERIMENTS = 3   # reference runs per submission; after as many verdicts against it, no more are run
ENDED = "your code ended the grading process before this check could start ({why}): {failure}"
PASSES = "the instructor's code passes it in the same sandbox"
NOT_AGAIN = f"the instructor's code passed {MAX_EXPERIMENTS} checks that your code ended before, so it was not run again"


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
    """
    All outcomes of one submission: {notebook name: {cell index: CellOutcome}}, and what happened.

    out_of_time: None, or the line that says which budget ran out (the checks after it were not run);
    cpu, busy: CPU seconds and wall seconds (less the wait for a CPU) charged to the budgets;
    experiments: [(check name, seconds)] of each reference run that found the submission's code
    ended the sandbox; not_run: names of the checks that were not run.
    """
    records: dict = field(default_factory=dict)
    restarts: int = 0
    out_of_time: str = None
    cpu: float = 0.0
    busy: float = 0.0
    starts: list = field(default_factory=list)   # seconds each sandbox took to start
    experiments: list = field(default_factory=list)
    ended: list = field(default_factory=list)     # names of the checks the submission's code ended
    not_run: list = field(default_factory=list)


class Budget:
    """The CPU seconds and wall seconds (less the wait for a CPU) left to a submission's code checks."""

    def __init__(self, limits):
        self.limits = limits
        self.cpu_left, self.busy_left = float(limits.timeout), float(limits.wall_timeout)
        self.deadline = time.monotonic() + limits.wall_timeout + WALL_EXTRA

    def charge(self, cpu, busy):
        self.cpu_left -= cpu
        self.busy_left -= busy

    def spent(self):
        """None while some of each budget is left; else the line that says which ran out."""
        if self.cpu_left <= 0:
            return (f"the {self.limits.timeout:g} s of CPU time that the code checks of a submission may use "
                    f"were used up")
        if self.busy_left <= 0 or time.monotonic() >= self.deadline:
            return (f"the {self.limits.wall_timeout:g} s of wall time that the code checks of a submission may "
                    f"take were used up")
        return None


FATAL = ("timeout", "dead", "memory", "malformed")


class _Session:
    """The sandbox of a submission, started again (with the setup cells) after a fatal cell."""

    def __init__(self, make_sandbox, limits, run, make_reference=None):
        self.make_sandbox, self.limits, self.run = make_sandbox, limits, run
        self.make_reference = make_reference
        self.budget = Budget(limits)
        self.sandbox, self.setup = None, []   # setup: [(ns, cell, record)] run in this notebook
        self.ran = False                      # a cell ran in this sandbox (student code may have run)

    def _cell(self, box, ns, cell, name, cpu_limit=None):
        """Run one cell in `box` within the cell limit (and its own) and what is left of the budgets; charge them."""
        own = self.limits.cell_timeout if cpu_limit is None else min(self.limits.cell_timeout, cpu_limit)
        outcome = box.run(cell["source"], ns=ns, name=name, cpu_limit=max(0.0, min(own, self.budget.cpu_left)),
                          busy_limit=max(0.0, self.budget.busy_left), deadline=self.budget.deadline)
        self.budget.charge(outcome.cpu, outcome.busy)
        self.run.cpu += outcome.cpu
        self.run.busy += outcome.busy
        return outcome

    def _start(self):
        began = time.monotonic()
        self.sandbox, self.ran = self.make_sandbox(), False
        try:
            self.sandbox.start()
        finally:
            self.budget.charge(0.0, time.monotonic() - began)
            self.run.busy += time.monotonic() - began
        self.run.starts.append(self.sandbox.start_seconds)
        for ns, cell, first in self.setup:
            again = self._cell(self.sandbox, ns, cell, "setup")
            self.ran = True
            if first.status == "ok" and again.status != "ok":
                if again.status not in ("error", "malformed"):
                    return again   # stopped by a limit or what is left of the budgets: this check's outcome
                raise GraderFailure(f"{ns}: a setup cell that passed failed when the sandbox was started "
                                    f"again ({again.status}: {again.error})")
        return None

    def execute(self, ns, cell, name, cpu_limit=None):
        """
        The cell's CellOutcome; a "not run" one, with the reason, once the budgets are spent.

        cpu_limit: the check's own CPU limit, when it is below the cell limit (Check.cpu_limit).
        """
        spent = self.budget.spent()
        if spent:
            self.run.out_of_time = self.run.out_of_time or spent
            return CellOutcome("not run", error=f"{self.run.out_of_time}, before this check")
        try:
            outcome = self._start() if self.sandbox is None else None
            if outcome is None:
                outcome = self._cell(self.sandbox, ns, cell, name, cpu_limit)
                self.ran = True
        except GraderFailure as failure:
            if not self.ran:
                raise   # no student code ran in this sandbox: the grader's failure
            self.close(charge=True)
            outcome = self._experiment(ns, cell, name, failure, cpu_limit)
        if outcome.status in FATAL:
            self.close(charge=True)
            self.run.restarts += 1
        return outcome

    def _experiment(self, ns, cell, name, failure, cpu_limit=None):
        """
        The sandbox ended before it started a cell, after student code ran in it: run the same cells
        with the reference code, in a sandbox of the same isolation and limits.

        Returns:
        - The cell's CellOutcome ("dead", the student's) when the reference passes them.

        Raises:
        - GraderFailure (the grader's failure) when the reference fails them too, or cannot be run.
        """
        if self.make_reference is None:
            raise failure
        if len(self.run.experiments) >= MAX_EXPERIMENTS:
            self.run.ended.append(name)
            return CellOutcome("dead", error=ENDED.format(why=NOT_AGAIN, failure=failure))
        began = time.monotonic()
        box = self.make_reference()
        try:
            box.start()
            outcomes = [box.run(c["source"], ns=n, name="setup", cpu_limit=self.limits.cell_timeout)
                        for n, c, _ in self.setup]
            own = self.limits.cell_timeout if cpu_limit is None else min(self.limits.cell_timeout, cpu_limit)
            outcomes.append(box.run(cell["source"], ns=ns, name=name, cpu_limit=own))
        except GraderFailure as again:
            raise GraderFailure(f"{failure}; the reference code, run in its place in the same sandbox, "
                                f"ended it too: {again}") from None
        finally:
            box.close()
            spent = time.monotonic() - began
            self.budget.charge(0.0, spent)
            self.run.busy += spent
        bad = [o for o in outcomes if o.status != "ok"]
        if bad:
            raise GraderFailure(f"{failure}; the reference code, run in its place in the same sandbox, fails "
                                f"too ({bad[0].status}: {bad[0].error})")
        self.run.experiments.append((name, round(spent, 2)))
        self.run.ended.append(name)
        return CellOutcome("dead", error=ENDED.format(why=PASSES, failure=failure))

    def close(self, charge=False):
        """Kill the sandbox; with `charge`, the time it takes (a fork bomb's) counts in the wall budget."""
        if self.sandbox is not None:
            began = time.monotonic()
            self.sandbox.close()
            self.sandbox = None
            if charge:
                self.budget.charge(0.0, time.monotonic() - began)
                self.run.busy += time.monotonic() - began


def run_checks(make_sandbox, notebooks, limits, make_reference=None):
    """
    Run every check notebook against one submission.

    Inputs:
    - make_sandbox: Callable returning a new, not yet started Sandbox.
    - notebooks: [CheckNotebook].
    - limits: The submission's Limits (cell_timeout, timeout and wall_timeout: see Budget).
    - make_reference: Callable returning a new Sandbox of the same isolation and limits over the
      reference code, for the experiment that tells whose a dead sandbox is; None: none is run
      (a sandbox that ends before it starts a cell is then always the grader's failure).

    Returns:
    - A Run.

    Raises:
    - GraderFailure when a sandbox cannot be started (at first or after a
      restart), or ends where the reference's ends too: the submission could not be graded.
    - Aborted when the run is stopped.
    """
    run = Run()
    session = _Session(make_sandbox, limits, run, make_reference)
    try:
        for nb in notebooks:
            records = run.records.setdefault(nb.name, {})
            session.setup = []
            for i, cell in nb.setup_cells():
                records[i] = session.execute(nb.name, cell, "setup")
                if records[i].status not in FATAL + ("not run",):
                    session.setup.append((nb.name, cell, records[i]))
            for check in nb.checks:
                records[check.index] = session.execute(nb.name, {"source": check.source}, check.name,
                                                       check.cpu_limit)
                if records[check.index].status == "not run":
                    run.not_run.append(check.name)
    finally:
        session.close()
    return run

