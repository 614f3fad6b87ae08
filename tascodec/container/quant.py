"""Latent code storage dtypes: float32, float16, and int8 with one float32 scale per row.

int8 (normative, spec/tasz-v1.md): ``scale = max|z_row| / 127`` (1 where the row is all zero),
``q = clip(round_half_even(z / scale), -127, 127)``; decoding is ``q * scale`` in float32.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .content import CODE_DTYPES


def quantize(codes: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(R, d) float`` -> ``(values in dtype, scale (R,) float32 or None)``."""
    if dtype not in CODE_DTYPES:
        raise UsageError(f"latent dtype must be one of {CODE_DTYPES}, got {dtype!r}")
    z = np.asarray(codes, np.float32)
    if dtype == "float32":
        return z.copy(), None
    if dtype == "float16":
        # clip first: float16 overflows to inf above 65504
        return np.clip(z, -65504, 65504).astype(np.float16), None
    amax = np.max(np.abs(z), axis=1) if z.size else np.zeros(z.shape[0], np.float32)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(z / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def dequantize(values: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Stored codes -> ``(R, d) float32``."""
    if values.dtype == np.int8:
        if scale is None:
            raise UsageError("int8 codes need a per-row scale")
        return values.astype(np.float32) * np.asarray(scale, np.float32)[:, None]
    return np.asarray(values, np.float32)
