"""The file `kit roster` writes into a grading folder, roster.csv, and how it is read back.

Its columns (kit.instructor.gradebook.roster writes it, the class report and
`kit export` read it): `id, name, email, submission, matched_by, submitted_at,
days_late, penalty`. Text that a spreadsheet could read as a formula is written
with a leading `'`, taken off when read.
"""
import csv
from pathlib import Path

ROSTER = "roster.csv"
FIELDS = ["id", "name", "email", "submission", "matched_by", "submitted_at", "days_late", "penalty"]


class RosterError(ValueError):
    """A roster, times file or policy that cannot be used; the message names the file and row."""


def read_csv(path, needed, what):
    """[(row number, {column: text})] of a CSV file with the columns `needed` (any order or case); RosterError else."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
            missing = [n for n in needed if n not in columns]
            if missing:
                raise RosterError(f"{path}: a {what} needs the columns {', '.join(needed)}; it has no "
                                  f"{', '.join(missing)}")
            return [(n, {k: (row.get(columns[k]) or "").strip() for k in needed})
                    for n, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise RosterError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RosterError(f"{path}: cannot be read as a CSV file ({type(err).__name__}: {err})") from None


def read_rows(grades_dir):
    """The rows of GRADES_DIR/roster.csv as written (and perhaps edited): [{field: text}]."""
    path = Path(grades_dir) / ROSTER
    rows = []
    for _, row in read_csv(path, FIELDS, "roster match (roster.csv)"):
        rows.append({k: _unsafe(v) for k, v in row.items()})
    return rows


def _unsafe(text):
    return text[1:] if text[:1] == "'" and len(text) > 1 and text[1] in "=+-@\t\r'" else text
