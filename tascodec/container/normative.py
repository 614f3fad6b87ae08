"""The normative per-frame pieces of spec/tasz-v1.md that reader, encoder and decoders share.

Numpy only, nothing else from tascodec: the container reader (random codes), the decoders and
their reference (frame layout, random codes) and the encoder all compute them from here.

Frame layout (spec section 4.1): a segment of length ``l`` with ``n`` instances (encoders use
``n = min(K, l)``) gives frame ``i`` (0-based within the segment) the instance ``floor(i * n / l)``
and the coherence ``c = i / (l - 1)`` (float64, rounded to float32; ``c = 0`` when ``l == 1``),
running over the whole segment, not over the instance.

Random codes (spec section 4.5), all arithmetic on unsigned 64-bit integers mod 2^64:

    splitmix64(x): x += 0x9E3779B97F4A7C15; x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
                   x = (x ^ (x >> 27)) * 0x94D049BB133111EB; return x ^ (x >> 31)
    fnv1a64(bytes): h = 0xCBF29CE484222325; for b in bytes: h = (h ^ b) * 0x100000001B3
    base = splitmix64(seed ^ fnv1a64(utf8(video name)))
    element e = j * d + t of the video's local row j, column t:
        u1 = splitmix64(base + 2e), u2 = splitmix64(base + 2e + 1)
        U1 = ((u1 >> 11) + 1) * 2^-53,  U2 = (u2 >> 11) * 2^-53            (float64)
        z  = float32( sqrt(-2 ln U1) * cos(2 pi U2) )

Keyed by video name and local row, so subsetting or merging containers never changes a video's codes.
"""
from __future__ import annotations

import numpy as np

_M64 = (1 << 64) - 1


# --- frame layout (spec section 4.1) ---------------------------------------------------------
def frame_layout(lengths: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame bookkeeping of consecutive segments.

    Args:
        lengths: ``(S,)`` segment lengths (>= 1).
        counts: ``(S,)`` instances per segment (1 <= n <= l).
    Returns:
        ``segment (T,) int64``: index of the frame's segment;
        ``row (T,) int64``: index of the frame's instance among all ``sum(counts)`` instances;
        ``c (T,) float32``: the frame's coherence within its segment.
    """
    lengths = np.asarray(lengths, np.int64)
    counts = np.asarray(counts, np.int64)
    T = int(lengths.sum())
    seg = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    seg_start = np.concatenate(([0], np.cumsum(lengths)[:-1])) if lengths.size else np.zeros(0, np.int64)
    i = np.arange(T, dtype=np.int64) - seg_start[seg]
    l = lengths[seg]
    n = counts[seg]
    row_start = np.concatenate(([0], np.cumsum(counts)[:-1])) if counts.size else np.zeros(0, np.int64)
    row = row_start[seg] + (i * n) // l
    denom = np.maximum(l - 1, 1).astype(np.float64)
    c = (i.astype(np.float64) / denom).astype(np.float32)
    return seg, row, c


# --- random codes (spec section 4.5) ---------------------------------------------------------
def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def random_codes(seed: int, video: str, num_rows: int, dim: int) -> np.ndarray:
    """``(num_rows, dim) float32`` standard-normal codes of one video."""
    key = np.uint64((int(seed) & _M64) ^ fnv1a64(video.encode("utf-8")))
    base = _splitmix64(np.array([key], np.uint64))[0]
    e = np.arange(num_rows * dim, dtype=np.uint64)
    with np.errstate(over="ignore"):
        u1 = _splitmix64(base + np.uint64(2) * e)
        u2 = _splitmix64(base + np.uint64(2) * e + np.uint64(1))
    U1 = ((u1 >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
    U2 = (u2 >> np.uint64(11)).astype(np.float64) * 2.0**-53
    z = np.sqrt(-2.0 * np.log(U1)) * np.cos(2.0 * np.pi * U2)
    return z.astype(np.float32).reshape(num_rows, dim)
