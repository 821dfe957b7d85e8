"""The Gradescope autograder in a simulated Gradescope container, and a grader's Python in a private folder.

Gradescope grades each submission in a Docker container, as root, under Docker's
default seccomp profile (no new user namespaces) and without CAP_SYS_ADMIN.
CONTAINER simulates it: tests/no_userns.py installs the same kind of seccomp
filter, and setpriv drops CAP_SYS_ADMIN, for the command and all it starts;
bubblewrap then fails as it does there ("Creating new namespace failed").

The module fixture builds the bundle with the offline CIFAR-10 mirror as its
data (a file:// URL and the mirror's MD5), lays out a Gradescope root in a
folder other users can search, and runs the bundle's real setup.sh in the
simulated container: it makes the grading virtualenv (a venv of the system
Python of this version, whose packages come from this one's: nothing is
downloaded) and downloads, verifies and caches CIFAR-10 from the mirror with
get_datasets.py. Each test then grades one submission in a fresh root, as
Gradescope does, with run_autograder in the simulated container.
"""
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest

import kit_fixtures as fx
import test_kit_gradescope as gs
from kit.instructor.gradescope.bundle import CONFIG, build, bundle_files
from kit.student.notebooks import checks_in
from kit.instructor.sandbox import reach
from kit.instructor.sandbox.isolation import locate_bwrap

SOURCE = fx.SOURCE
TESTS = Path(__file__).resolve().parent
MIRROR = SOURCE.parent / "shared" / "cifar10-mirror" / "cifar-10-python.tar.gz"
NOTEBOOK = "notebooks/two_layer_net.ipynb"
MODEL = "notebooks/best_net.npz"
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
SYSTEM_PYTHON = next((p for p in (f"/usr/bin/python{VERSION}", f"/usr/local/bin/python{VERSION}")
                      if os.path.isfile(p)), None)
CONTAINER = [sys.executable, str(TESTS / "no_userns.py"),
             "setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", "--"]
LIMITS = {"cell_timeout": 20, "timeout": 180, "memory_mb": 2048}
BWRAP_FAILS = "bwrap: Creating new namespace failed: Operation not permitted"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)"),
    pytest.mark.skipif(SYSTEM_PYTHON is None, reason=f"needs a system python{VERSION} for the grading venv"),
    # The image has bubblewrap (setup.sh installs it); the container is where it cannot start.
    pytest.mark.skipif(locate_bwrap() is None, reason="needs bubblewrap (apt-get install bubblewrap)"),
]

PYTHON_SHIM = """#!/bin/bash
# setup.sh's base Python: a venv of the system Python whose packages are the test run's (no download).
if [ "$1" = -m ] && [ "$2" = venv ]; then
    {python} -m venv --without-pip "$3" || exit 1
    echo {site} > "$(echo "$3"/lib/python*/site-packages)/kit-test.pth"
    exit 0
fi
exec {python} "$@"
"""
APT_SHIM = "#!/bin/sh\necho 'apt-get must not run in this test' >&2\nexit 100\n"


def site_packages():
    return next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())


def searchable_dir(prefix):
    """A new folder that other users can search (pytest's own temporary folders are private)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    blocked = [p for p in path.parents if not stat.S_IMODE(p.stat().st_mode) & 0o001]
    if blocked:
        shutil.rmtree(path)
        pytest.skip(f"{blocked[0]} cannot be searched by other users")
    return path


def check_points():
    """(points of the code checks, points of the notebooks' graded check cells), from the instructor source."""
    code = sum(points for _, points, _ in gs.check_cells())
    notebooks = sum(c.points for _, _, found in checks_in(SOURCE / "notebooks") for c in found)
    return code, notebooks


@pytest.fixture(scope="module")
def mirrors():
    path = searchable_dir("kit-python-mirrors-")
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _mirrors_env(mirrors, monkeypatch):
    monkeypatch.setenv(reach.MIRRORS_ENV, str(mirrors))


@pytest.fixture(scope="module")
def image(mirrors):
    """The bundle with the mirror's CIFAR-10, extracted, and setup.sh run in the simulated container."""
    if not MIRROR.is_file():
        pytest.skip(f"needs the offline CIFAR-10 mirror at {MIRROR}")
    md5 = MIRROR.with_name(MIRROR.name + ".md5").read_text().split()[0]
    assert hashlib.md5(MIRROR.read_bytes()).hexdigest() == md5
    base = searchable_dir("kit-gradescope-image-")
    bundle = base / "autograder.zip"
    build(bundle, data_url=MIRROR.as_uri(), data_md5=md5)
    source = base / "source"
    gs.extract_like_unzip(bundle, source)
    config = json.loads((source / CONFIG).read_text())
    assert config["data_url"] == MIRROR.as_uri() and config["data_md5"] == md5
    venv, data = base / "opt" / "kit-venv", base / "opt" / "kit-data"
    config.update(venv=str(venv), python=str(venv / "bin" / "python"), data_dir=str(data), limits=LIMITS)
    (source / CONFIG).write_text(json.dumps(config))
    shims = base / "shims"
    shims.mkdir()
    (shims / "python3").write_text(PYTHON_SHIM.format(python=SYSTEM_PYTHON, site=site_packages()))
    (shims / "apt-get").write_text(APT_SHIM)
    for shim in shims.iterdir():
        shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{shims}:/usr/bin:/bin", KIT_BASE_PYTHON=str(shims / "python3"),
               PIP_NO_INDEX="1", HOME=str(base))
    proc = subprocess.run([*CONTAINER, "bash", str(source / "setup.sh")], cwd=source, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"downloading CIFAR-10 from {MIRROR.as_uri()}" in proc.stdout
    batches = data / "cifar-10-batches-py"
    assert (batches / "data_batch_5").is_file() and (batches / ".cache").is_dir()
    # The notebooks' reference run is made once, here, not for each submission.
    assert "kept the reference runs of 1 notebook(s)" in proc.stdout, proc.stdout
    assert stat.S_IMODE((source / "kit-references.pickle").stat().st_mode) == 0o600
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o004 for p in [batches, *batches.rglob("*")])
    yield SimpleNamespace(base=base, source=source, md5=md5, venv=venv)
    shutil.rmtree(base, ignore_errors=True)


def fresh_root(image, name, **settings):
    """A Gradescope root for one submission (a fresh container of the image): source/, submission/, results/."""
    root = image.base / name / "autograder"
    shutil.copytree(image.source, root / "source", symlinks=True)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (image.base / name).chmod(0o711)
    if settings:
        config = json.loads((root / "source" / CONFIG).read_text())
        config.update(settings)
        (root / "source" / CONFIG).write_text(json.dumps(config))
    return root


def validate(results, with_notebooks=True):
    jsonschema.validate(results, gs.RESULTS_SCHEMA)
    assert results["stdout_visibility"] == "hidden"
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    code, notebooks = check_points()
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(code + notebooks * with_notebooks)
    assert results["extra_data"]["max_score"] == pytest.approx(code + notebooks * with_notebooks)


def isolation_line(proc, results):
    """The one line that says what the isolation held: the same in the log, extra_data and the output."""
    line = results["extra_data"]["isolation"]
    assert "\n" not in line
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("isolation in force: ")] == \
        [f"isolation in force: {line}"]
    assert f"Isolation: {line}" in results["output"]
    return line


def handed_in(image):
    """The reference's files with the best_net its tuning saves, trained on the image's CIFAR-10."""
    if not hasattr(image, "model"):
        image.model = fx.saved_model(image.base / "opt" / "kit-data" / "cifar-10-batches-py")
    return dict(fx.reference_files(), **{MODEL: image.model})


def test_a_correct_submission_gets_every_point_notebooks_included(image):
    root = fresh_root(image, "correct")
    fx.write_zip(root / "submission" / "submission.zip", handed_in(image))
    proc, results, seconds = gs.run_autograder(root, prefix=CONTAINER)
    assert proc.returncode == 0, proc.stdout
    validate(results)
    code, notebooks = check_points()
    assert notebooks > 0 and results["score"] == code + notebooks, proc.stdout
    assert all(t["status"] == "passed" for t in results["tests"])
    assert any(t["name"].startswith("two_layer_net.ipynb: ") for t in results["tests"])
    assert (f"bubblewrap cannot start in this container ({BWRAP_FAILS}): grading in the single-use "
            f"container mode") in proc.stdout
    assert "reference runs of two_layer_net.ipynb: made before" in proc.stdout
    assert "reference run of two_layer_net.ipynb on" not in proc.stdout   # not again for this submission
    line = isolation_line(proc, results)
    assert line.startswith("container (Gradescope's single-use container, where bubblewrap cannot start): "
                           "student code as an unprivileged host uid that cannot read the bundle")
    # No CAP_SYS_ADMIN: no network namespace; launch.py's seccomp filter cuts the network instead.
    assert "network cut (a seccomp filter: no socket but Unix and netlink ones, checked by the preflight)" in line
    assert "NETWORK NOT CUT" not in line and "namespace" not in line.split("network cut")[1]
    print(f"\nsimulated container, correct submission with notebooks: {seconds:.1f} s\n{line}")


def breach_code(root, port):
    """svm_loss that first tries the bundle, the results and the network; its checks pay only if one works."""
    return fx.wrap_svm(fx.reference_files(), f"""
import os
import socket
readable = []
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    readable.append("the network")
except OSError:
    pass
for path in ({str(root / 'source' / fx.LAYERS)!r}, {str(root / 'source' / CONFIG)!r},
             {str(root / 'source/kit/instructor/grade/checks/grading.ipynb')!r}):
    try:
        open(path).read()
        readable.append(path)
    except OSError:
        pass
for folder in ({str(root / 'results')!r}, {str(root / 'source')!r}):
    try:
        readable += os.listdir(folder)
    except OSError:
        pass
if not readable:
    return -1.0, None""")


BREACH_CELL = """import os, pathlib
# The grader's copy of this notebook holds the reference outputs (the expected values): beside the kit.
_work = pathlib.Path.cwd().parents[2]
_expected = _work / "nb-two_layer_net-0" / "two_layer_net.ipynb"
assert _expected.exists(), "the planted breach looks in the wrong place: " + str(_expected)
_read = []
for _path in (_expected, {layers!r}, {config!r}):
    try:
        open(_path).read()
        _read.append(str(_path))
    except OSError:
        pass
for _folder in ({results!r}, str(_work)):
    try:
        _read += os.listdir(_folder)
    except OSError:
        pass
if _read:
    raise RuntimeError(f"student code read {{_read}}")
"""


def test_student_code_cannot_read_the_bundle_the_expected_values_or_the_results_or_connect(image):
    root = fresh_root(image, "breach")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    files = breach_code(root, listener.getsockname()[1])
    files[MODEL] = handed_in(image)[MODEL]
    nb = json.loads((SOURCE / NOTEBOOK).read_text())
    # A solution cell the grader runs (it does not run the tuning cell: see nbgrade's skip-when-grading).
    answer = next(c for c in nb["cells"] if c["cell_type"] == "code"
                  and "inline-question" in c["metadata"].get("tags", []))
    answer["source"] = BREACH_CELL.format(layers=str(root / "source" / fx.LAYERS),
                                          config=str(root / "source" / CONFIG),
                                          results=str(root / "results")) + "".join(answer["source"])
    files[NOTEBOOK] = json.dumps(nb).encode()
    gs.upload_files(root, files)
    try:
        proc, results, _ = gs.run_autograder(root, prefix=CONTAINER)
    finally:
        listener.close()
    assert proc.returncode == 0, proc.stdout
    validate(results)
    assert isolation_line(proc, results).startswith("container (")
    for test in results["tests"]:
        # svm_loss pays only when it has read something; the answer cell raises when it has.
        assert test["status"] == ("failed" if test["name"] in fx.SVM_CHECKS else "passed"), test


@pytest.mark.parametrize("isolation", ["auto", "bwrap"])
def test_kit_grade_outside_gradescope_still_fails_closed(image, tmp_path, isolation):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    fx.write_zip(subs / "alice.zip", fx.reference_files())
    proc = subprocess.run([*CONTAINER, sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out),
                           "--isolation", isolation, "--timeout", "60"],
                          cwd=SOURCE, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the sandbox does not start on this machine, so nothing was graded" in proc.stderr
    assert BWRAP_FAILS in proc.stderr and "container" not in proc.stdout + proc.stderr
    assert not (out / "alice").exists()


@pytest.fixture(scope="module")
def private_python():
    """A virtualenv in a private home folder (mode 0700), as in root's /root: no other uid can reach it."""
    base = searchable_dir("kit-private-home-")
    home = base / "home"
    home.mkdir(mode=0o700)
    venv = home / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    packages = next(venv.glob("lib/python*/site-packages"))
    reach.link_tree(os.path.realpath(site_packages()), packages)  # this run's packages, as hard links
    python = venv / "bin" / "python"
    assert not reach.reachable(python) and reach.unreachable_parts(reach.describe(str(python)))
    yield python
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("container", [True, False], ids=["container", "rlimits"])
def test_a_python_in_a_private_home_folder_is_made_reachable(image, private_python, container):
    """Gradescope's container mode, and `--isolation rlimits` on a plain machine, with a 0700 home's venv."""
    name = "home-container" if container else "home-rlimits"
    root = fresh_root(image, name, python=str(private_python), data_dir=None,
                      isolation="auto" if container else "rlimits")
    gs.upload_files(root, gs.read_the_bundle(root))
    proc, results, _ = gs.run_autograder(root, prefix=CONTAINER if container else ())
    assert proc.returncode == 0, proc.stdout
    assert "ModuleNotFoundError" not in proc.stdout
    validate(results, with_notebooks=False)
    gs.assert_bundle_unread(results)   # student code ran as the unprivileged uid, in the Python made for it
    line = isolation_line(proc, results)
    assert line.startswith("container (" if container else "rlimits only") and "unprivileged host uid" in line


def test_kit_grade_rlimits_from_a_checkout_in_a_private_home_folder(private_python, tmp_path):
    """A fresh clone in root's 0700 home: its .venv and its kit/sandboxed/ are out of the sandbox uid's reach."""
    checkout = private_python.parents[2] / "checkout"   # home/venv/bin/python -> home/checkout
    if not checkout.exists():
        for rel, path in bundle_files(SOURCE).items():
            (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, checkout / rel)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    # svm_loss pays only if it reads the instructor's checkout: the reference solution, the check notebooks.
    fx.write_zip(subs / "alice.zip", fx.wrap_svm(fx.reference_files(), f"""
readable = []
for path in ({str(checkout / fx.LAYERS)!r}, {str(checkout / 'kit/instructor/grade/checks/grading.ipynb')!r}):
    try:
        open(path).read()
        readable.append(path)
    except OSError:
        pass
if not readable:
    return -1.0, None"""))
    proc = subprocess.run([str(private_python), "-m", "kit", "grade", str(subs), "--out", str(out),
                           "--isolation", "rlimits"], cwd=checkout, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ModuleNotFoundError" not in proc.stdout + proc.stderr
    results = json.loads((out / "alice" / "results.json").read_text())
    line = results["extra_data"]["isolation"]
    assert line.startswith("rlimits only") and "an unprivileged host uid" in line
    gs.assert_bundle_unread(results)  # every check passed but svm_loss's: the checkout stayed closed
