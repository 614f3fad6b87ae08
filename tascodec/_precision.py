"""TF32 on CUDA: the one context manager through which tascodec allows or forbids it.

Training allows TF32 (fast, and its rounding is noise there); inversion's closed-form loss and
decoding forbid it (a difference of large terms, and features that must equal the numpy path's).
Either way the caller's settings come back after the block. PyTorch has two APIs for matmuls
(``allow_tf32`` and the newer ``fp32_precision``) and refuses to read the old one once a process
has mixed them: then the new one is used here too. cuDNN's flag is set through the old API only,
and left alone where PyTorch refuses it (tascodec's models are MLPs: no cuDNN op runs in a block).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


def _set_matmul(enabled: bool) -> tuple:
    m = torch.backends.cuda.matmul
    try:
        saved = (m, "allow_tf32", m.allow_tf32)
        m.allow_tf32 = enabled
    except RuntimeError:  # the process set precision through fp32_precision: use it too
        saved = (m, "fp32_precision", m.fp32_precision)
        m.fp32_precision = "tf32" if enabled else "ieee"
    return saved


def _set_cudnn(enabled: bool) -> tuple | None:
    c = torch.backends.cudnn
    try:
        saved = (c, "allow_tf32", c.allow_tf32)
        c.allow_tf32 = enabled
    except RuntimeError:  # mixed APIs: not needed by anything run inside, so not touched
        return None
    return saved


@contextlib.contextmanager
def tf32(enabled: bool, device: torch.device | str) -> Iterator[None]:
    """Allow (or forbid) TF32 in CUDA matmuls and cuDNN inside the block; nothing changes off CUDA."""
    if torch.device(device).type != "cuda":
        yield
        return
    saved = [s for s in (_set_matmul(enabled), _set_cudnn(enabled)) if s is not None]
    try:
        yield
    finally:
        for backend, attr, old in reversed(saved):
            setattr(backend, attr, old)
