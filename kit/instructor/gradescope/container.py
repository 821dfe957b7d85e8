"""Which isolation run_autograder grades under, in Gradescope's single-use container.

Gradescope runs each submission in a fresh Docker container, as root, under
Docker's default seccomp profile (no new user namespaces) and without
CAP_SYS_ADMIN: bubblewrap usually cannot create its namespaces there. A bundle
built with the default `--isolation auto` then grades in the "container"
mode (kit.instructor.sandbox.isolation): student code as an unprivileged uid,
with resource limits, and no file-system sandbox. Only this module chooses
it, because only the autograder knows that it runs in a container that
serves one submission and is thrown away; `kit grade` never falls back.

A bundle built with `--isolation bwrap` fails closed instead, and
`--isolation rlimits` is used as asked.
"""
import os
import tempfile
from pathlib import Path

from kit.instructor.grade.prepare import preflight
from kit.instructor.sandbox.isolation import IsolationUnavailable, Limits, choose_isolation


def _reason(err):
    """The line of a start failure that says why (bubblewrap's own message when there is one)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    said = [line[line.index("bwrap:"):] for line in lines if "bwrap:" in line]
    return (said[-1] if said else (lines[0] if lines else "no message"))[:300]


def bwrap_failure(bwrap=None):
    """
    Why bubblewrap's sandbox cannot start here, or None when it starts (and cuts the network).

    Inputs:
    - bwrap: The path of bubblewrap from the bundle's settings (default: found on PATH).

    Returns:
    - None, or one line: what failed.
    """
    try:
        isolation = choose_isolation("auto", bwrap=bwrap)
    except IsolationUnavailable as err:
        return _reason(err)
    with tempfile.TemporaryDirectory(prefix="kit-bwrap-probe-") as work:
        kit = Path(work) / "kit"
        kit.mkdir()
        os.chmod(work, 0o711)
        os.chmod(kit, 0o755)
        try:
            preflight(kit, isolation, Limits(cell_timeout=30, timeout=60), work, log=lambda *a: None)
        except IsolationUnavailable as err:
            return _reason(err)
    return None


def isolation_here(asked, bwrap=None, log=print):
    """
    The isolation to grade under in this container: `asked`, or "container" for "auto" without bubblewrap.

    Inputs:
    - asked: The bundle's isolation ("auto", "bwrap" or "rlimits").
    - bwrap: The bundle's path of bubblewrap, or None.
    - log: Where the choice is said.
    """
    if asked != "auto" or os.geteuid() != 0:
        return asked
    failure = bwrap_failure(bwrap)
    if failure is None:
        return "auto"
    log(f"bubblewrap cannot start in this container ({failure}): grading in the single-use container mode "
        f"(student code as an unprivileged uid, without a file-system sandbox); build the bundle with "
        f"--isolation bwrap to fail instead")
    return "container"
