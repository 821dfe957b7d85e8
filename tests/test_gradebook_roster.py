"""The roster matched to the zips, the late policy, and the gradebook export a learning management system reads."""
import csv
import json
import subprocess
import sys
import zipfile
from datetime import datetime

import pytest

import kit_fixtures as fx
from kit.instructor.grade.archive import read_identity
from kit.instructor.grade.run import grade
from kit.instructor.gradebook import export, roster
from kit.instructor.gradebook.roster import Policy, RosterError, write_roster
from kit.instructor.sandbox.isolation import Limits, locate_bwrap
from kit.student.collect import write_zip

needs_bwrap = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
ROSTER = """ID,Name,Email,Section
u001,Alice Martin,amartin@uni.edu,A
u002,Bob Stone,bstone@uni.edu,A
u003,Dave Jones,djones@uni.edu,B
u004,Eve Adams,eadams@uni.edu,B
u005,=HYPERLINK("x"),mallory@uni.edu,B
"""


def with_identity(files, student_id):
    return dict(files, **{"students.json": json.dumps({"id": student_id}).encode()})


@pytest.fixture
def week(tmp_path):
    """Five zips named as students and LMS name them, graded; the roster of five, one of them without a zip."""
    subs, grades = tmp_path / "subs", tmp_path / "grades"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "submission.zip", with_identity(ref, "u001"))                 # students.json
    fx.write_zip(subs / "stone_u002_late_2.zip", fx.apply(ref, fx.BUGS["relu_backward"]))  # the id in the name
    fx.write_zip(subs / "Dave_Jones_-_submission__1_.zip", fx.append_code(ref, fx.LAYERS, "# dave"))  # the name
    fx.write_zip(subs / "mystery.zip", fx.append_code(ref, fx.LAYERS, "# who?"))         # nobody
    fx.write_zip(subs / "mallory.zip", fx.append_code(ref, fx.LAYERS, "# mallory"))      # the email's user
    (tmp_path / "students.csv").write_text(ROSTER)
    (tmp_path / "times.csv").write_text("submission,submitted_at\n"
                                        "submission.zip,2026-10-21T23:00\n"
                                        "stone_u002_late_2.zip,2026-10-23T12:00\n"
                                        "Dave_Jones_-_submission__1_.zip,2026-10-22T00:30\n")
    grade(subs, grades, limits=Limits(cell_timeout=10), log=lambda *a: None)
    return tmp_path, subs, grades


def rows_by_id(grades):
    with open(grades / "roster.csv", newline="") as f:
        return {r["id"] or r["submission"]: r for r in csv.DictReader(f)}


@needs_bwrap
def test_zips_are_matched_by_a_rule_the_instructor_can_read_and_the_rest_is_listed(week):
    tmp, subs, grades = week
    lines = []
    write_roster(grades, tmp / "students.csv", subs, log=lines.append)
    rows = rows_by_id(grades)
    assert {k: (r["submission"], r["matched_by"]) for k, r in rows.items()} == {
        "u001": ("submission", "students.json"),
        "u002": ("stone_u002_late_2", "file name (id)"),
        "u003": ("Dave_Jones_-_submission__1_", "file name (name)"),
        "u004": ("", "no submission"),
        "u005": ("mallory", "file name (email)"),
        "mystery": ("mystery", "unknown"),
    }
    assert rows["u005"]["name"] == "'=HYPERLINK(\"x\")"   # never a formula in a spreadsheet
    assert "4 of 5 students matched; 1 zip(s) match nobody: mystery; no submission from: u004 Eve Adams" in lines[0]
    # The instructor matches the unknown zip by hand; every later run keeps it.
    text = (grades / "roster.csv").read_text()
    text = text.replace("u004,Eve Adams,eadams@uni.edu,,no submission", "u004,Eve Adams,eadams@uni.edu,mystery,instructor")
    (grades / "roster.csv").write_text(text)
    write_roster(grades, tmp / "students.csv", subs, log=lines.append)
    rows = rows_by_id(grades)
    assert (rows["u004"]["submission"], rows["u004"]["matched_by"]) == ("mystery", "instructor")
    assert "mystery" not in {r["submission"] for r in rows.values() if r["matched_by"] == "unknown"}
    assert "5 of 5 students matched" in lines[-1]


@pytest.mark.parametrize("policy, days, penalty", [
    (dict(late_penalty="10%/day"), (0, 2, 1), (0.0, 0.2, 0.1)),
    (dict(late_penalty="40%/day"), (0, 2, 1), (0.0, 0.8, 0.4)),
    (dict(late_days=1), (0, 2, 1), (0.0, 1.0, 0.0)),
    (dict(), (0, 2, 1), (0.0, 0.0, 0.0)),
])
def test_each_late_policy_takes_its_share_per_started_day(policy, days, penalty):
    p = Policy.parse("2026-10-21T23:59", **policy)
    times = [datetime(2026, 10, 21, 23, 0), datetime(2026, 10, 23, 12, 0), datetime(2026, 10, 22, 0, 30)]
    assert tuple(p.days_late(t) for t in times) == days
    assert tuple(p.penalty(d) for d in days) == penalty
    assert p.days_late(None) == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(due=None, late_penalty="10%/day"), "need --due"),
    (dict(due="next friday"), "is not a date and time"),
    (dict(due="2026-10-21T23:59", late_penalty="ten percent"), "e.g. 10%/day"),
    (dict(due="2026-10-21T23:59", late_penalty="10%/day", late_days=2), "not both"),
])
def test_a_policy_that_cannot_be_read_says_how_to_write_it(kwargs, message):
    with pytest.raises(RosterError, match=message):
        Policy.parse(**kwargs)


def test_a_roster_without_its_columns_or_with_a_repeated_id_is_refused(tmp_path):
    bad = tmp_path / "students.csv"
    bad.write_text("name,email\nA,a@x\n")
    with pytest.raises(RosterError, match="needs the columns id, name, email; it has no id"):
        roster.read_roster(bad)
    bad.write_text("id,name,email\nu1,A,a@x\nu1,B,b@x\n")
    with pytest.raises(RosterError, match="students.csv, row 3: the id u1 again"):
        roster.read_roster(bad)


@needs_bwrap
def test_the_canvas_export_reads_back_with_the_late_penalty_applied(week):
    tmp, subs, grades = week
    write_roster(grades, tmp / "students.csv", subs, Policy.parse("2026-10-21T23:59", late_penalty="10%/day"),
                 tmp / "times.csv", log=lambda *a: None)
    path = export.export(grades, "canvas", log=lambda *a: None)
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Two-layer neural network"]
    assert table[1][0] == "Points Possible" and float(table[1][5]) > 0
    full = float(table[1][5])
    rows = {r[1]: r for r in table[2:]}
    results = {name: json.loads((grades / name / "results.json").read_text()) for name in ("stone_u002_late_2",)}
    assert float(rows["u001"][5]) == full                                    # on time
    assert float(rows["u003"][5]) == round(full * 0.9, 2)                    # 31 minutes late: one day
    assert float(rows["u002"][5]) == round(results["stone_u002_late_2"]["score"] * 0.8, 2)   # two days
    assert rows["u004"][5] == ""                                             # nothing handed in: no grade
    assert rows["u005"][0] == "'=HYPERLINK(\"x\")" and float(rows["u005"][5]) == full
    assert "mystery" not in json.dumps(table)
    for row in table:
        assert all(cell[:1] not in ("=", "+", "-", "@") for cell in row), row
    # The plain CSV says the same, with the parts of the sum.
    with open(export.export(grades, "csv", log=lambda *a: None), newline="") as f:
        plain = {r["id"]: r for r in csv.DictReader(f)}
    assert (plain["u002"]["days_late"], plain["u002"]["penalty"]) == ("2", "0.2")
    assert plain["u004"]["status"] == "no submission"


@needs_bwrap
def test_the_command_line_matches_and_exports(week):
    tmp, subs, grades = week
    run = [sys.executable, "-m", "kit"]
    proc = subprocess.run(run + ["roster", str(grades), str(tmp / "students.csv"), "--submissions", str(subs),
                                 "--due", "2026-10-21T23:59", "--late-days", "1", "--times", str(tmp / "times.csv")],
                          capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 0 and "no submission from: u004 Eve Adams" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run(run + ["export", str(grades)], capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 0 and "4 grades of 5 roster students" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run(run + ["export", str(tmp)], capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 2 and "roster.csv is missing" in proc.stdout


def test_collect_id_writes_the_id_the_grader_reads(tmp_path, released_kit):
    write_zip(released_kit, tmp_path / "a.zip", student_id="u042")
    assert read_identity(tmp_path / "a.zip") == "u042"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("students.json", "[1, 2]")
    assert read_identity(tmp_path / "b.zip") is None
