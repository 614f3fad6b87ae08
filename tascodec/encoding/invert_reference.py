"""The reference losses: per-instance inversion losses and gradients by autograd, frame by frame.

``naive`` runs the decoder as written (concatenated input, both layers per frame); ``factored``
computes the first layer's z and label terms once per instance (``c`` enters as an outer product);
``gram`` replaces the last layer by ``G = W2^T W2`` and the projected targets (``Targets``): the frame
loss ``h^T G h - 2 h^T p_i + s_i`` costs H^2 instead of H D. They are slow and simple on purpose:
the tests check every faster method (``invert_fast``) against them, and benchmarks time them.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .invert_problem import Problem


def _naive_frames(P: Problem, Z: Tensor, s: int, e: int) -> Tensor:
    """Reference decoder on frames ``[s, e)``: the concatenated input, both layers per frame."""
    r = P.row[s:e]
    onehot = torch.nn.functional.one_hot(P.frame_label[s:e], P.C).to(Z.dtype)
    inp = torch.cat([Z[r], onehot, P.c[s:e, None]], 1)
    h = torch.relu(torch.nn.functional.linear(inp, P.w1, P.b1))
    out = torch.nn.functional.linear(h, P.w2, P.b2)
    return (out - P.x[s:e]).square().sum(1)


def _factored_frames(P: Problem, Z: Tensor, s: int, e: int, U: Tensor) -> Tensor:
    r = P.row[s:e]
    h = torch.relu(torch.addr(U[r], P.c[s:e], P.wc))
    out = torch.nn.functional.linear(h, P.w2, P.b2)
    return (out - P.x[s:e]).square().sum(1)


def _gram_frames(P: Problem, Z: Tensor, s: int, e: int, U: Tensor) -> Tensor:
    r = P.row[s:e]
    h = torch.relu(torch.addr(U[r], P.c[s:e], P.wc))
    return (h * (h @ P.G - 2.0 * P.targets.p[s:e])).sum(1)


def autograd_pass(P: Problem, Z: Tensor, method: str, want_grad: bool) -> tuple[Tensor, Tensor | None]:
    """Per-instance losses ``(R,) float64`` and ``dL/dZ (R, d)`` by autograd over the full batch."""
    Z = Z.detach().requires_grad_(want_grad)
    losses = P.const.clone() if method == "gram" else torch.zeros(P.R, dtype=torch.float64, device=P.device)
    with torch.set_grad_enabled(want_grad):
        U = None if method == "naive" else torch.addmm(P.ua, Z, P.w1z.T)
        total = 0.0
        for s, e in P.chunks():
            if method == "naive":
                fl = _naive_frames(P, Z, s, e)
            elif method == "factored":
                fl = _factored_frames(P, Z, s, e, U)
            else:
                fl = _gram_frames(P, Z, s, e, U)
            total = total + fl.sum()
            losses.index_add_(0, P.row[s:e], fl.detach().double())
        grad = torch.autograd.grad(total, Z)[0] if want_grad and P.N else None
    if want_grad and grad is None:
        grad = torch.zeros_like(Z)
    return losses, grad
