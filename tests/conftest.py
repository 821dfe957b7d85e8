"""Fixtures shared by the test files."""
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def released_kit(tmp_path_factory):
    """The student kit, released once per test process with `python -m kit release` (read-only use)."""
    dest = tmp_path_factory.mktemp("release") / "kit"
    subprocess.run([sys.executable, "-m", "kit", "release", str(dest)], cwd=SOURCE, check=True,
                   capture_output=True)
    return dest
