"""How cs231n/ is put together: no import cycle, the explorers' JavaScript and CSS in package data."""
from pathlib import Path

import pytest

from import_graph import find_cycle, import_graph

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cs231n"
ASSETS = PACKAGE / "viewer_assets"


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
    from kit.instructor.release.manifest import shipped_sources as released_paths

    released = set(released_paths(ROOT))
    for path in ASSETS.iterdir():
        assert path.relative_to(ROOT).as_posix() in released
