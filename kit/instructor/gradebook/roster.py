"""Who handed in what, and when: the roster matched to the submissions, and the late policy.

`python -m kit roster GRADES_DIR students.csv --submissions SUBS [--due ... --late-penalty ... --times ...]`
(or `kit grade SUBS --out GRADES_DIR --roster students.csv ...`) writes GRADES_DIR/roster.csv:

    id, name, email, submission, matched_by, submitted_at, days_late, penalty

one row per roster student (`submission` empty when they handed in nothing),
then one row per zip that matches nobody (`id` empty, matched_by `unknown`).

The rule, in order, that the instructor can read in `matched_by`:
1. `students.json`: the id the student wrote into the zip (`python -m kit collect --id ID`);
2. `file name (id)`: the roster id is one of the zip name's words (`jones_12345_submission.zip`);
3. `file name (name)` / `file name (email)`: the zip name, letters only, holds the roster
   name or the email's user part (`Dave_Jones_-_submission__1_.zip`);
4. `instructor`: a row of roster.csv the instructor edited (set `submission` to the
   zip's folder and `matched_by` to `instructor`) is kept as it is by every later run.
A zip that two roster rows could both claim is matched to neither, and listed.

The roster (`students.csv`) is what learning management systems export: the
columns `id, name, email` (any order, any case; more columns are ignored).
Times (`--times FILE`): a CSV with the columns `submission` (the zip's name or
its folder) and `submitted_at` (ISO 8601, e.g. `2026-10-22T08:15`), the upload
times the instructor has from the LMS. A submission with no time is not late.

The late policy, from `--due` (ISO 8601): `--late-penalty 10%/day` takes 10 % of the
score for each day or part of a day after the due time (at most 100 %);
`--late-days N` accepts up to N days late without penalty and gives 0 after.
"""
import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kit.instructor.grade import report
from kit.instructor.grade.archive import read_identity
from kit.instructor.grade.roster_file import FIELDS, ROSTER, RosterError, read_csv, read_rows

OVERRIDE = "instructor"


@dataclass(frozen=True)
class Policy:
    """A late policy: `per_day` of the score lost per started day late, or `free_days` then 0."""
    due: datetime = None
    per_day: float = None
    free_days: int = None

    @classmethod
    def parse(cls, due=None, late_penalty=None, late_days=None):
        if (late_penalty or late_days is not None) and not due:
            raise RosterError("--late-penalty and --late-days need --due (the due time, e.g. 2026-10-21T23:59)")
        if late_penalty and late_days is not None:
            raise RosterError("give --late-penalty or --late-days, not both")
        when = None
        if due:
            try:
                when = datetime.fromisoformat(due)
            except ValueError:
                raise RosterError(f"--due {due!r} is not a date and time such as 2026-10-21T23:59") from None
        per_day = None
        if late_penalty:
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*/\s*day\s*", late_penalty)
            if not match or float(match.group(1)) > 100:
                raise RosterError(f"--late-penalty {late_penalty!r}: write it as a percentage per day, e.g. 10%/day")
            per_day = float(match.group(1)) / 100
        if late_days is not None and late_days < 0:
            raise RosterError(f"--late-days {late_days}: give a number of days, 0 or more")
        return cls(when, per_day, late_days)

    def days_late(self, submitted):
        """Days or parts of days after the due time (0 when on time, unknown or no due time)."""
        if not (self.due and submitted):
            return 0
        seconds = (_comparable(submitted, self.due) - self.due).total_seconds()
        return max(0, math.ceil(seconds / 86400))

    def penalty(self, days):
        """The share of the score lost for `days` late."""
        if days <= 0:
            return 0.0
        if self.per_day is not None:
            return min(1.0, round(days * self.per_day, 6))
        if self.free_days is not None:
            return 0.0 if days <= self.free_days else 1.0
        return 0.0


def _comparable(when, due):
    """`when` with the time-zone convention of `due`: a time without zone is in the due time's zone, and an
    aware time is compared with a due time without zone in this machine's local time."""
    if when.tzinfo is None and due.tzinfo is not None:
        return when.replace(tzinfo=due.tzinfo)
    if when.tzinfo is not None and due.tzinfo is None:
        return when.astimezone().replace(tzinfo=None)
    return when


def read_roster(path):
    """[{id, name, email}] of a roster CSV; RosterError for a missing column, a row without id, a repeated id."""
    rows, seen, errors = [], set(), []
    for n, row in read_csv(path, ["id", "name", "email"], "roster"):
        if not row["id"]:
            errors.append(f"{Path(path).name}, row {n}: no id")
        elif row["id"] in seen:
            errors.append(f"{Path(path).name}, row {n}: the id {row['id']} again")
        else:
            seen.add(row["id"])
            rows.append(row)
    if errors:
        raise RosterError("the roster cannot be used:\n" + "\n".join(errors[:20]))
    return rows


def read_times(path):
    """{zip name or folder: datetime} from a times CSV (see the module docstring)."""
    times, errors = {}, []
    for n, row in read_csv(path, ["submission", "submitted_at"], "times file"):
        try:
            times[row["submission"]] = datetime.fromisoformat(row["submitted_at"].replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{Path(path).name}, row {n}: {row['submitted_at']!r} is not a time such as "
                          f"2026-10-22T08:15")
    if errors:
        raise RosterError("the times file cannot be used:\n" + "\n".join(errors[:20]))
    return times


def _letters(text):
    return re.sub(r"[^a-z]", "", text.lower())


def _claims(student, zip_stem):
    """How the zip's name names this roster student ("id", "name", "email"), or None."""
    words = set(re.split(r"[^A-Za-z0-9]+", zip_stem.lower()))
    if student["id"].lower() in words:
        return "id"
    letters = _letters(zip_stem)
    name = _letters(student["name"])
    if len(name) >= 4 and (name in letters or _letters(" ".join(reversed(student["name"].split()))) in letters):
        return "name"
    user = _letters(student["email"].split("@")[0])
    if len(user) >= 4 and user in letters:
        return "email"
    return None


def match(roster, zips, previous=None):
    """
    {roster id: (folder, matched_by)} and the folders that match nobody.

    Inputs:
    - roster: [{id, name, email}]; zips: [(folder, zip path)] (kit.instructor.grade.run.zip_folders);
    - previous: rows of an earlier roster.csv; its `instructor` rows are kept.
    """
    matched, claimed = {}, set()
    for row in previous or []:
        if row.get("matched_by") == OVERRIDE and row.get("id") and row.get("submission"):
            matched[row["id"]] = (row["submission"], OVERRIDE)
            claimed.add(row["submission"])
    ids = {s["id"]: s for s in roster}
    rest = []
    for folder, path in zips:
        if folder in claimed:
            continue
        who = read_identity(path)
        if who in ids and who not in matched:
            matched[who] = (folder, "students.json")
            claimed.add(folder)
        else:
            rest.append((folder, path))
    unknown = []
    for folder, path in rest:
        stem = Path(path).name[:-4] if Path(path).name.lower().endswith(".zip") else Path(path).name
        for how in ("id", "name", "email"):
            found = [s["id"] for s in roster if s["id"] not in matched and _claims(s, stem) == how]
            if found:
                break
        if len(found) == 1:
            matched[found[0]] = (folder, f"file name ({how})")
        else:
            unknown.append(folder)
    return matched, unknown


def write_roster(grades_dir, roster_path, submissions, policy=None, times_path=None, log=print):
    """
    Match the roster to the submissions and write GRADES_DIR/roster.csv (see the module docstring).

    Returns:
    - The rows written.
    """
    from kit.instructor.grade.run import zip_folders

    grades_dir = Path(grades_dir)
    policy = policy or Policy()
    roster = read_roster(roster_path)
    times = read_times(times_path) if times_path else {}
    previous = read_rows(grades_dir) if (grades_dir / ROSTER).exists() else []
    zips = zip_folders(submissions)
    matched, unknown = match(roster, zips, previous)
    zip_name = {folder: path.name for folder, path in zips}
    rows = []

    def lateness(folder):
        when = times.get(folder) or times.get(zip_name.get(folder, ""))
        days = policy.days_late(when)
        return {"submitted_at": when.isoformat() if when else "", "days_late": str(days),
                "penalty": f"{policy.penalty(days):g}"}

    for student in roster:
        folder, how = matched.get(student["id"], ("", ""))
        row = dict(student, submission=folder, matched_by=how or "no submission")
        row.update(lateness(folder) if folder else {"submitted_at": "", "days_late": "", "penalty": ""})
        rows.append(row)
    for folder in unknown:
        rows.append(dict({"id": "", "name": "", "email": "", "submission": folder, "matched_by": "unknown"},
                         **lateness(folder)))
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows({k: _safe(v) for k, v in row.items()} for row in rows)
    report.write_atomic(grades_dir / ROSTER, buf.getvalue())
    missing = [r for r in rows if r["matched_by"] == "no submission"]
    log(f"wrote {grades_dir / ROSTER}: {len(roster) - len(missing)} of {len(roster)} students matched"
        + (f"; {len(unknown)} zip(s) match nobody: {', '.join(unknown)}" if unknown else "")
        + (f"; no submission from: {', '.join(r['id'] + ' ' + r['name'] for r in missing)}" if missing else ""))
    if unknown:
        log(f"to match a zip by hand, set its row's id, name and email in {ROSTER} and matched_by to {OVERRIDE}, "
            f"or write the id into the zip (`python -m kit collect --id ID`)")
    return rows


def _safe(text):
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r", "'") else text


def main(args):
    try:
        policy = Policy.parse(args.due, args.late_penalty, args.late_days)
        write_roster(args.grades, args.roster, args.submissions, policy, args.times)
    except RosterError as err:
        print(f"roster: {err}")
        return 2
    return 0
