"""Exec a command under resource limits: `python -S limits.py AS_MB CPU_S NPROC CGROUP -- CMD...`

Run by the grader in front of each sandbox (instead of a preexec_fn, which is
unsafe in a threaded grader). Sets RLIMIT_AS, RLIMIT_CPU, RLIMIT_NPROC,
RLIMIT_NOFILE, RLIMIT_FSIZE and no core dumps, joins the pids cgroup CGROUP
when it is not "-", then execs CMD. Standalone: imports nothing from the kit.
"""
import os
import resource
import sys


def main():
    as_mb, cpu_s, nproc, cgroup = sys.argv[1:5]
    assert sys.argv[5] == "--"
    if cgroup != "-":
        try:
            with open(cgroup, "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass
    limits = [
        (resource.RLIMIT_AS, int(as_mb) * 2**20),
        (resource.RLIMIT_CPU, int(cpu_s)),
        (resource.RLIMIT_NPROC, int(nproc)),
        (resource.RLIMIT_NOFILE, 512),
        (resource.RLIMIT_FSIZE, 256 * 2**20),
        (resource.RLIMIT_CORE, 0),
    ]
    for what, value in limits:
        soft, hard = resource.getrlimit(what)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(what, (value, value))
    os.execvp(sys.argv[6], sys.argv[6:])


if __name__ == "__main__":
    main()
