"""Fingerprints, the passages every solution shares, pairs and clusters.

Each document is tokenised and winnowed by copydetect (the winnowing
algorithm behind MOSS): names become `V`/`F`, strings `S`, comments and white
space go, so renamed variables and reformatted code fingerprint alike; every
run of K = 25 such characters is hashed and a window of 6 keeps one hash, so
any shared run of 30 filtered characters is found. Statements reordered
where order does not matter still share every run inside them.

What does not carry a pair:
- the released scaffold (given lines): its hashes are boilerplate;
- short, canonical passages that every correct solution shares
  (`scores = X.dot(W1) + b1`): a hash found in more than COMMON_SHARE of the
  class's documents (and at least COMMON_MIN of them) is set aside as common
  code, as MOSS does with passages seen too often. A short line yields few
  hashes anyway (a 25-character window), and what all solutions share is
  taken out before any pair is scored.

A pair's similarity is the larger of its two shares: the matched tokens of
one document over all its tokens (so a short copy inside a longer file still
ranks). Pairs are ranked by it; clusters are the groups of three or more joined
by pairs at or above CLUSTER_AT.
"""
import io
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import filter_code, hashed_kgrams

K, WINDOW = 25, 6
COMMON_SHARE = 0.2
COMMON_MIN = 4
CLUSTER_AT = 0.5


@dataclass
class Pair:
    a: str
    b: str
    similarity: float          # max(share_a, share_b)
    share_a: float
    share_b: float
    slices_a: np.ndarray       # 2 x n character ranges of a's text that match
    slices_b: np.ndarray


def fingerprint(text, boilerplate=()):
    return CodeFingerprint("solution.py", K, WINDOW, boilerplate=list(boilerplate), fp=io.StringIO(text))


def kgrams(text):
    """Every k-gram hash of a text, tokenised and filtered as the fingerprints are (before winnowing)."""
    filtered, _ = filter_code(text, "solution.py")
    return set(hashed_kgrams(filtered, K).tolist()) if len(filtered) >= K else set()


def common_hashes(texts):
    """
    K-gram hashes found in more than COMMON_SHARE of the texts (and at least COMMON_MIN): code all solutions have.

    Counted over every k-gram, not over the winnowed ones: which k-grams a
    window keeps depends on the text around a passage, so a passage common to
    all would not show as common in the winnowed ones.
    """
    counts = Counter(h for text in texts for h in kgrams(text))
    floor = max(COMMON_MIN, COMMON_SHARE * len(texts))
    return {h for h, n in counts.items() if n > floor}


def detect(students, public=(), scaffold=""):
    """
    Every pair that shares code, most similar first.

    Inputs:
    - students, public: [kit.instructor.similarity.documents.Document].
    - scaffold: The released files' text (boilerplate).

    Returns:
    - ([Pair], the number of hashes set aside as common code).
    """
    boiler = kgrams(scaffold) if scaffold.strip() else set()
    common = common_hashes([d.text for d in students]) - boiler
    skip = np.array(sorted(boiler | common), dtype=np.int64) if boiler | common else ()
    docs = list(students) + list(public)
    prints = [fingerprint(d.text, skip) for d in docs]
    index = defaultdict(list)
    for i, fp in enumerate(prints):
        for h in fp.hashes:
            index[h].append(i)
    shared = Counter()
    n_students = len(students)
    for members in index.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                if i < n_students:          # student-student and student-public, never public-public
                    shared[(i, j)] += 1
    pairs = []
    for (i, j) in shared:
        _, (share_i, share_j), (slices_i, slices_j) = compare_files(prints[i], prints[j])
        if share_i or share_j:
            pairs.append(Pair(docs[i].name, docs[j].name, float(max(share_i, share_j)), float(share_i),
                              float(share_j), slices_i, slices_j))
    pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
    return pairs, len(common)


def clusters(pairs, at=CLUSTER_AT):
    """Groups of three or more documents joined by pairs with similarity >= at (largest first)."""
    parent = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p.similarity >= at:
            parent[root(p.a)] = root(p.b)
    groups = defaultdict(set)
    for x in list(parent):
        groups[root(x)].add(x)
    return sorted((sorted(g) for g in groups.values() if len(g) >= 3), key=lambda g: (-len(g), g))


def identical(documents):
    """Groups of byte-identical submissions (by their zips' digests)."""
    by = defaultdict(list)
    for d in documents:
        if d.digest:
            by[d.digest].append(d.name)
    return sorted(sorted(g) for g in by.values() if len(g) > 1)
