"""The class report's table of students and each student's page, opened offline in headless Chromium."""
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import kit_fixtures as fx
from kit.instructor.grade import classreport
from kit.instructor.grade.run import grade
from kit.instructor.gradebook.marks import merge, write_sheet
from kit.instructor.gradebook.roster import Policy, write_roster
from kit.instructor.sandbox.isolation import Limits, locate_bwrap
from test_gradebook_marks import fill

pytestmark = pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
LINKS = "() => [...document.querySelectorAll('a')].map(a => a.href)"


@pytest.fixture
def week(tmp_path):
    subs, grades = tmp_path / "subs", tmp_path / "grades"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "alice_u1.zip", ref)
    fx.write_zip(subs / "bob_u2.zip", fx.apply(ref, fx.BUGS["relu_backward"]))
    fx.write_zip(subs / "carol_u3.zip", ref)                     # byte-identical to alice's
    fx.write_zip(subs / "dan <b onclick=x>.zip", {})   # empty, and a name to escape
    (tmp_path / "students.csv").write_text("id,name,email\nu1,Alice A,a@x.edu\nu2,Bob B,b@x.edu\n"
                                           "u3,Carol C,c@x.edu\nu4,Erin E,e@x.edu\n")
    (tmp_path / "times.csv").write_text("submission,submitted_at\nbob_u2.zip,2026-10-23T10:00\n")
    grade(subs, grades, limits=Limits(cell_timeout=10), log=lambda *a: None)
    write_roster(grades, tmp_path / "students.csv", subs, Policy.parse("2026-10-21T23:59", late_penalty="10%/day"),
                 tmp_path / "times.csv", log=lambda *a: None)
    sheet = write_sheet(grades, fx.SOURCE, log=lambda *a: None)
    fill(sheet, {("bob_u2", "two_layer_net Q1"): ("0.5", "see the lecture on <b>ReLU</b>")})
    merge(grades, log=lambda *a: None)
    return grades


def test_the_students_table_and_every_page_it_links_work_offline(week, offline_browser):
    report = week / "report.html"
    page = offline_browser.open(report)
    page.wait_for_load_state("load")
    table = page.evaluate("() => [...document.querySelectorAll('#students tbody tr')]"
                          ".map(tr => [...tr.cells].map(td => td.innerText))")
    rows = {r[0]: r for r in table}
    assert set(rows) == {"alice_u1", "bob_u2", "carol_u3", "dan__b_onclick_x_"}
    assert rows["bob_u2"][1:3] == ["u2 Bob B", "graded"] and rows["bob_u2"][4] == "2 days (-20%)"
    assert rows["carol_u3"][5] == "alice_u1" and rows["alice_u1"][5] == ""
    assert rows["alice_u1"][1] == "u1 Alice A" and rows["alice_u1"][4] == ""
    links = page.evaluate(LINKS)
    student_pages = [u for u in links if u.endswith("/feedback.html")]
    assert len(student_pages) == 4, links
    seen = set()
    todo = list(links)
    while todo:   # every link of the report and of the pages it opens resolves to a page that loads offline
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url.startswith("file://"), url
        path = Path(unquote(urlparse(url).path))
        assert path.is_file(), url
        opened = offline_browser.open(path)
        opened.wait_for_load_state("load")
        assert opened.title(), url
        todo += [u for u in opened.evaluate(LINKS) if u not in seen]
        opened.close()
    assert offline_browser.blocked == [] and page.errors == []
    bob = offline_browser.open(week / "bob_u2" / "feedback.html")
    text = bob.evaluate("() => document.body.innerText")
    assert "relu layer" in text and "see the lecture on <b>ReLU</b>" in text and "pending" in text
    assert bob.evaluate("() => document.querySelectorAll('#manual b, script').length") == 0


def test_pages_are_written_again_by_the_report_command(week):
    (week / "alice_u1" / "feedback.html").unlink()
    classreport.write_class_report(week)
    assert (week / "alice_u1" / "feedback.html").is_file()
    assert 'href="alice_u1/feedback.html"' in (week / "report.html").read_text()
