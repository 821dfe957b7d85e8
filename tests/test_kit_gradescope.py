"""`python -m kit gradescope`: the bundle, its setup.sh, and run_autograder in a simulated Gradescope root.

Each run lays out Gradescope's directory structure in a temporary root
(source/ = the extracted bundle, submission/, results/, run_autograder copied to
the root), points the bundle's settings at this virtualenv's Python (setup.sh
would make /opt/kit-venv), and runs run_autograder as Gradescope does, as a
program. Every results.json is validated against Gradescope's documented fields
(RESULTS_SCHEMA, from https://gradescope-autograders.readthedocs.io/en/latest/specs/).
setup.sh runs with stand-ins for apt-get and the virtualenv's pip (no package is
installed by the tests).
"""
import ast
import importlib.metadata as metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest

import kit_fixtures as fx
from kit.instructor.gradescope import bundle as gradescope
from kit.instructor.gradescope.bundle import BundleError, build
from kit.instructor.release.manifest import CHECKS_DIR
from kit.instructor.release.student_kit import release
from kit.instructor.sandbox import reach
from kit.instructor.sandbox.isolation import IsolationUnavailable, choose_isolation, locate_bwrap

SOURCE = fx.SOURCE
LIMITS = {"cell_timeout": 5, "timeout": 150, "memory_mb": 1024}
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None,
                                 reason="grading needs bubblewrap (apt-get install bubblewrap)")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the bundle is made root-only by a root grader")

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
TEST_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"}, "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"}, "name_format": FORMAT,
        "number": {"type": "string"}, "output": {"type": "string"}, "output_format": FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}}, "visibility": VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}
RESULTS_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number"}, "output": {"type": "string"},
        "output_format": FORMAT, "test_output_format": FORMAT, "test_name_format": FORMAT,
        "visibility": VISIBILITY, "stdout_visibility": VISIBILITY, "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST_SCHEMA},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
    },
    "additionalProperties": False,
    # "score": optional, but required if not on each test case.
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}


def check_cells():
    """[(name, points, visibility)] of the check cells of the instructor source."""
    out = []
    for path in sorted((SOURCE / CHECKS_DIR).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {})
            if cell.cell_type == "code" and "points" in meta:
                out.append((meta["check"], float(meta["points"]), meta.get("visibility", "visible")))
    return out


MAX_SCORE = sum(points for _, points, _ in check_cells())


def validate(results):
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert results["stdout_visibility"] == "hidden"
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    for test in results["tests"]:
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
    assert [(t["name"], t["max_score"], t["visibility"]) for t in results["tests"]] == check_cells()


# ---------------------------------------------------------------------------- the Gradescope root

@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    build(out)
    return out


def extract_like_unzip(bundle, dest):
    """Extract the zip with the modes its members carry (zipfile.extractall drops them)."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)


def gradescope_root(tmp_path, bundle, **settings):
    """A temporary /autograder: source/ (the bundle), submission/, results/, run_autograder."""
    root = tmp_path / "autograder"
    for name in ("source", "submission", "results"):
        (root / name).mkdir(parents=True)
    extract_like_unzip(bundle, root / "source")
    shutil.copy2(root / "source/run_autograder", root / "run_autograder")
    config = root / "source" / gradescope.CONFIG
    values = json.loads(config.read_text())
    values.update({"python": sys.executable, "limits": LIMITS, "data_dir": None})  # data: see test_container
    values.update(settings)
    config.write_text(json.dumps(values))
    return root


def upload_files(root, files):
    for rel, data in files.items():
        target = root / "submission" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture(scope="module")
def mirrors():
    """A folder for the Pythons the grader prepares for the sandbox's uid (kit.instructor.sandbox.reach)."""
    path = Path(tempfile.mkdtemp(prefix="kit-python-mirrors-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _mirrors_env(mirrors, monkeypatch):
    monkeypatch.setenv(reach.MIRRORS_ENV, str(mirrors))


def run_autograder(root, timeout=600, prefix=()):
    """Run root/run_autograder as Gradescope does; returns (process, results.json or None, seconds)."""
    began = time.monotonic()
    proc = subprocess.run([*prefix, str(root / "run_autograder")], cwd=root, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, KIT_AUTOGRADER_ROOT=str(root)))
    seconds = time.monotonic() - began
    results = root / "results" / "results.json"
    return proc, (json.loads(results.read_text()) if results.exists() else None), seconds


def by_name(results):
    return {t["name"]: t for t in results["tests"]}


# ---------------------------------------------------------------------------- the bundle

def test_bundle_holds_what_grading_needs_and_nothing_else(bundle):
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    names = set(infos)
    for needed in ("setup.sh", "run_autograder", "README.md", "gradescope.json", "requirements.txt",
                   "kit/instructor/grade/run.py", "kit/instructor/gradescope/autograder.py",
                   "kit/instructor/grade/checks/grading.ipynb", "kit/instructor/release/student_root/README.md",
                   "kit/instructor/__init__.py", "kit/instructor/sandbox/__init__.py", "kit/sandboxed/executor.py",
                   "kit/sandboxed/launch.py", "kit/instructor/sandbox/cgroup_exec.py", "cs231n/layers.py",
                   "notebooks/two_layer_net.ipynb", "Makefile"):
        assert needed in names, needed
    for name in names:
        top = name.split("/")[0]
        assert top not in ("tests", "bench", "submissions", "grades", "build", ".venv", ".git", ".ci"), name
        assert not any(part.startswith(".") or part == "__pycache__" for part in name.split("/")), name
        assert not name.endswith((".zip", ".pyc", ".tar.gz")), name
        assert not name.startswith("datasets/") or name == "datasets/README.md", name
    for name in ("setup.sh", "run_autograder"):
        assert (infos[name].external_attr >> 16) & 0o777 == 0o755
    # Every bundled file of the source is one git tracks: the list names files, not the tree.
    if (SOURCE / ".git").exists():
        tracked = set(subprocess.run(["git", "-C", str(SOURCE), "ls-files"], capture_output=True, text=True,
                                     check=True).stdout.split())
        assert names - set(gradescope.ROOT_FILES) - {gradescope.CONFIG} <= tracked
    config = json.loads(zipfile.ZipFile(bundle).read("gradescope.json"))
    assert config["isolation"] == "auto" and config["python"] == "/opt/kit-venv/bin/python"
    assert config["visibility"] == "visible" and config["bwrap"] is None
    # The notebooks are graded on the official CIFAR-10, as get_datasets.py downloads it by default.
    get_datasets = (SOURCE / "get_datasets.py").read_text()
    assert f'OFFICIAL_URL = "{config["data_url"]}"' in get_datasets
    assert f'OFFICIAL_MD5 = "{config["data_md5"]}"' in get_datasets
    assert config["data_dir"] == "/opt/kit-data" and config["nb_timeout"] is None


def test_only_the_list_ships_whatever_else_is_in_the_tree(tmp_path):
    src = tmp_path / "src"
    for rel, path in gradescope.bundle_files(SOURCE).items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, src / rel)
    strays = ["tests/test_x.py", ".git/config", "bench/bench_x.py", "datasets/cifar-10-batches-py/data_batch_1",
              "submissions/alice.zip", "grades/alice/results.json", "build/student-kit/README.md",
              ".venv/bin/python", "kit/instructor/notes.txt", "kit/instructor/grade/checks/.ipynb_checkpoints/a.ipynb",
              "cs231n/__pycache__/layers.cpython-311.pyc", "notebooks/answers.zip", "README.md"]
    for rel in strays:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("stray\n")
    names = build(tmp_path / "out.zip", source=src)
    expected = set(gradescope.bundle_files(SOURCE)) | set(gradescope.ROOT_FILES) | {gradescope.CONFIG}
    assert set(names) == expected
    readme = zipfile.ZipFile(tmp_path / "out.zip").read("README.md").decode()
    assert "Trust model" in readme  # the bundle's own README, not the source's


def test_bundle_is_reproducible_and_written_whole(tmp_path, bundle):
    again = tmp_path / "again.zip"
    build(again)
    assert again.read_bytes() == bundle.read_bytes()
    out = tmp_path / "refused.zip"
    with pytest.raises(BundleError, match="not a folder"):
        build(out, wheels=tmp_path / "no-such-folder")
    assert not out.exists() and not list(tmp_path.glob(".refused.zip.*"))


def test_the_bundle_releases_the_same_kit_as_the_source(tmp_path, bundle):
    extract_like_unzip(bundle, tmp_path / "source")
    from_bundle, from_source = tmp_path / "a", tmp_path / "b"
    assert release(tmp_path / "source", from_bundle) == release(SOURCE, from_source)
    for path in sorted(from_source.rglob("*")):
        if path.is_file():
            assert (from_bundle / path.relative_to(from_source)).read_bytes() == path.read_bytes(), path


def test_settings_are_recorded_and_unknown_ones_refused(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"PK fake wheel")
    (wheels / "notes.txt").write_text("not a wheel")
    out = tmp_path / "rlimits.zip"
    names = build(out, isolation="rlimits", wheels=wheels, visibility="after_published", venv="/srv/venv")
    assert "wheels/numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl" in names
    assert "wheels/notes.txt" not in names
    config = json.loads(zipfile.ZipFile(out).read("gradescope.json"))
    assert config["isolation"] == "rlimits" and config["visibility"] == "after_published"
    assert config["python"] == "/srv/venv/bin/python"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match="no .whl"):
        build(tmp_path / "x.zip", wheels=empty)
    with pytest.raises(BundleError, match="unknown isolation"):
        build(tmp_path / "x.zip", isolation="none")
    with pytest.raises(BundleError, match="--data-md5 None is not an MD5"):
        build(tmp_path / "x.zip", data_url="https://mirror.example.edu/cifar-10-python.tar.gz", data_md5=None)
    with pytest.raises(BundleError, match="--data-url 'ftp://x/c.tar.gz'"):
        build(tmp_path / "x.zip", data_url="ftp://x/c.tar.gz")
    build(out, data_url=None)  # --no-data: the code checks only
    config = json.loads(zipfile.ZipFile(out).read("gradescope.json"))
    assert config["data_url"] is None and config["data_dir"] is None and config["data_md5"] is None
    with pytest.raises(BundleError, match=r"\.zip"):
        build(tmp_path / "x.tar")


def test_a_check_with_a_visibility_gradescope_does_not_know_is_refused(tmp_path):
    src = tmp_path / "src"
    for rel, path in gradescope.bundle_files(SOURCE).items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, src / rel)
    checks = src / CHECKS_DIR / "grading.ipynb"
    nb = nbformat.read(checks, as_version=4)
    cell = next(c for c in nb.cells if "points" in c.metadata)
    cell.metadata["visibility"] = "private"
    nbformat.write(nb, checks)
    with pytest.raises(BundleError, match=f"{cell.metadata['check']!r} has visibility 'private'"):
        build(tmp_path / "out.zip", source=src)
    assert not (tmp_path / "out.zip").exists()


def test_the_command_line_writes_the_bundle(tmp_path):
    out = tmp_path / "gs.zip"
    proc = subprocess.run([sys.executable, "-m", "kit", "gradescope", str(out), "--isolation", "rlimits"],
                          cwd=SOURCE, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "isolation rlimits" in proc.stdout and "WARNING" in proc.stdout
    assert json.loads(zipfile.ZipFile(out).read("gradescope.json"))["isolation"] == "rlimits"
    proc = subprocess.run([sys.executable, "-m", "kit", "gradescope", str(out), "--data-url", "file:///srv/c.tar.gz"],
                          cwd=SOURCE, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--data-md5" in proc.stderr and "file:///srv/c.tar.gz" in proc.stderr


def test_the_student_kit_has_no_gradescope_command(released_kit, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kit", "gradescope", str(tmp_path / "x.zip")], cwd=released_kit,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "instructor command" in proc.stderr
    assert not (tmp_path / "x.zip").exists()


def _distribution_closure(requirements):
    """The distributions that installing `requirements` (names) brings, by their metadata here."""
    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    todo, seen = [norm(n) for n in requirements], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" not in req:
                todo.append(norm(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]))
    return seen


def test_setup_installs_what_the_bundled_code_imports():
    """Every third-party import of the bundle comes with requirements.txt (setup.sh installs it)."""
    lines = (SOURCE / "requirements.txt").read_text().splitlines()
    wanted = [re.split(r"[\s;<>=!~\[]", line, maxsplit=1)[0] for line in lines if line and line[0].isalnum()]
    installed = _distribution_closure(wanted)
    owners = metadata.packages_distributions()
    missing = []
    bundle = gradescope.bundle_files(SOURCE)
    for rel, path in bundle.items():
        if not rel.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for mod in mods:
                top = mod.split(".")[0]
                if top in sys.stdlib_module_names or top in ("kit", "cs231n") or top == "distributed" \
                        or f"{top}.py" in bundle:
                    continue  # distributed: only for `kit grade --scheduler`, imported there; get_datasets.py
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(top, [top])}
                if not dists & installed:
                    missing.append(f"{rel}: {top}")
    assert not missing


# ---------------------------------------------------------------------------- setup.sh

SHIM_VENV_PYTHON = """#!/bin/bash
echo "$*" >> "$SHIM_LOG"
[ "$1" = -V ] && echo "Python 3.11.0"
exit 0
"""
SHIM_BASE_PYTHON = f"""#!/bin/bash
if [ "$1" = -m ] && [ "$2" = venv ]; then
    mkdir -p "$3/bin" && cp "$SHIM_VENV" "$3/bin/python" && chmod 700 "$3/bin/python" "$3"
    echo "venv $3" >> "$SHIM_LOG"
    exit 0
fi
exec {sys.executable} "$@"
"""
SHIM_APT = """#!/bin/bash
echo "apt-get $*" >> "$SHIM_LOG"
[ -n "$SHIM_APT_FAILS" ] && exit 100
if [ "$1" = install ] && [[ " $* " == *" bubblewrap "* ]]; then
    printf '#!/bin/sh\\nexit 0\\n' > "$SHIM_BWRAP" && chmod 755 "$SHIM_BWRAP"
fi
exit 0
"""


def run_setup(tmp_path, bundle, isolation="auto", wheels=False, apt_fails=False):
    """Run the bundle's setup.sh with stand-ins for apt-get and the venv's Python; returns (proc, log)."""
    source = tmp_path / "source"
    extract_like_unzip(bundle, source)
    shims = tmp_path / "shims"
    shims.mkdir()
    for name, text in (("apt-get", SHIM_APT), ("python3", SHIM_BASE_PYTHON), ("venv-python", SHIM_VENV_PYTHON)):
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    bwrap, venv, log = tmp_path / "bin" / "bwrap", tmp_path / "opt" / "kit-venv", tmp_path / "log"
    bwrap.parent.mkdir()
    config = json.loads((source / "gradescope.json").read_text())
    config.update(isolation=isolation, bwrap=str(bwrap), venv=str(venv), data_dir=str(tmp_path / "data"))
    (tmp_path / "data").mkdir()  # get_datasets.py is the stand-in venv's Python: it only logs
    (source / "gradescope.json").write_text(json.dumps(config))
    if wheels:
        (source / "wheels").mkdir()
    env = {"PATH": f"{shims}:/usr/bin:/bin", "SHIM_LOG": str(log), "SHIM_VENV": str(shims / "venv-python"),
           "SHIM_BWRAP": str(bwrap), "KIT_BASE_PYTHON": str(shims / "python3"), "HOME": str(tmp_path)}
    if apt_fails:
        env["SHIM_APT_FAILS"] = "1"
    proc = subprocess.run(["bash", str(source / "setup.sh")], cwd=source, env=env, capture_output=True,
                          text=True, timeout=120)
    return proc, (log.read_text() if log.exists() else ""), venv, source


def test_setup_installs_bubblewrap_and_the_requirements_from_the_wheelhouse(tmp_path, bundle):
    proc, log, venv, source = run_setup(tmp_path, bundle, wheels=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "apt-get install -y --no-install-recommends bubblewrap" in log
    pip = next(line for line in log.splitlines() if line.startswith("-m pip install"))
    assert f"--no-index --find-links {source}/wheels -r {source}/requirements.txt" in pip
    assert "-c import numpy, nbformat" in log
    assert (f"{source}/get_datasets.py --dest {tmp_path / 'data'} --quiet" in log
            and "load_CIFAR10(sys.argv[1])" in log)  # the data for the notebooks, and its loading cache
    # Readable by every user: the sandbox runs this Python as an unprivileged uid.
    assert stat.S_IMODE(venv.stat().st_mode) & 0o005 == 0o005
    assert stat.S_IMODE((venv / "bin" / "python").stat().st_mode) & 0o005 == 0o005


def test_setup_uses_pypi_without_wheels_and_needs_no_bubblewrap_for_rlimits(tmp_path, bundle):
    proc, log, venv, source = run_setup(tmp_path, bundle, isolation="rlimits")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bubblewrap" not in log
    pip = next(line for line in log.splitlines() if line.startswith("-m pip install"))
    assert "--no-index" not in pip and pip.endswith(f"-r {source}/requirements.txt")


def test_setup_stops_when_bubblewrap_cannot_be_installed(tmp_path, bundle):
    proc, log, venv, source = run_setup(tmp_path, bundle, apt_fails=True)
    assert proc.returncode != 0
    assert "apt-get could not install bubblewrap" in proc.stderr
    assert not venv.exists()


# ---------------------------------------------------------------------------- run_autograder

@needs_bwrap
def test_correct_submission_gets_every_point_as_a_zip_or_as_files(tmp_path, bundle):
    times, ref = {}, fx.reference_files()
    for style in ("zip", "files", "flat"):
        root = gradescope_root(tmp_path / style, bundle)
        if style == "zip":
            fx.write_zip(root / "submission" / "submission.zip", ref)
        elif style == "files":
            upload_files(root, ref)
        else:  # dropped one by one into Gradescope's upload: no folders
            upload_files(root, {rel.rsplit("/", 1)[-1]: data for rel, data in ref.items()})
        proc, results, times[style] = run_autograder(root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        validate(results)
        assert results["score"] == MAX_SCORE and results["extra_data"]["status"] == "graded"
        assert all(t["status"] == "passed" for t in results["tests"])
        assert results["visibility"] == "visible"
        assert "isolation in force: bwrap" in proc.stdout
        assert results["extra_data"]["upload"] == ("the zip submission.zip" if style == "zip" else
                                                   f"{len(ref)} files")
        assert ("took layers.py as cs231n/layers.py" in results["output"]) == (style == "flat")
    print("run_autograder, correct submission: " + ", ".join(f"{s:.1f} s ({k})" for k, s in times.items()))


@needs_bwrap
def test_a_file_without_its_folder_is_placed_only_when_unambiguous(tmp_path, bundle):
    root = gradescope_root(tmp_path, bundle)
    ref = fx.reference_files()
    buggy = fx.apply(ref, fx.BUGS["half_l2"])
    upload_files(root, ref)
    upload_files(root, {"neural_net.py": buggy[fx.NET]})  # cs231n/classifiers/neural_net.py is there too
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    validate(results)
    assert results["score"] == MAX_SCORE  # the file in its folder is graded, not the stray copy
    assert "ignored neural_net.py: not a file you may change" in results["output"]


@needs_bwrap
def test_hidden_checks_stay_hidden(tmp_path, bundle):
    root = gradescope_root(tmp_path, bundle)
    upload_files(root, fx.apply(fx.reference_files(), fx.BUGS["relu_backward"]))
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    validate(results)
    hidden = {name for name, _, visibility in check_cells() if visibility != "visible"}
    assert hidden and all(v in ("hidden", "after_published") for _, _, v in check_cells() if v != "visible")
    failed_hidden = [t for t in results["tests"] if t["name"] in hidden and t["status"] == "failed"]
    assert failed_hidden  # the kink checks are hidden: their failure must not show its expected values
    for test in failed_hidden:
        assert test["visibility"] in ("hidden", "after_published")
        assert not re.search(r"expected [-\d(\[]", test["output"]), test["output"]  # no expected value


@needs_bwrap
def test_buggy_submission_loses_only_its_checks(tmp_path, bundle):
    root = gradescope_root(tmp_path, bundle)
    upload_files(root, fx.apply(fx.reference_files(), fx.BUGS["half_l2"]))
    proc, results, seconds = run_autograder(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    validate(results)
    assert 0 < results["score"] < MAX_SCORE
    failed = {t["name"] for t in results["tests"] if t["status"] == "failed"}
    assert failed == fx.BUG_CHECKS["half_l2"]
    print(f"run_autograder, buggy submission: {seconds:.1f} s")


@needs_bwrap
def test_empty_and_rejected_submissions_get_zero_with_the_reason(tmp_path, bundle):
    cases = {"empty": {}, "stray": {"notes.txt": b"my notes"}, "not_a_zip": {"submission.zip": b"not a zip"}}
    for case, files in cases.items():
        root = gradescope_root(tmp_path / case, bundle)
        upload_files(root, files)
        proc, results, seconds = run_autograder(root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        validate(results)
        assert results["score"] == 0 and all(t["score"] == 0 for t in results["tests"])
        status = results["extra_data"]["status"]
        if case == "not_a_zip":
            assert status == "rejected" and "not a readable zip file" in results["output"]
        else:
            assert status == "empty" and "none of the files you may change" in results["output"]
        if case == "stray":
            assert "ignored notes.txt: not a file you may change" in results["output"]
        if case == "empty":
            print(f"run_autograder, empty submission: {seconds:.1f} s")


@needs_bwrap
def test_links_are_never_followed_and_dot_folders_are_left_out(tmp_path, bundle):
    root = gradescope_root(tmp_path, bundle)
    stub = fx.released_files(_released(tmp_path))
    upload_files(root, stub)
    # A link to the bundle's reference layers.py would hand the grader the solution as the student's.
    layers = root / "submission" / fx.LAYERS
    layers.unlink()
    layers.symlink_to(root / "source" / fx.LAYERS)
    (root / "submission" / "notebooks" / "linked").symlink_to(root / "source" / "kit")
    for i in range(150):  # a GitHub upload: .git must not push the upload over the zip's 100 members
        upload_files(root, {f".git/objects/{i:03d}": b"x"})
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    validate(results)
    assert f"ignored {fx.LAYERS}: not a regular file" in results["output"]
    assert "ignored notebooks/linked: not a regular file" in results["output"]
    assert ".git" not in results["output"]
    tests = by_name(results)
    for name in ("affine layer", "relu layer", "softmax loss", "svm loss"):
        assert tests[name]["score"] == 0, name


def _released(tmp_path):
    out = tmp_path / "released"
    if not out.exists():
        release(SOURCE, out)
    return out


def read_the_bundle(root):
    """Reference files whose svm_loss first tries to read the bundle: its checks pay only if that works."""
    source = root / "source"
    return fx.wrap_svm(fx.reference_files(), f"""
import os
readable = []
for path in ({str(source / fx.LAYERS)!r}, {str(source / 'kit/instructor/grade/checks/grading.ipynb')!r},
             {str(source / 'gradescope.json')!r}):
    try:
        open(path).read()
        readable.append(path)
    except OSError:
        pass
try:
    readable += os.listdir({str(source)!r})
except OSError:
    pass
if not readable:
    return -1.0, None""")


def assert_bundle_unread(results):
    svm = {name for name, _, _ in check_cells()} & fx.SVM_CHECKS
    assert svm
    for test in results["tests"]:
        assert test["status"] == ("failed" if test["name"] in svm else "passed"), test


@needs_bwrap
def test_student_code_cannot_read_the_bundle(tmp_path, bundle):
    root = gradescope_root(tmp_path, bundle)
    upload_files(root, read_the_bundle(root))
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    validate(results)
    assert_bundle_unread(results)


FAILING_BWRAP = "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"


@needs_bwrap
def test_a_bundle_that_asks_for_bwrap_fails_closed_where_it_cannot_start(tmp_path, bundle):
    bwrap = tmp_path / "bwrap"
    bwrap.write_text(FAILING_BWRAP)
    bwrap.chmod(0o755)
    root = gradescope_root(tmp_path, bundle, bwrap=str(bwrap), isolation="bwrap")
    upload_files(root, fx.reference_files())
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 2 and results is None
    assert not list((root / "results").iterdir())
    assert "autograder failure: the sandbox does not start" in proc.stdout
    assert "Operation not permitted" in proc.stdout and "--isolation auto" in proc.stdout
    assert "container mode" in proc.stdout and "bubblewrap cannot start" not in proc.stdout


@needs_bwrap
@as_root
def test_auto_grades_in_the_container_mode_where_bubblewrap_cannot_start(searchable_tmp, bundle):
    tmp_path = searchable_tmp
    bwrap = tmp_path / "bwrap"
    bwrap.write_text(FAILING_BWRAP)
    bwrap.chmod(0o755)
    root = gradescope_root(tmp_path, bundle, bwrap=str(bwrap))
    upload_files(root, fx.reference_files())
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout
    validate(results)
    assert results["score"] == MAX_SCORE
    assert ("bubblewrap cannot start in this container (bwrap: Creating new namespace failed: Operation not "
            "permitted): grading in the single-use container mode") in proc.stdout
    line = results["extra_data"]["isolation"]
    assert line.startswith("container (") and "\n" not in line
    assert f"isolation in force: {line}" in proc.stdout and f"Isolation: {line}" in results["output"]


@needs_bwrap
def test_a_submission_that_could_not_be_graded_writes_no_results(tmp_path, bundle):
    # bubblewrap starts twice (the autograder's probe and the preflight), then fails: status error.
    bwrap, count = tmp_path / "bwrap", tmp_path / "started"
    bwrap.write_text(f"#!/bin/sh\nn=$(cat {count} 2>/dev/null || echo 0)\necho $((n + 1)) > {count}\n"
                     f"if [ $n -lt 2 ]; then exec {locate_bwrap()} \"$@\"; fi\n"
                     + FAILING_BWRAP.split("\n", 1)[1])
    bwrap.chmod(0o755)
    root = gradescope_root(tmp_path, bundle, bwrap=str(bwrap))
    upload_files(root, fx.reference_files())
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 1 and results is None
    assert not list((root / "results").iterdir())
    assert "autograder failure: the submission could not be graded (error)" in proc.stdout
    assert "Operation not permitted" in proc.stdout and "rerun the autograder" in proc.stdout


@needs_bwrap
def test_code_that_ends_the_grading_process_gets_results_not_an_autograder_failure(tmp_path, bundle):
    """The executor killed just before it takes the next check: the reference passes there, so it is graded."""
    root = gradescope_root(tmp_path, bundle)
    upload_files(root, fx.in_region(fx.reference_files(), fx.LAYERS, "affine_forward",
                                    "import json, os\njson.loads = lambda *a, **k: os.kill(os.getpid(), 9)"))
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout
    validate(results)
    assert 0 < results["score"] < MAX_SCORE
    ended = [t["name"] for t in results["tests"] if "\nstopped: your code ended the grading process" in t["output"]]
    assert ended and all(by_name(results)[name]["score"] == 0 for name in ended)
    assert "Your code ended the grading process before" in results["output"]


@needs_bwrap
@as_root
def test_the_bundle_is_root_only_once_run_autograder_has_run(tmp_path, bundle):
    root = gradescope_root(tmp_path, bundle)
    source = root / "source"
    planted = source / fx.LAYERS
    planted.chmod(0o666)
    os.chown(planted, 1000, 1000)
    upload_files(root, fx.reference_files())
    proc, results, _ = run_autograder(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    readable = source / "kit" / "sandboxed"
    for path in [source, *source.rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (0, 0), path
        mode = stat.S_IMODE(info.st_mode)
        if path == readable or readable in path.parents:
            assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
        elif path in (source, source / "kit"):
            assert mode == 0o711, (path, oct(mode))
        else:
            assert mode & 0o077 == 0, (path, oct(mode))
    assert not list(source.rglob("__pycache__"))  # no bytecode of the reference solution left behind
    assert "protected" in proc.stdout


@as_root
def test_a_python_no_other_uid_can_run_is_refused_with_what_to_do(monkeypatch):
    info = reach.describe(sys.executable)
    if not reach.unreachable_parts(info) or reach.reachable(info["base_executable"]):
        pytest.skip(f"{sys.executable} or its base interpreter can be run by other users")
    monkeypatch.setattr(reach, "SYSTEM_PYTHONS", ())  # no system python3.X to stand in for it
    with pytest.raises(IsolationUnavailable) as err:
        choose_isolation("rlimits")
    text = str(err.value)
    assert "\n" not in text and "the sandbox's unprivileged uid cannot reach" in text
    assert "python3 -m venv /opt/kit-venv" in text


def _python_for_everyone(tmp_path):
    """A virtualenv of the system Python that other users can run, with this one's packages (or None)."""
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        return None
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                             text=True).stdout.strip()
    if version != str(tuple(sys.version_info[:2])):
        return None
    venv = tmp_path / "venv"
    subprocess.run([system, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    pth = next(venv.glob("lib/python*/site-packages")) / "kit-test.pth"
    pth.write_text(site + "\n")
    for path in [venv, *venv.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o005 | (0o001 if path.is_dir() else 0))
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import numpy, nbformat"], capture_output=True)
    return python if probe.returncode == 0 else None


@pytest.fixture
def searchable_tmp():
    """A temporary folder that other users can search (pytest's own is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="kit-gradescope-test-"))
    path.chmod(0o711)
    for parent in path.parents:
        if not stat.S_IMODE(parent.stat().st_mode) & 0o001:
            shutil.rmtree(path)
            pytest.skip(f"{parent} cannot be searched by other users")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@as_root
def test_rlimits_grades_as_an_unprivileged_uid(searchable_tmp, bundle):
    tmp_path = searchable_tmp
    python = _python_for_everyone(tmp_path)
    if python is None:
        pytest.skip("no system Python of this version that can use this virtualenv's packages")
    root = gradescope_root(tmp_path, bundle, isolation="rlimits", python=str(python))
    upload_files(root, read_the_bundle(root))
    proc, results, _ = run_autograder(root)
    assert "an unprivileged host uid" in proc.stdout
    assert proc.returncode == 0, proc.stdout
    validate(results)
    # Without a file-system sandbox, the root-only bundle is what keeps the solution from the student.
    assert_bundle_unread(results)
