"""Noise filling for training: fresh noise, at the level of what the codes miss, on every access.

A ``pca`` file (format 1.2) stores ``codes/residual_sd``: per code dimension ``j``, the RMS over the
encoded frames of what the stored (interpolated, quantized) codes miss of each frame's coefficients.
A training restore adds, per frame, ``w @ (scale * residual_sd * e)`` with ``e ~ N(0, I_d)`` drawn
anew each time a video is read: the restored frames then vary within the span of the decoder as
much as the originals did around what was stored, instead of being the same smooth curve every
epoch (noise filling, as audio codecs fill the bands they did not code). The exact decode
(``Container.decode``, spec section 4) never adds it; ``TaszDataset`` and ``tasz eval`` do by
default (``noise="auto"``), ``noise=0`` turns it off.

Measured by ``benchmarks/rate_downstream.py`` (README, "Rate and quality"). The noise comes from
torch's random number generator: ``torch.manual_seed`` makes it reproducible, and ``DataLoader``
workers draw different noise (torch seeds each worker).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import UsageError

AUTO = "auto"


def check_noise(noise) -> float | str:
    """``"auto"`` or a scale ``>= 0`` (0: no noise, 1: the stored level); anything else a UsageError."""
    if isinstance(noise, str) and noise.strip().lower() == AUTO:
        return AUTO
    try:
        if isinstance(noise, bool):
            raise TypeError
        value = float(noise)
    except (TypeError, ValueError):
        raise UsageError(f"noise must be 'auto' or a number >= 0, got {noise!r}") from None
    if not (np.isfinite(value) and value >= 0):
        raise UsageError(f"noise must be 'auto' or a number >= 0, got {noise!r}")
    return value


def resolve_noise(noise, container) -> float:
    """The scale to draw at for ``container``: ``"auto"`` is 1 where the file stores a residual level
    (a 1.2 ``pca`` file), else 0; a scale > 0 on a file without one is a UsageError."""
    noise = check_noise(noise)
    has = container.residual_sd is not None
    if noise == AUTO:
        return 1.0 if has else 0.0
    if noise > 0 and not has:
        raise UsageError(f"{container.path}: noise filling needs a file that stores codes/residual_sd "
                         "(method pca, tascodec 1.2 or later); use noise=0 or 'auto'")
    return float(noise)


def noise_map(container, scale: float) -> np.ndarray | None:
    """``(d, D) float32``: ``e (T, d) @ map`` is one draw of the noise (``scale * residual_sd`` times
    the decoder's ``w``, transposed), or None when ``scale`` is 0."""
    if not scale:
        return None
    sd = container.residual_sd * np.float32(scale)
    return np.ascontiguousarray((container.decoder.weights["w"] * sd[None, :]).T, dtype=np.float32)


def add_noise(x: torch.Tensor, noise_map: torch.Tensor, *, layout: str = "TD",
              generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` plus one fresh draw of the noise (a new tensor; ``x`` is not changed). ``x``: ``(T, D)``,
    or ``(D, T)`` with ``layout="DT"``; ``noise_map``: ``noise_map(...)`` as a tensor on ``x``'s device."""
    T = x.shape[0] if layout == "TD" else x.shape[1]
    e = torch.randn((T, noise_map.shape[0]), generator=generator, device=x.device, dtype=noise_map.dtype)
    n = e @ noise_map
    return x + (n if layout == "TD" else n.T)


class NoisySource(Sequence):
    """``(features + fresh noise, labels)`` per video of a ``(features, labels)`` source (for training
    loops that take a sequence, such as ``tascodec.bench.runner.train_model``)."""

    def __init__(self, source: Sequence[tuple], noise_map: np.ndarray):
        self.source = source
        self.map = torch.from_numpy(noise_map)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple:
        x, y = self.source[i]
        xt = torch.as_tensor(x, dtype=torch.float32)
        return add_noise(xt, self.map).numpy(), y
