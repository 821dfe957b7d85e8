"""What a sandbox runs: the kit it sees, and the command lines that start it in each isolation mode.

    bwrap (namespaces, a read-only view of the system, Python and one kit)
      -> kit/sandboxed/launch.py (drops to an unprivileged uid, sets rlimits)
        -> the executor of check cells, or a Jupyter kernel

In the "rlimits" and "container" modes there is no bubblewrap: launch.py runs
on a private copy of the kit, with a copy of the executor beside it, and
starts the interpreter that the Isolation names (one the sandbox's uid can
run, see kit.instructor.sandbox.reach). The reference run ("none") starts the
executor on the instructor's source as it is. kit.instructor.sandbox.box puts
the cgroup in front and runs it.
"""
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/fonts", "/etc/alternatives", "/etc/mime.types")
NOBODY = 65534
# The kit's own packages, when pip-installed in this Python (a Dask worker's): the reference solution
# and the check notebooks. The sandbox sees an empty folder in their place.
HIDDEN_PACKAGES = ("cs231n", "kit")
PASS_ENV = ("OPENBLAS_CORETYPE",)  # machine settings the sandbox keeps


@dataclass
class KitView:
    """What the sandbox sees at /kit: the release, with some files replaced by the student's."""
    release: Path
    overlays: dict = field(default_factory=dict)   # relative path -> host path of the student's version
    data: dict = field(default_factory=dict)       # sandbox path -> host directory, read-only


def python_paths():
    """(path in the sandbox, host path) pairs that make this interpreter and its packages work."""
    pairs = {}
    for d in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))}:
        real = os.path.realpath(d)
        pairs[d] = real
        pairs[real] = real
    return sorted(pairs.items())


def hidden_paths():
    """
    The sandbox paths of the kit's packages installed in this Python (HIDDEN_PACKAGES), to cover.

    Returns:
    - Sorted paths inside the sandbox: the installed cs231n/ and kit/ folders of this
      interpreter's site-packages, as python_paths() mounts them (none for a checkout).
    """
    libs = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    for name in HIDDEN_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            libs.update(os.path.dirname(p) for p in spec.submodule_search_locations)
    found = set()
    for lib in libs:
        for name in HIDDEN_PACKAGES:
            real = os.path.realpath(os.path.join(lib, name))
            if not os.path.isdir(real):
                continue
            for inside, host in python_paths():
                if real.startswith(host.rstrip("/") + "/"):
                    found.add(inside.rstrip("/") + real[len(host.rstrip("/")):])
    return sorted(found)


def parents(paths):
    """The directories above `paths` (not "/", not the paths themselves), outermost first."""
    found, own = set(), set(paths)
    for path in paths:
        parent = os.path.dirname(path.rstrip("/"))
        while parent not in ("", "/") and parent not in own:
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted(found, key=lambda p: (p.count("/"), p))


def clean_env(home):
    """The whole environment of sandboxed code, with `home` as its HOME and TMPDIR."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
           "USER": "sandbox", "LOGNAME": "sandbox", "MPLBACKEND": "agg",
           "MPLCONFIGDIR": f"{home}/matplotlib", "IPYTHONDIR": f"{home}/ipython",
           "JUPYTER_RUNTIME_DIR": f"{home}/runtime", "JUPYTER_PLATFORM_DIRS": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    return env


def launch_config(limits, isolation, home, uid=None, chdir=None, cpu=None):
    """
    The settings kit/sandboxed/launch.py applies before it starts the sandboxed process.

    cpu: the CPU seconds the grader allows the sandbox (default: limits.timeout, the code checks'
    budget); each process's RLIMIT_CPU, a backstop of the grader's own limit, is 10 s above it.
    """
    config = {"home": home, "chdir": chdir, "rlimits": {
        "AS": limits.memory_mb * 2**20, "CPU": int(limits.timeout if cpu is None else cpu) + 10,
        "NPROC": limits.pids,
        "NOFILE": 512, "FSIZE": limits.tmp_mb * 2**20}}
    if uid is not None:
        config.update(uid=uid, gid=uid)
    if isolation.mode in ("rlimits", "container"):
        config["unshare_net"] = True
    return config


def bwrap_prefix(isolation, limits, view, sandboxed_dir, launch, writable=(), chdir="/kit"):
    """
    bubblewrap and launch.py, up to the interpreter to run.

    Inputs:
    - isolation, limits: The Isolation (mode "bwrap") and the Limits.
    - view: The KitView to mount at /kit.
    - sandboxed_dir: The folder of launch.py and executor.py (mounted at /grader).
    - launch: launch.py's settings (launch_config).
    - writable: Host folders bound read-write at the same path (a kernel's connection folder).
    - chdir: The working directory inside.
    """
    cmd = [isolation.bwrap, "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid",
           "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if isolation.root:
        # No user namespace (it would map the sandbox to host root): launch.py switches to a
        # real unprivileged uid, with only the capabilities needed for that.
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_CHOWN"]
    else:
        cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/dev/shm"]
    binds = []  # (host, inside), read-only, in this order (later ones cover earlier ones)
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            cmd += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            binds.append((d, d))
    binds += [(os.path.realpath(p), p) for p in SYSTEM_ETC if os.path.exists(p)]
    binds += [(host, inside) for inside, host in python_paths()]
    binds.append((str(view.release), "/kit"))
    binds += [(str(host), f"/kit/{rel}") for rel, host in sorted(view.overlays.items())]
    binds += [(str(host), inside) for inside, host in sorted(view.data.items())]
    binds.append((str(sandboxed_dir), "/grader"))
    # bwrap makes missing parent directories private (0700): make them readable first.
    for d in parents([inside for _, inside in binds] + [str(d) for d in writable]):
        cmd += ["--perms", "0755", "--dir", d]
    for host, inside in binds:
        cmd += ["--ro-bind", host, inside]
    for inside in hidden_paths():
        cmd += ["--perms", "0555", "--tmpfs", inside]
    for d in writable:
        cmd += ["--bind", str(d), str(d)]
    cmd += ["--chdir", chdir, "--clearenv"]
    for key, value in clean_env("/tmp").items():
        cmd += ["--setenv", key, value]
    return cmd + [sys.executable, "-I", "-S", "/grader/launch.py", json.dumps(launch), "--"]


def sandbox_python(isolation):
    """The interpreter that sandboxed code runs in this isolation mode."""
    return isolation.python or sys.executable


def rlimits_prefix(sandboxed_dir, launch):
    """launch.py, up to the interpreter to run, for the "rlimits" and "container" modes (no bubblewrap)."""
    return [sys.executable, "-I", "-S", str(Path(sandboxed_dir) / "launch.py"), json.dumps(launch), "--"]


def kit_copy(view, scratch_root=None, sandboxed_dir=None):
    """
    A private copy of the kit with the student's files, for the "rlimits" and "container" modes.

    The scripts of `sandboxed_dir` (launch.py, executor.py) are copied beside it, in
    grader/: the sandbox's uid may not reach the instructor's checkout (a private home folder).

    Returns:
    - (scratch folder to remove afterwards, the kit in it, a home folder in it); the scripts
      are in scratch / "grader".
    """
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-", dir=scratch_root))
    kit, home = scratch / "kit", scratch / "home"
    try:
        if sandboxed_dir is not None:
            (scratch / "grader").mkdir()
            for script in Path(sandboxed_dir).glob("*.py"):
                shutil.copyfile(script, scratch / "grader" / script.name)
        shutil.copytree(view.release, kit, symlinks=True)
        for rel, host in view.overlays.items():
            shutil.copyfile(host, kit / rel)
        for inside, host in view.data.items():
            target = kit / Path(inside).relative_to("/kit")
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            target.symlink_to(host, target_is_directory=True)
        home.mkdir()
        for dirpath, dirnames, filenames in os.walk(scratch):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):  # never follow a link out of the copy
                    os.chmod(path, 0o644)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch, kit, home
