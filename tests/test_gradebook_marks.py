"""Inline questions marked by hand: `kit manual` writes the sheet, a TA fills it, `kit merge` adds the marks."""
import csv
import json
import subprocess
import sys

import pytest

import kit_fixtures as fx
from kit.instructor.gradebook import marks
from kit.instructor.gradebook.marks import MarkError, merge, write_sheet
from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap

pytestmark = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
QUESTIONS = ["fc_net Q1", "fc_net Q2", "two_layer_net Q1"]


@pytest.fixture
def grades(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "grades"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "alice.zip", ref)
    fx.write_zip(subs / "bob.zip", fx.apply(ref, fx.BUGS["relu_backward"]))
    fx.write_zip(subs / "-carol.zip", ref)   # a name a spreadsheet would read as a formula
    grade(subs, out, limits=Limits(cell_timeout=10), log=lambda *a: None)
    return out


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def fill(sheet, given):
    """Write marks {(student, question): (points, comment)} into the sheet, as a TA would in a spreadsheet."""
    rows = read_csv(sheet)
    for row in rows:
        if (row["student"], row["question"]) in given:
            row["points"], row["comment"] = given[(row["student"], row["question"])]
    with open(sheet, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=marks.FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def test_a_sheet_round_trip_adds_marks_and_keeps_unmarked_answers_pending(grades):
    before = {r["student"]: r for r in read_csv(grades / "grades.csv")}
    sheet = write_sheet(grades, fx.SOURCE, log=lambda *a: None)
    rows = read_csv(sheet)
    assert [(r["student"], r["question"]) for r in rows] == [(s, q) for s in ("'-carol", "alice", "bob")
                                                             for q in QUESTIONS]
    assert all(r["points"] == "" and r["comment"] == "" and r["max_points"] == "1" for r in rows)
    alice = {r["question"]: r for r in rows if r["student"] == "alice"}
    assert alice["two_layer_net Q1"]["answer"].startswith("[1, 3]")
    # Pages to mark from, one per question, offline.
    page = (grades / "manual" / "two_layer_net-q1.html").read_text()
    assert "alice" in page and "bob" in page and "0 of 3 marked" in page and "<script" not in page

    fill(sheet, {("alice", "two_layer_net Q1"): ("1", "right, well argued"),
                 ("bob", "two_layer_net Q1"): ("0.5", "half of it"), ("'-carol", "fc_net Q1"): ("0", "")})
    summary = merge(grades, log=lambda *a: None)
    assert summary == {"students": 3, "marked": 3, "pending": 6}
    after = {r["student"]: r for r in read_csv(grades / "grades.csv")}
    for student, given, pending in (("alice", 1, 2), ("bob", 0.5, 2), ("-carol", 0, 2)):
        assert float(after[student]["score"]) == pytest.approx(float(before[student]["score"]) + given)
        # Only marked answers count in the maximum: a pending one is never a 0.
        assert float(after[student]["max_score"]) == float(before[student]["max_score"]) + 1
        assert (float(after[student]["manual_points"]), int(after[student]["manual_pending"])) == (given, pending)
    results = json.loads((grades / "alice" / "results.json").read_text())
    tests = {t["name"]: t for t in results["tests"]}
    marked = tests["two_layer_net Q1 (marked by hand)"]
    assert (marked["score"], marked["max_score"], marked["output"]) == (1.0, 1.0, "right, well argued")
    assert tests["fc_net Q1 (marked by hand)"]["extra_data"]["pending"] is True
    assert "right, well argued" in (grades / "alice" / "feedback.md").read_text()
    report = (grades / "report.html").read_text()
    assert "two_layer_net Q1 (marked by hand)" in report and "fc_net Q2 (marked by hand)" not in report

    # Written again (a regrade, more students): the marks stay; merged again: replaced, never added twice.
    write_sheet(grades, fx.SOURCE, log=lambda *a: None)
    kept = {(r["student"], r["question"]): (r["points"], r["comment"]) for r in read_csv(sheet)}
    assert kept[("alice", "two_layer_net Q1")] == ("1", "right, well argued")
    fill(sheet, {("alice", "two_layer_net Q1"): ("0.25", "on second reading")})
    merge(grades, log=lambda *a: None)
    again = {r["student"]: r for r in read_csv(grades / "grades.csv")}
    assert float(again["alice"]["score"]) == pytest.approx(float(before["alice"]["score"]) + 0.25)
    assert sum(1 for t in json.loads((grades / "alice" / "results.json").read_text())["tests"]
               if t["name"].endswith("(marked by hand)")) == 3


@pytest.mark.parametrize("given, message", [
    ({("alice", "two_layer_net Q1"): ("2", "")}, "2 points for two_layer_net Q1, which has 1 (give 0 to 1)"),
    ({("alice", "two_layer_net Q1"): ("-1", "")}, "-1 points for two_layer_net Q1"),
    ({("alice", "two_layer_net Q1"): ("one", "")}, "points 'one' is not a number"),
])
def test_a_wrong_mark_is_refused_with_its_line_and_nothing_is_written(grades, given, message):
    sheet = write_sheet(grades, fx.SOURCE, log=lambda *a: None)
    fill(sheet, given)
    row = 1 + 3 + QUESTIONS.index("two_layer_net Q1") + 1   # the header, carol's rows, then alice's
    before = {p: p.read_bytes() for p in grades.rglob("*") if p.is_file() and "manual" not in p.parts}
    with pytest.raises(MarkError) as err:
        merge(grades, log=lambda *a: None)
    assert f"manual_marks.csv, row {row}: {message}" in str(err.value), str(err.value)
    assert {p: p.read_bytes() for p in before} == before


def test_unknown_students_questions_and_malformed_sheets_are_refused(grades, tmp_path):
    sheet = tmp_path / "marks.csv"
    sheet.write_text("student,question,answer,max_points,points,comment\n"
                     "alice,two_layer_net Q1,,1,1,\n"
                     "dave,two_layer_net Q1,,1,1,\n"
                     "alice,two_layer_net Q9,,1,1,\n"
                     "alice,two_layer_net Q1,,1,0,again\n")
    with pytest.raises(MarkError) as err:
        merge(grades, sheet, log=lambda *a: None)
    text = str(err.value)
    assert "marks.csv, row 3: no graded submission of a student 'dave'" in text
    assert "marks.csv, row 4: no question 'two_layer_net Q9'" in text
    assert "marks.csv, row 5: alice, two_layer_net Q1 is on the sheet twice" in text
    sheet.write_text("name,points\nalice,1\n")
    with pytest.raises(MarkError, match="not a marking sheet: no column student, question"):
        merge(grades, sheet, log=lambda *a: None)


def test_the_command_line_writes_and_merges(grades):
    run = [sys.executable, "-m", "kit"]
    proc = subprocess.run(run + ["manual", str(grades)], capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 0 and "manual_marks.csv" in proc.stdout, proc.stderr
    fill(grades / "manual_marks.csv", {("bob", "fc_net Q2"): ("3", "")})
    proc = subprocess.run(run + ["merge", str(grades)], capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 2 and "which has 1" in proc.stdout
    fill(grades / "manual_marks.csv", {("bob", "fc_net Q2"): ("1", "")})
    proc = subprocess.run(run + ["merge", str(grades)], capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 0 and "merged 1 marks into 3 submissions (8 answers pending)" in proc.stdout
