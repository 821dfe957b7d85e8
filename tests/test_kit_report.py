"""The class report (kit/instructor/grade/classreport.py): report.html and checks.csv of a grading folder.

Most tests build a grading folder by hand (grades.csv and <student>/results.json
as the grader writes them), with plants: students who share a mistake with
different numbers, HTML and script in outputs and reasons, error and not
graded rows, malformed files. The page is then read as HTML tables, and
opened in a headless Chromium with the network blocked. One test runs the
real grader on a few zips and reports on what it wrote.
"""
import csv
import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import kit_fixtures as fx
from kit.instructor.grade import classreport, report
from kit.instructor.grade.compare import CheckResult
from kit.instructor.grade.classreport import failure_key, failure_line, write_class_report
from test_offline_pages import page_problems

BWRAP = "bwrap: no network, own pid/ipc/uts/cgroup namespaces, uid 65534 in a user namespace; pids cgroups"
RLIMITS = "rlimits only (asked for by name): no file-system isolation; network unshared; the grader's own uid"
# (name, points, what it exercises), in check order
CHECKS = [("toy scores", 2, "TwoLayerNet.loss (forward pass) in cs231n/classifiers/neural_net.py"),
          ("toy loss", 2, "TwoLayerNet.loss (the loss) in cs231n/classifiers/neural_net.py"),
          ("relu layer", 2, "relu_forward and relu_backward in cs231n/layers.py"),
          ("svm loss", 1, "svm_loss in cs231n/layers.py")]
MAX = sum(points for _, points, _ in CHECKS)
SCRIPT = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\"></td></table>"


def wrong_loss(got, diff):
    return f"WRONG loss: expected 1.30378789, got {got} (1 of 1 entries differ, first at index (), largest difference {diff})"


TRACEBACK = ("your code raised an error:   File \"<check: {name}>\", line 3, in <module>\n"
             "  File \"cs231n/layers.py\", line {line}, in relu_forward\n    out = np.maximum(x, zero)\n"
             "NameError: name 'zero' is not defined\n")

# student -> {check: failure output} (the other checks pass)
FAILURES = {
    "ben": {"toy loss": wrong_loss(0.65189394, 0.652), "relu layer": TRACEBACK.format(name="relu layer", line=40)},
    "cal": {"toy loss": wrong_loss(0.6518939, 0.6519)},
    "dee": {"toy loss": wrong_loss(2.607575, 1.3)},
    "eli": {"toy loss": TRACEBACK.format(name="toy loss", line=41), "svm loss": "WRONG v_loss: " + SCRIPT},
    "hax": {"svm loss": f"stopped: {SCRIPT}"},
}


def test_output(name, points, exercises, failure=None):
    """The results.json entry of a check, as the grader writes it."""
    return report.test_entry(CheckResult(name, 0.0 if failure else float(points), float(points), "visible",
                                         [failure] if failure else ["ok    value: matches"], exercises))


test_output.__test__ = False  # a helper, not a test


def write_results(folder, student, tests, status="graded", isolation=BWRAP, message="", reason=""):
    score = sum(t["score"] for t in tests) if status != "error" else 0
    results = {"score": score, "execution_time": 0.3,
               "output": "\n".join(["Graded in a sandbox (bubblewrap)."] + ([message] if message else [])),
               "tests": tests, "extra_data": {"status": status, "max_score": MAX, "isolation": isolation,
                                              "reason": reason, "timing": {}}}
    (folder / student).mkdir(parents=True, exist_ok=True)
    (folder / student / "results.json").write_text(json.dumps(results))
    return {"student": student, "score": score, "max_score": MAX, "status": status, "isolation": isolation,
            "reason": reason}


def write_grades(folder, rows):
    with open(folder / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", "score", "max_score", "status", "isolation", "reason"])
        writer.writeheader()
        writer.writerows(rows)


def graded(folder, student, isolation=BWRAP):
    failures = FAILURES.get(student, {})
    return write_results(folder, student, [test_output(n, p, x, failures.get(n)) for n, p, x in CHECKS],
                         isolation=isolation)


@pytest.fixture
def class_folder(tmp_path):
    """A grading folder with every plant; returns it."""
    folder = tmp_path / "grades"
    folder.mkdir()
    rows = [graded(folder, s) for s in ("ann", "ben", "cal", "dee", "eli")]
    rows.append(graded(folder, "hax", isolation=RLIMITS))
    rows.append(write_results(folder, "emp", [test_output(n, p, x, "not run: the submission holds none of your "
                                                          "files") for n, p, x in CHECKS], status="empty",
                              message="The zip holds none of the files you may change."))
    rows.append(write_results(folder, "err", [test_output(n, p, x, "not graded") for n, p, x in CHECKS],
                              status="error", reason=f"the sandbox did not start: {SCRIPT} (3 attempts)."))
    rows.append({"student": "stp", "score": "", "max_score": MAX, "status": "not graded", "isolation": BWRAP,
                 "reason": "the run was stopped"})
    rows.append({"student": "bad", "score": 5, "max_score": MAX, "status": "graded", "isolation": BWRAP,
                 "reason": ""})
    (folder / "bad").mkdir()
    (folder / "bad" / "results.json").write_text('{"score": 5, "tests": [')   # cut short
    write_grades(folder, rows)
    return folder


class Tables(HTMLParser):
    """The text of every cell of the tables of a page: {table id: [[cell text]]} (body rows only)."""

    def __init__(self, page):
        super().__init__()
        self.tables, self.current, self.in_body, self.cell = {}, None, False, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.current = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.current.append([])
        elif tag == "td" and self.in_body:
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.current[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tbody":
            self.in_body = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def read_report(folder):
    page = (folder / "report.html").read_text(encoding="utf-8")
    with open(folder / "checks.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return page, Tables(page).tables, rows


# Sorted by how many failed: toy loss (ben, cal, dee, eli), svm loss (eli, hax), relu layer (ben), toy scores.
EXPECTED_ORDER = ["toy loss", "svm loss", "relu layer", "toy scores"]


def test_checks_are_sorted_by_failures_with_mean_pass_rate_and_what_they_exercise(class_folder):
    write_class_report(class_folder)
    _, tables, _ = read_report(class_folder)
    rows = {r[0]: r for r in tables["checks"]}
    assert [r[0] for r in tables["checks"]] == EXPECTED_ORDER
    # over the 6 graded submissions with results: ann ben cal dee eli hax (not emp, err, stp, bad)
    name, exercises, points, mean, passed, failed, _ = rows["toy loss"]
    assert (exercises, points, mean, passed, failed) == (CHECKS[1][2], "2", "0.67", "2 / 6 (33%)", "4")
    assert rows["svm loss"][3:6] == ["0.67", "4 / 6 (67%)", "2"]
    assert rows["toy scores"][3:7] == ["2", "6 / 6 (100%)", "0", ""]


def test_the_most_common_failure_groups_the_same_mistake_made_with_other_numbers(class_folder):
    write_class_report(class_folder)
    _, tables, _ = read_report(class_folder)
    cell = {r[0]: r[6] for r in tables["checks"]}["toy loss"].splitlines()
    assert cell == ["WRONG loss: expected #, got # (# of # entries differ, first at index (), largest difference #)",
                    "3 of 4 failed submissions (1 other message)",
                    "e.g. ben: " + wrong_loss(0.65189394, 0.652)]
    relu = {r[0]: r[6] for r in tables["checks"]}["relu layer"].splitlines()
    assert relu[0] == "your code raised an error: NameError: name 'zero' is not defined"
    assert relu[1] == "1 of 1 failed submission"


def test_status_counts_isolation_and_students_not_graded_apart(class_folder):
    write_class_report(class_folder)
    page, tables, _ = read_report(class_folder)
    assert tables["status-counts"] == [["graded", "7"], ["empty", "1"], ["rejected", "0"], ["error", "1"],
                                       ["not graded", "1"]]
    assert [r[:2] for r in tables["not-graded"]] == [["err", "error"], ["stp", "not graded"]]
    assert tables["not-graded"][1][2] == "the run was stopped"
    assert tables["empty-rejected"] == [["emp", "empty", "The zip holds none of the files you may change."]]
    # error and not graded are no zeros: 8 scores in the histogram (7 graded, bad's from grades.csv, 1 empty)
    assert 'alt="Histogram of the scores of 8 submissions"' in page
    # ann 7, ben 3, cal 5, dee 5, eli 4, hax 6, emp 0, bad 5 (from grades.csv)
    assert "mean 4.38, median 5, lowest 0, highest 7." in page
    assert f"<code>{BWRAP}</code> (9 submissions)" in page   # hax's is rlimits
    assert "(asked for by name): no file-system isolation; network unshared; the grader&#x27;s own uid</code> " \
           "(1 submission)" in page
    assert "graded without the bubblewrap sandbox" in page


def test_a_folder_graded_in_the_sandbox_alone_has_no_isolation_warning(tmp_path):
    write_grades(tmp_path, [graded(tmp_path, "ann")])
    write_class_report(tmp_path)
    page, tables, _ = read_report(tmp_path)
    assert "without the bubblewrap sandbox" not in page and "problems reading" not in page
    assert "not-graded" not in tables and tables["checks"][0][5] == "0"


def test_text_from_student_code_is_escaped(class_folder):
    write_class_report(class_folder)
    page, tables, _ = read_report(class_folder)
    assert "<script" not in page.lower() and page.count("<img") == 1   # only the histogram
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;&lt;img src=x onerror=&quot;" in page
    assert [r[0] for r in tables["checks"]] == EXPECTED_ORDER   # the planted </td></table> closed nothing
    assert tables["not-graded"][0][2].startswith("the sandbox did not start: <script>window.pwned = 1")


def test_checks_csv_has_every_student_and_the_points_of_each_check(class_folder):
    write_class_report(class_folder)
    _, _, rows = read_report(class_folder)
    assert rows[0] == ["student", "status", "total"] + [name for name, _, _ in CHECKS]
    table = {r[0]: r[1:] for r in rows[1:]}
    assert [r[0] for r in rows[1:]] == ["ann", "ben", "cal", "dee", "eli", "hax", "emp", "err", "stp", "bad"]
    assert table["ann"] == ["graded", "7", "2", "2", "2", "1"]
    assert table["ben"] == ["graded", "3", "2", "0", "0", "1"]
    assert table["emp"] == ["empty", "0", "0", "0", "0", "0"]
    assert table["err"] == ["error", "", "", "", "", ""]          # not a zero
    assert table["stp"] == ["not graded", "", "", "", "", ""]
    assert table["bad"] == ["graded", "5", "", "", "", ""]        # its results.json is unreadable


def test_malformed_files_are_reported_not_fatal(class_folder):
    rows = list(csv.DictReader(open(class_folder / "grades.csv")))
    plants = {"lst": "[1, 2, 3]", "nottests": '{"tests": {"toy loss": 2}}',
              "badtests": json.dumps({"tests": ["x", {"name": "toy loss", "score": "abc", "max_score": 2},
                                                {"name": "toy loss", "score": True, "max_score": 2},
                                                {"name": "toy loss", "score": float("nan"), "max_score": 2},
                                                test_output("toy scores", 2, "x")]}),
              "deep": "[" * 100_000 + "]" * 100_000}
    for name, text in plants.items():
        (class_folder / name).mkdir()
        (class_folder / name / "results.json").write_text(text)
        rows.append({"student": name, "score": "2", "max_score": MAX, "status": "graded", "isolation": BWRAP})
    rows += [{"student": "gone", "score": "1", "max_score": MAX, "status": "graded"},
             {"student": "../ann", "score": "1", "max_score": MAX, "status": "graded"},
             {"student": "odd", "score": "1", "max_score": MAX, "status": "retrying"},
             {"student": "nan", "score": "nan", "max_score": MAX, "status": "graded"},
             {"student": "ann", "score": "0", "max_score": MAX, "status": "graded"},
             {"student": "<img src=x>", "score": "", "max_score": MAX, "status": "error"}]
    write_grades(class_folder, rows)
    data = write_class_report(class_folder)
    assert data.problems == [
        "grades.csv, line 20: ann again; only the first row is used.",
        "bad: results.json could not be read (JSONDecodeError).",
        "bad: status graded in grades.csv but no readable results.json; its checks are left out.",
        "lst: results.json is not a JSON object.",
        "lst: status graded in grades.csv but no readable results.json; its checks are left out.",
        "nottests: results.json's `tests` is not a list; its checks are left out.",
        *[f"badtests: check {i} of results.json is malformed (it needs a name, a score and a max_score); it is "
          f"left out." for i in (1, 2, 3, 4)],
        "deep: results.json could not be read (RecursionError).",
        "deep: status graded in grades.csv but no readable results.json; its checks are left out.",
        "gone: status graded in grades.csv but no readable results.json; its checks are left out.",
        "../ann: not a name the grader gives a student folder; its results were not read.",
        "odd: unknown status 'retrying'; listed with the submissions not graded.",
        "nan: status graded in grades.csv but no readable results.json; its checks are left out.",
        "nan: status graded without a score; left out of the histogram.",
        "<img src=x>: not a name the grader gives a student folder; its results were not read."]
    page, tables, rows = read_report(class_folder)
    assert f"{len(data.problems)} problems reading the folder" in page
    assert page.count("<img") == 1 and "&lt;img src=x&gt;" in page
    assert [r[:2] for r in tables["not-graded"]][-2:] == [["odd", "retrying"], ["<img src=x>", "error"]]
    assert ["retrying", "1"] in tables["status-counts"]
    assert {r[0]: r for r in rows}["badtests"] == ["badtests", "graded", "2", "2", "", "", ""]
    assert {r[0]: r for r in rows}["odd"][2:] == [""] * 5


@pytest.mark.parametrize("grades", [None, "name,points\nann,3\n", "student,score\n" + "x" * 200_000 + ",1\n"],
                         ids=["missing", "no-student-column", "huge-field"])
def test_without_a_usable_grades_csv_the_folders_are_read(tmp_path, grades):
    for s in ("ben", "ann"):
        graded(tmp_path, s)
    write_results(tmp_path, "err", [], status="error", reason="the sandbox did not start")
    if grades is not None:
        (tmp_path / "grades.csv").write_text(grades)
    data = write_class_report(tmp_path)
    assert data.problems[0].startswith("grades.csv")
    assert "the students are taken from the folders that hold a results.json" in data.problems[0]
    page, tables, rows = read_report(tmp_path)
    assert [r[:3] for r in rows[1:]] == [["ann", "graded", "7"], ["ben", "graded", "3"], ["err", "error", ""]]
    assert f"<code>{BWRAP}</code> (3 submissions)" in page   # from results.json's extra_data
    assert tables["not-graded"] == [["err", "error", "the sandbox did not start"]]


def test_an_empty_folder_gives_an_empty_report(tmp_path):
    data = write_class_report(tmp_path)
    page, tables, rows = read_report(tmp_path)
    assert data.students == [] and rows == [["student", "status", "total"]]
    assert tables["checks"] == [] and 'alt="Histogram of the scores of 0 submissions"' in page


def test_gradebook_cells_are_never_formulas(tmp_path):
    rows = [dict(graded(tmp_path, "ann"), student=name) for name in ("-2+3", "@SUM(A1)", "=1+1", "+a", "ok-")]
    write_grades(tmp_path, rows)
    write_class_report(tmp_path)
    _, _, table = read_report(tmp_path)
    assert [r[0] for r in table[1:]] == ["'-2+3", "'@SUM(A1)", "'=1+1", "'+a", "ok-"]


def test_the_files_are_written_atomically_and_the_same_each_time(class_folder):
    write_class_report(class_folder)
    first = [(class_folder / n).read_bytes() for n in ("report.html", "checks.csv")]
    write_class_report(class_folder)
    assert [(class_folder / n).read_bytes() for n in ("report.html", "checks.csv")] == first
    assert sorted(p.name for p in class_folder.iterdir() if p.is_file()) == ["checks.csv", "grades.csv",
                                                                             "report.html"]


def test_not_a_folder_raises(tmp_path):
    with pytest.raises(NotADirectoryError):
        write_class_report(tmp_path / "nowhere")


# ---------------------------------------------------------------------------- failure messages

@pytest.mark.parametrize("output, line", [
    ("Exercises x.\nok    W2: matches\nWRONG W1: expected [-0.0968499 ,  0.00400157,\n -0.00977278, ...], got "
     "[-0.08, ...] (36 of 40 entries differ)\nWRONG b1: expected [1]",
     "WRONG W1: expected [-0.0968499 , 0.00400157, -0.00977278, ...], got [-0.08, ...] (36 of 40 entries differ)"),
    ("Exercises x.\n" + TRACEBACK.format(name="c", line=3),
     "your code raised an error: NameError: name 'zero' is not defined"),
    ("Exercises x.\nyour code raised an error: ValueError: no", "your code raised an error: ValueError: no"),
    ("stopped: the cell used more than 3 s of CPU", "stopped: the cell used more than 3 s of CPU"),
    ("stopped: the cell was killed\n  (memory)", "stopped: the cell was killed (memory)"),
    ("Exercises x.\nExercises y.\n", "(no output)"),
    ("", "(no output)"),
])
def test_failure_line_is_the_line_that_says_what_went_wrong(output, line):
    assert failure_line(output) == line


IPYTHON_TRACEBACK = ("-" * 75 + "\nValueError                                Traceback (most recent call last)\n"
                     "Cell In[3], line 2\n      1 x = 1\n----> 2 raise ValueError('boom 3')\n\nValueError: boom 3\n")


@pytest.mark.parametrize("record, hidden, line", [
    ({"text": "Notebook cell execution failed\nTraceback:\n" + IPYTHON_TRACEBACK}, False,
     "FAILED: the cell raised an error: ValueError: boom 3"),
    ({"text": "Cell outputs differ\n", "got": "Traceback\nloss: 0.65\n", "expected": "loss: 1.30\nOK"}, False,
     "FAILED: its output differs from the reference."),
    ({"text": "Cell outputs differ\n"}, True, "FAILED: its output differs from the expected output"),
    ({"text": "Notebook cell execution failed\nTraceback:\n" + IPYTHON_TRACEBACK}, True,
     "FAILED: it failed: ValueError: boom 3"),
])
def test_failure_line_of_a_notebook_check(record, hidden, line):
    """The outputs of the notebook checks (kit.instructor.grade.nbgrade), made by its own formatter."""
    from kit.instructor.grade import nbgrade

    output = f"Exercises the notebook notebooks/two_layer_net.ipynb.\nFAILED: {nbgrade._failure_text(record, hidden)}"
    assert failure_line(output) == line


def test_failure_key_masks_numbers_and_arrays_but_not_names():
    a = failure_key("WRONG W1: expected [-0.09, 1e-3, [2]], got [nan, inf] (36 of 40 entries differ, "
                    "largest difference 1.1e+02) at 0x7f3a2b in fc_net, cs231n/layers.py line 62")
    assert a == ("WRONG W1: expected […], got […] (# of # entries differ, largest difference #) at 0x… in "
                 "fc_net, cs231n/layers.py line #")
    assert failure_key("WRONG b1: got -inf, nan or 3.") == "WRONG b1: got #, # or #."
    assert failure_key("x" * 500) == "x" * 300


# ---------------------------------------------------------------------------- in a browser

def report_problems(page, browser, rows):
    """What keeps report.html from showing offline: a list of strings (empty when it works)."""
    problems = page_problems(page, browser)
    image = page.evaluate("""() => { const i = document.querySelector('img#histogram');
        return i ? {complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}
                 : null; }""")
    if not image or not (image["complete"] and image["w"] > 0 and image["h"] > 0 and image["shown"] > 0):
        problems.append(f"the histogram is not shown: {image}")
    shown = page.eval_on_selector_all("table#checks tbody tr", "trs => trs.map(tr => tr.cells[0].innerText)")
    if shown != rows:
        problems.append(f"the checks table shows {shown}, expected {rows}")
    active = page.evaluate("""() => [...document.querySelectorAll('script, iframe, object, embed, [onerror], '
        + '[onload], [onclick]')].map(e => e.outerHTML.slice(0, 80))""")
    problems += [f"active content: {a}" for a in active]
    if page.evaluate("() => window.pwned") is not None:
        problems.append("planted script ran")
    return problems


@pytest.mark.timeout(300)
def test_report_opens_offline_with_the_histogram_and_the_checks_table(class_folder, offline_browser):
    write_class_report(class_folder)
    page = offline_browser.open(class_folder / "report.html")
    assert report_problems(page, offline_browser, EXPECTED_ORDER) == []
    text = page.inner_text("body")
    assert "WRONG v_loss: <script>window.pwned = 1</script><img src=x onerror=" in text   # shown, as text
    assert page.eval_on_selector_all("table#status-counts tbody tr", "trs => trs.map(tr => tr.innerText)") == [
        "graded\t7", "empty\t1", "rejected\t0", "error\t1", "not graded\t1"]
    widths = page.eval_on_selector_all("table#checks .bar span", "s => s.map(e => e.getBoundingClientRect().width)")
    assert widths[0] < widths[1] < widths[-1] and widths[-1] > 80   # 33%, 67%, ..., 100% of the bar


@pytest.mark.timeout(300)
def test_the_browser_check_catches_a_broken_report(class_folder, offline_browser):
    write_class_report(class_folder)
    good = (class_folder / "report.html").read_text()
    no_csp = good.replace(f'<meta http-equiv="Content-Security-Policy" content="{classreport.CSP}">', "")
    assert no_csp != good
    plants = {
        "the histogram is not shown": good.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA"),
        "the checks table shows": good.replace("<tr><td>svm loss</td>", "<tr><td>svm</td>"),
        "active content": good.replace("</body>", "<script>window.pwned = 1</script></body>"),
        "planted script ran": no_csp.replace("</body>", "<script>window.pwned = 1</script></body>"),
        "asked the network for http://example.invalid/": no_csp.replace(
            "</head>", '<link rel="stylesheet" href="http://example.invalid/x.css"></head>'),
    }
    for expected, text in plants.items():
        assert text != good, expected
        path = class_folder / "planted.html"
        path.write_text(text)
        offline_browser.blocked.clear()
        problems = report_problems(offline_browser.open(path), offline_browser, EXPECTED_ORDER)
        assert any(p.startswith(expected) for p in problems), (expected, problems)


# ---------------------------------------------------------------------------- the command and the grader

def test_command_line_rewrites_the_report(class_folder, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kit", "report", str(class_folder)], cwd=fx.SOURCE,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "report.html" in proc.stdout and "2 problem(s)" in proc.stderr   # bad's results.json
    assert (class_folder / "report.html").is_file() and (class_folder / "checks.csv").is_file()
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "nowhere", tmp_path / "empty"):
        proc = subprocess.run([sys.executable, "-m", "kit", "report", str(folder)], cwd=fx.SOURCE,
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "not a grading folder" in proc.stderr
        assert not (folder / "report.html").exists()


@pytest.mark.timeout(600)
def test_report_of_a_real_grading_run(tmp_path):
    from kit.instructor.grade.run import grade
    from kit.instructor.sandbox.isolation import Limits, locate_bwrap

    if locate_bwrap() is None:
        pytest.skip("grading needs bubblewrap (apt-get install bubblewrap)")
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    ref = fx.reference_files()
    fx.write_zip(subs / "ref.zip", ref)
    fx.write_zip(subs / "half.zip", fx.apply(ref, fx.BUGS["half_l2"]))
    fx.write_zip(subs / "half_too.zip", fx.apply(fx.apply(ref, fx.BUGS["half_l2"]), fx.BUGS["unstable_softmax"]))
    run = grade(subs, out, limits=Limits(cell_timeout=3, timeout=150, memory_mb=1024), log=lambda *a: None)
    assert run.count("graded") == 3
    assert (out / "report.html").is_file() and (out / "checks.csv").is_file()  # the run wrote them
    data = write_class_report(out)
    assert data.problems == []
    page, tables, rows = read_report(out)
    checks = {r[0]: r for r in tables["checks"]}
    failed = set(fx.BUG_CHECKS["half_l2"]) | set(fx.BUG_CHECKS["unstable_softmax"])
    assert {name for name, r in checks.items() if r[5] != "0"} == failed
    assert [r[0] for r in tables["checks"]][:2] == ["toy loss", "scores, loss and gradients with other seeds and sizes"]
    loss = checks["toy loss"]
    assert loss[4:6] == ["1 / 3 (33%)", "2"] and loss[1].endswith("cs231n/classifiers/neural_net.py")
    message, count, example = loss[6].splitlines()
    assert message == ("WRONG loss: expected […], got […] (# of # entries differ, first at index (), largest "
                       "difference #)")
    assert count == "2 of 2 failed submissions" and example.startswith("e.g. half: WRONG loss: expected [1.3037")
    assert tables["status-counts"][0] == ["graded", "3"]
    assert "<code>bwrap: no network" in page
    header, body = rows[0], {r[0]: r for r in rows[1:]}
    assert header[:3] == ["student", "status", "total"] and len(header) == 3 + len(checks)
    grades = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    for student, row in body.items():
        assert float(row[2]) == float(grades[student]["score"])
        assert sum(float(x) for x in row[3:]) == pytest.approx(float(row[2]), abs=0.02)
    assert float(body["ref"][2]) == float(grades["ref"]["max_score"]) > float(body["half"][2])
