"""Bounded-memory frame access for the encoder: feature statistics, shuffled training batches,
inversion chunks.

A Breakfast-scale split (3.6M frames x 2048) is 29 GB as float32, so nothing here holds all of
it: statistics are one streaming pass, training reads videos into a bounded shuffle buffer each
epoch (under torchrun each rank only its 1/world of the frames, ``rank_share``), and inversion
works on chunks of whole videos (each rank those in its 1/world, ``chunk_owners``). Videos are kept in RAM (standardized) only
while they fit a byte budget; the rest are re-read from their ``.npy`` files (memory-mapped by the
dataset reader) when needed. Which videos are cached never changes a result, only its speed.

Shapes: T frames of a video, D feature dim, N frames of a chunk, R instance rows of a chunk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..data.layout import TASDataset
from ..data.segments import frame_layout, instance_counts

STD_FLOOR = 1e-6  # feature dims whose std is below this are not rescaled (std stored as 1)


def feature_stats(ds: TASDataset, videos: Sequence[str] | None = None,
                  progress: bool = False, merge: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-dim mean and std of all frames, ``(D,) float32`` each, in one pass.

    Per-video moments are computed in float64 and merged pairwise (Chan et al.), so the result
    does not drift with the number of frames. Dims with std below ``STD_FLOOR`` get std 1.
    ``merge(n, mean, m2) -> (n, mean, m2)`` combines these float64 moments with other processes'
    (each read a share of the videos) before the std is taken.
    """
    videos = list(ds.videos if videos is None else videos)
    n = 0
    mean = np.zeros(ds.feature_dim, np.float64)
    m2 = np.zeros(ds.feature_dim, np.float64)
    for v in _bar(videos, "feature stats", progress, unit="video"):
        x = ds.features(v).astype(np.float64)
        nb = x.shape[0]
        mb = x.mean(axis=0)
        x -= mb
        m2b = np.einsum("ij,ij->j", x, x)
        delta = mb - mean
        tot = n + nb
        mean = mean + delta * (nb / tot)
        m2 = m2 + m2b + delta * delta * (n * nb / tot)
        n = tot
    if merge is not None:
        n, mean, m2 = merge(n, mean, m2)
    std = np.sqrt(m2 / max(n, 1))
    std = np.where(std > STD_FLOOR, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


@dataclass
class SegmentTable:
    """One video's segment table at a given K."""

    seg_label: np.ndarray  # (S,) int32
    seg_length: np.ndarray  # (S,) int64
    seg_instances: np.ndarray  # (S,) int32


def video_tables(ds: TASDataset, video: str, K: int) -> SegmentTable:
    labels, lengths = ds.segments(video)
    return SegmentTable(labels.astype(np.int32), lengths.astype(np.int64), instance_counts(lengths, K))


class FrameStore:
    """Standardized features, per-frame labels and coherence of a dataset's videos, on demand.

    ``standardized(v)`` returns ``(x - mean) / std`` as ``(T, D) float32`` (``standardized(v, a, b)``
    frames ``a:b`` only); up to ``cache_bytes`` of those stay in RAM (first come, first kept), the
    rest are read again from disk on each call. ``frames_read`` counts the frames read from disk.
    """

    def __init__(self, ds: TASDataset, mean: np.ndarray, std: np.ndarray, *, cache_bytes: int = 0):
        self.ds = ds
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[tuple, np.ndarray] = {}
        self._cached_bytes = 0
        self._coherence: dict[str, np.ndarray] = {}
        self.frames_read = 0  # frames read from the feature files (cache hits not counted)

    def raw(self, video: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        x = self.ds.features(video, start, stop)
        self.frames_read += x.shape[0]
        return x

    def standardized(self, video: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        key = (video, start, stop)
        x = self._cache.get(key)
        if x is not None:
            return x
        x = self.raw(video, start, stop)
        x -= self.mean
        x /= self.std
        if self._cached_bytes + x.nbytes <= self.cache_bytes:
            self._cache[key] = x
            self._cached_bytes += x.nbytes
        return x

    def labels(self, video: str) -> np.ndarray:
        """``(T,) int64`` per-frame class ids."""
        return self.ds.labels(video)

    def coherence(self, video: str) -> np.ndarray:
        """``(T,) float32``: each frame's position in its segment (independent of K)."""
        c = self._coherence.get(video)
        if c is None:
            _, lengths = self.ds.segments(video)
            _, _, c = frame_layout(lengths, np.ones_like(lengths))
            self._coherence[video] = c
        return c

    def tables(self, video: str, K: int) -> SegmentTable:
        return video_tables(self.ds, video, K)


# --- training --------------------------------------------------------------------------------
Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # x (B, D) float32, labels (B,) int64, c (B,) float32
Piece = tuple[int, int, int]  # (video position, first frame, end frame)


def rank_share(frames: Sequence[int], rank: int = 0, world: int = 1) -> list[Piece]:
    """The training frames rank ``rank`` of ``world`` reads: one contiguous run of the videos (in
    order) cut into ``(video, first, end)`` pieces, ``n // world`` frames (one more for the first
    ``n % world`` ranks). The shares are disjoint and cover the split; at most ``world - 1`` videos
    are cut between two ranks. One rank gets every video whole."""
    frames = np.asarray(frames, np.int64)
    n = int(frames.sum())
    lo = rank * (n // world) + min(rank, n % world)
    hi = lo + n // world + (1 if rank < n % world else 0)
    starts = np.concatenate(([0], np.cumsum(frames)[:-1])) if frames.size else frames
    pieces = []
    for i, (s, t) in enumerate(zip(starts.tolist(), frames.tolist())):
        a, b = max(lo, s), min(hi, s + t)
        if a < b:
            pieces.append((i, a - s, b - s))
    return pieces


def steps_per_epoch(frames: int, batch_size: int, world: int = 1) -> int:
    """Optimizer steps of an epoch as ``training_batches`` cuts it: whole batches, and the short last
    one when every rank has a frame of it."""
    n, B = int(frames), int(batch_size)
    return max(1, n // B + (1 if n % B >= world else 0))


def _shares_of_batches(n: int, B: int, rank: int, world: int) -> list[int]:
    """This rank's frames in each global batch: the global positions ``rank::world`` of it."""
    sizes = []
    for start in range(0, n, B):
        stop = min(start + B, n)
        if stop - start < B and stop - start < world:
            break  # a last batch some rank would have no frame of: every rank must take the same steps
        first = start + (rank - start) % world  # first position == rank (mod world) in [start, stop)
        sizes.append(max(0, -(-(stop - first) // world)))
    return sizes


def training_batches(store: FrameStore, videos: Sequence[str], *, batch_size: int, seed: int,
                     buffer_frames: int, rank: int = 0, world: int = 1) -> Callable[[int], Iterator[Batch]]:
    """``batches(epoch)``: this rank's minibatches of the epoch, shuffled, as numpy arrays.

    Each epoch visits the pieces of the rank's share (``rank_share``: all videos for one rank) in a
    random order, fills a buffer of up to ``buffer_frames`` frames (whole pieces, at least one),
    shuffles the frames inside it and cuts batches (a remainder carries over into the next buffer).
    The randomness depends only on ``(seed, epoch)`` (and the rank), so a resumed run sees the same
    batches. One process cuts batches of ``batch_size`` (the epoch's last may be short). Under data
    parallelism each rank reads only its share, about ``1 / world`` of the frames, and cuts it into
    the same number of steps (``steps_per_epoch``): in step ``k`` rank ``r`` takes as many frames as
    the positions ``r::world`` of the one-process batch ``k``, so the ranks' batches add up to the
    global batch (their sizes differ by one at most) and the gradient averaged over ranks is that of
    a global batch drawn from every rank's share at once (a stratified draw of the same size).
    """
    videos = list(videos)
    frames = [store.ds.num_frames(v) for v in videos]
    pieces = rank_share(frames, rank, world)
    piece_frames = np.array([b - a for _, a, b in pieces], np.int64)
    sizes = _shares_of_batches(int(sum(frames)), int(batch_size), rank, world)

    def gather(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
        xs, ls, cs = [], [], []
        for x, l, c, idx in parts:
            xs.append(x[idx])
            ls.append(l[idx])
            cs.append(c[idx])
        if len(xs) == 1:
            return xs[0], ls[0], cs[0]
        return np.concatenate(xs), np.concatenate(ls), np.concatenate(cs)

    def read(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i, a, b = pieces[k]
        v = videos[i]
        if (a, b) == (0, frames[i]):
            return store.standardized(v), store.labels(v), store.coherence(v)
        return store.standardized(v, a, b), store.labels(v)[a:b], store.coherence(v)[a:b]

    def batches(epoch: int) -> Iterator[Batch]:
        rng = np.random.default_rng((int(seed), int(epoch)) if world == 1 else (int(seed), int(epoch), int(rank)))
        order = rng.permutation(len(pieces))
        step, pending, have = 0, [], 0  # the batch being filled: its pieces and frames
        for group in _groups(order, piece_frames, buffer_frames):
            if step == len(sizes):
                return
            parts = [read(k) for k in group]
            x, l, c = (_concat([p[j] for p in parts]) for j in range(3))
            del parts
            perm = rng.permutation(x.shape[0])
            pos = 0
            while pos < perm.size and step < len(sizes):
                take = min(sizes[step] - have, perm.size - pos)
                pending.append((x, l, c, perm[pos:pos + take]))
                have += take
                pos += take
                if have == sizes[step]:
                    yield gather(pending)
                    step, pending, have = step + 1, [], 0

    return batches


def _groups(order: np.ndarray, frames: np.ndarray, limit: int) -> Iterator[list[int]]:
    group, n = [], 0
    for i in order:
        if group and n + frames[i] > limit:
            yield group
            group, n = [], 0
        group.append(int(i))
        n += int(frames[i])
    if group:
        yield group


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


# --- inversion chunks ------------------------------------------------------------------------
def chunk_videos(frames: Sequence[int], max_frames: int) -> list[list[int]]:
    """Split consecutive videos into chunks of at most ``max_frames`` frames (a longer video is
    a chunk of its own). Returns lists of video positions, in order."""
    return list(_groups(np.arange(len(frames)), np.asarray(frames, np.int64), max_frames))


def chunk_owners(frames: Sequence[int], world: int) -> list[int]:
    """The rank that inverts each chunk (``frames``: the chunks' frame counts, in order): the one
    whose ``1 / world`` of the frames holds the chunk's middle frame. Every rank gets its share of the
    frames to one chunk, and with every video kept its chunks are the videos it trained on (cached)."""
    frames = np.asarray(frames, np.int64)
    total = int(frames.sum())
    if world <= 1 or not total:
        return [0] * len(frames)
    mid2 = 2 * np.cumsum(frames) - frames  # twice the middle frame's position
    return np.minimum(mid2 * world // (2 * total), world - 1).astype(int).tolist()


@dataclass
class Chunk:
    """The frames of a few consecutive videos, laid out for inversion.

    ``x (N, D) float32`` (standardized, or raw for the repeat baselines), ``row (N,) int64`` the
    frame's instance row within the chunk, ``c (N,) float32``, ``row_label (R,) int64``.
    """

    x: np.ndarray
    row: np.ndarray
    c: np.ndarray
    row_label: np.ndarray

    @property
    def num_rows(self) -> int:
        return int(self.row_label.size)


def load_chunk(store: FrameStore, videos: Sequence[str], K: int, *, standardized: bool = True) -> Chunk:
    """The frames of ``videos`` (in order) with their instance rows at ``K``, read now."""
    tables = [store.tables(v, K) for v in videos]
    lengths = np.concatenate([t.seg_length for t in tables])
    counts = np.concatenate([t.seg_instances for t in tables])
    labels = np.concatenate([t.seg_label for t in tables])
    _, row, c = frame_layout(lengths, counts)
    get = store.standardized if standardized else store.raw
    x = _concat([get(v) for v in videos])
    return Chunk(np.ascontiguousarray(x), row, c, np.repeat(labels.astype(np.int64), counts))


def _bar(it, desc: str, enabled: bool, **kw):
    if not enabled:
        return it
    from tascodec.progress import tqdm

    return tqdm(it, desc=desc, leave=False, dynamic_ncols=True, **kw)
