"""What an inversion works on: the frozen decoder's pieces, the frame layout and the targets.

Shapes: N frames, R instances, D feature dim, H hidden, d latent dim. The decoder of frame ``i`` of
instance ``k`` (label ``a_k``, coherence ``c_i``) is ``W2 relu(u_k + c_i w_c) + b2`` with
``u_k = W1z z_k + W1a[:, a_k] + b1``. ``Problem`` holds ``W1z``, ``w_c``, the label terms per instance,
the layout (``row``, ``c``) and either the frames (for the reference methods) or the frames reduced
through the last layer (``Targets``), which is all the fast methods need.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..model.tca import TCA, tf32

DEFAULT_CHUNK = 8192  # frames handled at once (memory)


def as_tensor(a, dtype, device) -> Tensor:
    if isinstance(a, Tensor):
        return a.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def unwrap(model) -> TCA:
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
    model = unwrap(model)
    device = torch.device(device)
    w2 = model.dec2.weight.detach().to(device, torch.float32)
    b2 = model.dec2.bias.detach().to(device, torch.float32)
    N = x.shape[0]
    p = torch.empty(N, w2.shape[1], dtype=torch.float32, device=device)
    sq = torch.empty(N, dtype=torch.float64, device=device)
    with tf32(False, device):
        for s in range(0, N, chunk):
            r = as_tensor(x[s:s + chunk], torch.float32, device) - b2
            torch.mm(r, w2, out=p[s:s + chunk])
            sq[s:s + chunk] = r.double().square().sum(1)
    return Targets(p, sq)


# --- the problem: frozen decoder pieces + frame layout ---------------------------------------
class Problem:
    """One inversion problem on ``device``: decoder pieces, frame layout and (projected) targets."""

    def __init__(self, model: TCA, x, row, row_label, c, *, device="cpu", chunk: int = DEFAULT_CHUNK,
                 need_frames: bool = False):
        model = unwrap(model)
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
        self.row = as_tensor(row, torch.long, dev)                           # (N,)
        self.row_label = as_tensor(row_label, torch.long, dev)               # (R,)
        self.c = as_tensor(c, f32, dev)                                      # (N,)
        self.R = self.row_label.shape[0]
        self.N = self.row.shape[0]
        self.C = C
        self.closed = None  # invert_fast.Closed, built on first use
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
            self.x = as_tensor(x, f32, dev) if need_frames else None
            self.targets = None if need_frames else project_targets(model, x, device=dev, chunk=chunk)
        if self.targets is not None:
            self.G = (self.w2.T @ self.w2).contiguous()                     # (H, H)
            self.const = torch.zeros(self.R, dtype=torch.float64, device=dev).index_add_(
                0, self.row, self.targets.sq)                               # (R,) sum ||x - b2||^2

    def chunks(self):
        for s in range(0, self.N, self.chunk):
            yield s, min(s + self.chunk, self.N)
