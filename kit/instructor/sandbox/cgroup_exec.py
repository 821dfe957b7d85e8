"""Join cgroups, then exec a command: `python -I -S cgroup_exec.py PROCS_FILE... -- COMMAND...`

Run by the grader in front of each sandbox (a preexec_fn is unsafe in a
threaded grader), so that the sandbox and everything it starts are counted
and limited from their first instruction. Fails closed: when a cgroup cannot
be joined the command does not run (exit status 125). Standard library only.
"""
import os
import sys


def main():
    split = sys.argv.index("--")
    procs_files, command = sys.argv[1:split], sys.argv[split + 1:]
    for path in procs_files:
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        except OSError as err:
            print(f"cgroup_exec: cannot join the cgroup {path}: {err}", file=sys.stderr)
            sys.exit(125)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
