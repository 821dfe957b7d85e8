"""How cs231n/ is put together: no import cycle, the explorers' JavaScript and CSS in package data."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cs231n"
ASSETS = PACKAGE / "viewer_assets"


def module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(package_dir):
    """{module: set of modules of the same package it imports}, anywhere in its code."""
    root, package = package_dir.parent, package_dir.name
    modules = {module_name(p, root): p for p in package_dir.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[:len(name.split(".")) - node.level + is_package]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module
                targets.add(prefix)
                targets.update(f"{prefix}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name
                       and t.split(".")[0] == package}
    return graph


def find_cycle(graph):
    """One import cycle as a list [a, b, ..., a], or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert "cs231n.vis_utils" in graph["cs231n.weight_viewer"]  # the graph sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # vis_utils is the course's module of pictures: it imports none of the explorers
    assert not graph["cs231n.vis_utils"]


@pytest.mark.parametrize("lazy", [False, True], ids=["top-level", "inside-a-function"])
def test_the_cycle_check_finds_a_planted_cycle(tmp_path, lazy):
    """vis_utils re-exporting the explorer, as it did, even through a lazy import."""
    pkg = tmp_path / "cs231n"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "weight_viewer.py").write_text("from cs231n.vis_utils import visualize_grid\n")
    reexport = "from cs231n import weight_viewer\n"
    if lazy:
        reexport = "def __getattr__(name):\n    " + reexport + "    return weight_viewer\n"
    (pkg / "vis_utils.py").write_text(reexport)
    assert find_cycle(import_graph(pkg)) in (
        ["cs231n.vis_utils", "cs231n.weight_viewer", "cs231n.vis_utils"],
        ["cs231n.weight_viewer", "cs231n.vis_utils", "cs231n.weight_viewer"])


def test_explorer_javascript_and_css_live_in_package_data():
    from cs231n.boundary_viewer import BoundaryExplorer
    from cs231n.viewer_display import asset

    names = sorted(p.name for p in ASSETS.iterdir())
    assert names == ["boundary_explorer.css", "boundary_explorer.js", "live_view.js",
                     "weight_explorer.css", "weight_explorer.js"]
    for path in PACKAGE.rglob("*.py"):  # no JavaScript or CSS left in Python strings
        text = path.read_text(encoding="utf-8")
        for marker in ("addEventListener", "querySelector", "image-rendering", "getElementById"):
            assert marker not in text, f"{path.name} holds {marker!r}: move it to viewer_assets/"
    page = BoundaryExplorer([b"png"], ["iteration 0"]).html
    assert asset("boundary_explorer.js") in page and asset("live_view.js") in page
    assert asset("boundary_explorer.css") in page


def test_package_data_ships_in_the_student_kit():
    try:  # the release's list of shipped files (kit/instructor/manifest.py once the kit moves there)
        from kit.instructor.manifest import shipped_sources as released_paths
    except ImportError:
        from kit.release import released_paths

    released = set(released_paths(ROOT))
    for path in ASSETS.iterdir():
        assert path.relative_to(ROOT).as_posix() in released
