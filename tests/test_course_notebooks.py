"""The course's own modular-era notebooks run on the kit (opt-in: needs the course's files).

Set CS231N_COURSE_DIR to a folder holding the course's public starter code by
year (COURSE_DIR/2026/assignment1/two_layer_net.ipynb, ...); nothing of it is
in the kit. Each two_layer_net.ipynb of 2021 to 2026 is run next to a scratch
copy of the kit's cs231n/ by tests/course_api/run_course_notebooks.py (Colab
cells dropped, the student cells filled with a short solution) and must end
with no error. The classic notebooks (2017 to 2020) slice 49,000 training
images themselves, so they need the full CIFAR-10, not the offline subset:
run them by hand with `run_course_notebooks.py COURSE_DIR --data-at course
--glob '2019/assignment1/two_layer_net.ipynb'`.
"""
import importlib.util
import os
from pathlib import Path

import pytest

COURSE = os.environ.get("CS231N_COURSE_DIR")
RUNNER = Path(__file__).resolve().parent / "course_api" / "run_course_notebooks.py"

pytestmark = pytest.mark.skipif(not COURSE, reason="set CS231N_COURSE_DIR to the course's files")


def runner():
    spec = importlib.util.spec_from_file_location("run_course_notebooks", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("year", range(2021, 2027))
@pytest.mark.parametrize("data_at", ["kit", "course"])
def test_the_courses_modular_notebook_runs_with_no_error(year, data_at):
    path = Path(COURSE) / str(year) / "assignment1" / "two_layer_net.ipynb"
    if not path.is_file():
        pytest.skip(f"no {path}")
    assert runner().run(path, data_at) == []
