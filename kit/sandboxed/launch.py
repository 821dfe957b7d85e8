"""Drop privileges and set resource limits, then exec the executor: the sandbox's first step.

    python -I -S launch.py CONFIG_JSON -- COMMAND...

Runs inside the sandbox before any student code, and imports nothing but the
standard library. CONFIG_JSON holds:
- "uid", "gid": when this process runs as root, switch to this unprivileged
  host user (no supplementary groups) for good, after handing it "home";
- "home": a directory the sandboxed user must own (its HOME and TMPDIR);
- "chdir": without bubblewrap, the working directory to start in (a kernel's
  notebooks folder: whoever starts the kernel may start it elsewhere);
- "unshare_net": without bubblewrap, leave the network namespace first (as
  root; otherwise inside a new user namespace) where the kernel allows it;
- "rlimits": {"AS": bytes, "CPU": seconds, "NPROC": n, "NOFILE": n, "FSIZE": bytes}.
Limits are set here, inside the sandbox's own user namespace when there is
one, so that the process count of one sandbox does not use up the host
account's. No new privileges can be gained afterwards (PR_SET_NO_NEW_PRIVS).
"""
import ctypes
import json
import os
import resource
import sys

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
PR_SET_NO_NEW_PRIVS = 38


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def unshare_network():
    """Leave the network namespace (no interface but a down loopback); True on success."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    return _libc().unshare(flags) == 0


def drop_to(uid, gid, home):
    if home:
        os.chown(home, uid, gid)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("launch: could not drop privileges")


def main():
    config = json.loads(sys.argv[1])
    if sys.argv[2] != "--":
        raise SystemExit("usage: launch.py CONFIG_JSON -- COMMAND...")
    command = sys.argv[3:]
    if config.get("unshare_net") and not unshare_network():
        print("launch: the network could not be unshared here", file=sys.stderr)
    if os.geteuid() == 0 and config.get("uid") is not None:
        drop_to(int(config["uid"]), int(config["gid"]), config.get("home"))
    if config.get("chdir"):
        os.chdir(config["chdir"])
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("launch: PR_SET_NO_NEW_PRIVS failed")
    for name, value in config.get("rlimits", {}).items():
        what = getattr(resource, f"RLIMIT_{name}")
        _, hard = resource.getrlimit(what)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(what, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
