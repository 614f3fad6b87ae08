"""Boundary smoothing of restored features: the restore's deblocking filter, for training.

Not part of the format (spec section 4 decodes exactly); an option of the restore. A ``pca``
restore is exact where the codec put its knots and, by the format's rule, never interpolates
across an action boundary, so at small budgets its frames jump at every boundary and are smooth
between: a segmentation model trained on them learns those jumps and over-segments real test
features, whose boundaries are gradual. ``benchmarks/rate_downstream.py`` measures it.

With ``width`` ``w``, frame ``t``'s window is frames ``t - w // 2 ... t - w // 2 + w - 1`` of its
video, clipped to the video (the first and last frame repeated past the ends). A frame whose window
reaches into another segment becomes the window's mean; every other frame is kept exactly, so the
filter only touches about ``w`` frames around each boundary.

``"auto"`` chooses per video (``auto_width``): for a ``linear`` decoder twice the video's mean knot
spacing, ``round(2 T / R)`` for ``T`` frames and ``R`` code rows; 1, the exact restore, for the
other decoders, where it was not measured. Chosen on the 0.1%-of-raw files of ``rate_downstream.py``
(MS-TCN, 3 seeds, share of the original's mean score kept): GTEA-like, exact 83%, 8 frames (0.8
spacings) 93%, two spacings 96%, three 103%; Breakfast-like, exact 90%, one spacing 96%, two 95%,
three (per video, the benchmark's run) 87%. Two has the best worst case against the generic codec
(98% and 93% there); the README (Rate and quality) has the runs at every budget. The widths stay
small where knots are dense (4 frames at 2% of raw), so the restored error barely moves there. A
video's width depends on its own rows only, so it restores alike in a subset or merge of its
container.

``smooth_blocks`` streams the filter over consecutive blocks, holding back at most ``w`` frames;
its output equals ``smooth_frames`` within float32 rounding.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from ..errors import UsageError

AUTO = "auto"
AUTO_SPACINGS = 2  # "auto": the width in mean knot spacings (measured: see the module notes)


def check_width(width) -> int | str:
    """``width`` as a frame count >= 1 (1: the exact restore) or ``"auto"``, or ``UsageError``."""
    if width == AUTO and isinstance(width, str):
        return AUTO
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise UsageError(f"smooth must be a whole number of frames >= 1 or 'auto', got {width!r}")
    return int(width)


def _width(frames, knots):
    """The auto rule: ``round(AUTO_SPACINGS * frames / knots)``, at least 1; 1 where there are no
    knots (elementwise; round half to even)."""
    w = np.round(AUTO_SPACINGS * np.asarray(frames) / np.maximum(knots, 1))
    return np.where(np.asarray(knots) > 0, np.maximum(1, w), 1).astype(np.int64)


def auto_width(container, video) -> int:
    """The width ``"auto"`` means for ``video`` of ``container`` (see the module notes)."""
    if container.decoder.kind != "linear":
        return 1
    _, lengths, rows = container.segments(video)
    return int(_width(int(lengths.sum()), int(rows.sum())))


def auto_widths(container) -> np.ndarray:
    """``auto_width`` of every video, ``(V,) int64``, from the tables at once (``tasz info``)."""
    off, _, lengths, rows = container.segment_table()
    if container.decoder.kind != "linear" or len(off) < 2:
        return np.ones(max(len(off) - 1, 0), np.int64)
    frames = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])[off]
    knots = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])[off]
    return _width(np.diff(frames), np.diff(knots))


def resolve_width(width, container, video) -> int:
    """``width`` checked, ``"auto"`` replaced by ``auto_width``."""
    width = check_width(width)
    return auto_width(container, video) if width == AUTO else width


def smooth_frames(x: np.ndarray, width: int, lengths) -> np.ndarray:
    """``x (T, D)``, a video of segments of ``lengths`` frames, smoothed across its boundaries over
    ``width`` frames (a new float32 array, or ``x`` itself when no frame changes)."""
    width = _fixed(width)
    seg = _segment_ids(lengths, len(x))
    if width == 1 or len(x) == 0:
        return x
    return _emit(x, 0, 0, len(x), seg, width // 2, width)


def smooth_blocks(blocks: Iterable[np.ndarray], lengths, width: int) -> Iterator[np.ndarray]:
    """``smooth_frames`` of the concatenated ``blocks`` (a video of segments of ``lengths``
    frames), streamed: at most ``width`` frames are held back between blocks."""
    width = _fixed(width)
    if width == 1:
        yield from blocks
        return
    lengths = np.asarray(lengths, np.int64)
    num_frames = int(lengths.sum())
    seg = _segment_ids(lengths, num_frames)
    before, after = width // 2, width - 1 - width // 2
    held = np.zeros((0, 0), np.float32)  # input frames [start, start + len(held))
    start = emitted = 0
    for block in blocks:
        held = block if held.size == 0 else np.concatenate([held, block])
        have = start + len(held)  # input frames read so far
        stop = num_frames if have >= num_frames else max(emitted, have - after)  # outputs computable now
        if stop > emitted:
            yield _emit(held, start, emitted, stop, seg, before, width)
            emitted = stop
        keep = max(0, min(emitted - before, have) - start)  # the next window starts at emitted - before
        held, start = held[keep:], start + keep
    if emitted < num_frames:
        raise UsageError(f"blocks hold {start + len(held)} frames, expected {num_frames}")


def _fixed(width) -> int:
    width = check_width(width)
    if width == AUTO:
        raise UsageError("smooth='auto' is resolved per container and video (resolve_width)")
    return width


def _segment_ids(lengths, num_frames: int) -> np.ndarray:
    lengths = np.asarray(lengths, np.int64)
    if lengths.ndim != 1 or (lengths < 0).any() or int(lengths.sum()) != num_frames:
        raise UsageError(f"segment lengths must be >= 0 and add up to the video's {num_frames} frames")
    return np.repeat(np.arange(len(lengths)), lengths)


def _emit(held, start, o0, o1, seg, before, width) -> np.ndarray:
    """Outputs ``[o0, o1)`` of the video from ``held``, its frames from ``start`` on."""
    T = len(seg)
    t = np.arange(o0, o1)
    cross = seg[np.clip(t - before, 0, T - 1)] != seg[np.clip(t - before + width - 1, 0, T - 1)]
    if not cross.any():
        return held if (o0 - start, o1 - start) == (0, len(held)) else held[o0 - start:o1 - start]
    out = held[o0 - start:o1 - start]
    out = out.astype(np.float32, copy=True)
    edges = np.diff(np.concatenate([[0], cross.astype(np.int8), [0]]))
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):  # runs of changed frames
        idx = np.clip(np.arange(o0 + a - before, o0 + b - before + width - 1), 0, T - 1) - start
        out[a:b] = _window(held[idx], width)
    return out


def _window(x: np.ndarray, width: int) -> np.ndarray:
    """Means of every ``width`` consecutive rows of ``x`` (``len(x) - width + 1`` rows)."""
    run = np.cumsum(x, axis=0, dtype=np.float64)
    out = run[width - 1:].copy()
    out[1:] -= run[:-width]
    out /= width
    return out.astype(np.float32)
