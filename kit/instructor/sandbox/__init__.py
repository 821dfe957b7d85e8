"""The sandbox that student code runs in, seen from the trusted grader.

- isolation.py: which isolation this machine allows (fails closed) and the Limits of a submission;
- commands.py: what a sandbox sees (KitView) and the command lines that start it;
- box.py: Sandbox, one process tree around the check executor or a notebook's kernel, and its time limit;
- procfs.py, cgroups.py, cgroup_exec.py, uids.py: counting and bounding its processes, its uid;
- reach.py: a Python that uid can run when the grader's own is in a private folder (no bubblewrap).

What runs inside it is in kit/sandboxed/.
"""
