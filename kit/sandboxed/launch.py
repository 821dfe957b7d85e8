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
  where it does not (a container without CAP_SYS_ADMIN or user namespaces),
  a seccomp filter makes every socket but a Unix or netlink one fail with
  EACCES instead (and io_uring, and system calls of another ABI, with EPERM);
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
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
# machine -> (audit arch, socket, io_uring_setup, lowest number of another ABI on this arch or None)
SECCOMP_ARCH = {"x86_64": (0xC000003E, 41, 425, 0x40000000), "aarch64": (0xC00000B7, 198, 425, None)}
AF_UNIX, AF_NETLINK, EACCES, EPERM = 1, 16, 13, 1
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06   # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def unshare_network():
    """Leave the network namespace (no interface but a down loopback); True on success."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    return _libc().unshare(flags) == 0


def socket_filter():
    """The seccomp program (bytes) of filter_sockets(), or None on an architecture it does not know."""
    import platform
    import struct

    known = SECCOMP_ARCH.get(platform.machine())
    if known is None:
        return None
    arch, socket_nr, io_uring_nr, other_abi = known

    def insn(code, jt, jf, k):
        return struct.pack("HBBI", code, jt, jf, k)
    deny, refuse = insn(RET, 0, 0, ERRNO | EPERM), insn(RET, 0, 0, ERRNO | EACCES)
    prog = [insn(LD, 0, 0, 4), insn(JEQ, 1, 0, arch), deny,            # another ABI (i386 on x86_64): nothing
            insn(LD, 0, 0, 0)]                                          # the system call's number
    if other_abi is not None:
        prog += [insn(JGE, 0, 1, other_abi), deny]                      # x32 on x86_64
    prog += [insn(JEQ, 0, 1, io_uring_nr), deny,                        # io_uring can open sockets too
             insn(JEQ, 1, 0, socket_nr), insn(RET, 0, 0, ALLOW),
             insn(LD, 0, 0, 16),                                        # socket(domain, ...): the domain
             insn(JEQ, 2, 0, AF_UNIX), insn(JEQ, 1, 0, AF_NETLINK), refuse, insn(RET, 0, 0, ALLOW)]
    return b"".join(prog)


def filter_sockets():
    """No network without a network namespace: a seccomp filter (after PR_SET_NO_NEW_PRIVS); True on success."""
    code = socket_filter()
    if code is None:
        return False

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = Prog(len(code) // 8, ctypes.addressof(buffer))
    return _libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


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
    filter_net = config.get("unshare_net") and not unshare_network()
    if os.geteuid() == 0 and config.get("uid") is not None:
        drop_to(int(config["uid"]), int(config["gid"]), config.get("home"))
    if config.get("chdir"):
        os.chdir(config["chdir"])
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("launch: PR_SET_NO_NEW_PRIVS failed")
    if filter_net and not filter_sockets():
        print("launch: the network could not be cut here (no network namespace, no seccomp filter)",
              file=sys.stderr)
    for name, value in config.get("rlimits", {}).items():
        what = getattr(resource, f"RLIMIT_{name}")
        _, hard = resource.getrlimit(what)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(what, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
