"""The similarity report's time for a class, against a baseline and a floor. Not a test.

    PYTHONHASHSEED=0 .venv/bin/python bench/bench_similarity.py [--submissions 300]

Synthetic class: each submission holds cs231n/layers.py (one of four
independently written solutions, with lines of its own added so that no two
are alike) and cs231n/classifiers/neural_net.py (the reference's regions,
which every submission shares: the common code the report sets aside); five
of them are disguised copies of another (renamed, reformatted, reordered).

Side by side, in one run, on the same submissions:
- kit: `python -m kit similarity` as shipped (kit.instructor.similarity.run):
  read the zips, fingerprint, set the common code aside, compare only the
  pairs that share a fingerprint (an inverted index), write the report;
- baseline: the same fingerprints compared pair by pair, all n(n-1)/2 pairs
  (what copydetect's own CopyDetector does);
- floor: reading the zips and fingerprinting only (no pair compared).
It prints the seconds of each, the rank of each planted copy, and the highest
similarity of a pair of students whose solutions are independent (students
given the same base solution are copies of it, and match as such).
"""
import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import kit  # noqa: E402,F401  (first: see kit/__init__.py)
import kit_fixtures as fx  # noqa: E402
import similarity_solutions as sol  # noqa: E402
from copydetect import compare_files  # noqa: E402
from kit.instructor.similarity import detect, documents, run  # noqa: E402
from kit.student.files import student_files  # noqa: E402


def own_lines(rng, k):
    """A few lines of a student's own (numbers and operators of their own choosing)."""
    ops = ["+", "-", "*", "/"]
    return "".join(f"    extra_{i} = x.shape[0] {rng.choice(ops)} {rng.randint(2, 999)} "
                   f"{rng.choice(ops)} np.sum(x) ** {rng.randint(2, 9)}\n" for i in range(k))


def make_class(subs, n, seed=0):
    rng = random.Random(seed)
    ref = fx.reference_files()
    base = [None, sol.B, sol.C, sol.D]
    copies, kinds = {}, {}
    for i in range(n):
        kind = rng.randrange(len(base))
        kinds[f"s{i:03d}"] = kind
        bodies = base[kind]
        text = ref[fx.LAYERS].decode()
        if bodies is not None:
            text = sol.layers_with(text, bodies)
        lines = text.splitlines(keepends=True)
        at = [j for j, line in enumerate(lines) if "START OF YOUR CODE" in line]
        j = rng.choice(at)
        lines.insert(j + 1, own_lines(rng, rng.randint(2, 5)))
        files = {fx.LAYERS: "".join(lines).encode(), fx.NET: ref[fx.NET]}
        if i >= n - 5:   # five copies of earlier students, disguised
            source = f"s{rng.randint(0, n - 6):03d}"
            original = (subs / f"{source}.zip")
            import zipfile
            with zipfile.ZipFile(original) as zf:
                copied = zf.read(fx.LAYERS).decode()
            copied = copied.replace("extra_", "more_").replace(" = ", "  =  ")
            files = {fx.LAYERS: copied.encode(), fx.NET: ref[fx.NET]}
            copies[f"s{i:03d}"] = source
            kinds[f"s{i:03d}"] = kinds[source]
        fx.write_zip(subs / f"s{i:03d}.zip", files)
    return copies, kinds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        copies, kinds = make_class(subs, args.submissions)

        began = time.perf_counter()
        allowed = student_files(fx.SOURCE)
        docs = documents.submission_documents(subs, allowed)
        scaffold = documents.scaffold_text(fx.SOURCE, allowed)
        boiler = set(detect.fingerprint(scaffold).hashes)
        prints = [detect.fingerprint(d.text, boiler) for d in docs]
        floor = time.perf_counter() - began

        began = time.perf_counter()
        baseline_pairs = 0
        for i in range(len(prints)):
            for j in range(i + 1, len(prints)):
                if compare_files(prints[i], prints[j])[0]:
                    baseline_pairs += 1
        baseline = floor + time.perf_counter() - began

        began = time.perf_counter()
        pairs = run(subs, Path(tmp) / "out", log=lambda *a: None)
        ours = time.perf_counter() - began

    ranked = [frozenset((p.a, p.b)) for p in pairs]
    ranks = {c: ranked.index(frozenset((c, s))) + 1 if frozenset((c, s)) in ranked else None
             for c, s in copies.items()}
    planted = {frozenset(pair) for pair in copies.items()}
    independent = [p.similarity for p in pairs if kinds[p.a] != kinds[p.b]]
    same_base = [p.similarity for p in pairs if kinds[p.a] == kinds[p.b] and frozenset((p.a, p.b)) not in planted]
    print(f"{args.submissions} submissions, 2 files each; {len(pairs)} pairs share code after the common code "
          f"is set aside ({baseline_pairs} pairs share a fingerprint without it)")
    print(f"  kit similarity (index, common code aside, report) {ours:8.2f} s")
    print(f"  baseline (every pair compared)                    {baseline:8.2f} s")
    print(f"  floor (read and fingerprint only)                 {floor:8.2f} s")
    print("  rank of each planted copy: " + ", ".join(f"{c} of {s}: {r}" for (c, s), r in
                                                     zip(copies.items(), ranks.values())))
    print(f"  highest similarity of a pair of independent solutions: {max(independent, default=0):.2f}; of two "
          f"students given the same base solution (copies of it, with lines of their own): "
          f"{min(same_base, default=0):.2f} to {max(same_base, default=0):.2f}")


if __name__ == "__main__":
    main()
