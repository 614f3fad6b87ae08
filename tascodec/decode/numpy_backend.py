"""The numpy backend: runs a ``Plan`` (see ``plan.py``) into a preallocated ``(T, D) float32`` block."""
from __future__ import annotations

import numpy as np

from .plan import Plan, Prepared


def run_mlp(prep: Prepared, plan: Plan, out: np.ndarray) -> None:
    """Fill ``out (T, D)`` with the frames of ``plan``: one ``X_k @ W_k`` per group."""
    table = build_table(prep, plan)
    f, t, x = plan.frame_off.tolist(), plan.table_off.tolist(), plan.x_off.tolist()
    xs = plan.x
    for k in range(plan.num_groups):
        n = f[k + 1] - f[k]
        np.matmul(xs[x[k]:x[k + 1]].reshape(n, -1), table[t[k]:t[k + 1]], out=out[f[k]:f[k + 1]])


def build_table(prep: Prepared, plan: Plan) -> np.ndarray:
    """``(sum_k 2 + E_k, D)``: per group ``alpha, beta`` then its switching units' rows of ``w2t``."""
    N = plan.num_groups
    ab = (plan.hidden @ prep.w2t).reshape(N, 2, -1)
    ab[:, 0] += prep.b2
    a, b, ev = plan.table_rows()
    table = np.empty((int(plan.table_off[-1]), prep.feature_dim), np.float32)
    table[a] = ab[:, 0]
    table[b] = ab[:, 1]
    table[ev] = prep.w2t[plan.ev_unit]
    return table


def run_repeat(codes: np.ndarray, row: np.ndarray, out: np.ndarray) -> None:
    """The repeat decoder: frame ``t`` is code row ``row[t]``."""
    np.take(codes, row, axis=0, out=out)


def run_naive(prep: Prepared, codes: np.ndarray, seg_label: np.ndarray, span, out: np.ndarray) -> None:
    """The batched MLP on every frame, ``relu(X W1^T + b1) W2'^T + b2'``: the baseline the plan beats."""
    h = codes[span.row] @ prep.w1z.T
    h += prep.w1a[np.asarray(seg_label)[span.seg]]
    h += span.c[:, None] * prep.wc
    h += prep.b1
    np.maximum(h, 0, out=h)
    np.matmul(h, prep.w2t, out=out)
    out += prep.b2
