"""Diverse selection: the farthest-point rules against a brute-force oracle, sizes, groups, random."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from tascodec.errors import UsageError
from tascodec.subsetting import distance, diverse_order, mean_distance, select, sequences_of, subset_size


def oracle(seqs, m):
    """Farthest-point sampling as written in the docs, with a full recomputation every step."""
    n = len(seqs)
    picks = [max(range(n), key=lambda i: (len(seqs[i]), -i))]
    while len(picks) < m:
        best = max((min(Levenshtein.normalized_distance(seqs[i], seqs[p]) for p in picks), -i)
                   for i in range(n) if i not in picks)
        picks.append(-best[1])
    return picks


seq_lists = st.lists(st.lists(st.integers(0, 5), max_size=9), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(seq_lists, st.integers(1, 40), st.sampled_from([1, 2, 3, 32]))
def test_matches_oracle(seqs, m, pivots):
    m = min(m, len(seqs))
    assert diverse_order(seqs, m, pivots=pivots) == oracle(seqs, m)


@settings(max_examples=60, deadline=None)
@given(seq_lists)
def test_farthest_point_invariant(seqs):
    """Each pick is at least as far from the earlier picks as every candidate left at that step."""
    order = diverse_order(seqs, len(seqs), pivots=2)
    assert sorted(order) == list(range(len(seqs)))
    dist = np.array([[Levenshtein.normalized_distance(a, b) for b in seqs] for a in seqs])
    gaps = []
    for k in range(1, len(order)):
        mind = dist[order[:k]].min(axis=0)
        gaps.append(mind[order[k]])
        rest = order[k:]
        assert mind[order[k]] >= mind[rest].max()
    assert all(a >= b for a, b in zip(gaps, gaps[1:]))  # non-increasing pick distances


@settings(max_examples=60, deadline=None)
@given(seq_lists, st.floats(0.01, 1.0), st.integers(0, 3))
def test_size_determinism_and_prefix(seqs, ratio, seed):
    n = len(seqs)
    a = select(seqs, ratio=ratio)
    assert len(a) == subset_size(n, ratio)
    assert abs(len(a) - ratio * n) <= 0.5 + 1e-9 or len(a) == 1  # rounded, clamped to >= 1
    assert len(set(a)) == len(a) and all(0 <= i < n for i in a)
    assert select(seqs, ratio=ratio) == a
    assert select(seqs, count=n)[:len(a)] == a  # a smaller selection is a prefix of a larger one
    r = select(seqs, ratio=ratio, strategy="random", seed=seed)
    assert r == select(seqs, ratio=ratio, strategy="random", seed=seed) and len(r) == len(a)


def test_subset_size_rules():
    assert subset_size(5, 0.7) == 4  # 3.5 rounds up (0.7 taken as the decimal it prints as)
    assert subset_size(10, 0.25) == 3  # 2.5 -> 3
    assert subset_size(10, 0.24) == 2
    assert subset_size(10, 0.01) == 1  # at least one
    assert subset_size(10, 1.0) == 10
    assert subset_size(10, 0.5, count=12) == 10  # count overrides, clamped
    assert subset_size(0, 0.5) == 0
    for bad in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(UsageError):
            subset_size(10, bad)
    with pytest.raises(UsageError):
        subset_size(10, count=0)
    with pytest.raises(UsageError):
        select([[1]], strategy="nope")


def test_first_pick_and_duplicates():
    seqs = [[1, 2], [3, 4, 5], [1, 2], [5, 4, 3], [3, 4, 5], []]
    order = diverse_order(seqs, 6)
    assert order[0] == 1  # the longest, lowest index among ties
    # distinct sequences first; duplicates (distance 0) last, by index
    assert set(order[:4]) == {0, 1, 3, 5} and order[4:] == [2, 4]
    assert distance([], []) == 0.0 and distance([1], []) == 1.0 and distance([1, 2], [1, 3]) == 0.5


def test_groups_each_keep_their_share():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 6, rng.integers(2, 8)).tolist() for _ in range(30)]
    groups = ["a"] * 20 + ["b"] * 7 + ["c"] * 3
    kept = select(seqs, ratio=0.2, groups=groups)
    by = {g: [i for i in kept if groups[i] == g] for g in "abc"}
    assert [len(by[g]) for g in "abc"] == [4, 1, 1]  # round(4.0), round(1.4), round(0.6)
    assert by["a"] == diverse_order(seqs[:20], 4)
    assert [i - 20 for i in by["b"]] == diverse_order(seqs[20:27], 1)
    assert kept == by["a"] + by["b"] + by["c"]  # groups in order of first appearance
    assert len(select(seqs, count=2, groups=groups)) == 6  # count is per group
    with pytest.raises(UsageError):
        select(seqs, ratio=0.5, groups=["a"])


def test_random_strategy_is_seeded_numpy():
    seqs = [[i] for i in range(50)]
    assert select(seqs, count=7, strategy="random", seed=3) == \
        np.random.default_rng(3).permutation(50)[:7].tolist()
    assert select(seqs, count=7, strategy="random", seed=3) != select(seqs, count=7, strategy="random", seed=4)


def test_sequences_of_drops_background_and_merges_repeats():
    frames = [np.array([0, 0, 3, 3, 0, 3, 5, 5, 0]), np.array([0, 0]), np.array([2, 2, 1])]
    assert sequences_of(frames, [0]) == [[3, 5], [], [2, 1]]
    assert sequences_of(frames) == [[0, 3, 0, 3, 5, 0], [0], [2, 1]]
    segs = [np.array([0, 3, 0, 3, 5, 0])]
    assert sequences_of(segs, [0]) == [[3, 5]]  # segment labels give the same as frame labels


def test_large_label_ids():
    rng = np.random.default_rng(1)
    alphabet = rng.choice(1 << 20, 40, replace=False)
    seqs = [alphabet[rng.integers(0, 40, rng.integers(1, 8))].tolist() for _ in range(120)]
    assert diverse_order(seqs, 60, pivots=3) == oracle(seqs, 60)
    with pytest.raises(UsageError):
        diverse_order([[1 << 20]], 1)
    with pytest.raises(UsageError):
        diverse_order([[-1]], 1)


def _realistic(n, seed=0, classes=48, activities=10):
    """Scripted activities with dropped, inserted and swapped steps (lengths 5-30)."""
    rng = np.random.default_rng(seed)
    pools = [rng.choice(classes, 14, replace=False) for _ in range(activities)]
    scripts = [rng.choice(p, rng.integers(8, 21)).tolist() for p in pools]
    out, acts = [], []
    for _ in range(n):
        a = int(rng.integers(activities))
        s = []
        for x in scripts[a]:
            if rng.random() < 0.15:
                continue
            s.append(x)
            if rng.random() < 0.1:
                s.append(int(rng.choice(pools[a])))
        for j in range(len(s) - 1):
            if rng.random() < 0.1:
                s[j], s[j + 1] = s[j + 1], s[j]
        while len(s) < 5:
            s.append(int(rng.choice(pools[a])))
        out.append(s[:30])
        acts.append(f"act{a}")
    return out, acts


def test_many_hundred_realistic_sequences():
    seqs, acts = _realistic(700)
    m = 350
    order = diverse_order(seqs, m)
    assert order == diverse_order(seqs, m, pivots=1) == diverse_order(seqs, m, pivots=4) == \
        diverse_order(seqs, m, pivots=200)
    texts = seqs
    # the invariant on the real pick sequence, with exact rows (vectorised oracle)
    from rapidfuzz import process
    dist = process.cdist(texts, texts, scorer=Levenshtein.normalized_distance, dtype=np.float64)
    mind = dist[order[0]].copy()
    taken = np.zeros(len(seqs), bool)
    taken[order[0]] = True
    for i in order[1:]:
        cand = np.where(taken, -1.0, mind)
        assert i == int(np.argmax(cand))  # farthest, lowest index on ties
        taken[i] = True
        np.minimum(mind, dist[i], out=mind)
    kept = mean_distance(seqs, order)
    assert kept > mean_distance(seqs) > mean_distance(seqs, select(seqs, count=m, strategy="random")) - 0.05
    per = select(seqs, ratio=0.5, groups=acts)
    assert {acts[i] for i in per} == set(acts)


def test_mean_distance():
    assert mean_distance([[1, 2]]) == 0.0
    assert mean_distance([[1], [2]]) == 1.0
    assert mean_distance([[1], [2], [1]], [0, 2]) == 0.0
    assert 0 < mean_distance([[i % 7, i % 5] for i in range(50)], max_items=10) <= 1
