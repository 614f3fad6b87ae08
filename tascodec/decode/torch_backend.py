"""The torch backend (CPU or CUDA): the numpy ``Plan`` (small, per instance) run with torch on a device.

Planning stays in numpy. On the CPU the output tensor's memory is filled by the numpy backend's
per-instance products with torch's (MKL) GEMM for the one large product, so it is never slower than
numpy. On a GPU the ``D``-wide work is a handful of whole-range operations (one GEMM for the direct
frames and every ``alpha``/``beta``, a gather and a multiply-add over the affine frames, a
scatter-add for the switching units). float32 with TF32 disabled, so the features equal the numpy
backend's within float32 rounding.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .._precision import tf32
from ..container.content import Decoder
from ..errors import UsageError
from . import VideoTables, WORK_FRAMES, numpy_backend, prepared
from .linear import knot_first, run_linear
from .plan import Plan, Prepared, plan_mlp, ragged_arange

PAIR_BLOCK = 4096  # switching-unit pairs scattered at once: bounds the (pairs, D) temporary

_DEVICE_WEIGHTS: dict[tuple[int, str], tuple[Prepared, torch.Tensor, torch.Tensor]] = {}


def _weights(prep: Prepared, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``w2tb (H + 1, D)`` and ``w2t (H, D)`` (its first rows) on ``device``, cached per prepared decoder."""
    key = (id(prep), str(device))
    hit = _DEVICE_WEIGHTS.get(key)
    if hit is not None and hit[0] is prep:
        return hit[1], hit[2]
    if len(_DEVICE_WEIGHTS) >= 8:
        _DEVICE_WEIGHTS.clear()
    w2tb = torch.from_numpy(prep.w2tb).to(device)
    _DEVICE_WEIGHTS[key] = (prep, w2tb, w2tb[:-1])
    return w2tb, w2tb[:-1]


def _mkl_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    torch.mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))


def _run_mlp(prep: Prepared, plan: Plan, out: torch.Tensor) -> None:
    """The frames of ``plan`` into ``out``: numpy's per-instance path on the CPU, whole-range ops elsewhere."""
    if out.device.type == "cpu":
        numpy_backend.run_mlp(prep, plan, out.numpy(), matmul=_mkl_matmul, threads=torch.get_num_threads())
    else:
        _run_mlp_gather(prep, plan, out)


def _run_mlp_gather(prep: Prepared, plan: Plan, out: torch.Tensor) -> None:
    """One GEMM, the direct frames copied into place, ``alpha[g] + c * beta[g]`` for the affine frames
    by whole-range gathers, plus the switching units' pairs."""
    device = out.device
    w2tb, w2t = _weights(prep, device)
    Td, Na = plan.direct_frame.size, plan.affine.size
    if not Td + Na:
        return
    prod = torch.from_numpy(plan.hidden).to(device) @ w2tb
    if Td:
        out.index_copy_(0, torch.from_numpy(plan.direct_frame).to(device), prod[:Td])
    if not Na:
        return
    n = np.diff(plan.frame_off)[plan.affine]
    g = np.repeat(np.arange(Na), n)
    frame = plan.frame_off[plan.affine][g] + ragged_arange(n)
    g_dev, frame_dev = torch.from_numpy(g).to(device), torch.from_numpy(frame).to(device)
    c = torch.from_numpy(plan.c[frame]).to(device)
    alpha, beta = prod[Td::2], prod[Td + 1::2]
    out.index_copy_(0, frame_dev, torch.addcmul(alpha.index_select(0, g_dev), c[:, None], beta.index_select(0, g_dev)))
    on = np.flatnonzero(plan.pair_value)  # relu's zeros add nothing
    for s in range(0, on.size, PAIR_BLOCK):
        q = on[s:s + PAIR_BLOCK]
        frame = torch.from_numpy(plan.pair_frame[q]).to(device)
        unit = torch.from_numpy(plan.ev_unit[plan.pair_event[q]]).to(device)
        value = torch.from_numpy(plan.pair_value[q]).to(device)
        out.index_add_(0, frame, w2t.index_select(0, unit) * value[:, None])


def _decode_into(prep: Prepared, v: VideoTables, start: int, stop: int, out: torch.Tensor,
                 codes_dev: torch.Tensor | None) -> None:
    with tf32(False, out.device):  # training code may have enabled it
        for s in range(start, stop, WORK_FRAMES):
            e = min(stop, s + WORK_FRAMES)
            block = out[s - start:e - start]
            if prep.kind == "linear":
                first = knot_first(v.num_frames, v.codes.shape[0])
                if block.device.type == "cpu":  # numpy's kernel is the faster one on a CPU (same memory)
                    run_linear(prep.w2t, prep.b2, v.codes, *v.knots(s, e), block.numpy(), first)
                else:
                    _run_linear(prep, codes_dev, v.knots(s, e), block, first)
                continue
            span = v.span(s, e)
            if prep.kind == "repeat":
                torch.index_select(codes_dev, 0, torch.from_numpy(span.row).to(out.device), out=block)
            else:
                _run_mlp(prep, plan_mlp(prep, v.codes, v.seg_label, span), block)


def _run_linear(prep: Prepared, codes_dev: torch.Tensor, knots, out: torch.Tensor, knots_first: bool) -> None:
    """The ``linear`` decoder (``tascodec.decode.linear``) on ``out``'s device, knots first or not as numpy."""
    dev = out.device
    wt, b = _linear_weights(prep, dev)
    if knots_first and out.shape[0]:
        r0, r1 = int(knots[0][0]), int(knots[1][-1]) + 1
        ra_np = knots[0] - r0
        y = torch.addmm(b, codes_dev[r0:r1], wt)
        r = torch.from_numpy(np.unique(ra_np[knots[1] - r0 > ra_np])).to(dev)
        dy = torch.zeros_like(y).index_copy_(0, r, y.index_select(0, r + 1) - y.index_select(0, r))
        ra, w = torch.from_numpy(ra_np).to(dev), torch.from_numpy(knots[2]).to(dev)
        torch.index_select(y, 0, ra, out=out)
        out.addcmul_(dy.index_select(0, ra), w[:, None])
        return
    row_a, row_b, w = (torch.from_numpy(a).to(dev) for a in knots)
    za = codes_dev.index_select(0, row_a)
    za += (codes_dev.index_select(0, row_b) - za) * w[:, None]
    torch.addmm(b, za, wt, out=out)


def _linear_weights(prep: Prepared, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (id(prep), "linear", str(device))
    hit = _LINEAR_CACHE.get(key)
    if hit is None or hit[0] is not prep:
        if len(_LINEAR_CACHE) >= 8:
            _LINEAR_CACHE.clear()
        hit = (prep, torch.tensor(prep.w2t, device=device), torch.tensor(prep.b2, device=device))  # copies
        _LINEAR_CACHE[key] = hit
    return hit[1], hit[2]


_LINEAR_CACHE: dict = {}


def resolve_device(device) -> torch.device:
    """``device`` as a ``torch.device`` (default CPU); ``UsageError`` when it is malformed or absent."""
    try:
        dev = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as e:
        raise UsageError(f"not a torch device: {device!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r}: CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device {device!r}: decoding runs on cpu or cuda")
    return dev


def _setup(decoder, codes, seg_label, seg_length, seg_instances, device):
    prep = prepared(decoder)
    v = VideoTables(prep, codes, seg_label, seg_length, seg_instances)
    device = resolve_device(device)
    codes_dev = torch.from_numpy(v.codes).to(device) if prep.kind in ("repeat", "linear") else None
    return prep, v, device, codes_dev


def decode_segments_torch(decoder: Decoder | Prepared, codes: np.ndarray, seg_label: np.ndarray,
                          seg_length: np.ndarray, seg_instances: np.ndarray, *, device=None,
                          start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Frames ``[start, stop)`` of one video as a ``(stop - start, D) float32`` tensor on ``device``."""
    prep, v, device, codes_dev = _setup(decoder, codes, seg_label, seg_length, seg_instances, device)
    start, stop = v.range(start, stop)
    out = torch.empty(stop - start, prep.feature_dim, dtype=torch.float32, device=device)
    _decode_into(prep, v, start, stop, out, codes_dev)
    return out


def iter_decode_segments_torch(decoder: Decoder | Prepared, codes: np.ndarray, seg_label: np.ndarray,
                               seg_length: np.ndarray, seg_instances: np.ndarray, *, device=None,
                               chunk_frames: int = 65536) -> Iterator[torch.Tensor]:
    """Consecutive ``(<= chunk_frames, D)`` tensors on ``device`` whose concatenation is the whole decode."""
    if chunk_frames < 1:
        raise UsageError(f"chunk_frames must be >= 1, got {chunk_frames}")
    prep, v, device, codes_dev = _setup(decoder, codes, seg_label, seg_length, seg_instances, device)

    def blocks() -> Iterator[torch.Tensor]:
        for s in range(0, v.num_frames, chunk_frames):
            e = min(v.num_frames, s + chunk_frames)
            out = torch.empty(e - s, prep.feature_dim, dtype=torch.float32, device=device)
            _decode_into(prep, v, s, e, out, codes_dev)
            yield out

    return blocks()
