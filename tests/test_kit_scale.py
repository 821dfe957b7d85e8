"""Grading at scale: 100 submissions end to end, --jobs, a Dask cluster, and the rlimits fallback."""
import csv
import json
import subprocess
import sys
import time

import pytest

import kit_fixtures as fx
from kit.grade import grade
from kit.sandbox import Limits

LIMITS = Limits(cell_timeout=6, timeout=120, memory_mb=2048)
KINDS = ("correct", "relu_backward", "half_l2", "empty", "not_a_zip")


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


def test_hundred_submissions_graded_to_the_end(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    kinds = {}
    for i in range(100):
        kind = KINDS[i % len(KINDS)]
        kinds[f"student{i:03d}"] = kind
        plant(subs, kind, f"student{i:03d}")
    rows = grade(subs, out, jobs=2, limits=LIMITS, log=lambda *a: None)
    assert len(rows) == 100
    grades = read_grades(out)
    assert len(grades) == 100
    check_kinds(grades, kinds)
    for name in kinds:
        assert (out / name / "results.json").exists() and (out / name / "feedback.md").exists()
    assert grades["student004"]["status"] == "rejected"
    text = (out / "student005" / "feedback.md").read_text()
    assert text.startswith("# Feedback for student005")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_hundred_distinct_submissions_with_two_jobs(tmp_path):
    """Each of the 100 zips differs (no dedupe): 100 sandboxed runs, two at a time."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    kinds = {}
    for i in range(100):
        kind = KINDS[i % 4]  # no unreadable zips here: every one runs
        kinds[f"s{i:03d}"] = kind
        plant(subs, kind, f"s{i:03d}", unique=f"submission {i}")
    start = time.monotonic()
    rows = grade(subs, out, jobs=2, limits=LIMITS, dedupe=False, log=lambda *a: None)
    elapsed = time.monotonic() - start
    assert len(rows) == 100
    check_kinds(read_grades(out), kinds)
    print(f"100 distinct submissions in {elapsed:.0f} s ({100 / elapsed * 60:.1f} per minute)")


def test_dask_cluster_grades_like_local(tmp_path):
    distributed = pytest.importorskip("distributed")
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    for kind in ("correct", "relu_backward", "empty"):
        plant(subs, kind, kind)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        rows = grade(subs, out, scheduler=cluster.scheduler_address, limits=LIMITS, log=lambda *a: None)
    kinds = {k: k for k in ("correct", "relu_backward", "empty")}
    dask_scores = check_kinds({r["student"]: r for r in rows}, kinds)
    local = grade(subs, tmp_path / "local", limits=LIMITS, log=lambda *a: None)
    assert dask_scores == {r["student"]: float(r["score"]) for r in local}


def test_rlimits_fallback_still_contains_runaway_code(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "correct.zip", ref)
    fx.write_zip(subs / "loop.zip", fx.wrap_svm(ref, "while True:\n    pass"))
    fx.write_zip(subs / "exit.zip", fx.wrap_svm(ref, "import os\nos._exit(1)"))
    rows = {r["student"]: r for r in grade(subs, out, limits=LIMITS, isolation="rlimits", jobs=2,
                                           log=lambda *a: None)}
    max_score = float(rows["correct"]["max_score"])
    assert float(rows["correct"]["score"]) == max_score
    assert float(rows["loop"]["score"]) == float(rows["exit"]["score"]) == max_score - 1
    for row in rows.values():
        assert row["isolation"].startswith("rlimits only")
    results = json.loads((out / "loop" / "results.json").read_text())
    assert results["output"].startswith("Isolation: rlimits only")


def test_command_line(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    plant(subs, "half_l2", "bob")
    proc = subprocess.run([sys.executable, "-m", "kit", "grade", str(subs), "--out", str(out),
                           "--jobs", "2", "--cell-timeout", "6"], cwd=fx.SOURCE, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bob:" in proc.stdout and "grades.csv" in proc.stdout
    assert read_grades(out)["bob"]["status"] == "graded"
