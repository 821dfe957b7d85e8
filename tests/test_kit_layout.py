"""How kit/ is put together: the trust rules as path rules, the stages as import rules, no import loop.

- kit/student/ ships to students and kit/sandboxed/ runs next to student code:
  neither imports kit/instructor/, and kit/sandboxed/ imports nothing of the kit
  at all (it runs as a script, with the standard library only);
- nothing under kit/instructor/ or kit/sandboxed/ ships, and neither does what
  only the reference solution uses (cs231n/_instructor_*);
- the stages of kit/instructor/ import downwards only: the sandbox and the
  metadata reader know no stage, the release knows no grading, the grader no
  Gradescope bundle;
- no module of kit/instructor/ changes sys.path;
- `python -m kit` names a module of a stage for each command.
Each rule also has a planted breach that it must catch.
"""
import ast
import importlib
from pathlib import Path

import pytest

from import_graph import find_cycle, import_graph
from kit.__main__ import COMMANDS
from kit.instructor.release.manifest import shipped_sources

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "kit"
# Each part of kit/instructor/ and what it may import of the others (besides itself).
STAGES = {
    "kit.instructor.pyparse": set(),
    "kit.instructor.sandbox": set(),
    "kit.instructor.release": {"kit.instructor.pyparse"},
    "kit.instructor.grade": {"kit.instructor.pyparse", "kit.instructor.sandbox",
                             "kit.instructor.release"},
    "kit.instructor.gradescope": {"kit.instructor.pyparse", "kit.instructor.sandbox",
                                  "kit.instructor.release", "kit.instructor.grade"},
    "kit.instructor.gradebook": {"kit.instructor.pyparse", "kit.instructor.sandbox",
                                 "kit.instructor.release", "kit.instructor.grade"},
    "kit.instructor.similarity": {"kit.instructor.pyparse", "kit.instructor.sandbox",
                                  "kit.instructor.release", "kit.instructor.grade"},
}


def part(module):
    """The part of the kit a module belongs to: a stage of kit.instructor, or kit.student, kit.sandboxed, kit."""
    for prefix in sorted(STAGES, key=len, reverse=True) + ["kit.instructor", "kit.student", "kit.sandboxed"]:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return module


def breaches(graph):
    """The imports that break the trust and stage rules, as "a -> b" lines."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            mine, theirs = part(module), part(target)
            if mine in ("kit.student", "kit.sandboxed") and theirs.startswith("kit.instructor"):
                found.append(f"{module} -> {target} (shipped or sandboxed code imports the instructor's)")
            elif mine == "kit.sandboxed" and theirs != "kit.sandboxed":
                found.append(f"{module} -> {target} (the sandboxed scripts stand alone)")
            elif mine in STAGES and theirs != mine and theirs.startswith("kit.instructor") \
                    and theirs not in STAGES[mine] and target != "kit.instructor":
                found.append(f"{module} -> {target} (a stage imports one that comes after it)")
    return found


def test_the_kit_has_no_import_loop_and_keeps_its_rules():
    graph = import_graph(KIT)
    assert "kit.instructor.grade.prepare" in graph["kit.instructor.grade.run"]  # the graph sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert breaches(graph) == []


def write(root, rel, text=""):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("plant, rule", [
    (("kit/student/collect.py", "from kit.instructor.grade import report\n"), "shipped or sandboxed"),
    (("kit/sandboxed/executor.py", "def f():\n    import kit.instructor.grade.report\n"), "shipped or sandboxed"),
    (("kit/sandboxed/launch.py", "from kit.student import files\n"), "stand alone"),
    (("kit/instructor/release/student_kit.py", "from kit.instructor.grade.report import SCORED\n"),
     "comes after it"),
    (("kit/instructor/sandbox/box.py", "from kit.instructor.grade import report\n"), "comes after it"),
    (("kit/student/notebooks.py", "from kit.instructor.sandbox import box\n"), "shipped or sandboxed"),
])
def test_the_rules_catch_a_planted_breach(tmp_path, plant, rule):
    for rel in ("kit/__init__.py", "kit/student/__init__.py", "kit/instructor/__init__.py",
                "kit/instructor/grade/__init__.py", "kit/instructor/grade/report.py",
                "kit/instructor/sandbox/__init__.py", "kit/instructor/sandbox/box.py",
                "kit/instructor/release/__init__.py", "kit/instructor/release/student_kit.py",
                "kit/student/notebooks.py", "kit/student/files.py", "kit/student/collect.py",
                "kit/sandboxed/executor.py", "kit/sandboxed/launch.py"):
        write(tmp_path, rel)
    write(tmp_path, *plant)
    found = breaches(import_graph(tmp_path / "kit"))
    assert found and all(f.startswith(plant[0][:-3].replace('/', '.')) and rule in f for f in found), found


def test_the_loop_check_finds_a_planted_loop(tmp_path):
    write(tmp_path, "kit/__init__.py")
    write(tmp_path, "kit/instructor/grade/run.py", "from kit.instructor.grade.prepare import prepare\n")
    write(tmp_path, "kit/instructor/grade/prepare.py", "def f():\n    from kit.instructor.grade import run\n")
    assert find_cycle(import_graph(tmp_path / "kit")) is not None


def test_nothing_of_the_instructor_or_the_sandbox_ships(tmp_path):
    shipped = shipped_sources(ROOT)
    assert "kit/student/collect.py" in shipped and "cs231n/layers.py" in shipped
    assert not [rel for rel in shipped if rel.startswith(("kit/instructor/", "kit/sandboxed/"))]
    # What only the reference solution uses stays on the instructor's side.
    assert (ROOT / "cs231n/_instructor_blas.py").is_file() and "cs231n/_instructor_blas.py" not in shipped
    # Planted: instructor files where a careless pattern would pick them up.
    for rel in ("kit/__init__.py", "kit/student/collect.py", "kit/instructor/grade/run.py",
                "kit/instructor/release/student_root/README.md", "kit/sandboxed/executor.py",
                "cs231n/layers.py", "cs231n/_instructor_speed.py", "cs231n/classifiers/_instructor_x.py"):
        write(tmp_path, rel)
    assert shipped_sources(tmp_path) == ["cs231n/layers.py", "kit/__init__.py", "kit/student/collect.py"]


def changes_sys_path(path):
    """Whether a module's code assigns to sys.path or calls one of its mutating methods."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t for t in targets if isinstance(t, ast.Attribute)), None)
        if isinstance(target, ast.Attribute) and target.attr == "path" and \
                isinstance(target.value, ast.Name) and target.value.id == "sys":
            return True
    return False


def test_no_module_of_the_instructor_changes_sys_path(tmp_path):
    changing = [p.relative_to(ROOT).as_posix() for p in (KIT / "instructor").rglob("*.py") if changes_sys_path(p)]
    assert changing == []
    for planted in ("import sys\nsys.path.insert(0, '/src')\n", "import sys\nsys.path = ['/src'] + sys.path\n",
                    "import sys\nsys.path += ['/src']\n"):
        write(tmp_path, "m.py", planted)
        assert changes_sys_path(tmp_path / "m.py"), planted


def test_each_command_runs_a_module_of_its_stage():
    stages = {"release": "kit.instructor.release.", "check": "kit.student.", "collect": "kit.student.", "grade": "kit.instructor.grade.",
              "report": "kit.instructor.grade.", "gradescope": "kit.instructor.gradescope.",
              "manual": "kit.instructor.gradebook.", "merge": "kit.instructor.gradebook.",
              "roster": "kit.instructor.gradebook.", "export": "kit.instructor.gradebook.",
              "similarity": "kit.instructor.similarity"}
    assert set(COMMANDS) == set(stages)
    for command, module in COMMANDS.items():
        assert module.startswith(stages[command]), (command, module)
        assert callable(importlib.import_module(module).main), module
