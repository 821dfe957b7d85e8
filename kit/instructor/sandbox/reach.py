"""A Python the sandbox's unprivileged uid can run, when the grader's own is out of its reach.

A root grader runs student code as an unprivileged host uid
(kit.instructor.sandbox.uids). Under bubblewrap the interpreter and its
packages are bound read-only into the sandbox, whose folders above them are
made searchable, so a checkout in root's private home folder works. Without
bubblewrap (isolation "rlimits" and "container") that uid opens the
interpreter and every folder on its sys.path with its own permissions: a
virtualenv in a home folder of mode 0700, or a pyenv Python there, is out of
its reach and student code cannot even import NumPy.

sandbox_python() then prepares, once, a stand-in in a world-readable folder
(MIRRORS, or $KIT_PYTHON_MIRRORS): a virtualenv of a reachable interpreter of
the same version (the grader's base interpreter, or a system python3.X) whose
.pth file lists the folders of the grader's sys.path: the reachable ones as
they are, the others as hard-linked copies (plain copies across file
systems). Its name is a digest of those folders and their modification times,
so that a changed virtualenv gets a new stand-in. When no interpreter of that
version is reachable it raises Unreachable with what to do.
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

MIRRORS = Path("/var/lib/kit-grade/python")
MIRRORS_ENV = "KIT_PYTHON_MIRRORS"
SYSTEM_PYTHONS = ("/usr/bin", "/usr/local/bin", "/bin")
ASK = ("import json, sys; print(json.dumps({'executable': sys.executable, 'base_executable': "
       "getattr(sys, '_base_executable', sys.executable), 'base_prefix': sys.base_prefix, "
       "'version': list(sys.version_info[:2]), 'path': sys.path}))")


class Unreachable(OSError):
    """No Python that another uid can run could be found or made; the message says what to do."""


def reachable(path):
    """True when another user can reach `path` (every folder above searchable) and read it (mode bits).

    Both the path as written and the file it resolves to are checked: a link in a
    private folder is out of reach even when what it points to is not.
    """
    return _walk(os.path.abspath(path)) and _walk(os.path.realpath(path))


def _walk(path):
    current = "/"
    parts = [p for p in path.split("/") if p]
    for k, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode) and not mode & 0o001:
            return False
        if k == len(parts) - 1 and not mode & 0o004:
            return False
    return True


def describe(python):
    """{executable, base_executable, base_prefix, version, path} of the interpreter `python` run with -I."""
    proc = subprocess.run([python, "-I", "-c", ASK], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise Unreachable(f"{python} does not start: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)


def unreachable_parts(info):
    """The interpreter and the folders on its sys.path that another user cannot reach."""
    needed = [info["executable"]] + [p for p in info["path"] if p and os.path.exists(p)]
    return [p for p in needed if not reachable(p)]


def _same_version(python, version):
    proc = subprocess.run([python, "-I", "-c", "import sys; print(list(sys.version_info[:2]))"],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode == 0 and json.loads(proc.stdout) == version


def reachable_base(info):
    """An interpreter of the same major.minor version that another user can run, or None."""
    major, minor = info["version"]
    candidates = [os.path.realpath(info["base_executable"])]
    candidates += [os.path.join(d, f"python{major}.{minor}") for d in SYSTEM_PYTHONS]
    for candidate in candidates:
        if os.path.isfile(candidate) and reachable(candidate) and not unreachable_parts(describe(candidate)) \
                and _same_version(candidate, info["version"]):
            return candidate
    return None


def _stdlib(path, info):
    """True for the standard library folders of the grader's base interpreter (the stand-in has its own)."""
    real, base = os.path.realpath(path), os.path.realpath(info["base_prefix"])
    return (real == base or real.startswith(base + "/")) and not any(
        part in ("site-packages", "dist-packages") for part in real.split("/"))


def link_tree(src, dst):
    """Copy the folder `src` to `dst` as hard links (plain copies where a link cannot be made); links stay links."""
    for dirpath, dirnames, filenames in os.walk(src):
        target = Path(dst) / os.path.relpath(dirpath, src)
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(target, 0o755)
        for name in dirnames + filenames:
            here, there = os.path.join(dirpath, name), target / name
            if os.path.islink(here):
                os.symlink(os.readlink(here), there)
            elif name in filenames:
                try:
                    os.link(here, there)
                except OSError:
                    shutil.copy2(here, there)
                    os.chmod(there, 0o644)


def _mirrors_root():
    root = Path(os.environ.get(MIRRORS_ENV) or MIRRORS)
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022 \
            or not reachable(root):
        raise Unreachable(f"{root} must be a folder of this user's that other users can search and not "
                          f"write; set ${MIRRORS_ENV} to another")
    return root


def sandbox_python(python=None):
    """
    The interpreter that sandboxed code runs as another uid: `python` itself when it can, else a stand-in.

    Inputs:
    - python: The grader's interpreter (default sys.executable).

    Returns:
    - The path of an interpreter with the same packages that every user can run.

    Raises:
    - Unreachable with what to do, when no interpreter of that version is reachable.
    """
    python = python or sys.executable
    info = describe(python)
    missing = unreachable_parts(info)
    if not missing:
        return python
    base = reachable_base(info)
    if base is None:
        major, minor = info["version"]
        raise Unreachable(
            f"the sandbox's unprivileged uid cannot reach {missing[0]} (a folder above it is private) and no "
            f"python{major}.{minor} that other users can run was found in {', '.join(SYSTEM_PYTHONS)}: "
            f"install one (`apt-get install python{major}.{minor}-venv`) or make a virtualenv outside the "
            f"private folder (`python3 -m venv /opt/kit-venv && /opt/kit-venv/bin/pip install -r "
            f"requirements.txt`) and grade with it")
    sites = [os.path.realpath(p) for p in info["path"] if p and os.path.isdir(p) and not _stdlib(p, info)]
    key = hashlib.sha256(json.dumps([base, [(p, os.stat(p).st_mtime_ns) for p in sites]]).encode()).hexdigest()[:16]
    root = _mirrors_root()
    final = root / key
    if (final / "complete").exists():
        return str(final / "venv" / "bin" / "python")
    building = root / f".{key}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", str(building / "venv")], check=True,
                       capture_output=True, timeout=300)
        lines = []
        for k, site in enumerate(sites):
            if reachable(site):
                lines.append(site)
            else:
                link_tree(site, building / "site" / str(k))
                lines.append(str(final / "site" / str(k)))
        packages = next((building / "venv").glob("lib/python*/site-packages"))
        (packages / "kit-grader-paths.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for path in [building, *building.rglob("*")]:
            if not path.is_symlink() and path.is_dir():
                path.chmod(0o755)
        (building / "complete").write_text(json.dumps({"for": python, "base": base, "sites": sites}) + "\n")
        try:
            building.rename(final)
        except OSError:
            if not (final / "complete").exists():  # another grader's made it meanwhile, or it failed
                raise
    except (OSError, subprocess.SubprocessError) as err:
        raise Unreachable(f"the sandbox's unprivileged uid cannot reach {missing[0]}, and a copy of this "
                          f"Python for it could not be made in {root}: {err}") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return str(final / "venv" / "bin" / "python")
