"""Codes of the Mean and Coreset baselines: one real-space frame per instance (``Decoder(kind="repeat")``).

Shapes: N frames, R instances, D feature dim. ``x (N, D)`` raw (un-normalised) features, ``row (N,)`` the
instance of each frame. Rows without frames get zero codes (never produced by ``frame_layout``).
"""
from __future__ import annotations

import numpy as np

_CHUNK = 65536


def _sums(x: np.ndarray, row: np.ndarray, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row float64 sums ``(R, D)`` and frame counts ``(R,)``."""
    counts = np.bincount(row, minlength=num_rows).astype(np.int64)
    sums = np.zeros((num_rows, x.shape[1]), np.float64)
    for s in range(0, row.size, _CHUNK):
        r, xs = row[s:s + _CHUNK], x[s:s + _CHUNK]
        if r.size and np.all(r[1:] >= r[:-1]):              # sorted rows (the usual case): segment sums
            starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            sums[r[starts]] += np.add.reduceat(xs, starts, axis=0, dtype=np.float64)
        else:
            np.add.at(sums, r, xs.astype(np.float64))
    return sums, counts


def _check(x, row, num_rows) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    row = np.asarray(row, np.int64)
    if x.ndim != 2 or row.shape != (x.shape[0],):
        raise ValueError(f"need x (N, D) and row (N,), got {x.shape} and {row.shape}")
    if row.size and (row.min() < 0 or row.max() >= num_rows):
        raise ValueError(f"row indices must lie in [0, {num_rows})")
    return x, row


def mean_codes(x, row, num_rows: int) -> np.ndarray:
    """The mean frame of each instance, ``(R, D) float32`` (accumulated in float64)."""
    x, row = _check(x, row, num_rows)
    sums, counts = _sums(x, row, num_rows)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def coreset_codes(x, row, num_rows: int) -> np.ndarray:
    """Herding with one pick: the real frame of each instance nearest its mean (ties: the earliest frame).

    Returns ``(R, D)`` in ``x``'s dtype (exact copies of frames).
    """
    x, row = _check(x, row, num_rows)
    sums, counts = _sums(x, row, num_rows)
    means = sums / np.maximum(counts, 1)[:, None]
    dist = np.empty(row.size, np.float64)
    for s in range(0, row.size, _CHUNK):
        diff = x[s:s + _CHUNK].astype(np.float64) - means[row[s:s + _CHUNK]]
        dist[s:s + _CHUNK] = np.einsum("ij,ij->i", diff, diff)
    order = np.lexsort((np.arange(row.size), dist, row))         # by row, then distance, then frame
    first = order[np.r_[True, row[order][1:] != row[order][:-1]]] if row.size else order
    out = np.zeros((num_rows, x.shape[1]), x.dtype)
    out[row[first]] = x[first]
    return out
