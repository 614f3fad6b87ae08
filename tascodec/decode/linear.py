"""The ``linear`` decoder (format 1.1): codes are knots, interpolated in time, then one affine map.

In a segment of ``l`` frames with ``n`` instances, instance ``j``'s code is the value at its
centre; frame ``i`` sits at ``u = ((2i + 1) n - l) / (2 l)`` in instance units (instance ``j``'s
centre is ``u = j``). Frames before the first centre take the first code, frames after the last
take the last, frames between two centres interpolate linearly:

    j = floor(u), w = u - j (float64, rounded to float32), z = z_j + w (z_{j+1} - z_j)   (float32)

then ``x = w @ z + b``. Segments never interpolate across their boundaries, so a frame depends on
its own segment's rows only (streaming and subsetting stay exact). Shapes: ``codes (R, d)``,
output ``(T, D) float32``.

``x`` is affine in ``z``, so ``run_linear`` maps each knot once (``y_r = w @ z_r + b``) and
interpolates the mapped knots, ``x = y_a + w (y_b - y_a)``: ``d`` multiply-adds per output value
become ``d / (frames per knot) + 2`` (equal to the formula above within float32 rounding). When
there are about as many knots as frames it maps the frames' codes directly, as the formula says.
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


# frames per knot from which mapping the knots first is cheaper than mapping every frame
KNOT_FIRST_MIN = 1.5
# frames interpolated at once: the block and its temporaries stay in the CPU's cache
LERP_BLOCK = 32


def knot_first(num_frames: int, num_rows: int) -> bool:
    """Whether a video of ``num_frames`` frames and ``num_rows`` knots decodes faster knot-first (decided
    per video, never per block, so that a streamed decode computes every frame the way a whole one does)."""
    return num_frames >= KNOT_FIRST_MIN * num_rows


def run_linear(wt: np.ndarray, b: np.ndarray, codes: np.ndarray, row_a: np.ndarray, row_b: np.ndarray,
               w: np.ndarray, out: np.ndarray, knots_first: bool = True) -> None:
    """``out (T, D) = interp(codes) @ wt + b`` with ``wt (d, D)`` (the transposed ``w``); ``knots_first``:
    map the knots, then interpolate (see ``knot_first``), else map every frame's interpolated code."""
    T = out.shape[0]
    if not T:
        return
    r0, r1 = int(row_a[0]), int(row_b[-1]) + 1  # rows ascend with the frames
    if not knots_first:
        za = codes[row_a]
        dz = codes[row_b]
        dz -= za
        dz *= w[:, None]
        za += dz
        np.matmul(za, wt, out=out)
        out += b
        return
    y = np.matmul(codes[r0:r1], wt)  # every knot of the range, mapped once
    y += b
    ra = row_a - r0
    dy = knot_steps(y, ra, row_b - r0)
    for s in range(0, T, LERP_BLOCK):  # x = y_a + w (y_b - y_a), a block at a time
        e = min(T, s + LERP_BLOCK)
        step = dy[ra[s:e]]
        step *= w[s:e, None]
        np.add(y[ra[s:e]], step, out=out[s:e])


def knot_steps(y: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """``dy[r] = y[r + 1] - y[r]`` for the knots some frame interpolates from, 0 elsewhere (a frame
    with ``w = 0`` then adds exactly 0, whatever the next segment's knot holds)."""
    dy = np.zeros_like(y)
    r = np.unique(ra[rb > ra])
    dy[r] = y[r + 1] - y[r]
    return dy
