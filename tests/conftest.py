"""What several test files share.

- Notebook runs: tests/nbval_run.py is the one harness that runs a notebook under
  nbval in a scratch copy of the kit, with planted bugs (Plant) and the checks
  they must trip (assert_plant_caught); every notebook test imports it from
  there (this folder is on sys.path).
- Pages in a browser: the offline_browser fixture, a headless Chromium that
  cannot reach any network, for the pages the kit writes.
- The student kit: the released_kit fixture, released once per test process.
- The order files run in (SLOWEST_FIRST), for parallel runs.
"""
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# The slowest files, started first when the suite runs in several processes (pytest-xdist hands
# out whole files, `--dist loadfile --no-loadscope-reorder`, in collection order): those that
# mostly wait out the grader's own time limits come first, so that the files that keep the CPUs
# busy run beside them rather than after them; the rest keep their order.
SLOWEST_FIRST = ("test_kit_fullsize.py", "test_kit_nbgrade.py", "test_kit_grade.py", "test_kit_selfcheck.py", "test_kit_failures.py",
                 "test_kit_gradescope_container.py", "test_fc_net_notebook.py",
                 "test_two_layer_net_notebook.py", "test_kit_scale.py", "test_kit_dask.py", "test_kit_gradescope.py",
                 "test_kit_release.py", "test_course_api_notebook.py")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class OfflineBrowser(object):
    """
    A headless Chromium context whose every request off the page itself
    (anything but file: and data: URLs) is aborted and recorded in `blocked`.
    """

    def __init__(self, context):
        self.context = context
        self.blocked = []
        context.route("**/*", self._route)

    def _route(self, route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def open(self, path_or_html):
        """A new page showing a file (a Path) or an HTML string; page errors land in page.errors."""
        page = self.context.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        if isinstance(path_or_html, Path):
            page.goto(path_or_html.as_uri())
        else:
            page.set_content(path_or_html)
        return page


@pytest.fixture
def offline_browser(tmp_path):
    """An OfflineBrowser (skipped without Chromium or the playwright package)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package playwright is needed to drive Chromium")
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1100, "height": 1000})
        try:
            yield OfflineBrowser(context)
        finally:
            context.close()


@pytest.fixture(scope="session")
def released_kit(tmp_path_factory):
    """The student kit, released once per test process with `python -m kit release` (read-only use)."""
    dest = tmp_path_factory.mktemp("release") / "kit"
    subprocess.run([sys.executable, "-m", "kit", "release", str(dest)], cwd=SOURCE, check=True,
                   capture_output=True)
    return dest


def pytest_collection_modifyitems(items):
    """Run the files of SLOWEST_FIRST first, in that order (a stable sort: the rest keep theirs)."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
