"""The losses an encode runs: per-instance inversion losses with hand-written gradients, no autograd.

- ``analytic_pass``: the ``gram`` loss with ``dL/du_k = 2 sum_i (G h_i - p_i) * [pre_i > 0]``, one
  H x H GEMM per frame chunk; works on any layout.
- ``Closed``: ``analytic`` plus per-instance sufficient statistics: ReLU units that keep their sign
  over an instance (nearly all: ``c`` moves little within one) are summed in closed form, so the
  H x H GEMM runs per instance (2 R rows) instead of per frame (N rows); units that switch are
  summed exactly over their frames. Needs each instance's frames contiguous with ``c`` sorted, as
  ``frame_layout`` gives.

Both give the reference losses (``invert_reference``) to float rounding; the tests check it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .invert_problem import Problem


@torch.no_grad()
def analytic_pass(P: Problem, Z: Tensor, want_grad: bool) -> tuple[Tensor, Tensor | None]:
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


class Closed:
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
