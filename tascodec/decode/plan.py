"""Planning a decode: the cheap, per-instance half of the MLP decoder, in numpy.

The decoder maps ``[z | onehot(a) | c]`` to ``x = std * (W2 relu(W1 [z, a, c] + b1) + b2) + mean``.
Three exact rewrites make restoring cheap:

1. Fold the normalisation into the output layer: ``W2' = diag(std) W2``, ``b2' = std * b2 + mean``.
2. Within an instance only ``c`` varies, so the first layer is ``u + c * w_c`` with ``u = W1z z +
   W1a[:, a] + b1`` computed once per instance.
3. ``u + c * w_c`` is linear in ``c``: a hidden unit with the same sign at an instance's first and
   last frame keeps it on every frame between. With ``m`` the units on at both ends,
   ``y = alpha + c * beta`` where ``alpha = W2'(m * u) + b2'`` and ``beta = W2'(m * w_c)``: two GEMM
   rows per instance, not one per frame. The few units that switch inside an instance are added
   exactly, per frame: ``relu(u_s + c w_s) W2'[:, s]``.

Rewrite 3 costs ``2 H`` (the two rows) plus ``n (2 + E)`` per output column for an instance of ``n``
frames with ``E`` switching units, against ``n H`` for running its frames through the second layer
one by one: instances of one or two frames (most of GTEA's) are cheaper *direct*, so the plan picks
the cheaper form per instance (``AFFINE_OVERHEAD`` and ``TABLE_ROW`` price the affine form's
fixed costs).

A ``Plan`` holds, for one frame range, everything but the ``D``-wide work: ``hidden`` (one GEMM with
``[W2'^T; b2']`` gives the direct frames and every ``alpha``/``beta``), the switching units and their
per-frame values ``relu(u_s + c w_s)``. The backends run the ``D``-wide work each in the way that
suits it (numpy: one small ``X @ W`` product per affine instance; torch on a GPU: a few whole-range
gathers and scatters).
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
    ``w2t (H, D) = (diag(std) W2)^T``, ``b2 (D,) = std * b2 + mean``, ``w2tb (H + 1, D) = [w2t; b2]``
    (``w2t`` is its first ``H`` rows: a hidden row ending in 1 gets the bias from the same GEMM).
    repeat: all ``None``.
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
    w2tb: np.ndarray | None = None


def prepare(decoder: Decoder) -> Prepared:
    """Fold ``decoder`` into a ``Prepared`` (costs one pass over its weights)."""
    if decoder.kind == "repeat":
        return Prepared("repeat", decoder.feature_dim, decoder.latent_dim)
    if decoder.kind == "linear":  # w2t (d, D) = w^T, b2 (D,) = b
        w = decoder.float32_weights()
        return Prepared("linear", decoder.feature_dim, decoder.latent_dim,
                        w2t=np.ascontiguousarray(w["w"].T), b2=np.ascontiguousarray(w["b"]))
    if decoder.kind != "mlp" or decoder.activation != "relu":
        raise UsageError(f"cannot decode a {decoder.kind}/{decoder.activation} decoder")
    w = decoder.float32_weights()
    d, C = decoder.latent_dim, decoder.num_classes
    w1 = w["w1"]
    std, mean = w["std"], w["mean"]
    c = np.ascontiguousarray
    w2tb = c(np.concatenate([(w["w2"] * std[:, None]).T, (w["b2"] * std + mean)[None]]), dtype=np.float32)
    return Prepared(
        "mlp", decoder.feature_dim, d,
        w1z=c(w1[:, :d]), w1a=c(w1[:, d:d + C].T), wc=c(w1[:, d + C]), b1=c(w["b1"]),
        w2t=w2tb[:-1], b2=w2tb[-1], w2tb=w2tb,
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


# Costs of an affine instance beyond its FMAs, in units of one FMA per output column (at D = 2048
# and ~50 GFMA/s on one core, ~40 ns): the fixed cost of its own small product (~3 us per call),
# and copying each of its 2 + E rows of W into the product's table (~1 us per 8 KB row).
AFFINE_OVERHEAD = 96
TABLE_ROW = 24


@dataclass(frozen=True)
class Plan:
    """The MLP decode of one frame range, ready for a backend.

    ``N`` groups (the range's instances, clipped to it), ``T`` frames; ``T_d`` frames of *direct*
    groups, ``N_a`` *affine* groups, ``E`` switching units over the affine groups, ``Q`` (frame,
    switching unit of its group) pairs:

    - ``hidden (T_d + 2 N_a, H + 1) float32``: first the direct frames' hidden vectors
      ``[relu(u + c w_c), 1]`` (in frame order), then per affine group ``j`` the rows
      ``[m * u, 1]`` and ``[m * w_c, 0]``: ``hidden @ w2tb`` is the direct frames, then
      ``alpha`` and ``beta`` of every affine group.
    - ``direct_frame (T_d,) int64``: the frames (within the range) of the direct rows.
    - ``frame_off (N + 1,) int64``: group ``k`` is frames ``[frame_off[k], frame_off[k+1])`` of the range.
    - ``affine (N_a,) int64``: the affine groups, ascending.
    - ``c (T,) float32``: the frames' coherence.
    - ``ev_unit (E,) int64``, ``ev_off (N_a + 1,) int64``: affine group ``j`` switches units
      ``ev_unit[ev_off[j]:ev_off[j+1]]``.
    - ``pair_frame``, ``pair_event`` ``(Q,) int64`` and ``pair_value (Q,) float32``: frame
      ``pair_frame[q]`` gets ``pair_value[q] * w2t[ev_unit[pair_event[q]]]`` on top of
      ``alpha + c * beta``; ordered by group, then unit, then frame (``relu``'s zeros included).
    """

    hidden: np.ndarray
    direct_frame: np.ndarray
    frame_off: np.ndarray
    affine: np.ndarray
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


def plan_mlp(prep: Prepared, codes: np.ndarray, seg_label: np.ndarray, span: Span, *,
             affine_overhead: float | None = None) -> Plan:
    """Plan the MLP decode of the frames in ``span``; ``codes (R, d) float32`` are the video's rows.

    A group is direct when ``n H <= 2 H + (n + TABLE_ROW) (2 + E) + affine_overhead`` (default
    ``AFFINE_OVERHEAD``; ``inf``: every group direct, the plain batched MLP; ``-inf``: every group affine).
    """
    if affine_overhead is None:
        affine_overhead = AFFINE_OVERHEAD
    T = span.row.size
    row, c = span.row, span.c
    H = prep.wc.size
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
    switch = on_first != on_last
    E = np.count_nonzero(switch, axis=1)
    direct = n * H <= 2 * H + (n + TABLE_ROW) * (2 + E) + affine_overhead
    affine = np.flatnonzero(~direct)
    Na = affine.size

    # direct frames: the plain MLP's hidden vector, with a 1 for the bias row of w2tb
    group = np.repeat(np.arange(N), n)
    direct_frame = np.flatnonzero(direct[group])
    Td = direct_frame.size
    hidden = np.empty((Td + 2 * Na, H + 1), np.float32)
    hd = hidden[:Td, :H]
    np.multiply(c[direct_frame, None], prep.wc, out=hd)
    hd += u[group[direct_frame]]
    np.maximum(hd, np.float32(0), out=hd)
    hidden[:Td, H] = 1

    # affine groups: alpha and beta rows; the units that switch inside get exact per-frame values
    ha = hidden[Td:].reshape(Na, 2, H + 1)
    ua = u[affine]
    steady = on_first[affine] & on_last[affine]
    np.multiply(ua, steady, out=ha[:, 0, :H])
    np.multiply(prep.wc, steady, out=ha[:, 1, :H])
    ha[:, 0, H] = 1
    ha[:, 1, H] = 0
    k, s = np.nonzero(switch[affine])  # sorted by affine group, then unit
    na = n[affine]
    ev_off = np.concatenate(([0], np.cumsum(np.bincount(k, minlength=Na)))).astype(np.int64)
    pair_event = np.repeat(np.arange(k.size, dtype=np.int64), na[k])
    pair_frame = frame_off[affine][k][pair_event] + ragged_arange(na[k])
    value = ua[k, s][pair_event] + c[pair_frame] * prep.wc[s][pair_event]
    return Plan(hidden=hidden, direct_frame=direct_frame, frame_off=frame_off, affine=affine, c=c,
                ev_unit=s.astype(np.int64), ev_off=ev_off, pair_frame=pair_frame, pair_event=pair_event,
                pair_value=np.maximum(value, np.float32(0)))
