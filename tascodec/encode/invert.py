"""Batched network inversion: one latent per instance so the frozen TCA decoder reproduces real frames.

Shapes: N frames, R instances, D feature dim, H hidden, d latent dim. Per frame ``i`` of instance ``k``
(label ``a_k``, coherence ``c_i``) the decoder is ``W2 relu(u_k + c_i w_c) + b2`` with
``u_k = W1z z_k + W1a[:, a_k] + b1``. Inversion minimises, for every instance independently,

    L_k(z_k) = sum_{i in k} || W2 relu(u_k + c_i w_c) + b2 - x_i ||^2          (standardised units)

Exact reductions (each changes cost, never the loss; every one is tested against ``naive``):

- ``factored``: the first layer's z and label terms are computed once per instance, ``c`` enters as an
  outer product (autograd).
- ``gram``: with ``G = W2^T W2 (H, H)``, ``p_i = W2^T (x_i - b2) (H,)``, ``s_i = ||x_i - b2||^2``, the frame
  loss is ``h^T G h - 2 h^T p_i + s_i``: cost H^2 instead of H D per frame, and only ``p`` (N, H) is kept
  instead of the frames (N, D) (autograd).
- ``analytic``: ``gram`` with hand-written gradients, ``dL/du_k = 2 sum_i (G h_i - p_i) * [pre_i > 0]``,
  no autograd graph (the default).

All instances are optimised together in batched tensors; the only Python loop on the hot path is over
fixed-size chunks of frames (memory), never over segments.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..model.tca import TCA, enable_tf32

METHODS = ("naive", "factored", "gram", "analytic")
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_METHOD = "analytic"
DEFAULT_LR = 1e-2
DEFAULT_ITERS = 300
DEFAULT_SCHEDULE = "cosine"
DEFAULT_CHUNK = 16384


def _tensor(a, dtype, device) -> Tensor:
    if isinstance(a, Tensor):
        return a.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def _unwrap(model) -> TCA:
    return getattr(model, "module", model)


# --- what inversion needs of the frames ------------------------------------------------------
@dataclass
class Targets:
    """The frames reduced through the frozen last layer: ``p (N, H) = (x - b2) @ W2``, ``sq (N,) = ||x - b2||^2``.

    Built chunk by chunk with ``project_targets`` (e.g. one video at a time) and joined with ``cat``, so
    the (N, D) features never need to be in memory at once.
    """

    p: Tensor
    sq: Tensor

    @staticmethod
    def cat(parts: list["Targets"]) -> "Targets":
        return Targets(torch.cat([t.p for t in parts]), torch.cat([t.sq for t in parts]))

    def __len__(self) -> int:
        return self.p.shape[0]


@torch.no_grad()
def project_targets(model: TCA, x, *, device="cpu", chunk: int = DEFAULT_CHUNK) -> Targets:
    """``Targets`` of standardised frames ``x (N, D)``; ``p`` float32 and ``sq`` float64 on ``device``."""
    model = _unwrap(model)
    device = torch.device(device)
    enable_tf32(device)
    w2 = model.dec2.weight.detach().to(device, torch.float32)
    b2 = model.dec2.bias.detach().to(device, torch.float32)
    N = x.shape[0]
    p = torch.empty(N, w2.shape[1], dtype=torch.float32, device=device)
    sq = torch.empty(N, dtype=torch.float64, device=device)
    for s in range(0, N, chunk):
        r = _tensor(x[s:s + chunk], torch.float32, device) - b2
        torch.mm(r, w2, out=p[s:s + chunk])
        sq[s:s + chunk] = r.double().square().sum(1)
    return Targets(p, sq)


# --- the problem: frozen decoder pieces + frame layout ---------------------------------------
class Problem:
    """One inversion problem on ``device``: decoder pieces, frame layout and (projected) targets."""

    def __init__(self, model: TCA, x, row, row_label, c, *, device="cpu", chunk: int = DEFAULT_CHUNK,
                 need_frames: bool = False):
        model = _unwrap(model)
        dev = self.device = torch.device(device)
        d, C = model.latent_dim, model.num_classes
        f32 = torch.float32
        w1 = model.dec1.weight.detach().to(dev, f32)
        b1 = model.dec1.bias.detach().to(dev, f32)
        self.w1, self.b1 = w1, b1
        self.w2 = model.dec2.weight.detach().to(dev, f32)
        self.b2 = model.dec2.bias.detach().to(dev, f32)
        self.w1z = w1[:, :d].contiguous()                                   # (H, d)
        self.wc = w1[:, d + C].contiguous()                                 # (H,)
        self.row = _tensor(row, torch.long, dev)                            # (N,)
        self.row_label = _tensor(row_label, torch.long, dev)                # (R,)
        self.c = _tensor(c, f32, dev)                                       # (N,)
        self.R = self.row_label.shape[0]
        self.N = self.row.shape[0]
        self.C = C
        self.ua = (w1[:, d:d + C].T[self.row_label] + b1).contiguous()      # (R, H) label + bias terms
        self.chunk = int(chunk)
        self.frame_label = self.row_label[self.row]
        if isinstance(x, Targets):
            if need_frames:
                raise ValueError("this method needs the frames, not projected targets")
            self.x, self.targets = None, Targets(x.p.to(dev, f32), x.sq.to(dev, torch.float64))
        else:
            self.x = _tensor(x, f32, dev) if need_frames else None
            self.targets = None if need_frames else project_targets(model, x, device=dev, chunk=chunk)
        if self.targets is not None:
            self.G = (self.w2.T @ self.w2).contiguous()                     # (H, H)
            self.const = torch.zeros(self.R, dtype=torch.float64, device=dev).index_add_(
                0, self.row, self.targets.sq)                               # (R,) sum ||x - b2||^2
        if self.N and self.row.shape != self.c.shape:
            raise ValueError("row and c must have one entry per frame")

    def chunks(self):
        for s in range(0, self.N, self.chunk):
            yield s, min(s + self.chunk, self.N)


# --- per-instance losses and their gradients, one function per method ------------------------
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


def _autograd_pass(P: Problem, Z: Tensor, method: str, want_grad: bool) -> tuple[Tensor, Tensor | None]:
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


@torch.no_grad()
def _analytic_pass(P: Problem, Z: Tensor, want_grad: bool) -> tuple[Tensor, Tensor | None]:
    """``gram`` losses with the gradient written out: no autograd graph, one GEMM (H x H) per frame chunk."""
    U = torch.addmm(P.ua, Z, P.w1z.T)                                       # (R, H)
    losses = P.const.clone()
    gU = torch.zeros_like(U) if want_grad else None
    for s, e in P.chunks():
        r = P.row[s:e]
        pre = torch.addr(U[r], P.c[s:e], P.wc)
        h = torch.relu(pre)
        gp = torch.mm(h, P.G).sub_(P.targets.p[s:e])                      # G h - p  (half the gradient)
        fl = (h * (gp - P.targets.p[s:e])).sum(1)                          # h^T G h - 2 h^T p
        losses.index_add_(0, r, fl.double())
        if want_grad:
            gU.index_add_(0, r, gp.mul_(pre > 0))
    grad = torch.mm(gU, P.w1z).mul_(2.0) if want_grad else None
    return losses, grad


def instance_losses(P: Problem, Z: Tensor, method: str = DEFAULT_METHOD,
                    want_grad: bool = False) -> tuple[Tensor, Tensor | None]:
    """``L_k(z_k)`` for every instance ``(R,) float64`` and, if asked, ``dL/dZ (R, d)``."""
    if method == "analytic":
        return _analytic_pass(P, Z, want_grad)
    if method in ("naive", "factored", "gram"):
        return _autograd_pass(P, Z, method, want_grad)
    raise ValueError(f"unknown inversion method {method!r}; choose from {METHODS}")


# --- encoder initialisation -----------------------------------------------------------------
@torch.no_grad()
def encoder_means(model: TCA, x, row, row_label, c, num_rows: int, *, device="cpu",
                  chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Mean of the encoder's ``mu`` over each instance's frames: ``(num_rows, d) float32`` on the CPU.

    ``x (N, D)`` standardised frames, ``row (N,)`` instance of each frame, ``row_label (R,)``, ``c (N,)``.
    Moves ``model`` to ``device``.
    """
    model = _unwrap(model)
    device = torch.device(device)
    enable_tf32(device)
    was_training = model.training
    model.to(device).eval()
    row = _tensor(row, torch.long, device)
    row_label = _tensor(row_label, torch.long, device)
    c = _tensor(c, torch.float32, device)
    sums = torch.zeros(num_rows, model.latent_dim, dtype=torch.float64, device=device)
    for s in range(0, row.shape[0], chunk):
        r = row[s:s + chunk]
        mu, _ = model.encode(_tensor(x[s:s + chunk], torch.float32, device), row_label[r], c[s:s + chunk])
        sums.index_add_(0, r, mu.double())
    counts = torch.bincount(row, minlength=num_rows).clamp_(min=1).to(torch.float64)
    model.train(was_training)
    return (sums / counts[:, None]).float().cpu()


# --- the optimisation -----------------------------------------------------------------------
def _lr_at(schedule: str, lr: float, it: int, iters: int) -> float:
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return 0.5 * lr * (1.0 + math.cos(math.pi * it / max(iters, 1)))
    raise ValueError(f"unknown schedule {schedule!r}; choose from {SCHEDULES}")


def invert(model: TCA, x, row, row_label, c, z0, *, iters: int, lr: float = DEFAULT_LR,
           optimizer: str = "adam", device="cpu", progress: bool = True, keep_best: bool = True,
           method: str = DEFAULT_METHOD, schedule: str = DEFAULT_SCHEDULE, chunk: int = DEFAULT_CHUNK,
           record_every: int = 0) -> tuple[np.ndarray, dict]:
    """Optimise one latent per instance, decoder frozen, all instances at once.

    Args:
        x: ``(N, D)`` standardised frames, or ``Targets`` already projected (not for naive/factored).
        row: ``(N,)`` instance index of each frame; ``row_label (R,)``; ``c (N,)`` coherence.
        z0: ``(R, d)`` initial codes (e.g. ``encoder_means``).
        iters: optimisation steps; ``lr`` peak step size, ``schedule`` its decay over ``iters``.
        keep_best: return, per instance, the best code seen (instances are independent, so this
            minimises the total too); otherwise the last.
        method: how the loss is computed (see the module docstring); all give the same loss.
        record_every: if > 0, ``info["history"]`` lists ``(iter, seconds, mse_current, mse_best)``.
    Returns:
        ``codes (R, d) float32`` and ``info`` with ``loss_init`` and ``loss_final`` (mean squared error per
        feature element over all frames, standardised units), ``iters``, ``method``, ``seconds``.
    """
    from tqdm.auto import tqdm

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {OPTIMIZERS}")
    if method not in METHODS:
        raise ValueError(f"unknown inversion method {method!r}; choose from {METHODS}")
    device = torch.device(device)
    enable_tf32(device)
    t0 = time.perf_counter()
    P = Problem(model, x, row, row_label, c, device=device, chunk=chunk,
                need_frames=method in ("naive", "factored"))
    denom = max(P.N, 1) * _unwrap(model).feature_dim
    Z = _tensor(z0, torch.float32, device).clone()
    if Z.shape != (P.R, _unwrap(model).latent_dim):
        raise ValueError(f"z0 must have shape ({P.R}, {_unwrap(model).latent_dim}), got {tuple(Z.shape)}")
    Z.grad = None
    opt = (torch.optim.Adam([Z], lr=lr) if optimizer == "adam"
           else torch.optim.SGD([Z], lr=lr, momentum=0.9))
    best, best_loss = Z.clone(), None
    history: list[tuple[int, float, float, float]] = []
    loss_init = math.nan
    bar = tqdm(range(iters + 1), desc="invert", unit="it", disable=not progress)
    for it in bar:
        last = it == iters
        losses, grad = instance_losses(P, Z, method, want_grad=not last)
        if it == 0:
            loss_init = float(losses.sum()) / denom
            best_loss = losses.clone()
        elif keep_best:
            better = losses < best_loss
            best_loss = torch.where(better, losses, best_loss)
            best[better] = Z[better]
        else:
            best_loss, best = losses, Z.detach().clone()
        if record_every and (it % record_every == 0 or last):
            history.append((it, time.perf_counter() - t0, float(losses.sum()) / denom,
                            float(best_loss.sum()) / denom))
        if it % 10 == 0 or last:
            bar.set_postfix(mse=f"{float(best_loss.sum()) / denom:.4g}")
        if last:
            break
        for group in opt.param_groups:
            group["lr"] = _lr_at(schedule, lr, it, iters)
        Z.grad = grad
        opt.step()
    bar.close()
    info = {"loss_init": loss_init, "loss_final": float(best_loss.sum()) / denom, "iters": iters,
            "method": method, "optimizer": optimizer, "lr": lr, "schedule": schedule,
            "seconds": time.perf_counter() - t0}
    if record_every:
        info["history"] = history
    return best.detach().float().cpu().numpy(), info
