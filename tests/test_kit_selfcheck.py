"""The student's self-check (`make test` in the student kit, `python -m kit check`) and the first ten minutes.

The self-check must check the code as it is now, not the outputs a student saved:
planted solutions that a student's own saved outputs would let through (biases
never updated, minibatches always the first rows, `pass` put back after the
notebook was saved) fail it, each named by its check's title, while the
reference solution, executed and saved, passes. `make run` on an untouched kit
says in a few lines what to write first and writes its HTML page anyway;
Jupyter Lab (`make lab`) serves the kit's root.
"""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from kit.student import more_checks
from kit_fixtures import complete_kit

SOURCE = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
DATA = SOURCE / "datasets" / "cifar-10-batches-py"
NEURAL_NET = "cs231n/classifiers/neural_net.py"

pytestmark = pytest.mark.skipif(not (DATA / "batches.meta").is_file(),
                                reason=f"needs CIFAR-10 in {DATA} (make data)")


def link_data(kit):
    (kit / "datasets").mkdir(exist_ok=True)
    link = kit / "datasets" / "cifar-10-batches-py"
    if not link.exists():
        link.symlink_to(DATA, target_is_directory=True)


def mark_saved(kit):
    """The notebooks as a student leaves them after running every cell and saving."""
    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for n, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
            cell.execution_count = n
        nbformat.write(nb, path)


def train_best_net(kit):
    """best_net.npz as the student's own tuning saves it: trained with the kit's code (planted bugs included)."""
    code = (f"import sys; sys.path.append({str(TESTS)!r}); from kit_fixtures import saved_model; "
            f"open('notebooks/best_net.npz', 'wb').write(saved_model({str(DATA)!r}))")
    subprocess.run([sys.executable, "-c", code], cwd=kit, check=True, capture_output=True, timeout=600,
                   env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


def plant(kit, rel, old, new):
    path = kit / rel
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is in {rel} {text.count(old)} times"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def solved(released_kit, tmp_path_factory):
    """A student kit with every TODO done, the notebooks run and saved, the tuned net saved."""
    kit = complete_kit(released_kit, tmp_path_factory.mktemp("solved") / "kit")
    link_data(kit)
    mark_saved(kit)
    train_best_net(kit)
    return kit


def copy_kit(kit, dest):
    shutil.copytree(kit, dest, symlinks=True)
    return dest


def make(kit, target, timeout):
    """`make TARGET` in a kit, with this interpreter's environment standing in for the kit's .venv."""
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", target, f"PY={sys.executable}"],
                          cwd=kit,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


def check(kit, *names, timeout=900):
    proc = subprocess.run([sys.executable, "-m", "kit", "check", *names], cwd=kit, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return proc.returncode, proc.stdout + proc.stderr


def verdicts(output):
    """{check title: "ok" | "FAIL" | "skip"} from the self-check's closing list."""
    return {m.group(2).strip(): m.group(1) for m in re.finditer(r"^  (ok|FAIL|skip) +(.+)$", output, re.M)}


@pytest.mark.timeout(1200)
def test_the_reference_solution_executed_and_saved_passes_make_test(solved):
    proc = make(solved, "test", timeout=1100)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Every check passes on your current code." in output
    found = verdicts(output)
    for title in ("toy scores", "toy training", "best_net", "Solver validation accuracy",
                  "train takes the sgd step on every parameter", "train samples minibatches at random from all rows"):
        assert found.get(title) == "ok", (title, output[-4000:])
    assert "FAIL" not in found.values()
    # The copies that ran are gone, and never part of a submission.
    assert not list((solved / "notebooks").glob(".check-*"))


@pytest.mark.timeout(900)
def test_biases_never_updated_fail_make_test_though_every_notebook_check_passes(solved, tmp_path):
    """The bug of the finding: the toy training loss is 0.017058 instead of 0.017150, both printed 0.0171."""
    kit = copy_kit(solved, tmp_path / "kit")
    plant(kit, NEURAL_NET, "param -= learning_rate * grads[name]",
          "param -= learning_rate * grads[name] if name.startswith('W') else 0.0")
    train_best_net(kit)   # the student tuned and saved with the bug
    status, output = check(kit, "two_layer_net")
    assert status != 0, output[-3000:]
    found = verdicts(output)
    assert found["toy training"] == "ok" and found["best_net"] == "ok", output[-3000:]
    assert found["train takes the sgd step on every parameter"] == "FAIL", output[-3000:]
    assert "train never changes b1: the SGD step must update every parameter" in output, output[-3000:]


@pytest.mark.timeout(900)
def test_minibatches_of_the_first_rows_fail_make_test_naming_the_sampling(solved, tmp_path):
    kit = copy_kit(solved, tmp_path / "kit")
    plant(kit, NEURAL_NET, "idx = np.random.choice(num_train, batch_size, replace=True)",
          "idx = np.arange(batch_size) % num_train")
    status, output = check(kit, "two_layer_net")
    assert status != 0
    found = verdicts(output)
    assert found["train samples minibatches at random from all rows"] == "FAIL", output[-3000:]
    assert "train used the same minibatch at every iteration" in output and "np.random.choice" in output


@pytest.mark.timeout(900)
def test_pass_put_back_after_saving_fails_make_test_and_collect(solved, tmp_path):
    """The saved notebook holds the outputs of correct code; the code is wrong now."""
    kit = copy_kit(solved, tmp_path / "kit")
    plant(kit, "cs231n/layers.py", "    dx = dout * (x > 0)\n", "    pass\n")
    proc = subprocess.run([sys.executable, "-m", "kit", "collect"], cwd=kit, capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and not (kit / "submission.zip").exists(), output[-3000:]
    found = verdicts(output)
    assert found["relu_backward at zero"] == "FAIL", output[-3000:]
    assert "two_layer_net.ipynb: 'relu_backward at zero' fails" in output
    assert "collect --partial" in output
    # The notebook file itself was not touched by the check.
    assert not list((kit / "notebooks").glob(".check-*"))


@pytest.mark.timeout(600)
def test_a_failure_after_the_first_says_it_may_follow_from_it_and_names_the_file(solved, tmp_path):
    kit = copy_kit(solved, tmp_path / "kit")
    # affine_forward returns None: the first check says so, in the student's terms.
    plant(kit, "cs231n/layers.py", "    out += b\n", "    out = None\n")
    status, output = check(kit, "two_layer_net")
    assert status != 0
    assert verdicts(output)["toy scores"] == "FAIL"
    assert "affine_forward returned None: write affine_forward in cs231n/layers.py first" in output, output[-3000:]
    assert "(this may follow from the failure of 'toy scores' above)" in output
    assert "The first one to fix: 'toy scores' (two_layer_net.ipynb)" in output


@pytest.mark.timeout(600)
def test_an_output_that_differs_shows_the_reference_beside_the_students(solved, tmp_path):
    """A debugging print left in a layer: the check's output differs from the reference's, with no error."""
    kit = copy_kit(solved, tmp_path / "kit")
    plant(kit, "cs231n/layers.py", "    out += b\n", "    out += b\n    print('debug: affine_forward', out.shape)\n")
    status, output = check(kit, "two_layer_net")
    assert status != 0
    assert verdicts(output)["toy scores"] == "FAIL", output[-3000:]
    section = output[output.index("FAIL  toy scores"):output.index("affine_forward on images")]
    # A long output: only the lines that differ, the student's marked +.
    assert "the output differs from the reference's (- the reference printed, + your code printed" in section
    assert "+debug: affine_forward (5, 10)" in section and "correct scores" not in section, section


def test_a_bare_pytest_in_the_kit_is_sent_to_make_test(released_kit):
    proc = subprocess.run([sys.executable, "-m", "pytest"], cwd=released_kit, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert proc.returncode == 4, proc.stdout[-2000:]
    assert "make test" in proc.stdout + proc.stderr


def test_the_kit_ships_the_reference_outputs_the_check_compares_with(released_kit):
    reference = released_kit / "kit" / "student" / "reference"
    names = sorted(p.name for p in (released_kit / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in reference.glob("*.ipynb")) == names
    for name in names:
        shipped = nbformat.read(released_kit / "notebooks" / name, as_version=4)
        kept = nbformat.read(reference / name, as_version=4)
        assert [c.source for c in kept.cells] == [c.source for c in shipped.cells]
        assert [c.get("outputs") for c in kept.cells] == [c.get("outputs") for c in shipped.cells]
    expected = json.loads((reference / "more_checks.json").read_text())
    assert set(expected) == {"two_layer_net", "layers", "fc_net", "optim", more_checks.AT_KINK}


# ---------------------------------------------------------------------------- the first ten minutes

@pytest.mark.timeout(600)
def test_make_run_on_the_untouched_kit_names_affine_forward_first_and_writes_the_page(released_kit, tmp_path):
    kit = copy_kit(released_kit, tmp_path / "kit")
    link_data(kit)
    proc = make(kit, "run", timeout=500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tail = proc.stdout[proc.stdout.index("two_layer_net.ipynb stopped"):]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(tail.strip().splitlines()) <= 6, tail
    assert "the check 'toy scores'" in tail and "write affine_forward in cs231n/layers.py first" in tail, tail
    page = (kit / "build" / "two_layer_net.html").read_text()
    assert "This run stopped at" in page and "kit-stopped-here" in page
    assert "require.js" not in page and "cdn" not in page.lower()   # the offline page (kit.student.html_export)
    executed = nbformat.read(kit / "build" / "two_layer_net.ipynb", as_version=4)
    assert executed.cells[0].source.startswith("**This run stopped at the check 'toy scores'")
    # The student's own notebook is not changed.
    assert (kit / "notebooks" / "two_layer_net.ipynb").read_bytes() == \
        (released_kit / "notebooks" / "two_layer_net.ipynb").read_bytes()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_jupyter_lab_of_make_lab_serves_the_kits_root(released_kit):
    """The notebook's "open the file cs231n/classifiers/neural_net.py" can be followed in Jupyter Lab."""
    dry = subprocess.run(["make", "-n", "--no-print-directory", "-o", ".venv/.installed", "lab", "PY=python"],
                         cwd=released_kit, capture_output=True, text=True, check=True).stdout
    line = next(line for line in dry.splitlines() if "-m jupyter lab" in line)
    command = shlex.split(line)
    assert command[:4] == ["python", "-m", "jupyter", "lab"], line
    port, token = free_port(), "kit-test"
    command = [sys.executable] + command[1:] + ["--no-browser", "--allow-root", f"--port={port}",
                                                "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"]
    server = subprocess.Popen(command, cwd=released_kit, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/{{}}?token={token}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url.format("cs231n/classifiers/neural_net.py"), timeout=5) as r:
                    model = json.loads(r.read())
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(1)
        assert model["path"] == "cs231n/classifiers/neural_net.py" and "class TwoLayerNet" in model["content"]
        with urllib.request.urlopen(url.format("notebooks/two_layer_net.ipynb"), timeout=5) as r:
            assert json.loads(r.read())["type"] == "notebook"
    finally:
        server.terminate()
        server.wait(timeout=30)
