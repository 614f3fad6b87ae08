"""The numpy backend: runs a ``Plan`` (see ``plan.py``) into a preallocated ``(T, D) float32`` block.

Each instance's frames are one small product ``X @ W`` with ``X (n, 2 + E) = [1, c, relu(u_S + c w_S)]``
and ``W (2 + E, D) = [alpha; beta; W2'[:, S]^T]`` (``S`` its ``E`` switching units), which writes
every output row exactly once: the output is the memory traffic that matters.
"""
from __future__ import annotations

import numpy as np

from .plan import Plan, Prepared, ragged_arange


def run_mlp(prep: Prepared, plan: Plan, out: np.ndarray) -> None:
    """Fill ``out (T, D)`` with the frames of ``plan``: one ``X_k @ W_k`` per group."""
    N = plan.num_groups
    n = np.diff(plan.frame_off)
    width = 2 + np.diff(plan.ev_off)
    table_off = np.concatenate(([0], np.cumsum(width)))
    x_off = np.concatenate(([0], np.cumsum(n * width)))

    # W: per group alpha, beta, then its switching units' rows of w2t
    ab = (plan.hidden @ prep.w2t).reshape(N, 2, -1)
    ab[:, 0] += prep.b2
    table = np.empty((int(table_off[-1]), prep.feature_dim), np.float32)
    table[table_off[:-1]] = ab[:, 0]
    table[table_off[:-1] + 1] = ab[:, 1]
    group_of_event = np.repeat(np.arange(N), width - 2)
    event_rank = np.arange(plan.ev_unit.size) - plan.ev_off[group_of_event]
    table[table_off[group_of_event] + 2 + event_rank] = prep.w2t[plan.ev_unit]

    # X: frame t of group g (local row r) is x[x_off[g] + r * width[g] + (0, 1, 2 + j)]
    g = np.repeat(np.arange(N), n)
    base = x_off[g] + ragged_arange(n) * width[g]
    x = np.empty(int(x_off[-1]), np.float32)
    x[base] = 1
    x[base + 1] = plan.c
    x[base[plan.pair_frame] + 2 + event_rank[plan.pair_event]] = plan.pair_value

    f, t, xo = plan.frame_off.tolist(), table_off.tolist(), x_off.tolist()
    for k in range(N):
        rows = f[k + 1] - f[k]
        np.matmul(x[xo[k]:xo[k + 1]].reshape(rows, -1), table[t[k]:t[k + 1]], out=out[f[k]:f[k + 1]])


def run_repeat(codes: np.ndarray, row: np.ndarray, out: np.ndarray) -> None:
    """The repeat decoder: frame ``t`` is code row ``row[t]``."""
    np.take(codes, row, axis=0, out=out)
