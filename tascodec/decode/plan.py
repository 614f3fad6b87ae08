"""Planning a decode: the cheap, per-instance half of the MLP decoder, in numpy.

The decoder maps ``[z | onehot(a) | c]`` to ``x = std * (W2 relu(W1 [z, a, c] + b1) + b2) + mean``.
Three exact rewrites make restoring cheap:

1. Fold the normalisation into the output layer: ``W2' = diag(std) W2``, ``b2' = std * b2 + mean``.
2. Within an instance only ``c`` varies, so the first layer is ``u + c * w_c`` with ``u = W1z z +
   W1a[:, a] + b1`` computed once per instance.
3. ``u + c * w_c`` is linear in ``c``: a hidden unit with the same sign at an instance's first and
   last frame keeps it on every frame between. With ``m`` the units on at both ends,
   ``y = alpha + c * beta`` where ``alpha = W2'(m * u) + b2'`` and ``beta = W2'(m * w_c)``: one GEMM
   over instances, not frames. The few units that switch inside an instance are added exactly,
   per frame: ``relu(u_s + c w_s) W2'[:, s]``.

A ``Plan`` holds, for one frame range, everything but the ``D``-wide work: ``hidden`` (whose product
with ``W2'^T`` gives every ``alpha``/``beta``), the switching units and their per-frame values
``relu(u_s + c w_s)``. The backends run the ``D``-wide work each in the way that suits it (numpy: one
small ``X @ W`` product per instance; torch: a few whole-range gathers and scatters).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..container.content import Decoder
from ..errors import UsageError


@dataclass(frozen=True)
class Prepared:
    """A decoder folded for fast decoding (float32, C-contiguous).

    mlp: ``w1z (H, d)``, ``w1a (C, H)`` (label columns, transposed), ``wc (H,)``, ``b1 (H,)``,
    ``w2t (H, D) = (diag(std) W2)^T``, ``b2 (D,) = std * b2 + mean``. repeat: all ``None``.
    """

    kind: str
    feature_dim: int
    latent_dim: int
    w1z: np.ndarray | None = None
    w1a: np.ndarray | None = None
    wc: np.ndarray | None = None
    b1: np.ndarray | None = None
    w2t: np.ndarray | None = None
    b2: np.ndarray | None = None


def prepare(decoder: Decoder) -> Prepared:
    """Fold ``decoder`` into a ``Prepared`` (costs one pass over its weights)."""
    if decoder.kind == "repeat":
        return Prepared("repeat", decoder.feature_dim, decoder.latent_dim)
    if decoder.kind != "mlp" or decoder.activation != "relu":
        raise UsageError(f"cannot decode a {decoder.kind}/{decoder.activation} decoder")
    w = decoder.float32_weights()
    d, C = decoder.latent_dim, decoder.num_classes
    w1 = w["w1"]
    std, mean = w["std"], w["mean"]
    c = np.ascontiguousarray
    return Prepared(
        "mlp", decoder.feature_dim, d,
        w1z=c(w1[:, :d]), w1a=c(w1[:, d:d + C].T), wc=c(w1[:, d + C]), b1=c(w["b1"]),
        w2t=c((w["w2"] * std[:, None]).T), b2=c(w["b2"] * std + mean),
    )


@dataclass(frozen=True)
class Span:
    """Per-frame bookkeeping of frames ``[start, stop)`` of a video (see ``frame_span``).

    ``row (T,) int64`` global instance row, ``c (T,) float32`` coherence, ``seg (T,) int64`` global
    segment, ``i (T,) int64`` frame index within its segment, ``l (T,) int64`` its segment's length.
    """

    row: np.ndarray
    c: np.ndarray
    seg: np.ndarray
    i: np.ndarray
    l: np.ndarray


def segment_starts(seg_length: np.ndarray) -> np.ndarray:
    """``(S + 1,) int64`` first frame of each segment, then the total frame count."""
    return np.concatenate(([0], np.cumsum(np.asarray(seg_length, np.int64))))


def frame_span(seg_start: np.ndarray, row_start: np.ndarray, seg_length: np.ndarray,
               seg_instances: np.ndarray, start: int, stop: int) -> Span:
    """The frame layout of ``tascodec.data.segments.frame_layout``, restricted to ``[start, stop)``.

    ``seg_start``/``row_start`` are the ``(S + 1,)`` cumulative offsets of frames and rows.
    Touches only the segments that overlap the range.
    """
    t = np.arange(start, stop, dtype=np.int64)
    s0 = int(np.searchsorted(seg_start, start, side="right")) - 1
    s1 = int(np.searchsorted(seg_start, stop, side="left"))
    first = np.maximum(seg_start[s0:s1], start)
    last = np.minimum(seg_start[s0 + 1:s1 + 1], stop)
    seg = np.repeat(np.arange(s0, s1, dtype=np.int64), last - first)
    i = t - seg_start[seg]
    l = np.asarray(seg_length, np.int64)[seg]
    n = np.asarray(seg_instances, np.int64)[seg]
    row = row_start[seg] + (i * n) // l
    c = (i.astype(np.float64) / np.maximum(l - 1, 1).astype(np.float64)).astype(np.float32)
    return Span(row=row, c=c, seg=seg, i=i, l=l)


@dataclass(frozen=True)
class Plan:
    """The MLP decode of one frame range, ready for a backend.

    ``N`` groups (the range's instances, clipped to it), ``T`` frames, ``E`` switching units over
    all groups, ``Q`` (frame, switching unit of its group) pairs:

    - ``hidden (2N, H) float32``: rows ``2k = m * u``, ``2k + 1 = m * w_c`` of group ``k``, so that
      ``hidden @ w2t`` gives ``alpha - b2'`` and ``beta`` of every group.
    - ``frame_off (N + 1,) int64``: group ``k`` is frames ``[frame_off[k], frame_off[k+1])`` of the range.
    - ``c (T,) float32``: the frames' coherence.
    - ``ev_unit (E,) int64``, ``ev_off (N + 1,) int64``: group ``k`` switches units
      ``ev_unit[ev_off[k]:ev_off[k+1]]``.
    - ``pair_frame``, ``pair_event`` ``(Q,) int64`` and ``pair_value (Q,) float32``: frame
      ``pair_frame[q]`` gets ``pair_value[q] * w2t[ev_unit[pair_event[q]]]`` on top of
      ``alpha + c * beta``; ordered by group, then unit, then frame (``relu``'s zeros included).
    """

    hidden: np.ndarray
    frame_off: np.ndarray
    c: np.ndarray
    ev_unit: np.ndarray
    ev_off: np.ndarray
    pair_frame: np.ndarray
    pair_event: np.ndarray
    pair_value: np.ndarray

    @property
    def num_groups(self) -> int:
        return self.frame_off.size - 1


def ragged_arange(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(n) for n in counts])``."""
    counts = np.asarray(counts, np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


def plan_mlp(prep: Prepared, codes: np.ndarray, seg_label: np.ndarray, span: Span) -> Plan:
    """Plan the MLP decode of the frames in ``span``; ``codes (R, d) float32`` are the video's rows."""
    T = span.row.size
    row, c = span.row, span.c
    first = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1]))) if T else np.zeros(0, np.int64)
    frame_off = np.append(first, T).astype(np.int64)
    n = np.diff(frame_off)
    N = first.size
    # first layer, once per group: u = W1z z + W1a[:, a] + b1
    u = codes[row[first]] @ prep.w1z.T
    u += prep.w1a[np.asarray(seg_label)[span.seg[first]]]
    u += prep.b1
    on_first = (u + c[first, None] * prep.wc) > 0
    on_last = (u + c[frame_off[1:] - 1, None] * prep.wc) > 0
    steady = on_first & on_last
    hidden = np.empty((N, 2, u.shape[1]), np.float32)
    np.multiply(u, steady, out=hidden[:, 0])
    np.multiply(prep.wc, steady, out=hidden[:, 1])

    # units whose sign differs at the two ends switch inside the group: exact values per frame
    k, s = np.nonzero(on_first != on_last)  # sorted by group, then unit
    ev_off = np.concatenate(([0], np.cumsum(np.bincount(k, minlength=N)))).astype(np.int64)
    pair_event = np.repeat(np.arange(k.size, dtype=np.int64), n[k])
    pair_frame = frame_off[k][pair_event] + ragged_arange(n[k])
    value = u[k, s][pair_event] + c[pair_frame] * prep.wc[s][pair_event]
    return Plan(hidden=hidden.reshape(2 * N, -1), frame_off=frame_off, c=c, ev_unit=s.astype(np.int64),
                ev_off=ev_off, pair_frame=pair_frame, pair_event=pair_event,
                pair_value=np.maximum(value, np.float32(0)))
