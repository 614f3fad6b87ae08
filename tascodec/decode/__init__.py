"""Restoring frames from instance codes: exact, fast, and streaming.

``decode_segments`` / ``iter_decode_segments`` work on one video's arrays (numpy only);
``decode_video`` / ``iter_decode_video`` take a container and a video name. The numpy path never
imports torch; ``backend="torch"`` (CPU or CUDA) runs the same plan in torch. Every path equals
``reference.reference_decode`` within float32 rounding (see ``plan.py`` for the rewrites).

Shapes: ``codes (R, d)`` the video's instance rows, ``seg_label/seg_length/seg_instances (S,)``,
output ``(T, D) float32``.
"""
from __future__ import annotations

import weakref
from typing import Iterator

import numpy as np

from ..container.content import Decoder
from ..errors import UsageError
from . import linear, numpy_backend
from .plan import Prepared, frame_span, plan_mlp, prepare, segment_starts

__all__ = ["decode_segments", "iter_decode_segments", "decode_video", "iter_decode_video", "prepared"]

# frames planned and run at once: bounds the temporaries and keeps the per-instance tables in cache
WORK_FRAMES = 4096
BACKENDS = ("numpy", "torch")

_PREPARED: dict[int, tuple[weakref.ref, Prepared]] = {}


def prepared(decoder: Decoder | Prepared) -> Prepared:
    """``decoder`` folded for decoding, cached per decoder object (weights are treated as immutable)."""
    if isinstance(decoder, Prepared):
        return decoder
    hit = _PREPARED.get(id(decoder))
    if hit is not None and hit[0]() is decoder:
        return hit[1]
    prep = prepare(decoder)
    if len(_PREPARED) >= 8:
        _PREPARED.clear()
    _PREPARED[id(decoder)] = (weakref.ref(decoder), prep)
    return prep


class VideoTables:
    """One video's segment table and codes, checked, with the offsets a frame range needs."""

    def __init__(self, prep: Prepared, codes: np.ndarray, seg_label: np.ndarray, seg_length: np.ndarray,
                 seg_instances: np.ndarray):
        self.seg_label = np.asarray(seg_label, np.int64)
        self.seg_length = np.asarray(seg_length, np.int64)
        self.seg_instances = np.asarray(seg_instances, np.int64)
        S = self.seg_label.shape
        if len(S) != 1 or self.seg_length.shape != S or self.seg_instances.shape != S:
            raise UsageError("seg_label, seg_length and seg_instances must be 1-D of equal length")
        if np.any(self.seg_instances < 1) or np.any(self.seg_instances > self.seg_length):
            raise UsageError("every segment needs 1 <= instances <= length")
        self.codes = np.ascontiguousarray(codes, np.float32)
        self.seg_start = segment_starts(self.seg_length)
        self.row_start = segment_starts(self.seg_instances)
        width = prep.feature_dim if prep.kind == "repeat" else prep.latent_dim
        if self.codes.shape != (int(self.row_start[-1]), width):
            raise UsageError(f"codes have shape {self.codes.shape}, expected ({int(self.row_start[-1])}, {width})")
        self.num_frames = int(self.seg_start[-1])

    def knots(self, start: int, stop: int):
        return linear.knots(self.seg_start, self.row_start, self.seg_length, self.seg_instances, start, stop)

    def span(self, start: int, stop: int):
        return frame_span(self.seg_start, self.row_start, self.seg_length, self.seg_instances, start, stop)

    def range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.num_frames if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= self.num_frames:
            raise UsageError(f"frame range [{start}, {stop}) is outside [0, {self.num_frames}]")
        return start, stop


def _decode_into(prep: Prepared, v: VideoTables, start: int, stop: int, out: np.ndarray) -> None:
    for s in range(start, stop, WORK_FRAMES):
        e = min(stop, s + WORK_FRAMES)
        block = out[s - start:e - start]
        if prep.kind == "linear":
            linear.run_linear(prep.w2t, prep.b2, v.codes, *v.knots(s, e), block,
                              linear.knot_first(v.num_frames, v.codes.shape[0]))
            continue
        span = v.span(s, e)
        if prep.kind == "repeat":
            numpy_backend.run_repeat(v.codes, span.row, block)
        else:
            numpy_backend.run_mlp(prep, plan_mlp(prep, v.codes, v.seg_label, span), block)


def decode_segments(decoder: Decoder | Prepared, codes: np.ndarray, seg_label: np.ndarray,
                    seg_length: np.ndarray, seg_instances: np.ndarray, *, start: int = 0,
                    stop: int | None = None) -> np.ndarray:
    """Frames ``[start, stop)`` of one video, ``(stop - start, D) float32`` (numpy only)."""
    prep = prepared(decoder)
    v = VideoTables(prep, codes, seg_label, seg_length, seg_instances)
    start, stop = v.range(start, stop)
    out = np.empty((stop - start, prep.feature_dim), np.float32)
    _decode_into(prep, v, start, stop, out)
    return out


def iter_decode_segments(decoder: Decoder | Prepared, codes: np.ndarray, seg_label: np.ndarray,
                         seg_length: np.ndarray, seg_instances: np.ndarray, *,
                         chunk_frames: int = 65536) -> Iterator[np.ndarray]:
    """Consecutive ``(<= chunk_frames, D) float32`` blocks whose concatenation is the whole decode.

    Memory stays bounded by one block plus small work arrays, whatever the video's length.
    """
    if chunk_frames < 1:
        raise UsageError(f"chunk_frames must be >= 1, got {chunk_frames}")
    prep = prepared(decoder)
    v = VideoTables(prep, codes, seg_label, seg_length, seg_instances)
    return _iter_blocks(prep, v, int(chunk_frames))


def _iter_blocks(prep: Prepared, v: VideoTables, chunk_frames: int) -> Iterator[np.ndarray]:
    # Decode in the same WORK_FRAMES windows as a whole decode, then re-cut into chunk_frames
    # blocks: the concatenation is bit-identical to decode_segments, whatever chunk_frames is.
    pending: list[np.ndarray] = []
    have = 0
    for s in range(0, v.num_frames, WORK_FRAMES):
        e = min(v.num_frames, s + WORK_FRAMES)
        window = np.empty((e - s, prep.feature_dim), np.float32)
        _decode_into(prep, v, s, e, window)
        pending.append(window)
        have += e - s
        while have >= chunk_frames or (e == v.num_frames and have):
            buf = pending[0] if len(pending) == 1 else np.concatenate(pending)
            n = min(chunk_frames, have)
            yield buf[:n].copy() if n < buf.shape[0] else buf
            pending = [buf[n:]] if n < buf.shape[0] else []
            have -= n


def _video_arrays(container, video: str):
    labels, lengths, instances = container.segments(video)
    return container.codes(video), labels, lengths, instances


def decode_video(container, video: str, *, backend: str = "numpy", device=None) -> np.ndarray:
    """The ``(T, D) float32`` frames of ``video`` in ``container`` (an open ``.tasz``)."""
    _check_backend(backend, device)
    arrays = _video_arrays(container, video)
    if backend == "torch":
        from .torch_backend import decode_segments_torch

        return decode_segments_torch(container.decoder, *arrays, device=device).cpu().numpy()
    return decode_segments(container.decoder, *arrays)


def iter_decode_video(container, video: str, *, chunk_frames: int = 65536, backend: str = "numpy",
                      device=None) -> Iterator[np.ndarray]:
    """``(<= chunk_frames, D) float32`` numpy blocks of ``video``; their concatenation is ``decode_video``."""
    _check_backend(backend, device)
    arrays = _video_arrays(container, video)
    if backend == "torch":
        from .torch_backend import iter_decode_segments_torch

        blocks = iter_decode_segments_torch(container.decoder, *arrays, device=device, chunk_frames=chunk_frames)
        return (b.cpu().numpy() for b in blocks)
    return iter_decode_segments(container.decoder, *arrays, chunk_frames=chunk_frames)


def _check_backend(backend: str, device) -> None:
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy" and device not in (None, "cpu"):
        raise UsageError(f"the numpy backend runs on the CPU; use backend='torch' for device={device!r}")
