"""Temporal smoothing of restored features: a centred moving average over ``width`` frames.

Not part of the format (spec section 4 decodes exactly); an option of the restore, for training.
A ``pca`` restore is exact where the codec put its knots and, by the format's rule, never
interpolates across an action boundary, so at small budgets its frames jump at every boundary and
are smooth between: a segmentation model trained on them learns those jumps and over-segments
real, noisier test features. Averaging over a few frames, across boundaries, removes the jumps at
almost no cost in restored error (``benchmarks/rate_downstream.py`` measures both).

Frame ``t`` becomes the mean of frames ``t - width // 2 ... t - width // 2 + width - 1`` of its
video, the first and last frame repeated past the ends. ``smooth_blocks`` streams the same filter
over consecutive blocks (equal to ``smooth_frames`` of the whole video within float32 rounding).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from ..errors import UsageError


def check_width(width) -> int:
    """``width`` as a frame count >= 1 (1: no smoothing), or ``UsageError``."""
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise UsageError(f"smooth must be a whole number of frames >= 1, got {width!r}")
    return int(width)


def _window(x: np.ndarray, width: int) -> np.ndarray:
    """Means of every ``width`` consecutive rows of ``x`` (``len(x) - width + 1`` rows)."""
    run = np.cumsum(x, axis=0, dtype=np.float64)
    out = run[width - 1:].copy()
    out[1:] -= run[:-width]
    out /= width
    return out.astype(np.float32)


def smooth_frames(x: np.ndarray, width: int) -> np.ndarray:
    """``x (T, D)`` averaged over ``width`` frames (a new float32 array; ``x`` itself when width is 1)."""
    width = check_width(width)
    if width == 1 or len(x) == 0:
        return x
    return _emit(x, 0, 0, len(x), len(x), width // 2, width)


def smooth_blocks(blocks: Iterable[np.ndarray], num_frames: int, width: int) -> Iterator[np.ndarray]:
    """``smooth_frames`` of the concatenated ``blocks`` (a video of ``num_frames`` frames), streamed:
    at most ``width`` frames are held back between blocks."""
    width = check_width(width)
    if width == 1:
        yield from blocks
        return
    before, after = width // 2, width - 1 - width // 2
    held = np.zeros((0, 0), np.float32)  # input frames [start, start + len(held))
    start = emitted = 0
    for block in blocks:
        held = block if held.size == 0 else np.concatenate([held, block])
        have = start + len(held)  # input frames read so far
        stop = num_frames if have >= num_frames else max(emitted, have - after)  # outputs computable now
        if stop > emitted:
            yield _emit(held, start, emitted, stop, num_frames, before, width)
            emitted = stop
        keep = max(0, min(emitted - before, have) - start)  # the next window starts at emitted - before
        held, start = held[keep:], start + keep
    if emitted < num_frames:
        raise UsageError(f"blocks hold {start + len(held)} frames, expected {num_frames}")


def _emit(held, start, o0, o1, T, before, width) -> np.ndarray:
    """Outputs ``[o0, o1)`` of a ``T``-frame video from ``held``, its frames from ``start`` on."""
    idx = np.clip(np.arange(o0 - before, o1 - before + width - 1), 0, T - 1) - start
    return _window(held[idx], width)
