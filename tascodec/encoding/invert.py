"""Batched network inversion: one latent per instance so the frozen TCA decoder reproduces real frames.

Shapes: N frames, R instances, D feature dim, H hidden, d latent dim. Per frame ``i`` of instance ``k``
(label ``a_k``, coherence ``c_i``) the decoder is ``W2 relu(u_k + c_i w_c) + b2`` with
``u_k = W1z z_k + W1a[:, a_k] + b1``. Inversion minimises, for every instance independently,

    L_k(z_k) = sum_{i in k} || W2 relu(u_k + c_i w_c) + b2 - x_i ||^2          (standardised units)

This module is the optimiser loop (``invert``), its encoder initialisation (``encoder_means``) and
``instance_losses``, which computes the loss by one of five exact methods (each changes cost, never
the loss): the problem and targets are ``invert_problem``, the autograd references ``naive``,
``factored``, ``gram`` are ``invert_reference``, and the hand-written ``analytic`` and the closed form
``closed`` (the default ``auto`` uses ``closed`` when each instance's frames are contiguous with ``c``
sorted, as ``frame_layout`` gives, ``analytic`` otherwise) are ``invert_fast``.

All instances are optimised together in batched tensors; the only Python loop on the hot path is over
fixed-size chunks of frames (memory), never over segments.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import Tensor

from . import defaults
from .config import OPTIMIZERS  # the encode config's choices (tasz encode --optimizer)
from ..model.tca import TCA, tf32
from .invert_fast import Closed, analytic_pass
from .invert_problem import DEFAULT_CHUNK, Problem, as_tensor, unwrap
from .invert_reference import autograd_pass

LOSS_METHODS = ("naive", "factored", "gram", "analytic", "closed")
SCHEDULES = ("constant", "cosine")
DEFAULT_METHOD = "auto"  # closed where the layout allows it (always, from frame_layout), else analytic
# Adam from the encoder means, peak step 0.3 decayed by a cosine to 0 over 300 iterations: within 0.1% of
# the error of 1000 such iterations and below the paper's 10K iterations at lr 1e-3, which it passes
# after ~100 iterations (200 iterations end only 0.07% below it; benchmarks/encode.py).
DEFAULT_LR = defaults.INVERSION_LR
DEFAULT_ITERS = defaults.INVERSION_ITERS
DEFAULT_SCHEDULE = "cosine"


def instance_losses(P: Problem, Z: Tensor, method: str = "closed",
                    want_grad: bool = False) -> tuple[Tensor, Tensor | None]:
    """``L_k(z_k)`` for every instance ``(R,) float64`` and, if asked, ``dL/dZ (R, d)``."""
    if method == "closed":
        if P.closed is None:
            P.closed = Closed(P)
        return P.closed(P, Z, want_grad)
    if method == "analytic":
        return analytic_pass(P, Z, want_grad)
    if method in ("naive", "factored", "gram"):
        return autograd_pass(P, Z, method, want_grad)
    raise ValueError(f"unknown inversion method {method!r}; choose from {LOSS_METHODS}")



# --- encoder initialisation -----------------------------------------------------------------
@torch.no_grad()
def encoder_means(model: TCA, x, row, row_label, c, num_rows: int, *, device="cpu",
                  chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Mean of the encoder's ``mu`` over each instance's frames: ``(num_rows, d) float32`` on the CPU.

    ``x (N, D)`` standardised frames, ``row (N,)`` instance of each frame, ``row_label (R,)``, ``c (N,)``.
    Moves ``model`` to ``device``.
    """
    model = unwrap(model)
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    row = as_tensor(row, torch.long, device)
    row_label = as_tensor(row_label, torch.long, device)
    c = as_tensor(c, torch.float32, device)
    sums = torch.zeros(num_rows, model.latent_dim, dtype=torch.float64, device=device)
    with tf32(True, device):                                # only an initialisation: TF32 is fine
        for s in range(0, row.shape[0], chunk):
            r = row[s:s + chunk]
            mu, _ = model.encode(as_tensor(x[s:s + chunk], torch.float32, device), row_label[r], c[s:s + chunk])
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
    TF32 stays off on CUDA: the closed-form loss is a difference of large terms, and TF32's 10-bit
    mantissa would make the losses (and the keep-best choice) wrong by ~0.5%.
    Returns:
        ``codes (R, d) float32`` and ``info`` with ``loss_init`` and ``loss_final`` (mean squared error per
        feature element over all frames, standardised units), ``iters``, ``method``, ``seconds``.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {OPTIMIZERS}")
    if method not in LOSS_METHODS + ("auto",):
        raise ValueError(f"unknown inversion method {method!r}; choose from {LOSS_METHODS + ('auto',)}")
    device = torch.device(device)
    with tf32(False, device):
        return _invert(model, x, row, row_label, c, z0, iters, lr, optimizer, device, progress, keep_best,
                       method, schedule, chunk, record_every)


def _invert(model, x, row, row_label, c, z0, iters, lr, optimizer, device, progress, keep_best, method,
            schedule, chunk, record_every) -> tuple[np.ndarray, dict]:
    from tascodec.progress import tqdm

    t0 = time.perf_counter()
    P = Problem(model, x, row, row_label, c, device=device, chunk=chunk,
                need_frames=method in ("naive", "factored"))
    if method == "auto":
        try:
            P.closed, method = Closed(P), "closed"
        except ValueError:
            method = "analytic"
    denom = max(P.N, 1) * unwrap(model).feature_dim
    Z = as_tensor(z0, torch.float32, device).clone()
    if Z.shape != (P.R, unwrap(model).latent_dim):
        raise ValueError(f"z0 must have shape ({P.R}, {unwrap(model).latent_dim}), got {tuple(Z.shape)}")
    Z.grad = None
    opt = (torch.optim.Adam([Z], lr=lr) if optimizer == "adam"
           else torch.optim.SGD([Z], lr=lr, momentum=0.9))
    best, best_loss = Z.clone(), None
    history: list[tuple[int, float, float, float]] = []
    loss_init = math.nan
    bar = tqdm(total=iters, desc="invert", unit="it", disable=not progress)  # counts optimizer steps
    for it in range(iters + 1):  # iteration `iters` only scores the last step
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
        bar.update(1)
    bar.close()
    info = {"loss_init": loss_init, "loss_final": float(best_loss.sum()) / denom, "iters": iters,
            "method": method, "optimizer": optimizer, "lr": lr, "schedule": schedule,
            "seconds": time.perf_counter() - t0}
    if record_every:
        info["history"] = history
    return best.detach().float().cpu().numpy(), info
