"""`python -m kit similarity SUBMISSIONS --public DIR --out DIR`: code that students share, ranked and shown.

documents.py: what each student wrote (the code inside the regions of their
files), and the same of each known public solution; detect.py: fingerprints by
winnowing (the copydetect package), the passages every solution shares set
aside, pairs and clusters; page.py: the offline report and pairs.csv.
It never accuses: it ranks pairs by the share of their code that matches and
shows the matched passages side by side, for a person to judge.
"""
import os
import sys
import time
from pathlib import Path


def run(submissions, out, public=None, source=None, log=print):
    """Compare the submissions (and the public solutions) and write the report into `out`; returns the pairs."""
    from kit.instructor.grade.prepare import SOURCE
    from kit.instructor.similarity import detect, documents, page
    from kit.student.files import student_files

    began = time.monotonic()
    source = Path(source or SOURCE)
    allowed = student_files(source)
    scaffold = documents.scaffold_text(source, allowed)
    students = documents.submission_documents(submissions, allowed)
    public_docs = documents.public_documents(public, allowed)
    pairs, common = detect.detect(students, public_docs, scaffold)
    groups, same = detect.clusters(pairs), detect.identical(students)
    index = page.write_report(out, pairs, students + public_docs, groups, same, common, time.monotonic() - began)
    top = ", ".join(f"{p.a} / {p.b} {p.similarity:.0%}" for p in pairs[:3])
    log(f"wrote {index} and {Path(out) / 'pairs.csv'}: {len(students)} submissions, {len(public_docs)} public "
        f"solutions, {len(pairs)} pairs share code" + (f" (most similar: {top})" if top else ""))
    return pairs


def main(args):
    if os.environ.get("PYTHONHASHSEED") != "0":
        # copydetect hashes k-grams with Python's hash() of str, salted per process: the same files give the
        # same report only with one seed, so the command runs itself again with it.
        os.execve(sys.executable, [sys.executable, "-m", "kit"] + sys.argv[1:],
                  dict(os.environ, PYTHONHASHSEED="0"))
    if not Path(args.submissions).is_dir():
        print(f"similarity: {args.submissions} is not a folder of <student>.zip files", file=sys.stderr)
        return 2
    if args.public and not Path(args.public).is_dir():
        print(f"similarity: --public {args.public} is not a folder", file=sys.stderr)
        return 2
    run(args.submissions, args.out, args.public, args.source)
    return 0
