"""What /proc says about a process tree: its processes, their CPU time, memory and wait for a CPU.

Used where a sandbox has no cgroup to count its processes (a grader that is not
root), and for the run-queue delay of a sandbox's threads, which cgroups do not
give per process.
"""
import os

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident(root_pid, uid=None):
    """
    {pid: resident bytes} of `root_pid` and its descendants, and of every process whose uid is `uid`.

    The resident set of each process (/proc/PID/stat), shared pages counted in each: an upper
    bound of the memory the processes hold together. `uid` finds the processes that left the
    tree (a daemon reparented to init) when the sandbox has a host uid of its own.
    """
    table, memory = {}, {}
    for pid, fields in _stats():
        table[pid] = (int(fields[1]), 0.0)
        memory[pid] = int(fields[21]) * _PAGE
        try:
            if uid is not None and os.stat(f"/proc/{pid}").st_uid == uid:
                table[pid] = (-1, 0.0)   # a root of its own below
        except OSError:
            continue
    roots = [root_pid] + [pid for pid, (ppid, _) in table.items() if ppid == -1]
    found = set()
    for root in roots:
        if root not in found:
            found.update(_tree(root, table))
    return {pid: memory[pid] for pid in found if pid in memory}


def _stats():
    """(pid, the fields of /proc/PID/stat after the command name) of every process that can be read."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if len(fields) > 21:
                yield int(entry), fields
        except (OSError, IndexError, ValueError):
            continue


def _processes():
    """{pid: (parent pid, CPU seconds of it and its waited-for children)} of every process, from /proc/*/stat."""
    return {pid: (int(fields[1]), (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / _TICK)
            for pid, fields in _stats()}


def proportional(memory):
    """
    Bytes that the processes of {pid: resident bytes} hold together: each one's proportional set
    (/proc/PID/smaps_rollup: a page shared by n processes counts 1/n in each), or its resident
    set where that cannot be read. Dearer than resident(): read only once the cheap sum is too high.
    """
    total = 0
    for pid, rss in memory.items():
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
                else:
                    total += rss
        except (OSError, ValueError, IndexError):
            total += rss
    return total


def _tree(root_pid, table):
    """`root_pid` and its descendants in a process table, root first."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, seen, todo = [], set(), [root_pid]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def tree_pids(root_pid):
    """`root_pid` and its descendants (from /proc)."""
    return _tree(root_pid, _processes())


def tree_cpu(root_pid):
    """CPU seconds of `root_pid` and its descendants (from /proc), for machines without cgroups."""
    table = _processes()
    return sum(table[pid][1] for pid in _tree(root_pid, table) if pid in table)


def run_delay(pids):
    """Seconds the threads of `pids` have waited on a run queue (/proc/*/task/*/schedstat), 0 without it."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9
