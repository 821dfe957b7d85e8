"""A run's Setup as one value that a Dask worker can use on its own, and the worker's copy of it.

The instructor's machine packs it once (pack): the private release as a tar
archive, the sanitize files of the graded notebooks, launch.py / executor.py
when the run was given another folder of them, and the Setup itself with every
path of the instructor's machine left out. A worker unpacks it once per run
(unpack) into a private folder of its own: the release is written and compiled
there, and the worker chooses its own sandbox (the isolation mode the
instructor's run chose, with this machine's bubblewrap and cgroups) and runs
the same preflight on it. Nothing on the worker points into the instructor's
checkout; the worker needs only the pip-installed kit, the same version as the
instructor's (kit_digest: a worker with another one refuses to grade).
"""
import dataclasses
import hashlib
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

from kit.instructor.grade.prepare import preflight, seal_release
from kit.instructor.sandbox import cgroups as cgroups_mod
from kit.instructor.sandbox.isolation import Isolation, choose_isolation

KIT = Path(__file__).resolve().parents[2]


@dataclass
class Packed:
    """What a worker needs to grade the submissions of one run (see pack)."""
    setup: object             # the Setup, without paths of the instructor's machine
    release: bytes            # the private release, as a tar archive (gzip)
    sanitize: dict            # index in setup.graded_notebooks -> text of its sanitize file
    sandboxed: dict           # file name -> bytes of launch.py / executor.py, when not the installed ones
    data: object = None       # kit.instructor.grade.dataset.DataSpec, with --data
    kit: str = ""             # kit_digest() of the instructor's kit


def kit_digest(root=KIT):
    """The SHA-256 of the kit's own code (every .py file under kit/, by relative path): its version."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _tar(folder):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname="release")
    return buf.getvalue()


def pack(setup, data=None):
    """
    The Setup of a run as bytes that a Dask worker can use on its own.

    Inputs:
    - setup: The kit.instructor.grade.prepare.Setup made on this machine.
    - data: A kit.instructor.grade.dataset.DataSpec (with --data), or None.

    Returns:
    - (digest, blob): the SHA-256 of the blob (a worker unpacks each digest
      once) and the blob (a pickle of a Packed).
    """
    sanitize = {i: Path(gnb.sanitize).read_text(encoding="utf-8")
                for i, gnb in enumerate(setup.graded_notebooks) if gnb.sanitize}
    sandboxed = {}
    if setup.sandboxed_dir:
        sandboxed = {p.name: p.read_bytes() for p in Path(setup.sandboxed_dir).glob("*.py")}
    bare = dataclasses.replace(
        setup, release_dir="", work_root="", sandboxed_dir=None, data_dir=None,
        isolation=Isolation(setup.isolation.mode),
        graded_notebooks=[dataclasses.replace(gnb, sanitize=None) for gnb in setup.graded_notebooks])
    blob = pickle.dumps(Packed(bare, _tar(setup.release_dir), sanitize, sandboxed, data, kit_digest()),
                        protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(blob).hexdigest(), blob


def _extract(release, root):
    with tarfile.open(fileobj=io.BytesIO(release), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
        else:  # Python < 3.10.12 / 3.11.4: the archive is the instructor's own
            tar.extractall(root)
    release_dir = Path(root) / "release"
    seal_release(release_dir)
    return release_dir


def unpack(packed, root, data_dir=None, log=print):
    """
    The Setup of a Packed on this machine, with its release written under `root`.

    Inputs:
    - packed: The Packed (pickle.loads of pack's blob).
    - root: A private folder of this worker for the run (mode 0o711).
    - data_dir: This machine's CIFAR-10 folder, when the run grades the notebooks.
    - log: Where the preflight's warnings go.

    Returns:
    - A kit.instructor.grade.prepare.Setup whose paths are all under `root` (or data_dir).

    Raises:
    - IsolationUnavailable: the sandbox cannot run on this machine (the message says why).
    """
    root = Path(root)
    release_dir = _extract(packed.release, root)
    sandboxed_dir = None
    if packed.sandboxed:
        sandboxed_dir = root / "sandboxed"
        sandboxed_dir.mkdir(mode=0o755)
        for name, data in packed.sandboxed.items():
            (sandboxed_dir / name).write_bytes(data)
            (sandboxed_dir / name).chmod(0o644)
    notebooks = []
    for i, gnb in enumerate(packed.setup.graded_notebooks):
        if i in packed.sanitize:
            path = root / f"sanitize-{i}.cfg"
            path.write_text(packed.sanitize[i], encoding="utf-8")
            gnb = dataclasses.replace(gnb, sanitize=str(path))
        notebooks.append(gnb)
    setup = packed.setup
    found = cgroups_mod.detect()
    cgroups_mod.sweep_stale(found)
    isolation = preflight(release_dir, choose_isolation(setup.isolation.mode, cgroups=found,
                                                       per_process_memory=setup.limits.memory_per_process), setup.limits,
                          root, sandboxed_dir, log)
    return dataclasses.replace(setup, release_dir=str(release_dir), work_root=str(root), isolation=isolation,
                               sandboxed_dir=str(sandboxed_dir) if sandboxed_dir else None,
                               graded_notebooks=notebooks, data_dir=str(data_dir) if data_dir else None)
