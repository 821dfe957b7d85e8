"""`kit grade --scheduler tcp://HOST:8786`: grade on a Dask cluster that shares nothing with this machine.

The instructor's machine prepares the run as for `--jobs` (the release, the
reference run, the preflight), packs the Setup once (kit.instructor.grade.portable)
and sends each submission's zip, as bytes, to the scheduler; a worker, on which
only the kit is pip-installed, grades it (kit.instructor.grade.remote) and sends
back its grades row and the files of its output folder, which this machine
writes into --out as each result arrives (results.json last: it marks the
submission done, and a rerun skips it).

The packed Setup goes to the scheduler once, as the input of a task
(remote.packed) that every grading task depends on: each worker fetches it
once, and Dask makes it again from the scheduler's copy when every worker
that held it is gone. A few submissions per worker thread are in flight at a
time. Dask gives the work of a worker that dies to another one; a submission
whose worker died more than the scheduler's `distributed.scheduler.allowed-failures`
times (3 by default) is recorded as status `error`. When no worker is left for
`worker_wait` seconds, or the scheduler goes away, the run stops: what was
graded is kept, and the rest is "not graded" until the same command runs again.
"""
import logging
import time
import uuid
import warnings
from pathlib import Path

from cs231n._atomic import atomic_write

from kit.instructor.grade import dataset, portable, remote, report
from kit.instructor.grade.prepare import SetupError
from kit.instructor.grade.submission import _fresh_checks

WORKER_WAIT = 60.0     # seconds with no worker before the run stops
CONNECT_TIMEOUT = 20   # seconds to reach the scheduler
PER_THREAD = 2         # submissions in flight per worker thread
RESULT_WAIT = 10       # seconds to fetch a result from a worker (one that is gone: graded again)
NO_WORKER = "no Dask worker left"


def connect(scheduler):
    """
    A distributed.Client of the scheduler at `scheduler`.

    Raises:
    - SetupError saying what is missing (distributed, or a scheduler at that address) and what to do.
    """
    try:
        from distributed import Client
    except ImportError:
        raise SetupError("--scheduler needs Dask: pip install 'dask[distributed]' (or the kit's [grade] "
                         "extra) on this machine and on every worker") from None
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise SetupError(f"no Dask scheduler answers at {scheduler} ({type(err).__name__}: {err}); start one "
                         f"with `dask scheduler` and workers with `dask worker {scheduler}` (README, Grading "
                         f"on a cluster), or check the address") from None


def check_scheduler(scheduler):
    """Raise SetupError (connect's) unless a Dask scheduler answers at `scheduler`."""
    connect(scheduler).close()


def write_result(out_dir, student, files):
    """Write the files a worker sent back into out_dir/student, results.json last."""
    folder = (Path(out_dir) / student).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files, key=lambda rel: (rel == "results.json", rel)):
        target = (folder / rel).resolve()
        if folder not in target.parents:
            raise ValueError(f"a worker sent {rel!r} for {student}: not a path inside its output folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f, data=files[rel]: f.write(data))


def error_result(setup, student, out_dir, reason):
    """Record `student` as status error (graded again by --retry-errors); returns its grades row."""
    outcome = report.Outcome(student, "error", _fresh_checks(setup, "not graded"), setup.max_score, [],
                             setup.isolation.describe(), setup.isolation.short(), 0.0, reason=reason[:500])
    return report.write_submission(out_dir, outcome)


def _failure(future, packed):
    """
    The reason of a grading task that raised, for its status error; or None when it was lost (cancelled).

    Raises:
    - SetupError when the tasks cannot be loaded where they run (no kit there, or another version).
    """
    from distributed import KilledWorker

    try:
        err = future.exception()
        if packed.status == "error":  # the setup task failed: every grading task fails with it
            err = packed.exception()
    except Exception:  # noqa: BLE001 - cancelled, or the scheduler went away: the task was lost
        return None
    if packed.status == "error" or isinstance(err, ImportError) or "deserializ" in str(err):
        first = str(err).strip().splitlines()[0].split(". ")[0] if str(err).strip() else "no message"
        raise SetupError(f"the Dask scheduler or a worker cannot load the grading task ({type(err).__name__}: "
                         f"{first}): pip install this kit where the scheduler and every worker run "
                         f"(`pip install '<kit checkout>[grade]'`, then start them from that environment: README, "
                         f"Grading on a cluster)") from None
    if isinstance(err, KilledWorker):
        return ("the Dask workers grading it died while they did, too many times (the scheduler's "
                "distributed.scheduler.allowed-failures): see the workers' logs, then rerun with --retry-errors.")
    return f"{type(err).__name__}: {err}" if err is not None else "the task failed (see the workers' logs)."


def run(setup, jobs, scheduler, record, interrupts, data_url=None, data_md5=None, worker_wait=WORKER_WAIT,
        log=print):
    """
    Grade `jobs` on the Dask cluster of `scheduler`; record(row) each result as it arrives.

    Inputs:
    - setup: The run's kit.instructor.grade.prepare.Setup (made on this machine).
    - jobs: [kit.instructor.grade.submission.Job], their out_dir on this machine.
    - scheduler: The scheduler's address, e.g. tcp://10.0.0.5:8786.
    - record: Called with each grades.csv row, in this thread.
    - interrupts: .stop (submit nothing more) and .abort (cancel what runs) events.
    - data_url, data_md5: When the notebooks are graded (setup.data_dir), where a worker without a copy
      of that folder fetches its archive, and the archive's MD5 (kit.instructor.grade.dataset).
    - worker_wait: Seconds with no worker after which the run stops.

    Returns:
    - None when every job has a result (or the run was interrupted); otherwise
      why the others have none (NO_WORKER): they are left ungraded.

    Raises:
    - SetupError: no scheduler at that address, workers without the kit, or a --data-md5 that is not one.
    """
    data = None
    if setup.data_dir:
        try:
            data = dataset.spec(setup.data_dir, data_url, data_md5)
        except ValueError as err:
            raise SetupError(str(err)) from None
    muted = logging.root.manager.disable
    logging.disable(logging.ERROR)  # Dask's tracebacks of a lost worker or scheduler: the run says it in one line
    client = connect(scheduler)
    try:
        digest, blob = portable.pack(setup, data)
        with warnings.catch_warnings():  # sent once: "large graph" is Dask's advice for data sent with every task
            warnings.simplefilter("ignore", UserWarning)
            packed = client.submit(remote.packed, blob, key=f"kit-setup-{digest}", pure=False)
        todo, running, lonely_since = list(reversed(jobs)), {}, None
        while todo or running:
            if interrupts.abort.is_set():
                client.cancel(list(running))
                return None
            try:
                threads = sum(client.nthreads().values())
            except Exception:  # noqa: BLE001 - the scheduler went away (the client closes)
                return NO_WORKER
            lonely_since = None if threads else (lonely_since or time.monotonic())
            if lonely_since and time.monotonic() - lonely_since > worker_wait:
                client.cancel(list(running))
                return NO_WORKER
            while todo and not interrupts.stop.is_set() and len(running) < PER_THREAD * max(threads, 1):
                job = todo.pop()
                running[client.submit(remote.grade_remote, digest, packed, job.student, Path(job.zip_path).read_bytes(),
                                      key=f"grade-{job.student}-{uuid.uuid4().hex}", retries=0)] = job
            if interrupts.stop.is_set():
                todo = []
            if not running:
                continue
            until = time.monotonic() + 0.5
            while time.monotonic() < until and not any(f.done() for f in running):
                time.sleep(0.05)
            for future in [f for f in running if f.done()]:
                job = running.pop(future)
                if future.status == "finished":
                    try:
                        row, files = future.result(timeout=RESULT_WAIT)
                    except TimeoutError:  # its worker went away with the result: Dask grades it again
                        running[future] = job
                        continue
                    except Exception:  # noqa: BLE001 - lost meanwhile (cancelled): as below
                        pass
                    else:
                        write_result(job.out_dir, job.student, files)
                        record(row)
                        continue
                reason = _failure(future, packed)
                if reason is None:
                    if client.status not in ("running", "newly-created"):
                        return NO_WORKER
                    todo.append(job)  # cancelled but the scheduler is there: submit it again
                    continue
                record(error_result(setup, job.student, job.out_dir, reason))
        return None
    finally:
        try:
            client.close(timeout=5)
        except Exception:  # noqa: BLE001 - the scheduler is gone already
            pass
        logging.disable(muted)
