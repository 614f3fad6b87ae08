"""The ``linear`` decoder (format 1.1): codes are knots, interpolated in time, then one affine map.

In a segment of ``l`` frames with ``n`` instances, instance ``j``'s code is the value at its
centre; frame ``i`` sits at ``u = ((2i + 1) n - l) / (2 l)`` in instance units (instance ``j``'s
centre is ``u = j``). Frames before the first centre take the first code, frames after the last
take the last, frames between two centres interpolate linearly:

    j = floor(u), w = u - j (float64, rounded to float32), z = z_j + w (z_{j+1} - z_j)   (float32)

then ``x = w @ z + b``. Segments never interpolate across their boundaries, so a frame depends on
its own segment's rows only (streaming and subsetting stay exact). Shapes: ``codes (R, d)``,
output ``(T, D) float32``.
"""
from __future__ import annotations

import numpy as np

from .plan import frame_span


def knots(seg_start: np.ndarray, row_start: np.ndarray, seg_length: np.ndarray, seg_instances: np.ndarray,
          start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For frames ``[start, stop)``: ``(row_a, row_b) int64`` and ``w float32``, all ``(T,)``.

    Frame ``t``'s code is ``(1 - w[t]) codes[row_a[t]] + w[t] codes[row_b[t]]`` (``row_b == row_a``
    where ``w == 0``). ``seg_start``/``row_start`` are the ``(S + 1,)`` cumulative offsets.
    """
    span = frame_span(seg_start, row_start, seg_length, seg_instances, start, stop)
    i, l, seg = span.i, span.l, span.seg
    n = np.asarray(seg_instances, np.int64)[seg]
    num = (2 * i + 1) * n - l  # u = num / (2 l)
    den = 2 * l
    j = np.where(num > 0, num // den, 0)
    inside = (num > 0) & (j < n - 1)
    j = np.minimum(j, n - 1)
    w = np.where(inside, (num - j * den) / den, 0.0).astype(np.float32)
    row_a = row_start[seg] + j
    row_b = row_a + inside
    return row_a, row_b, w


def run_linear(wt: np.ndarray, b: np.ndarray, codes: np.ndarray, row_a: np.ndarray, row_b: np.ndarray,
               w: np.ndarray, out: np.ndarray) -> None:
    """``out (T, D) = interp(codes) @ wt + b`` with ``wt (d, D)`` (the transposed ``w``)."""
    za = codes[row_a]
    dz = codes[row_b]
    dz -= za
    dz *= w[:, None]
    za += dz
    np.matmul(za, wt, out=out)
    out += b
