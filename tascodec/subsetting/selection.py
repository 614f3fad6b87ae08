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
(one cdist row each) and cluster the candidates (nearest pivot). After that, picks are lazy: a
candidate's stored minimum is an upper bound, refreshed only when it reaches the top of a
max-heap, and only against picks made since its last refresh. Exact integer lower bounds (label
and bigram overlap sketches, lengths, the triangle inequality through the pivot) skip whole
clusters, then single picks, that cannot come closer. At most O(n * m) distance evaluations,
in practice a few percent of that; memory O(n * pivots), never n x n. Measured (one core):
Breakfast's 1,712 real sequences in 0.02 s; 100K synthetic 5-30-step transcripts (86K
distinct) at ratio 0.5 in 44 s, 0.1 in 20 s (``benchmarks/subset.py``).
"""
from __future__ import annotations

import heapq
from bisect import bisect_left
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ..data.segments import runs
from ..errors import UsageError

STRATEGIES = ("diverse", "random")
PIVOTS = 16
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
    """Distinct sequences as strings, plus the sketches the lower bounds use.

    ``len (u,)``; ``bits (u, W1 + 4) uint64``: a bitset of the labels present (bit
    ``label % (64 W1)``, ``W1 <= 4``), then a 256-bit set of hashed label bigrams; ``extra
    (u, 2)``: labels and bigrams beyond the distinct bits each sequence sets (its repeats and
    collisions). The labels two sequences can match are at most the shared label bits plus the
    smaller ``extra[:, 0]`` (likewise bigrams), which bounds their edit distance from below.
    """

    BIGRAM_WORDS = 4

    def __init__(self, seqs: list[tuple[int, ...]]):
        u = len(seqs)
        self.text = [_as_text(s) for s in seqs]
        self.len = np.fromiter((len(s) for s in seqs), np.int64, u)
        flat = np.fromiter((x for s in seqs for x in s), np.int64, int(self.len.sum()))
        owner = np.repeat(np.arange(u), self.len)
        self.w1 = min(int(flat.max(initial=0)) // 64 + 1, 4)
        self.bits = np.zeros((u, self.w1 + self.BIGRAM_WORDS), np.uint64)
        self.extra = np.zeros((u, 2), np.int64)
        self.extra[:, 0] = self.len - self._set(owner, flat % (64 * self.w1), 0)
        pair = np.ones(flat.size, bool)  # position j starts a bigram (j, j + 1) of the same sequence
        pair[np.cumsum(self.len)[self.len > 0] - 1] = False
        j = np.flatnonzero(pair)
        with np.errstate(over="ignore"):
            h = (flat[j].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + flat[j + 1].astype(np.uint64)) \
                * np.uint64(0xBF58476D1CE4E5B9)
        bucket = (h >> np.uint64(56)).astype(np.int64) % (64 * self.BIGRAM_WORDS)
        self.extra[:, 1] = np.maximum(self.len - 1, 0) - self._set(owner[j], bucket, self.w1)

    def _set(self, owner: np.ndarray, bit: np.ndarray, word0: int) -> np.ndarray:
        """Set ``bit`` (< 64 * words) of each ``owner``'s bitset at ``word0``; return distinct bits per owner."""
        np.bitwise_or.at(self.bits, (owner, word0 + bit // 64), np.left_shift(np.uint64(1), (bit % 64).astype(np.uint64)))
        return np.bincount(np.unique(owner * 256 + bit) // 256, minlength=self.len.size)


def _rows(query: str, texts: list[str]) -> np.ndarray:
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
        else:
            heapq.heappush(heap, (-C.refresh(i, -neg, chk), i, k))
    return picks


class _Clusters:
    """Picks grouped by nearest pivot, and the lower bounds that spare most distance evaluations.

    For a candidate ``i`` and a pick ``s`` (lengths ``l``, ``ls``; ``mx = max(l, ls)``):

    - labels: ``lev >= mx - M``, ``M`` (labels that can match) from the label sketches;
    - bigrams (q-gram lemma, q = 2): ``lev >= (mx - 1 - B) / 2``, ``B`` (shared bigrams) likewise;
    - triangle: ``lev(i, s) >= lev(i, p) - lev(s, p)`` for the pivot ``p`` of ``s``'s cluster.

    All three hold for a whole cluster with its members' (picked or not) length range, sketch
    union, largest ``extra`` and radius around ``p``: a refresh skips a cluster on those, then
    single picks on the bigram bound. Each cluster bound is one division of exact integers, so
    it never exceeds a distance computed in floating point (division rounds monotonically) and
    skipping when ``bound >= ub`` is exact; the per-pick test keeps a margin instead.
    """

    def __init__(self, S: _Seqs, rows: np.ndarray, pivots: list[int]):
        P, u = rows.shape
        self.S = S
        self.cluster = np.argmin(rows, axis=0)  # nearest pivot, lowest pivot on ties
        plen = S.len[pivots]
        self.lev = np.rint(rows * np.maximum(S.len[None, :], plen[:, None])).astype(np.int64)  # exact edits
        self.own = self.lev[self.cluster, np.arange(u)]
        self.bound = self._cluster_bounds()  # (u, P)
        size = np.bincount(self.cluster, minlength=P)
        # the picks of each cluster, in pick order
        self.rank: list[list[int]] = [[] for _ in range(P)]
        self.text = [np.empty(n, object) for n in size]
        self.bigrams = [np.empty((n, S.BIGRAM_WORDS), np.uint64) for n in size]
        self.info = [np.empty((n, 2), np.int64) for n in size]  # length, extra bigrams

    def _cluster_bounds(self) -> np.ndarray:
        S, cl, w1 = self.S, self.cluster, self.S.w1
        P, u = self.lev.shape
        big = np.iinfo(np.int64).max
        lo, hi, radius = np.full(P, big), np.zeros(P, np.int64), np.zeros(P, np.int64)
        extra = np.zeros((P, 2), np.int64)
        np.minimum.at(lo, cl, S.len)
        np.maximum.at(hi, cl, S.len)
        np.maximum.at(radius, cl, self.own)
        np.maximum.at(extra, cl, S.extra)
        union = np.zeros((P, S.bits.shape[1]), np.uint64)
        np.bitwise_or.at(union, cl, S.bits)
        out = np.full((u, P), np.inf)  # an empty cluster is never scanned
        for c in np.flatnonzero(lo != big).tolist():  # one cluster at a time: temporaries stay (u,)
            shared = np.bitwise_count(S.bits & union[c])
            m1 = np.minimum(np.minimum(S.len, hi[c]),
                            shared[:, :w1].sum(axis=1, dtype=np.int64) + np.minimum(S.extra[:, 0], extra[c, 0]))
            b2 = np.minimum(np.maximum(np.minimum(S.len, hi[c]) - 1, 0),
                            shared[:, w1:].sum(axis=1, dtype=np.int64) + np.minimum(S.extra[:, 1], extra[c, 1]))
            m0 = np.maximum(np.maximum(S.len, lo[c]), 1)  # the smallest possible max length
            by_labels = (m0 - m1) / m0
            by_bigrams = (m0 - 1 - b2) / (2 * m0)
            by_pivot = (self.lev[c] - radius[c]) / np.maximum(np.maximum(S.len, hi[c]), 1)
            out[:, c] = np.maximum(np.maximum(by_labels, by_bigrams), by_pivot)
        return out

    def add(self, i: int, rank: int) -> None:
        c = int(self.cluster[i])
        j = len(self.rank[c])
        self.rank[c].append(rank)
        self.text[c][j] = self.S.text[i]
        self.bigrams[c][j] = self.S.bits[i, self.S.w1:]
        self.info[c][j] = (self.S.len[i], self.S.extra[i, 1])

    def refresh(self, i: int, ub: float, chk: int) -> float:
        """``min(ub, distance from i to every pick ranked >= chk)``, clusters by increasing bound."""
        row = self.bound[i]
        cand = np.flatnonzero(row < ub)
        for c in cand[np.argsort(row[cand], kind="stable")].tolist():
            if row[c] >= ub:
                continue
            a = bisect_left(self.rank[c], chk)
            b = len(self.rank[c])
            if a == b:
                continue
            texts = self.text[c][a:b]
            if b - a >= _FILTER_MIN:
                texts = texts[self._may_beat(i, c, a, b, ub)]
                if texts.size == 0:
                    continue
            ub = min(ub, _min_distance(self.S.text[i], texts, ub))
        return ub

    def _may_beat(self, i: int, c: int, a: int, b: int, ub: float) -> np.ndarray:
        """Positions (from ``a``) of cluster ``c``'s picks ``[a, b)`` whose bigram bound is below ``ub``.

        Deliberately few array operations (these slices are short): ``lev >= ceil((mx - 1 - B) / 2)``
        with ``B`` the shared bigram bits plus the smaller extra. Kept when ``lev_bound < ub' * mx``
        with ``ub'`` a hair above ``ub``, so rounding never drops a pick that could beat ``ub``.
        """
        S = self.S
        shared = np.bitwise_count(self.bigrams[c][a:b] & S.bits[i, S.w1:]).sum(axis=1, dtype=np.int64)
        info = self.info[c][a:b]
        mx = np.maximum(info[:, 0], S.len[i])
        lev = (mx - shared - np.minimum(info[:, 1], S.extra[i, 1])) // 2
        return np.flatnonzero(lev < mx * (ub * (1 + 1e-9)))


_FILTER_MIN = 24  # below this many picks to scan, the bounds cost more than they save


def _min_distance(text: str, texts: np.ndarray, cutoff: float) -> float:
    """``min(distance(text, t) for t in texts)``, or a value ``> cutoff`` when none is ``<= cutoff``."""
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
    idx = np.arange(len(sequences)) if indices is None else np.asarray(list(indices), np.int64)
    if idx.size < 2:
        return 0.0
    if idx.size > max_items:
        idx = np.random.default_rng(seed).choice(idx, max_items, replace=False)
    texts = [_as_text(sequences[i]) for i in idx.tolist()]
    d = process.cdist(texts, texts, scorer=Levenshtein.normalized_distance, dtype=np.float64, workers=-1)
    n = len(texts)
    return float(d.sum() / (n * (n - 1)))
