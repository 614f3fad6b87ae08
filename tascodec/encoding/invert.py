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
  no autograd graph.
- ``closed``: ``analytic`` plus per-instance sufficient statistics: ReLU units that keep their sign over
  an instance (nearly all: ``c`` moves little within one) are summed in closed form, so the H x H GEMM
  runs per instance (2 R rows) instead of per frame (N rows); units that switch are summed exactly over
  their frames. Needs each instance's frames contiguous with ``c`` sorted, as ``frame_layout`` gives
  (the default ``auto`` uses it then, ``analytic`` otherwise).

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

from . import defaults
from ..model.tca import TCA, tf32

METHODS = ("naive", "factored", "gram", "analytic", "closed")
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_METHOD = "auto"  # closed where the layout allows it (always, from frame_layout), else analytic
# Adam from the encoder means, peak step 0.3 decayed by a cosine to 0 over 300 iterations: within 0.1% of
# the error of 1000 such iterations and below the paper's 10K iterations at lr 1e-3, which it passes
# after ~100 iterations (200 iterations end only 0.07% below it; benchmarks/encode.py).
DEFAULT_LR = defaults.INVERSION_LR
DEFAULT_ITERS = defaults.INVERSION_ITERS
DEFAULT_SCHEDULE = "cosine"
DEFAULT_CHUNK = 8192


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
    w2 = model.dec2.weight.detach().to(device, torch.float32)
    b2 = model.dec2.bias.detach().to(device, torch.float32)
    N = x.shape[0]
    p = torch.empty(N, w2.shape[1], dtype=torch.float32, device=device)
    sq = torch.empty(N, dtype=torch.float64, device=device)
    with tf32(False, device):
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
        self.closed: _Closed | None = None
        if self.row.shape != self.c.shape:
            raise ValueError("row and c must have one entry per frame")
        if self.N and not (0 <= int(self.row.min()) and int(self.row.max()) < self.R):
            raise ValueError(f"row indices must lie in [0, {self.R})")
        if self.R and not (0 <= int(self.row_label.min()) and int(self.row_label.max()) < C):
            raise ValueError(f"labels must lie in [0, {C})")
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
    n = min(P.chunk, P.N)
    h, g, tmp = (torch.empty(n, U.shape[1], device=P.device) for _ in range(3))   # reused buffers
    for s, e in P.chunks():
        r, p, k = P.row[s:e], P.targets.p[s:e], e - s
        hk, gk, tk = h[:k], g[:k], tmp[:k]
        torch.index_select(U, 0, r, out=hk).addr_(P.c[s:e], P.wc).clamp_(min=0)    # h = relu(pre)
        torch.mm(hk, P.G, out=gk).sub_(p)                                  # G h - p (half the gradient)
        fl = torch.sub(gk, p, out=tk).mul_(hk).sum(1)                      # h^T G h - 2 h^T p
        losses.index_add_(0, r, fl.double())
        if want_grad:
            gU.index_add_(0, r, _relu_backward(gk, hk, 0))                 # zero where h == 0 (pre <= 0)
    grad = torch.mm(gU, P.w1z).mul_(2.0) if want_grad else None
    return losses, grad


_relu_backward = torch.ops.aten.threshold_backward


class _Closed:
    """Precomputed per-instance statistics for the ``closed`` method (needs contiguous, c-sorted instances).

    Within instance k (frames ``[f0, f1)``, ``n`` of them) write ``c_i = cbar_k + delta_i``, so
    ``pre_i = v_k + delta_i w_c`` with ``v_k = u_k + cbar_k w_c``. A unit whose pre-activation has the same
    sign at the first and last frame keeps it on every frame (``pre`` is monotone in ``c``): for the
    always-on set F the frames sum in closed form with ``n``, ``sum delta = 0``, ``D2 = sum delta^2``,
    ``P0 = sum p_i``, ``Pd = sum delta_i p_i``. Units that switch inside the instance (rare: ``c`` moves
    little within an instance) are summed over their frames explicitly; their active frames are a prefix
    or a suffix, so pairs of switching units overlap on a range whose ``sum delta``, ``sum delta^2`` come
    from prefix sums. The GEMMs are ``G a`` (always-on part, R rows) and ``G (F * w)``, which only the
    loss needs and which changes where masks change, so it is updated sparsely between calls.
    """

    PAIR_BLOCK = 1 << 22  # switching-unit pairs handled at once
    GB_REFRESH = 64  # calls between full recomputations of (F * w) @ G

    def __init__(self, P: "Problem"):
        dev, row, c, R = P.device, P.row, P.c, P.R
        size = torch.bincount(row, minlength=R)
        ok = bool((size > 0).all()) if R else True
        if ok and P.N > 1:
            same = row[1:] == row[:-1]
            ok = bool((row[1:] >= row[:-1]).all()) and bool((c[1:] >= c[:-1])[same].all())
        if not ok:
            raise ValueError("method 'closed' needs each instance's frames contiguous, in row order, c sorted")
        self.size = size
        self.f1 = torch.cumsum(size, 0)
        self.f0 = self.f1 - size
        c64 = c.double()
        cbar = torch.zeros(R, dtype=torch.float64, device=dev).index_add_(0, row, c64) / size.clamp(min=1)
        d64 = c64 - cbar[row]
        self.delta = d64.float()                                             # (N,)
        self.cbar = cbar.float()
        self.n = size.float()
        self.D2 = torch.zeros(R, dtype=torch.float64, device=dev).index_add_(0, row, d64.square()).float()
        self.dfirst = self.delta[self.f0] if R else self.delta[:0]
        self.dlast = self.delta[self.f1 - 1] if R else self.delta[:0]
        zero = torch.zeros(1, dtype=torch.float64, device=dev)
        self.dcum1 = torch.cat([zero, torch.cumsum(d64, 0)])                 # (N + 1,)
        self.dcum2 = torch.cat([zero, torch.cumsum(d64.square(), 0)])
        p = P.targets.p
        H = p.shape[1]
        P0 = torch.zeros(R, H, dtype=torch.float64, device=dev)
        Pd = torch.zeros(R, H, dtype=torch.float64, device=dev)
        for s, e in P.chunks():
            P0.index_add_(0, row[s:e], p[s:e].double())
            Pd.index_add_(0, row[s:e], p[s:e].double() * d64[s:e, None])
        self.P0, self.Pd = P0.float(), Pd.float()
        self._F: Tensor | None = None
        self._gb: Tensor | None = None
        self._calls = 0

    @torch.no_grad()
    def __call__(self, P: "Problem", Z: Tensor, want_grad: bool) -> tuple[Tensor, Tensor | None]:
        w, G = P.wc, P.G
        V = torch.addmm(P.ua, Z, P.w1z.T).addr_(self.cbar, w)               # (R, H) pre at cbar
        on_first = torch.addr(V, self.dfirst, w) > 0
        on_last = torch.addr(V, self.dlast, w) > 0
        F = on_first & on_last                                               # always on
        Fm = F.float()
        a, b = V * Fm, w * Fm
        Ga, Gb = torch.mm(a, G), self._Gb(F, w, G)
        lin = (a * self.P0).sum(1) + (b * self.Pd).sum(1)
        quad = self.n * (a * Ga).sum(1) + self.D2 * (b * Gb).sum(1)
        losses = P.const + (quad - 2.0 * lin).double()
        gV = (Ga * self.n[:, None]).sub_(self.P0).mul_(Fm) if want_grad else None
        qk, qj = torch.nonzero(on_first ^ on_last, as_tuple=True)           # switching (instance, unit)
        if qk.numel():
            extra, gq, Galpha = self._switching(P, V, Ga, Gb, qk, qj, want_grad)
            losses.index_add_(0, qk, extra.double())
            if want_grad:
                gV.add_(Galpha.mul_(Fm))
                gV[qk, qj] = gq
        grad = torch.mm(gV, P.w1z).mul_(2.0) if want_grad else None
        return losses, grad

    def _Gb(self, F: Tensor, w: Tensor, G: Tensor) -> Tensor:
        """``(F * w) @ G``, updated from the previous call's through the few entries of F that changed
        (the masks move slowly), recomputed in full every ``GB_REFRESH`` calls or on large changes."""
        if self._F is not None and self._calls % self.GB_REFRESH:
            changed = F ^ self._F
            n = int(changed.sum())
            if n <= F.numel() // 16:
                if n:
                    k, j = torch.nonzero(changed, as_tuple=True)
                    vals = torch.where(F[k, j], w[j], -w[j])
                    sp = torch.sparse_coo_tensor(torch.stack([k, j]), vals, F.shape, is_coalesced=True,
                                                 check_invariants=False)
                    self._gb += torch.sparse.mm(sp, G)
                self._F, self._calls = F, self._calls + 1
                return self._gb
        self._gb = torch.mm(w * F.float(), G)
        self._F, self._calls = F, 1
        return self._gb

    def _switching(self, P, V, Ga, Gb, qk, qj, want_grad):
        """Loss terms, half-gradients and ``G alpha`` of the M switching (instance, unit) entries."""
        dev, w, G = P.device, P.wc, P.G
        M = qk.numel()
        v, wq = V[qk, qj], w[qj]
        lens = self.size[qk]
        pid = torch.repeat_interleave(torch.arange(M, device=dev), lens)    # entry of each (entry, frame)
        starts = torch.cumsum(lens, 0) - lens
        fr = self.f0[qk][pid] + torch.arange(pid.numel(), device=dev) - starts[pid]
        dd = self.delta[fr]
        act = ((v[pid] + dd * wq[pid]) > 0).float()
        pv = P.targets.p[fr, qj[pid]] * act

        def seg(t):
            return torch.zeros(M, dtype=t.dtype, device=dev).index_add_(0, pid, t)
        nq, S1, S2 = seg(act), seg(act * dd), seg(act * dd * dd)
        Pq, PCq = seg(pv), seg(pv * dd)
        Gaq, Gbq = Ga[qk, qj], Gb[qk, qj]
        alpha, beta = nq * v + S1 * wq, S1 * v + S2 * wq
        extra = 2.0 * (alpha * Gaq + beta * Gbq) - 2.0 * (v * Pq + wq * PCq)
        gq = (nq * Gaq + S1 * Gbq - Pq) if want_grad else None
        # pairs of switching units of one instance: their active frames overlap on a range
        n_int = nq.round().long()
        pos = wq > 0
        lo = torch.where(pos, self.f1[qk] - n_int, self.f0[qk])
        hi = torch.where(pos, self.f1[qk], self.f0[qk] + n_int)
        s = torch.bincount(qk, minlength=P.R)
        first = torch.cumsum(s, 0) - s                                       # first entry of each instance
        bounds = torch.cat([first, first.new_tensor([M])])
        per = s[qk]                                                          # partners of each entry
        pair_cum = torch.cumsum(s * s, 0)
        k0 = 0
        while k0 < P.R:                                                      # blocks of whole instances
            base = int(pair_cum[k0 - 1]) if k0 else 0
            k1 = max(int(torch.searchsorted(pair_cum, base + self.PAIR_BLOCK, right=True)), k0 + 1)
            e0, e1 = int(bounds[k0]), int(bounds[min(k1, P.R)])
            k0 = k1
            if e1 == e0:
                continue
            p1 = torch.repeat_interleave(torch.arange(e0, e1, device=dev), per[e0:e1])
            off = torch.cumsum(per[e0:e1], 0) - per[e0:e1]
            p2 = first[qk[p1]] + torch.arange(p1.numel(), device=dev) - off[p1 - e0]
            lo_ = torch.maximum(lo[p1], lo[p2])
            hi_ = torch.maximum(torch.minimum(hi[p1], hi[p2]), lo_)
            nn_ = (hi_ - lo_).float()
            S1o = (self.dcum1[hi_] - self.dcum1[lo_]).float()
            S2o = (self.dcum2[hi_] - self.dcum2[lo_]).float()
            g12 = G[qj[p1], qj[p2]]
            v1, v2, w1, w2 = v[p1], v[p2], wq[p1], wq[p2]
            extra.index_add_(0, p1, g12 * (nn_ * v1 * v2 + S1o * (v1 * w2 + w1 * v2) + S2o * w1 * w2))
            if want_grad:
                gq.index_add_(0, p1, g12 * (nn_ * v2 + S1o * w2))
        Galpha = None
        if want_grad:
            sp = torch.sparse_coo_tensor(torch.stack([qk, qj]), alpha, V.shape, is_coalesced=True,
                                         check_invariants=False)
            Galpha = torch.sparse.mm(sp, G)
        return extra, gq, Galpha


def instance_losses(P: Problem, Z: Tensor, method: str = "closed",
                    want_grad: bool = False) -> tuple[Tensor, Tensor | None]:
    """``L_k(z_k)`` for every instance ``(R,) float64`` and, if asked, ``dL/dZ (R, d)``."""
    if method == "closed":
        if P.closed is None:
            P.closed = _Closed(P)
        return P.closed(P, Z, want_grad)
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
    was_training = model.training
    model.to(device).eval()
    row = _tensor(row, torch.long, device)
    row_label = _tensor(row_label, torch.long, device)
    c = _tensor(c, torch.float32, device)
    sums = torch.zeros(num_rows, model.latent_dim, dtype=torch.float64, device=device)
    with tf32(True, device):                                # only an initialisation: TF32 is fine
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
    TF32 stays off on CUDA: the closed-form loss is a difference of large terms, and TF32's 10-bit
    mantissa would make the losses (and the keep-best choice) wrong by ~0.5%.
    Returns:
        ``codes (R, d) float32`` and ``info`` with ``loss_init`` and ``loss_final`` (mean squared error per
        feature element over all frames, standardised units), ``iters``, ``method``, ``seconds``.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {OPTIMIZERS}")
    if method not in METHODS + ("auto",):
        raise ValueError(f"unknown inversion method {method!r}; choose from {METHODS + ('auto',)}")
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
            P.closed, method = _Closed(P), "closed"
        except ValueError:
            method = "analytic"
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
