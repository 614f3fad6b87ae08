"""Rate control: the ``pca`` configuration with the least restored error that fits a byte budget.

A measured search, not a guess. The principal components are fitted once (at the largest ``k``
the budget could hold); then on a sample of the videos (evenly spaced, about ``sample_frames``
frames) every candidate (components ``k``, frames per code, int8 levels, weights dtype and coarseness) gets its
codes fitted and quantized, and

- its error, exactly, in the knots' domain: with ``y`` the least-squares coefficients of the
  frames (``x - b = W y + r``, ``r`` orthogonal to W's columns), ``A`` the interpolation, ``z`` the
  least-squares knots (``N z = A^T y``, ``N = A^T A``) and ``d = zq - z`` the quantization error,
  ``sum_t |x_t - b - W (A zq)_t|^2 = sum_t |x_t - b|^2 - sum_r z_r^T G (A^T y)_r + sum_r d_r^T G (N d)_r``
  with ``G = W^T W`` (the cross terms vanish by the normal equations): ``O(R k^2)`` per candidate,
  no frame-level pass; relative to ``|x|^2``;
- its bytes: a container with the real tables and metadata and an empty decoder (written once),
  plus the compressed stored weights, plus the sample's compressed codes and scales per row
  times the rows the whole split needs at that frames-per-code.

The best estimate that fits is encoded for real; if the file comes out larger than the budget
(the estimate is a few percent off at most), the search runs again with the budget shrunk by the
overshoot (at most three times). ``choose`` raises ``UsageError`` when nothing fits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numcodecs.zstd
import numpy as np

from ..container.layout import CODES_CHUNK_TARGET
from ..container.writer import DEFAULT_LEVEL as ZSTD_LEVEL  # the level the writer compresses at
from ..errors import UsageError
from . import transform

KS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
FRAMES_PER_CODE = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
LEVELS = (127, 63, 31, 15, 7, 3)
# stored weights: (dtype, coarseness of the weaker components' int8 steps; see transform.store_weights)
WEIGHTS = (("int8", 0.0), ("int8", 0.5), ("int8", 1.0), ("int8", 2.0), ("float16", 0.0))
SAMPLE_FRAMES = 20_000


@dataclass(frozen=True)
class Choice:
    """A ``pca`` configuration and what the search measured for it."""

    latent_dim: int
    frames_per_code: int
    levels: int
    weights_dtype: str
    weight_coarseness: float
    estimated_bytes: int
    estimated_error: float  # relative squared error on the sample
    sample_frames: int
    candidates: int

    def describe(self) -> str:
        return (f"pca with {self.latent_dim} components, one code per {self.frames_per_code} frames, "
                f"int8 codes at {self.levels} levels, {self.weights_dtype} weights"
                f"{f' (coarseness {self.weight_coarseness:g})' if self.weight_coarseness else ''} "
                f"(~{self.estimated_bytes:,} bytes, relative squared error ~{self.estimated_error:.4g} on a "
                f"{self.sample_frames:,}-frame sample; {self.candidates} configurations measured)")


def _zbytes(a: np.ndarray, chunk_bytes: int) -> int:
    """Compressed bytes of ``a`` in row chunks of about ``chunk_bytes`` (as the writer stores it)."""
    a = np.ascontiguousarray(a)
    row = max(1, a.itemsize * (a.shape[1] if a.ndim == 2 else 1))
    rows = max(1, chunk_bytes // row)
    return sum(len(numcodecs.zstd.compress(a[i:i + rows].tobytes(), ZSTD_LEVEL)) + 4
               for i in range(0, max(len(a), 1), rows))


def sample_videos(videos: list[str], frames: list[int], target: int = SAMPLE_FRAMES) -> list[int]:
    """Indices of evenly spaced videos holding about ``target`` frames (all when fewer)."""
    total = sum(frames)
    if total <= target:
        return list(range(len(videos)))
    order = np.argsort(np.arange(len(videos)) * 0.6180339887 % 1.0, kind="stable")  # spread out
    picked, have = [], 0
    for i in order:
        picked.append(int(i))
        have += frames[i]
        if have >= target:
            break
    return sorted(picked)


def choose(features, videos: list[str], tables: dict, overhead_bytes: int, target_bytes: int,
           *, components=None, sample_frames: int = SAMPLE_FRAMES) -> tuple[Choice, "transform.Components"]:
    """The best configuration under ``target_bytes``.

    ``features(v) -> (T, D)``; ``tables[v] = seg_length (S_v,)``; ``overhead_bytes``: the file with
    tables and metadata but no weights or codes; ``components``: a ``transform.Components`` to reuse.
    """
    frames = [int(np.sum(tables[v])) for v in videos]
    D = features(videos[0]).shape[1] if videos else 0
    room = target_bytes - overhead_bytes
    if room <= 0 or not videos:
        raise UsageError(f"nothing fits in {target_bytes:,} bytes: the tables and metadata alone take "
                         f"{overhead_bytes:,}")
    k_max = max([k for k in KS if k <= D and D * k <= room] or [0])
    if k_max == 0:
        raise UsageError(f"nothing fits in {target_bytes:,} bytes: the smallest basis ({KS[0]} components "
                         f"of {D}-d features) alone takes about {D * KS[0]:,} bytes beyond the "
                         f"{overhead_bytes:,} of tables and metadata")
    comp = components or transform.fit_components(features, videos, frames, k_max)
    sample = sample_videos(videos, frames, sample_frames)
    # the sample's videos as one: segments decode independently, so this changes nothing
    x = np.concatenate([features(videos[i]) for i in sample])
    lens = np.concatenate([np.asarray(tables[videos[i]], np.int64) for i in sample])
    energy = float(np.einsum("ij,ij->", x, x, dtype=np.float64))
    rows_all = {fpc: sum(int(transform.knot_counts(tables[v], fpc).sum()) for v in videos) for fpc in FRAMES_PER_CODE}
    systems = {fpc: transform.KnotSystem(lens, transform.knot_counts(lens, fpc)) for fpc in FRAMES_PER_CODE}
    centred: dict[bytes, float] = {}  # sum |x - b|^2 per stored mean
    best: Choice | None = None
    count = 0
    for wdt, coarse in WEIGHTS:
        for k in (k for k in KS if k <= k_max):
            basis = comp.basis(k, wdt, coarse)
            wbytes = sum(_zbytes(a, 1 << 20) for a in basis.weights.values()) + 2 * k  # + codes/residual_sd
            if overhead_bytes + wbytes >= target_bytes:
                break  # larger k only cost more
            w32, b32, P = basis.projector()
            G = (w32.T.astype(np.float64) @ w32.astype(np.float64)).astype(np.float32)
            if b32.tobytes() not in centred:
                centred[b32.tobytes()] = _centred_energy(x, b32)
            base = centred[b32.tobytes()]
            y = (x - b32) @ P
            for fpc in FRAMES_PER_CODE:
                system = systems[fpc]
                rhs = system.rhs(y)
                z64 = system.solve(rhs)
                z = z64.astype(np.float32)
                fitted = base - transform.gram_dot(z, G, rhs)  # the error of the unquantized knots
                if best is not None and fitted / energy >= best.estimated_error:
                    continue  # quantizing only adds error: no level of this one can win
                for lv in LEVELS[::-1]:  # fewest levels (smallest) first
                    count += 1
                    q, scale = transform.quantize_codes(z, "int8", lv)
                    per_row = (_zbytes(q, CODES_CHUNK_TARGET) + _zbytes(scale, CODES_CHUNK_TARGET)) / max(len(q), 1)
                    est = int(overhead_bytes + wbytes + math.ceil(per_row * rows_all[fpc]))
                    if est > target_bytes:
                        break  # more levels only cost more
                    delta = q.astype(np.float32) * scale[:, None] - z64
                    rel = (fitted + transform.gram_dot(delta, G, system.normal(delta))) / energy
                    if best is None or rel < best.estimated_error:
                        best = Choice(k, fpc, lv, wdt, coarse, est, rel, int(x.shape[0]), 0)
    if best is None:
        raise UsageError(f"nothing fits in {target_bytes:,} bytes (tables and metadata take "
                         f"{overhead_bytes:,}; the smallest configuration measured needs more)")
    return Choice(**{**best.__dict__, "candidates": count}), comp


def basis(choice: Choice, comp: "transform.Components") -> "transform.Basis":
    """The stored basis of ``choice``."""
    return comp.basis(choice.latent_dim, choice.weights_dtype, choice.weight_coarseness)


def _centred_energy(x: np.ndarray, b: np.ndarray, block: int = 4096) -> float:
    """``sum_t |x_t - b|^2`` (float64)."""
    total = 0.0
    for i in range(0, len(x), block):
        r = x[i:i + block] - b
        total += float(np.einsum("ij,ij->", r, r, dtype=np.float64))
    return total
