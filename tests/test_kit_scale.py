"""Grading at scale: a hundred submissions, parallel jobs under load, the rlimits mode (Dask: test_kit_dask.py).

These tests assert scores, never times: the machines are shared and noisy
(throughput figures come from bench/bench_grade.py).
"""
import csv
import json
import subprocess
import sys

import pytest

import kit_fixtures as fx

from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

sys.path.insert(0, str(fx.SOURCE / "bench"))
from bench_bombs import bomb_files  # noqa: E402

LIMITS = Limits(cell_timeout=5, timeout=120, memory_mb=1024)
BOMB_KINDS = ("spinner", "fork", "sleeper", "memory", "killer")
KINDS = ("correct", "relu_backward", "half_l2", "empty", "not_a_zip")
needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")


def plant(subs, kind, name, unique=""):
    ref = fx.reference_files()
    if kind == "not_a_zip":
        (subs / f"{name}.zip").write_bytes(b"garbage")
        return
    files = {"correct": ref, "empty": {}}[kind] if kind in ("correct", "empty") else fx.apply(ref, fx.BUGS[kind])
    if unique and files:
        files = fx.append_code(files, fx.LAYERS, f"# {unique}")
    fx.write_zip(subs / f"{name}.zip", files)


def check_kinds(grades, kinds):
    """Copies of a kind score alike; the reference gets full marks, bugs less, empty work nothing."""
    by_kind = {}
    for name, kind in kinds.items():
        by_kind.setdefault(kind, set()).add(float(grades[name]["score"]))
    max_score = float(next(iter(grades.values()))["max_score"])
    assert all(len(scores) == 1 for scores in by_kind.values()), by_kind
    score = {kind: scores.pop() for kind, scores in by_kind.items()}
    assert score["correct"] == max_score > 0
    for kind in {"relu_backward", "half_l2"} & set(score):
        assert 0 < score[kind] < max_score, (kind, score)
    for kind in ("empty", "not_a_zip"):
        assert score.get(kind, 0) == 0
    return score


def read_grades(out):
    with open(out / "grades.csv") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


@needs_bwrap
def test_hundred_submissions_graded_to_the_end(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    kinds = {}
    for i in range(100):
        kind = KINDS[i % len(KINDS)]
        kinds[f"student{i:03d}"] = kind
        plant(subs, kind, f"student{i:03d}")
    run = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    assert len(run.rows) == 100 and run.exit_code == 0
    grades = read_grades(out)
    assert len(grades) == 100
    check_kinds(grades, kinds)
    for name in kinds:
        assert (out / name / "results.json").exists() and (out / name / "feedback.md").exists()
    assert grades["student004"]["status"] == "rejected"
    assert "identical to another submission" in json.loads((out / "student005" / "results.json").read_text())[
        "output"].lower()


@needs_bwrap
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sixty_distinct_correct_submissions_under_load_beside_bombs_get_full_marks(tmp_path):
    """
    Two jobs, two CPU-bound processes beside the grader, and the bombs of bench/bench_bombs.py among
    60 byte-distinct correct submissions: 60 of 60 full marks, and each bomb held to its budgets.

    The budgets are a third of the defaults (30 CPU s, 30 s) so that the test stays short; the bombs'
    cost at the defaults is measured by bench/bench_bombs.py.
    """
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    names = [f"s{i:02d}" for i in range(60)]
    for name in names:
        plant(subs, "correct", name, unique=name)
    bombs = {f"s{12 * i + 5:02d}-{kind}": kind for i, kind in enumerate(BOMB_KINDS)}   # sorted among them
    for name, kind in bombs.items():
        fx.write_zip(subs / f"{name}.zip", bomb_files(kind))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    limits = Limits(timeout=30, wall_timeout=30)
    try:
        run = grade(subs, out, jobs=2, limits=limits, dedupe=False, log=lambda *a: None)
    finally:
        for hog in hogs:
            hog.kill()
    grades = read_grades(out)
    full = [n for n in names if grades[n]["status"] == "graded"
            and float(grades[n]["score"]) == float(grades[n]["max_score"]) > 0]
    assert len(full) == 60, {n: (grades[n]["status"], grades[n]["score"], grades[n]["reason"])
                             for n in names if n not in full}
    for name in bombs:
        row = grades[name]
        assert row["status"] == "graded" and float(row["score"]) < float(row["max_score"]), row
        timing = json.loads((out / name / "results.json").read_text())["extra_data"]["timing"]
        assert timing["checks_cpu"] <= limits.timeout + 1.5, (name, timing)   # as in test_kit_bombs.py
        assert timing["checks_wall"] <= limits.wall_timeout + 0.5 + timing["sandbox_start_max"] + 3, (name, timing)
    assert run.exit_code == 0


def test_rlimits_mode_runs_only_when_asked_and_warns(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "correct.zip", ref)
    fx.write_zip(subs / "loop.zip", fx.wrap_svm(ref, "while True:\n    pass"))
    fx.write_zip(subs / "exit.zip", fx.wrap_svm(ref, "import os\nos._exit(1)"))
    logs = []
    run = grade(subs, out, limits=LIMITS, isolation="rlimits", jobs=2, log=logs.append)
    rows = {r["student"]: r for r in run.rows}
    max_score = float(rows["correct"]["max_score"])
    assert float(rows["correct"]["score"]) == max_score
    tests = json.loads((out / "correct" / "results.json").read_text())["tests"]
    svm_points = sum(t["max_score"] for t in tests if t["name"] in fx.SVM_CHECKS)
    assert float(rows["loop"]["score"]) == float(rows["exit"]["score"]) == pytest.approx(max_score - svm_points)
    assert logs[0].startswith("WARNING: --isolation rlimits")
    for row in rows.values():
        assert row["isolation"].startswith("rlimits only")
    results = json.loads((out / "loop" / "results.json").read_text())
    assert results["output"].startswith("Graded without a file-system sandbox")
