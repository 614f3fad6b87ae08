"""Choose a diverse subset of videos from their action sequences (farthest-point sampling).

Definitions (normative for ``tasz subset``; tests check them against a brute-force oracle):

- A video's *sequence* is the labels of its segments in order, background classes dropped and
  consecutive repeats merged (``sequences_of``).
- ``distance(a, b) = Levenshtein(a, b) / max(len(a), len(b))`` (unit costs), 0 for two empty
  sequences: rapidfuzz's ``Levenshtein.normalized_distance`` on the sequences.
- Size: ``count`` if given, else ``round(ratio * n)`` with halves rounded up, taking ``ratio``
  as the decimal it prints as (``0.7 * 5 = 3.5 -> 4``); then clamped to ``[1, n]``.
- ``strategy="diverse"``: the first pick is the longest sequence (ties: lowest index); every
  next pick is the video whose minimum distance to the picks so far is largest (ties: lowest
  index). Duplicates of a picked sequence are at distance 0, so they come last, by index.
- ``strategy="random"``: ``numpy.random.default_rng(seed).permutation(n)[:size]``.
- ``groups``: the rule applies within each group (e.g. activity); each group keeps its own size
  (``count`` is then per group), so every group keeps at least one video.

``select`` returns indices in *pick order*, so a smaller selection is a prefix of a larger one
(per group with ``groups``; groups in order of first appearance).

Cost. Identical sequences are merged first. The first ``pivots`` picks update every candidate
(one cdist row each); they also cluster the candidates (nearest pivot). After that, picks are
lazy: a candidate's stored minimum is an upper bound, refreshed only when it reaches the top of
a max-heap, and only against picks made since its last refresh, skipping whole clusters whose
lower bound (class overlap, lengths, triangle inequality via the pivot) cannot improve it.
At most O(n * m) distance evaluations, usually far fewer; memory O(n * pivots), never n x n.
"""
from __future__ import annotations

import heapq
from bisect import bisect_left
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from ..data.segments import runs
from ..errors import UsageError

STRATEGIES = ("diverse", "random")
PIVOTS = 32
MAX_LABEL = 1 << 20  # the spec's limit on classes

__all__ = ["STRATEGIES", "sequences_of", "distance", "subset_size", "select", "diverse_order",
           "mean_distance"]


def sequences_of(labels_per_video: Iterable[Sequence[int]], background_ids: Iterable[int] = ()) -> list[list[int]]:
    """Action sequences from per-frame or per-segment labels (either gives the same result).

    Background labels are dropped, then consecutive repeats merged.
    """
    bg = np.asarray(sorted(set(int(b) for b in background_ids)), np.int64)
    out = []
    for labels in labels_per_video:
        lab = np.asarray(labels, np.int64).ravel()
        if bg.size:
            lab = lab[~np.isin(lab, bg)]
        out.append(runs(lab)[0].tolist())
    return out


def distance(a: Sequence[int], b: Sequence[int]) -> float:
    """Normalized Levenshtein distance in [0, 1] (0 for two empty sequences)."""
    from rapidfuzz.distance import Levenshtein

    return float(Levenshtein.normalized_distance(_as_text(a), _as_text(b)))


def subset_size(n: int, ratio: float | None = None, count: int | None = None) -> int:
    """How many of ``n`` items to keep (module docstring); 0 only when ``n == 0``."""
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise UsageError(f"count must be a positive integer, got {count!r}")
        size = int(count)
    elif ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating)) or not 0 < ratio <= 1:
            raise UsageError(f"ratio must be in (0, 1], got {ratio!r}")
        exact = Fraction(repr(float(ratio))) * n
        size = int(exact + Fraction(1, 2)) if exact >= 0 else 0  # floor(x + 1/2): halves round up
    else:
        raise UsageError("give a ratio or a count")
    return min(max(size, 1), n)


def select(sequences: Sequence[Sequence[int]], *, ratio: float | None = None, count: int | None = None,
           strategy: str = "diverse", seed: int = 0, groups: Sequence[str | None] | None = None) -> list[int]:
    """Indices of the videos to keep, in pick order (see the module docstring for the rules).

    Args:
        sequences: one action sequence per video (``sequences_of``).
        ratio: fraction to keep, in (0, 1]; ``count`` overrides it. Neither: ratio 0.5.
        strategy: ``"diverse"`` (farthest-point) or ``"random"`` (seeded).
        seed: for ``"random"``.
        groups: one key per video; selection runs within each group.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if ratio is None and count is None:
        ratio = 0.5
    n = len(sequences)
    if groups is None:
        return _select_one(sequences, subset_size(n, ratio, count) if n else 0, strategy, seed)
    if len(groups) != n:
        raise UsageError(f"groups has {len(groups)} entries for {n} sequences")
    members: dict[object, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out: list[int] = []
    for idx in members.values():
        size = subset_size(len(idx), ratio, count)
        out.extend(idx[j] for j in _select_one([sequences[i] for i in idx], size, strategy, seed))
    return out


def _select_one(sequences: Sequence[Sequence[int]], size: int, strategy: str, seed: int) -> list[int]:
    if strategy == "random":
        return np.random.default_rng(seed).permutation(len(sequences))[:size].tolist()
    return diverse_order(sequences, size)


# --- farthest-point sampling ---------------------------------------------------------------
def _as_text(seq: Sequence[int]) -> str:
    """A sequence as a string of code points (rapidfuzz compares ``str`` fastest), skipping surrogates."""
    return "".join(chr(c if c < 0xD800 else c + 0x800) for c in (int(x) for x in seq))


def diverse_order(sequences: Sequence[Sequence[int]], size: int, *, pivots: int = PIVOTS) -> list[int]:
    """The first ``size`` farthest-point picks (indices into ``sequences``), in pick order."""
    n = len(sequences)
    size = min(max(int(size), 0), n)
    if size == 0:
        return []
    first_of: dict[tuple[int, ...], int] = {}
    for i, s in enumerate(sequences):
        first_of.setdefault(tuple(int(x) for x in s), i)
    labels = [x for s in first_of for x in s]
    if labels and not 0 <= min(labels) <= max(labels) < MAX_LABEL:
        raise UsageError(f"sequence labels must be in 0..{MAX_LABEL - 1}, got {min(labels)}..{max(labels)}")
    uniq = list(first_of)  # in order of first occurrence: unique order == index order of representatives
    reps = list(first_of.values())
    picked = _fps_unique(uniq, min(size, len(uniq)), max(1, int(pivots)))
    order = [reps[u] for u in picked]
    if size > len(order):  # all distinct sequences taken: the rest (duplicates) by index
        taken = set(order)
        order.extend(i for i in range(n) if i not in taken)
    return order[:size]


class _Seqs:
    """Distinct sequences as strings, plus what the lower bounds need.

    ``len (u,)``; ``mask (u, W) uint64``: bit ``label % (64 W)`` set for every label present
    (``W <= 4`` words, so labels may share a bit); ``rep (u,)``: the most labels of one
    sequence sharing a bit. Shared bits times the smaller ``rep`` bound the matched labels.
    """

    def __init__(self, seqs: list[tuple[int, ...]]):
        u = len(seqs)
        self.text = [_as_text(s) for s in seqs]
        self.len = np.fromiter((len(s) for s in seqs), np.int64, u)
        flat = np.fromiter((x for s in seqs for x in s), np.int64, int(self.len.sum()))
        words = min(int(flat.max(initial=0)) // 64 + 1, 4)
        bit = flat % (64 * words)
        owner = np.repeat(np.arange(u), self.len)
        self.mask = np.zeros((u, words), np.uint64)
        np.bitwise_or.at(self.mask, (owner, bit // 64), np.left_shift(np.uint64(1), (bit % 64).astype(np.uint64)))
        self.rep = np.ones(u, np.int64)
        if flat.size:
            pairs, counts = np.unique(owner * (64 * words) + bit, return_counts=True)
            np.maximum.at(self.rep, pairs // (64 * words), counts)


def _rows(query: str, texts: list[str]) -> np.ndarray:
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    return process.cdist([query], texts, scorer=Levenshtein.normalized_distance, dtype=np.float64)[0]


def _fps_unique(seqs: list[tuple[int, ...]], m: int, pivots: int) -> list[int]:
    """Farthest-point order over distinct sequences (ties by lowest index): the first ``m`` picks."""
    u = len(seqs)
    S = _Seqs(seqs)
    first = int(np.argmax(S.len))  # argmax returns the lowest index among ties
    picks = [first]
    # Phase 1: exact minimum distances, one full row per pick (these picks are the pivots).
    P = min(pivots, m)
    rows = np.empty((P, u), np.float64)
    mind = np.full(u, np.inf)
    for p in range(P):
        rows[p] = _rows(S.text[picks[p]], S.text)
        np.minimum(mind, rows[p], out=mind)
        mind[picks] = -1.0
        if len(picks) < m:
            picks.append(int(np.argmax(mind)))
    if len(picks) >= m:
        return picks[:m]

    # Phase 2: lazy max-heap of (-upper bound, index, picks checked so far).
    C = _Clusters(S, rows, picks[:P])
    del rows
    for r, i in enumerate(picks):
        C.add(i, r)
    k = len(picks)
    is_picked = np.zeros(u, bool)
    is_picked[picks] = True
    heap = [(-float(mind[i]), i, P) for i in np.flatnonzero(~is_picked).tolist()]
    heapq.heapify(heap)
    while len(picks) < m:
        neg, i, chk = heapq.heappop(heap)
        if chk == k:  # exact and >= every other upper bound: the farthest candidate
            picks.append(i)
            C.add(i, k)
            k += 1
            continue
        bar = -heap[0][0] if heap else -1.0
        ub, done = C.refresh(i, -neg, chk, bar)
        heapq.heappush(heap, (-ub, i, k if done else chk))
    return picks


class _Clusters:
    """Picks grouped by nearest pivot, with lower bounds that let a refresh skip whole groups.

    For a candidate ``i`` and any member ``s`` of cluster ``c`` (all its sequences, picked or
    not, define the cluster's length range ``[lo, hi]``, class union, largest label repeat and
    radius ``R`` in edits around its pivot ``p``), with ``l = len(i)``:

    - matches: ``lev(i, s) >= max(l, len(s)) - M`` where ``M``, the matched labels, is at most
      ``Mc = min(l, hi, shared classes * min(max repeats))``, so
      ``distance >= (max(l, lo) - Mc) / max(l, lo)``;
    - triangle: ``lev(i, s) >= lev(i, p) - R``, so ``distance >= (lev(i, p) - R) / max(l, hi)``.

    Each bound is one division of exact integers, so it never exceeds a distance computed in
    floating point (division rounds monotonically) and skipping on ``bound >= ub`` is exact.
    """

    def __init__(self, S: _Seqs, rows: np.ndarray, pivots: list[int]):
        P, u = rows.shape
        self.S = S
        self.cluster = np.argmin(rows, axis=0)  # nearest pivot, lowest pivot on ties
        plen = S.len[pivots]
        lev = np.rint(rows * np.maximum(S.len[None, :], plen[:, None])).astype(np.int64)  # exact edits
        self.bound = self._bounds(lev)  # (u, P)
        size = np.bincount(self.cluster, minlength=P)
        self.text = [np.empty(n, object) for n in size]  # picked texts per cluster, in pick order
        self.rank: list[list[int]] = [[] for _ in range(P)]  # their pick numbers

    def _bounds(self, lev: np.ndarray) -> np.ndarray:
        S, cl = self.S, self.cluster
        P, u = lev.shape
        big = np.iinfo(np.int64).max
        lo, hi, rep, radius = np.full(P, big), np.zeros(P, np.int64), np.zeros(P, np.int64), np.zeros(P, np.int64)
        np.minimum.at(lo, cl, S.len)
        np.maximum.at(hi, cl, S.len)
        np.maximum.at(rep, cl, S.rep)
        np.maximum.at(radius, cl, lev[cl, np.arange(u)])
        union = np.zeros((P, S.mask.shape[1]), np.uint64)
        np.bitwise_or.at(union, cl, S.mask)
        out = np.full((u, P), np.inf)  # an empty cluster is never scanned
        for c in np.flatnonzero(lo != big).tolist():  # one cluster at a time: temporaries stay (u,)
            shared = np.bitwise_count(S.mask & union[c]).sum(axis=1, dtype=np.int64)
            match = np.minimum(np.minimum(S.len, hi[c]), shared * np.minimum(S.rep, rep[c]))
            den = np.maximum(S.len, lo[c])
            by_match = (den - match) / np.maximum(den, 1)
            by_pivot = (lev[c] - radius[c]) / np.maximum(np.maximum(S.len, hi[c]), 1)
            out[:, c] = np.maximum(by_match, by_pivot)
        return out

    def add(self, i: int, rank: int) -> None:
        c = int(self.cluster[i])
        self.text[c][len(self.rank[c])] = self.S.text[i]
        self.rank[c].append(rank)

    def refresh(self, i: int, ub: float, chk: int, bar: float) -> tuple[float, bool]:
        """Lower ``ub`` to the min distance from ``i`` to the picks ranked ``>= chk``.

        Clusters are scanned by increasing bound. Returns ``(ub, done)``; stops early
        (``done`` False) once ``ub < bar``, the next best upper bound: ``i`` is then not the
        next pick anyway, and its next refresh starts again from ``chk``.
        """
        row = self.bound[i]
        cand = np.flatnonzero(row < ub)
        text = self.S.text[i]
        for c in cand[np.argsort(row[cand], kind="stable")].tolist():
            if row[c] >= ub:
                continue
            a = bisect_left(self.rank[c], chk)
            b = len(self.rank[c])
            if a == b:
                continue
            d = _min_distance(text, self.text[c][a:b], ub)
            if d < ub:
                ub = d
                if ub < bar:
                    return ub, False
        return ub, True


def _min_distance(text: str, texts: np.ndarray, cutoff: float) -> float:
    """``min(distance(text, t) for t in texts)``, or a value ``> cutoff`` when none is ``<= cutoff``."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    if texts.size < 16:  # cdist has a fixed cost of several plain calls
        return min(Levenshtein.normalized_distance(text, t, score_cutoff=cutoff) for t in texts)
    return float(process.cdist([text], texts, scorer=Levenshtein.normalized_distance, dtype=np.float64,
                               score_cutoff=cutoff).min())


def mean_distance(sequences: Sequence[Sequence[int]], indices: Sequence[int] | None = None, *,
                  max_items: int = 3000, seed: int = 0) -> float:
    """Mean pairwise distance among ``sequences[indices]`` (all when None), over distinct pairs.

    Above ``max_items`` videos, the mean over a seeded random sample of ``max_items`` of them.
    0 for fewer than two videos.
    """
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    idx = np.arange(len(sequences)) if indices is None else np.asarray(list(indices), np.int64)
    if idx.size < 2:
        return 0.0
    if idx.size > max_items:
        idx = np.random.default_rng(seed).choice(idx, max_items, replace=False)
    texts = [_as_text(sequences[i]) for i in idx.tolist()]
    d = process.cdist(texts, texts, scorer=Levenshtein.normalized_distance, dtype=np.float64, workers=-1)
    n = len(texts)
    return float(d.sum() / (n * (n - 1)))
