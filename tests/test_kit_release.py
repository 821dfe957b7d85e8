"""`python -m kit release`: stubs every region, leaks no solution line, fails the checks."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kit.instructor.release.leaks import find_leaks
from kit.instructor.release.student_kit import ReleaseError, release
from kit.instructor.release.student_notebook import release_notebook
from kit.student.files import student_files
from kit.student.regions import END, START, STUB, find_regions

SOURCE = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/two_layer_net.ipynb"


@pytest.fixture
def released(released_kit):
    return released_kit


def source_files(root):
    """The package and notebook files of the instructor source (found here, not by the kit)."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in [*root.glob("cs231n/**/*.py"),
                                                            *root.glob("notebooks/*.ipynb")])


def released_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def only_literal_assignments(source):
    try:
        body = ast.parse(source).body
        return bool(body) and all(isinstance(n, ast.Assign) and ast.literal_eval(n.value) is not None
                                  for n in body)
    except (SyntaxError, ValueError):
        return False


def instructor_secrets():
    """Non-trivial region lines of the instructor source that appear nowhere outside a region.

    Computed here independently of kit.leaks: .py regions, notebook regions, solution
    cells without markers, and the explanation cell after each inline question.
    """
    inside, outside = set(), set()

    def add(lines, spans):
        hidden = {i for s, e in spans for i in range(s + 1, e)}
        for i, line in enumerate(lines):
            (inside if i in hidden else outside).add(line.strip())

    for rel in source_files(SOURCE):
        path = SOURCE / rel
        if rel.endswith(".py"):
            lines = path.read_text().splitlines()
            add(lines, find_regions(lines))
        elif rel.endswith(".ipynb"):
            cells = nbformat.read(path, as_version=4).cells
            for k, cell in enumerate(cells):
                lines = cell.source.splitlines()
                tags = cell.metadata.get("tags", [])
                before = cells[k - 1] if k else None
                after_question = before is not None and ("inline-question" in before.metadata.get("tags", [])
                                                         or (before.cell_type == "code" and "solution" in
                                                             before.metadata.get("tags", [])
                                                             and only_literal_assignments(before.source)))
                if cell.cell_type == "markdown" and (after_question or "solution" in tags):
                    inside.update(line.strip() for line in lines)
                elif cell.cell_type == "code" and START in cell.source:
                    add(lines, find_regions(lines))
                elif cell.cell_type == "code" and "solution" in tags:
                    inside.update(line.strip() for line in lines if not line.lstrip().startswith("#"))
                else:
                    outside.update(line.strip() for line in lines)
    return {line for line in inside - outside if len(line) >= 8}


def test_release_contains_no_line_of_the_reference_solution(released):
    secrets = instructor_secrets()
    assert len(secrets) > 20, "the instructor source should hold a reference solution"
    for path in released_files(released):
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells) + "\n" + text
        lines = {line.strip() for line in text.splitlines()}
        leaked = sorted(s for s in secrets if s in lines or (len(s) >= 20 and s in text))
        assert not leaked, f"{path.relative_to(released)} holds solution lines: {leaked[:5]}"
    assert find_leaks(SOURCE, released) == []


def test_regions_are_stubbed_with_markers_unchanged(released):
    for rel in student_files(SOURCE):
        if not rel.endswith(".py"):
            continue
        src, out = (SOURCE / rel).read_text(), (released / rel).read_text()
        assert src.count(START) == out.count(START) and src.count(END) == out.count(END), rel
        lines = out.splitlines()
        for s, e in find_regions(lines):
            body = [line.strip() for line in lines[s + 1:e]]
            assert body == list(STUB), (rel, body)


def test_released_package_imports_and_returns_placeholders(released):
    code = ("import numpy as np\n"
            "from cs231n import layers\n"
            "from cs231n.classifiers.neural_net import TwoLayerNet\n"
            "out, _ = layers.affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.ones(4))\n"
            "assert out is None\n"
            "assert TwoLayerNet(4, 10, 3).loss(np.ones((5, 4))) is None\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=released, capture_output=True, text=True)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_release_leaves_out_instructor_tools_but_keeps_collect(released):
    names = {p.relative_to(released).as_posix() for p in released_files(released)}
    assert {"kit/__main__.py", "kit/student/collect.py", "kit/student/regions.py"} <= names
    assert not any(n.startswith(("tests/", "bench/", ".ci/", "kit/instructor/", "kit/sandboxed/"))
                   for n in names), sorted(names)
    assert not any(n.endswith((".zip", ".pyc")) or "requirements-" in n for n in names), sorted(names)
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", "x", "--out", "y"], cwd=released,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "instructor command" in proc.stderr


def test_released_notebook_keeps_check_outputs_only(released):
    src = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    out = nbformat.read(released / NOTEBOOK, as_version=4)
    assert len(out.cells) == len([c for c in src.cells if "hidden" not in c.metadata.get("tags", [])])
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        # nbval compares a cell only with an execution count, and refuses outputs without one.
        assert (cell.execution_count is not None) == bool(cell.outputs)
        tags = cell.metadata.get("tags", [])
        if "solution" in tags or "NBVAL_IGNORE_OUTPUT" in cell.source:
            assert cell.outputs == []
        if cell.source.startswith("# Check:"):
            ref = next(c for c in src.cells if c.source == cell.source)
            assert cell.outputs and [o.get("text") for o in cell.outputs] == [o.get("text") for o in ref.outputs]


def test_hidden_cells_are_removed_and_markerless_solutions_stubbed():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["hidden"]}),
        nbformat.v4.new_code_cell("# Pick one\nanswer = [2, 4]\nextra = compute()", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("# Your answer\nq = 'b'", metadata={"tags": ["solution", "inline-question"]}),
        nbformat.v4.new_markdown_cell("**Your explanation:** because b is right."),
    ])
    out = release_notebook(nb)
    assert len(out.cells) == 3
    assert out.cells[0].source == "# Pick one\nanswer = None  # TODO: your answer\nextra = None  # TODO: your answer"
    assert out.cells[1].source == "# Your answer\nq = None  # TODO: your answer"
    assert out.cells[2].source == "**Your explanation:** *Fill this in.*"


def test_free_text_answers_keep_only_their_labels():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("inline_question_1_answer = [1, 2]", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("$\\color{blue}{\\textit Your Answer:}$ 1 and 2.\n\n"
                                      "$\\color{blue}{\\textit Your Explanation:}$ The sigmoid saturates.",
                                      metadata={"tags": ["solution"]}),
    ])
    out = release_notebook(nb)
    assert out.cells[0].source == "inline_question_1_answer = None  # TODO: your answer"
    assert out.cells[1].source == ("$\\color{blue}{\\textit Your Answer:}$ *Fill this in.*\n\n"
                                   "$\\color{blue}{\\textit Your Explanation:}$ *Fill this in.*")


def _tiny_source(root):
    (root / "cs231n").mkdir(parents=True)
    (root / "cs231n/mod.py").write_text(f"def f(x):\n    y = None\n    {START}\n    y = x * 42 + 17\n"
                                        f"    {END}\n    return y\n")
    return root


def test_release_refuses_a_leak_and_leaves_nothing_behind(tmp_path):
    src = _tiny_source(tmp_path / "src")
    (src / "datasets").mkdir()
    (src / "datasets/README.md").write_text("Hint:\n\n    y = x * 42 + 17\n")
    out = tmp_path / "out"
    with pytest.raises(ReleaseError, match="would ship") as err:
        release(src, out)
    assert "datasets/README.md" in str(err.value) and "Nothing was written" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no partial folder either
    (src / "datasets/README.md").write_text("no hint\n")
    assert "cs231n/mod.py" in release(src, out)  # the same destination works at once
    assert "y = x * 42" not in (out / "cs231n/mod.py").read_text()


def test_only_the_manifest_ships_whatever_else_is_in_the_tree(tmp_path):
    """Graded submissions, grades, archives and stray files never reach the student kit."""
    import shutil
    import zipfile

    src = tmp_path / "src"
    shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns(".git", ".venv", "datasets", "build",
                                                                "__pycache__", ".pytest_cache"))
    solution = (SOURCE / "cs231n/layers.py").read_bytes()
    (src / "submissions").mkdir()
    with zipfile.ZipFile(src / "submissions/alice.zip", "w") as zf:
        zf.writestr("cs231n/layers.py", solution)
    (src / "grades/alice").mkdir(parents=True)
    (src / "grades/alice/manual.json").write_bytes(solution)
    (src / "grades/grades.csv").write_text("student,score\nalice,32\n")
    (src / "solutions.zip").write_bytes(b"PK\x03\x04" + solution)
    (src / "notes.md").write_bytes(solution)
    (src / "build").mkdir()
    (src / "build/two_layer_net.html").write_bytes(solution)
    (src / "cs231n/scratch.txt").write_bytes(solution)
    (src / "notebooks/.ipynb_checkpoints").mkdir(exist_ok=True)
    (src / "notebooks/.ipynb_checkpoints/two_layer_net-checkpoint.ipynb").write_bytes(
        (SOURCE / NOTEBOOK).read_bytes())
    paths = release(src, tmp_path / "kit")
    shipped = {p.relative_to(tmp_path / "kit").as_posix() for p in released_files(tmp_path / "kit")}
    assert shipped == set(paths)
    for stray in ("submissions/alice.zip", "grades/alice/manual.json", "grades/grades.csv", "solutions.zip",
                  "notes.md", "build/two_layer_net.html", "cs231n/scratch.txt"):
        assert stray not in shipped
    assert not any(".ipynb_checkpoints" in p for p in shipped)
    assert find_leaks(src, tmp_path / "kit") == []


def test_a_file_that_cannot_be_checked_counts_as_a_leak(tmp_path):
    kit = tmp_path / "kit"
    release(_tiny_source(tmp_path / "src"), kit)
    (kit / "cs231n/blob.js").write_bytes(b"\xff\xfe\x00binary")
    leaks = find_leaks(tmp_path / "src", kit)
    assert leaks and leaks[0][0] == "cs231n/blob.js" and "not a text file" in leaks[0][1]


def test_student_kit_gets_its_own_readme_requirements_and_makefile(released):
    readme = (released / "README.md").read_text()
    assert "reference solution in every region" not in readme and "bench/" not in readme
    assert "python -m kit collect" in readme and "make test" in readme
    assert "`cs231n/layers.py`" in readme and "| all |" in readme  # the points per file
    assert "<!-- graded-table -->" not in readme
    requirements = (released / "requirements.txt").read_text()
    for extra in ("dask", "playwright", "pytest-xdist"):
        assert extra not in requirements
    assert "nbval" in requirements and "numpy" in requirements
    makefile = (released / "Makefile").read_text()
    assert "release:" not in makefile and "grade:" not in makefile and "test:" in makefile
    # A bare `pytest` in the kit is sent to `make test` (the self-check, kit.student.check).
    assert "kit.student.check_plugin" in (released / "pytest.ini").read_text()
    assert not (released / "tests").exists()


def _nbval(kit, last_check, tmp_path):
    """nbval on the kit's notebook cut after the check cell `last_check`."""
    nb = nbformat.read(kit / NOTEBOOK, as_version=4)
    stop = next(i for i, c in enumerate(nb.cells) if c.source.startswith(f"# Check: {last_check}"))
    nb.cells = nb.cells[:stop + 1]
    path = kit / "notebooks" / "_cut.ipynb"
    nbformat.write(nb, path)
    env = dict(os.environ, MPLBACKEND="agg", PYTHONDONTWRITEBYTECODE="1")
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
             "notebooks/sanitize.cfg", "-p", "no:cacheprovider", "-o", "addopts=", "-q",
             "notebooks/_cut.ipynb"], cwd=kit, env=env, capture_output=True, text=True, timeout=300)
    finally:
        path.unlink()


def test_released_kit_fails_the_checks_where_the_source_passes(released, tmp_path):
    student = _nbval(released, "toy loss", tmp_path)
    assert student.returncode != 0
    assert "Cell 2" in student.stdout and "Cell 3" in student.stdout, student.stdout[-2000:]
    # They fail on the stubs' results, not because nbval refuses the stored outputs.
    assert "Unrun reference cell" not in student.stdout, student.stdout[-2000:]
    assert "your scores differ from the correct scores" in student.stdout, student.stdout[-2000:]
    instructor = _nbval(SOURCE, "toy loss", tmp_path)
    assert instructor.returncode == 0, instructor.stdout[-3000:]


