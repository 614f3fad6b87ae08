"""Segments, instances and coherence: the frame bookkeeping shared by encoder and decoder.

Normative definitions (spec/tasz-v1.md, section 4.1 "Frame layout"; ``frame_layout`` itself lives in
``tascodec.container.normative``, shared with the reader and the decoders):

- A *segment* is a maximal run of identical consecutive frame labels.
- A segment of length ``l`` is split into ``n = min(K, l)`` *instances*; frame ``i`` (0-based
  within the segment) belongs to instance ``floor(i * n / l)``. Instance sizes differ by at
  most one and none is empty.
- The *coherence* of frame ``i`` is ``c = i / (l - 1)`` computed in float64 and rounded to
  float32; ``c = 0`` when ``l == 1``. It runs over the whole segment, not over the instance.
"""
from __future__ import annotations

import numpy as np

from ..container.normative import frame_layout

__all__ = ["runs", "instance_counts", "frame_layout", "instance_sizes"]


def runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split per-frame labels ``(T,)`` into segments: ``(seg_labels int32 (S,), seg_lengths int64 (S,))``."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [labels.size]))
    return labels[starts].astype(np.int32), (ends - starts).astype(np.int64)


def instance_counts(lengths: np.ndarray, K: int) -> np.ndarray:
    """Instances per segment, ``min(K, l)``, as int32 ``(S,)``."""
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    return np.minimum(np.asarray(lengths, np.int64), K).astype(np.int32)


def instance_sizes(lengths: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Frames per instance, ``(sum(counts),) int64``, in row order."""
    _, row, _ = frame_layout(lengths, counts)
    return np.bincount(row, minlength=int(np.sum(counts))).astype(np.int64)
