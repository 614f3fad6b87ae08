"""The decoding algorithm of spec/tasz-v1.md, written as plainly as possible.

This is the ground truth every fast path is tested against: one frame at a time, float32
arithmetic, no shortcuts. Slow on purpose; use ``tascodec.decode`` for real work.
"""
from __future__ import annotations

import numpy as np

from ..container.content import Decoder
from ..container.normative import frame_layout


def reference_decode(decoder: Decoder, codes: np.ndarray, seg_label: np.ndarray,
                     seg_length: np.ndarray, seg_instances: np.ndarray) -> np.ndarray:
    """Decode one video's segments to ``(T, D) float32``.

    Args:
        decoder: the container's decoder (``mlp`` or ``repeat``).
        codes: ``(R, d) float32`` dequantized codes of this video's instance rows, in order.
        seg_label, seg_length, seg_instances: ``(S,)`` this video's segment table.
    """
    seg, row, c = frame_layout(seg_length, seg_instances)
    T, D = seg.size, decoder.feature_dim
    out = np.empty((T, D), np.float32)
    codes = np.asarray(codes, np.float32)
    if decoder.kind == "repeat":
        for t in range(T):
            out[t] = codes[row[t]]
        return out
    w = decoder.float32_weights()
    if decoder.kind == "linear":
        return _reference_linear(w, codes, seg_length, seg_instances, out)
    C = decoder.num_classes
    for t in range(T):
        a = np.zeros(C, np.float32)
        a[seg_label[seg[t]]] = 1.0
        inp = np.concatenate([codes[row[t]], a, np.array([c[t]], np.float32)])
        h = np.maximum(w["w1"] @ inp + w["b1"], np.float32(0))
        y = w["w2"] @ h + w["b2"]
        out[t] = y * w["std"] + w["mean"]
    return out


def _reference_linear(w: dict, codes: np.ndarray, seg_length: np.ndarray, seg_instances: np.ndarray,
                      out: np.ndarray) -> np.ndarray:
    """spec section 4.7, frame by frame."""
    t = r = 0
    for l, n in zip(np.asarray(seg_length).tolist(), np.asarray(seg_instances).tolist()):
        for i in range(l):
            num, den = (2 * i + 1) * n - l, 2 * l
            if num <= 0:
                z = codes[r]
            elif num >= (n - 1) * den:
                z = codes[r + n - 1]
            else:
                j = num // den
                wt = np.float32((num - j * den) / den)
                z = codes[r + j] + wt * (codes[r + j + 1] - codes[r + j])
            out[t] = w["w"] @ z + w["b"]
            t += 1
        r += n
    return out
