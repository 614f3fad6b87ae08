"""The torch backend (CPU or CUDA): the numpy ``Plan`` (small, per instance) run with torch on a device.

Planning stays in numpy; the ``D``-wide work runs on the device as a handful of whole-range
operations (one GEMM for every ``alpha``/``beta``, a gather and a multiply-add over the frames, a
scatter-add for the switching units), which suits a GPU; on the CPU the numpy backend is faster.
float32 with TF32 disabled, so the features equal the numpy backend's within float32 rounding.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .._precision import tf32
from ..container.content import Decoder
from ..errors import UsageError
from . import VideoTables, WORK_FRAMES, prepared
from .plan import Plan, Prepared, plan_mlp

PAIR_BLOCK = 4096  # switching-unit pairs scattered at once: bounds the (pairs, D) temporary

_DEVICE_WEIGHTS: dict[tuple[int, str], tuple[Prepared, torch.Tensor, torch.Tensor]] = {}


def _weights(prep: Prepared, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``w2t (H, D)`` and ``b2 (D,)`` on ``device``, cached per prepared decoder."""
    key = (id(prep), str(device))
    hit = _DEVICE_WEIGHTS.get(key)
    if hit is not None and hit[0] is prep:
        return hit[1], hit[2]
    if len(_DEVICE_WEIGHTS) >= 8:
        _DEVICE_WEIGHTS.clear()
    w2t, b2 = torch.from_numpy(prep.w2t).to(device), torch.from_numpy(prep.b2).to(device)
    _DEVICE_WEIGHTS[key] = (prep, w2t, b2)
    return w2t, b2


def _run_mlp(prep: Prepared, plan: Plan, out: torch.Tensor) -> None:
    """``out = alpha[g] + c * beta[g]`` by whole-range gathers, plus the switching units' pairs."""
    device = out.device
    w2t, b2 = _weights(prep, device)
    N = plan.num_groups
    ab = (torch.from_numpy(plan.hidden).to(device) @ w2t).view(N, 2, -1)
    alpha = ab[:, 0] + b2
    n = torch.from_numpy(np.diff(plan.frame_off)).to(device)
    g = torch.repeat_interleave(torch.arange(N, device=device), n)
    c = torch.from_numpy(plan.c).to(device)
    torch.index_select(alpha, 0, g, out=out)
    out.addcmul_(c[:, None], ab[:, 1].index_select(0, g))
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
            span = v.span(s, e)
            block = out[s - start:e - start]
            if prep.kind == "repeat":
                torch.index_select(codes_dev, 0, torch.from_numpy(span.row).to(out.device), out=block)
            else:
                _run_mlp(prep, plan_mlp(prep, v.codes, v.seg_label, span), block)


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
    codes_dev = torch.from_numpy(v.codes).to(device) if prep.kind == "repeat" else None
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
