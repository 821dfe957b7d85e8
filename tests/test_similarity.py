"""`python -m kit similarity`: copies rank above independent work, public solutions are matched, scaffolds match nothing."""
import csv
import subprocess
import sys
import types

import numpy as np
import pytest

import kit_fixtures as fx
import similarity_solutions as sol
from kit.instructor.similarity import run
from kit.instructor.release.student_kit import release_text

INDEPENDENT = {"alice", "bob", "dave"}


def layers_zip(path, bodies=None, text=None):
    ref = fx.reference_files()[fx.LAYERS].decode()
    fx.write_zip(path, {fx.LAYERS: (text if text is not None else sol.layers_with(ref, bodies)).encode()})


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("similarity")
    subs, public, out = tmp / "subs", tmp / "public", tmp / "out"
    subs.mkdir()
    ref = fx.reference_files()[fx.LAYERS].decode()
    layers_zip(subs / "alice.zip", text=ref)            # the kit's reference: independent of B, C, D
    layers_zip(subs / "alice_again.zip", text=ref)      # byte-identical to alice's
    layers_zip(subs / "bob.zip", sol.B)
    layers_zip(subs / "dave.zip", sol.D)
    layers_zip(subs / "mallory.zip", sol.B_COPY)        # copied bob, renamed, reformatted, reordered
    layers_zip(subs / "eve.zip", sol.C_COPY)            # copied the public solution, renamed
    layers_zip(subs / "sam.zip", text=release_text(fx.LAYERS, ref))   # the scaffold as released
    checkout = public / "gh-2019" / "assignment1" / "cs231n"
    checkout.mkdir(parents=True)
    (checkout / "layers.py").write_text(sol.layers_with(ref, sol.C))
    lines = []
    pairs = run(subs, out, public, log=lines.append)
    with open(out / "pairs.csv", newline="") as f:
        table = list(csv.DictReader(f))
    return {"pairs": pairs, "table": table, "out": out, "log": lines}


def test_every_solution_written_for_the_tests_is_a_correct_one():
    ref = types.ModuleType("ref")
    exec(compile(fx.reference_files()[fx.LAYERS].decode(), "layers.py", "exec"), ref.__dict__)
    rng = np.random.RandomState(0)
    x, w, b, dout = rng.randn(4, 3, 2), rng.randn(6, 5), rng.randn(5), rng.randn(4, 5)
    scores, y = rng.randn(7, 4), rng.randint(4, size=7)
    for bodies in (sol.B, sol.B_COPY, sol.C, sol.C_COPY, sol.D):
        mod = types.ModuleType("student")
        exec(compile(sol.layers_with(fx.reference_files()[fx.LAYERS].decode(), bodies), "layers.py", "exec"),
             mod.__dict__)
        out, cache = mod.affine_forward(x, w, b)
        assert np.allclose(out, ref.affine_forward(x, w, b)[0])
        for got, want in zip(mod.affine_backward(dout, cache), ref.affine_backward(dout, ref.affine_forward(x, w, b)[1])):
            assert np.allclose(got, want)
        assert np.allclose(mod.relu_backward(scores, mod.relu_forward(scores)[1]),
                           ref.relu_backward(scores, ref.relu_forward(scores)[1]))
        for name in ("svm_loss", "softmax_loss"):
            (loss, dx), (want_loss, want_dx) = getattr(mod, name)(scores.copy(), y), getattr(ref, name)(scores.copy(), y)
            assert np.isclose(loss, want_loss) and np.allclose(dx, want_dx), name


def similarity(reported, a, b):
    for row in reported["table"]:
        if {row["a"], row["b"]} == {a, b}:
            return float(row["similarity"])
    return 0.0


def test_a_disguised_copy_ranks_above_every_pair_of_independent_solutions(reported):
    copy = similarity(reported, "mallory", "bob")
    independent = [similarity(reported, a, b) for a in INDEPENDENT for b in INDEPENDENT if a < b]
    assert copy > 0.8 and copy > max(independent) + 0.3, (copy, independent)
    ranked = [(r["a"], r["b"]) for r in reported["table"]]
    mallory_rank = [i for i, p in enumerate(ranked) if set(p) == {"mallory", "bob"}][0]
    assert all(set(p) - INDEPENDENT or mallory_rank < i for i, p in enumerate(ranked)), ranked


def test_a_copy_of_a_public_solution_is_matched_to_it(reported):
    eve = [r for r in reported["table"] if "eve" in (r["a"], r["b"])]
    assert eve and {eve[0]["a"], eve[0]["b"]} == {"eve", "public:gh-2019"} and float(eve[0]["similarity"]) > 0.8


def test_the_scaffold_alone_matches_nothing(reported):
    assert all("sam" not in (r["a"], r["b"]) for r in reported["table"])


def test_the_report_names_identical_submissions_and_shows_each_pair(reported):
    out = reported["out"]
    index = (out / "index.html").read_text()
    assert "alice, alice_again" in index and "<script" not in index
    first = (out / "pairs" / "0001.html").read_text()
    assert "<mark>" in first and "Matching code is not proof of copying" in first
    rows = reported["table"]
    assert [float(r["similarity"]) for r in rows] == sorted((float(r["similarity"]) for r in rows), reverse=True)
    assert "7 submissions, 1 public solutions" in reported["log"][0]


def test_the_command_line(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    layers_zip(subs / "bob.zip", sol.B)
    layers_zip(subs / "mallory.zip", sol.B_COPY)
    proc = subprocess.run([sys.executable, "-m", "kit", "similarity", str(subs), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 0 and "1 pairs share code (most similar: bob / mallory" in proc.stdout, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "kit", "similarity", str(tmp_path / "none"), "--out", "x"],
                          capture_output=True, text=True, cwd=fx.SOURCE)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr


def test_a_canonical_line_every_solution_shares_does_not_carry_a_pair(monkeypatch):
    """Eight students whose only shared code is the canonical softmax loss line: no pair ranks on it."""
    from kit.instructor.similarity import detect
    from kit.instructor.similarity.documents import Document

    canonical = "    loss = -np.sum(np.log(probs[np.arange(N), y])) / N\n"
    docs = [Document(f"s{i}", f"    out = x * {i + 2} + np.tanh(x) ** {i + 3} - {i * 7 + 1}\n" + canonical
                     + f"    dx = probs * {i + 11} / (N + {i * 3 + 5})\n") for i in range(8)]
    pairs, common = detect.detect(docs)
    assert common > 0 and pairs == []
    monkeypatch.setattr(detect, "COMMON_SHARE", 1.0)   # planted: no common-code filter
    monkeypatch.setattr(detect, "COMMON_MIN", 100)
    assert len(detect.detect(docs)[0]) == 28
