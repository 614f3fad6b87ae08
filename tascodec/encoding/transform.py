"""The ``pca`` method: a transform codec with segment-aligned knots (decoder kind ``linear``).

A video is stored as knots: each segment of ``l`` frames gets ``n = min(l, ceil(l / fpc))``
codes (``fpc``: frames per code), interpolated linearly in time between the instances' centres
and never across a segment boundary (``tascodec.decode.linear``). A code is the frame's
coefficients on the top ``k`` principal components of the training frames. Three steps:

1. ``fit_components``: mean and covariance in one streaming pass (at most ``max_frames`` frames,
   evenly spaced, in float64), top-``k`` eigenvectors -> ``w (D, k)``, ``b (D,)`` rounded to the
   stored weights dtype (float16, or int8 with a scale per component: half the bytes for an
   error well below the codes'; the codes are fitted against the rounded weights). int8 weights
   may be rounded coarser on the weaker components (``coarseness``): a weight error on component
   ``j`` costs in proportion to its variance, so equal cost means a step ``~ 1 / sigma_j``, and
   zstd stores the coarser columns in fewer bits.
2. ``video_codes``: project each frame on the rounded basis, then per segment the least-squares
   knots of the interpolation (a tridiagonal system: exact, ``O(R k)``).
3. ``quantize_codes``: int8 with one step for every code, ``max |z| / levels`` (the stored
   per-row scales are all equal, so zstd stores them in a few bytes). One step everywhere is the
   uniform quantizer that transform coding prescribes (equal error per component, the weak ones
   mostly 0); fewer levels trade error for bytes. Against one scale per row, measured on a
   28-video GTEA-like set: about the same error for 10-27% fewer code bytes (the scales included).
4. ``code_residuals``: per component, the RMS of what the stored knots miss of the frames'
   coefficients (format 1.2 ``codes/residual_sd``): the level at which training restores add
   fresh noise (``tascodec.decode.noise``); and the file's exact restored error over every frame.
   Both in closed form from the knot systems and the sums of step 2 (``CodeStats``), with no
   second pass over the features.

Why this and not the TCA decoder at small sizes: a decoder is a fixed cost stored once, and at
GTEA scale a H = 1024 TCA decoder is most of the file; ``benchmarks/rate.py`` measures both
against a generic codec (PCA + every n-th frame + zstd) at equal whole-file bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..container.content import Decoder
from ..container.quant import dequantize
from ..decode.linear import knots
from ..decode.plan import segment_starts

MAX_COV_FRAMES = 1 << 18  # frames (evenly spaced over the split) that estimate the covariance
COV_BLOCK = 4096  # frames per covariance update (float32 GEMM, float64 accumulation)
QUANT_BLOCK = 1 << 16  # code rows quantized at a time


@dataclass(frozen=True)
class Basis:
    """The stored decoder weights (``w (D, k)``, ``b (D,)``, and ``w_scale (k,)`` when ``dtype`` is
    int8), plus what the fit needs: the components' variances and the total variance."""

    weights: dict
    dtype: str
    eigenvalues: np.ndarray  # (k,) variance of each component over the training frames
    total_variance: float  # trace of the covariance: residual variance = total - sum(eigenvalues)

    @property
    def k(self) -> int:
        return int(self.weights["w"].shape[1])

    def decoder(self, num_classes: int) -> Decoder:
        D, k = self.weights["w"].shape
        return Decoder(kind="linear", feature_dim=D, latent_dim=k, num_classes=num_classes, hidden=0,
                       activation="identity", weights=dict(self.weights), weights_dtype=self.dtype)

    def projector(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w32, b32, P)`` with ``P (D, k)``: ``(x - b) @ P`` are the least-squares coefficients
        against the weights as a decoder sees them (after rounding)."""
        f32 = self.decoder(1).float32_weights()
        w = f32["w"].astype(np.float64)
        gram = w.T @ w + 1e-9 * np.eye(w.shape[1])
        P = np.linalg.solve(gram, w.T).T  # (D, k) = w (w^T w)^-1
        return f32["w"], f32["b"], P.astype(np.float32)


def store_weights(w: np.ndarray, b: np.ndarray, dtype: str, *, sigma: np.ndarray | None = None,
                  coarseness: float = 0.0) -> dict:
    """``w (D, k)``, ``b (D,)`` in the stored form of ``dtype`` (int8: one scale per column).

    int8 column ``j`` is rounded to the step ``max(amax_j, coarseness * amax_0 * sigma_0 / sigma_j) / 127``
    (``sigma``: the components' standard deviations, strongest first): 0 is plain int8 (every
    column at full precision), 1 gives each column the weight error the first one has.
    """
    if coarseness and dtype != "int8":
        raise ValueError(f"coarseness needs int8 weights, not {dtype}")
    if dtype == "int8":
        amax = np.abs(w).max(0)
        if coarseness and amax.size and sigma is not None and sigma[0] > 0:
            ratio = np.divide(sigma[0], sigma, out=np.full(sigma.shape, np.inf), where=sigma > 0)
            amax = np.maximum(amax, np.minimum(coarseness * amax[0] * ratio, 127.0 * np.maximum(amax, 1e-30)))
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        return {"w": np.ascontiguousarray(q), "w_scale": scale, "b": b.astype(np.float32)}
    np_dtype = np.float16 if dtype == "float16" else np.float32
    return {"w": np.ascontiguousarray(w.astype(np_dtype)), "b": b.astype(np_dtype)}


def knot_counts(lengths: np.ndarray, fpc: int) -> np.ndarray:
    """Codes per segment: ``min(l, ceil(l / fpc))`` (``int32 (S,)``)."""
    lengths = np.asarray(lengths, np.int64)
    return np.minimum(lengths, -(-lengths // int(fpc))).astype(np.int32)


@dataclass(frozen=True)
class Components:
    """The top principal components of a split: ``vectors (D, k)`` float64, ``mean (D,)``."""

    vectors: np.ndarray
    mean: np.ndarray
    eigenvalues: np.ndarray
    total_variance: float

    def basis(self, k: int, dtype: str = "float16", coarseness: float = 0.0) -> Basis:
        """The first ``k`` components stored as ``dtype`` (PCA is nested: the same as fitting k);
        ``coarseness`` (int8 only): see ``store_weights``."""
        k = min(int(k), self.vectors.shape[1])
        weights = store_weights(self.vectors[:, :k], self.mean, dtype, sigma=np.sqrt(np.maximum(self.eigenvalues[:k], 0)),
                                coarseness=coarseness)
        return Basis(weights, dtype, self.eigenvalues[:k], self.total_variance)


def fit_components(frames: Callable[[str], np.ndarray], videos: list[str], num_frames: list[int], k: int,
                   *, max_frames: int = MAX_COV_FRAMES, progress: Callable[[int], None] | None = None) -> Components:
    """Top-``k`` principal components of the videos' frames (``frames(v) -> (T, D) float32``)."""
    total = int(sum(num_frames))
    step = max(1, math.ceil(total / max_frames))
    acc = None
    s1 = None
    n = 0
    offset = 0
    for v, T in zip(videos, num_frames):
        x = frames(v)
        # every step-th frame of the whole split (phase carried from video to video)
        first = (-offset) % step
        x = x[first::step]
        offset += T
        for i in range(0, x.shape[0], COV_BLOCK):
            blk = x[i:i + COV_BLOCK]
            if acc is None:
                D = blk.shape[1]
                acc = np.zeros((D, D), np.float64)
                s1 = np.zeros(D, np.float64)
                shift = blk[0].astype(np.float64)  # shifted sums: no cancellation for large means
            c = blk - shift.astype(np.float32)
            acc += c.T @ c
            s1 += c.sum(0, dtype=np.float64)
            n += blk.shape[0]
        if progress is not None:
            progress(1)
    if acc is None or n == 0:
        raise ValueError("no frames to fit a basis on")
    D = acc.shape[0]
    k = min(int(k), D)
    m = s1 / n
    cov = acc / n - np.outer(m, m)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:k]
    w = evecs[:, order]
    w *= np.where(w[np.abs(w).argmax(0), np.arange(k)] < 0, -1.0, 1.0)  # a fixed sign per component
    return Components(np.ascontiguousarray(w), shift + m, np.maximum(evals[order], 0.0), float(np.trace(cov)))


@dataclass
class CodeStats:
    """What the codes pass sums over the frames, so that ``code_residuals`` needs no second pass
    over the features for the noise level and the file's exact restored error."""

    energy: np.ndarray  # (k,) float64: sum of the coefficients' squares, per component
    centred: float = 0.0  # sum_t |x_t - b|^2
    total: float = 0.0  # sum_t |x_t|^2
    frames: int = 0

    @classmethod
    def empty(cls, k: int) -> "CodeStats":
        return cls(np.zeros(int(k), np.float64))


def video_codes(x: np.ndarray, seg_length: np.ndarray, seg_instances: np.ndarray,
                projector: tuple[np.ndarray, np.ndarray, np.ndarray], stats: CodeStats | None = None) -> np.ndarray:
    """Least-squares knots ``(R, k) float32`` of one video's frames ``x (T, D)``; ``stats``, when
    given, gets this video's sums added (``CodeStats``)."""
    _, b, P = projector
    xc = x - b
    y = xc @ P
    if stats is not None:
        stats.energy += np.einsum("tk,tk->k", y, y, dtype=np.float64)
        stats.centred += float(np.einsum("td,td->", xc, xc, dtype=np.float64))
        stats.total += float(np.einsum("td,td->", x, x, dtype=np.float64))
        stats.frames += int(x.shape[0])
    return knots_from_coefficients(y, seg_length, seg_instances)


def _missed(knots: np.ndarray, stored, layouts, gram: np.ndarray):
    """Over every video in ``layouts`` (each ``(seg_length, seg_instances)``), with ``z`` the
    least-squares knots (``knots``), ``zq`` the dequantized stored ones (``stored``: ``(R, k)``, or
    the stored ``(values, scale)``, dequantized one video at a time), ``e = zq - z``
    and ``N`` the video's ``KnotSystem``: per component ``sum_r e.(N e) - z.(N z)`` ``(k,) float64``,
    and the same in feature space with the decoder's ``gram = w^T w``, ``sum_r e.G(N e) - z.G(N z)``."""
    per = np.zeros(knots.shape[1], np.float64)
    full = 0.0
    r0 = 0
    for seg_length, seg_instances in layouts:
        r1 = r0 + int(np.sum(seg_instances, dtype=np.int64))
        if r1 > r0:
            system = KnotSystem(seg_length, seg_instances)
            z = knots[r0:r1].astype(np.float64)
            e = z - _rows(stored, r0, r1)
            nz, ne = system.normal(z), system.normal(e)
            per += np.einsum("rk,rk->k", e, ne) - np.einsum("rk,rk->k", z, nz)
            full += gram_dot(e, gram, ne) - gram_dot(z, gram, nz)
        r0 = r1
    return per, full


def _rows(stored, r0: int, r1: int) -> np.ndarray:
    if isinstance(stored, tuple):  # as a reader dequantizes them (float32)
        values, scale = stored
        return dequantize(values[r0:r1], None if scale is None else scale[r0:r1])
    return stored[r0:r1]


def gram_dot(a: np.ndarray, G: np.ndarray, c: np.ndarray) -> float:
    """``sum_r a_r^T G c_r`` for ``a, c (R, k)``: ``a`` in ``G``'s dtype, summed in float64."""
    return float(np.einsum("ij,ij->", a.astype(G.dtype) @ G, c, dtype=np.float64))


def code_residuals(stats: CodeStats, knots: np.ndarray, stored, layouts,
                   w: np.ndarray) -> tuple[np.ndarray, float]:
    """``(residual_sd, restored_error)`` of the whole split in one loop over the knot systems.

    ``knots``/``stored``: every video's least-squares knots ``z`` and stored ones, ``(R, k)``, in
    the order of ``layouts`` (each video's ``(seg_length, seg_instances)``); ``stored`` as
    ``quantize_codes`` gives them (``(values, scale)``) or dequantized; ``w``: the decoder's float32
    weights, ``G = w^T w``. Since ``z`` solves ``N z = A^T y`` (``KnotSystem``), the cross terms
    vanish by the normal equations:

    - ``residual_sd``: per component, the RMS over the frames of what the stored knots miss of the
      frames' coefficients ``y``, ``|y - A zq|^2 = |y|^2 - z.Nz + (z - zq).N(z - zq)`` per column;
      ``(k,) float16`` (format 1.2 ``codes/residual_sd``), what noise filling draws at;
    - ``restored_error``: the exact decode's ``sum |x - b - w A zq|^2 / sum |x|^2`` over every frame,
      ``sum |x - b|^2 - sum z.G(N z) + sum e.G(N e)``, as rate control's estimate (``ratecontrol``).
    """
    gram = w.astype(np.float64).T @ w.astype(np.float64)
    per, full = _missed(knots, stored, layouts, gram)
    rms = np.sqrt(np.maximum(stats.energy + per, 0.0) / max(int(stats.frames), 1))
    error = max(stats.centred + full, 0.0) / stats.total if stats.total > 0 else 0.0
    return np.minimum(rms, np.finfo(np.float16).max).astype(np.float16), float(error)


def _frame_knots(seg_length: np.ndarray, seg_instances: np.ndarray):
    seg_start = segment_starts(seg_length)
    row_start = segment_starts(seg_instances)
    return knots(seg_start, row_start, seg_length, seg_instances, 0, int(seg_start[-1])), int(row_start[-1])


class KnotSystem:
    """The least-squares knot fit of one frame layout (``T`` frames, ``R`` knots), factored once.

    With ``A (T, R)`` the interpolation (frame ``t`` = ``(1 - w_t) z_a + w_t z_b``), the knots closest
    to coefficients ``y (T, k)`` solve ``N z = A^T y``, ``N = A^T A``: tridiagonal and block-diagonal
    over segments (no frame mixes two segments' knots). The Thomas elimination runs over all segments
    at once, one step per knot position, so its cost is ``O(R k)`` with as many Python steps as the
    longest segment has knots.
    """

    def __init__(self, seg_length: np.ndarray, seg_instances: np.ndarray):
        (self.row_a, self.row_b, w), self.R = _frame_knots(seg_length, seg_instances)
        self.w = w
        R, w64 = self.R, w.astype(np.float64)
        # where w == 0, row_b == row_a and the w terms add nothing
        self.diag = np.bincount(self.row_a, (1 - w64) ** 2, R) + np.bincount(self.row_b, w64 ** 2, R) + 1e-9
        self.off = np.append(np.bincount(self.row_a, w64 * (1 - w64), R)[:-1], 0.0)  # off[r] couples r, r + 1
        counts = np.asarray(seg_instances, np.int64)
        first = segment_starts(counts)[:-1]
        self._rows = [first[counts > p] + p for p in range(int(counts.max(initial=0)))]  # knots at position p
        self._pivot = self.diag.copy()
        self._mult = np.zeros(R)
        for idx in self._rows[1:]:
            self._mult[idx] = self.off[idx - 1] / self._pivot[idx - 1]
            self._pivot[idx] -= self._mult[idx] * self.off[idx - 1]
        self._coupled = bool(np.any(self.off))

    def rhs(self, y: np.ndarray) -> np.ndarray:
        """``A^T y`` ``(R, k) float64``."""
        wy = self.w[:, None] * y  # float32 products, summed in float64
        return _row_sums(self.row_a, y - wy, self.R) + _row_sums(self.row_b, wy, self.R)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``N^{-1} rhs`` ``(R, k) float64``."""
        if not self._coupled:  # one knot per frame or per segment: N is diagonal
            return rhs / self.diag[:, None]
        d = rhs.copy()
        for idx in self._rows[1:]:
            d[idx] -= self._mult[idx, None] * d[idx - 1]
        x = np.zeros((self.R + 1, rhs.shape[1]))  # a zero row past the end: off is 0 at segment ends
        for idx in reversed(self._rows):
            x[idx] = (d[idx] - self.off[idx, None] * x[idx + 1]) / self._pivot[idx, None]
        return x[:-1]

    def fit(self, y: np.ndarray) -> np.ndarray:
        """The least-squares knots ``(R, k) float32`` of ``y (T, k)``."""
        if self.R == 0:
            return np.zeros((0, y.shape[1]), np.float32)
        return self.solve(self.rhs(y)).astype(np.float32)

    def normal(self, z: np.ndarray) -> np.ndarray:
        """``N z`` (``sum_t |(A z)_t|^2 = sum_r z_r . (N z)_r``)."""
        out = self.diag[:, None] * z
        out[:-1] += self.off[:-1, None] * z[1:]
        out[1:] += self.off[:-1, None] * z[:-1]
        return out


def knots_from_coefficients(y: np.ndarray, seg_length: np.ndarray, seg_instances: np.ndarray) -> np.ndarray:
    """The knots ``(R, k) float32`` whose interpolation is closest to ``y (T, k)`` (least squares)."""
    return KnotSystem(seg_length, seg_instances).fit(y)


def _row_sums(rows: np.ndarray, values: np.ndarray, R: int) -> np.ndarray:
    """``out[r] = sum of values[t] with rows[t] == r`` for non-decreasing ``rows`` (float64).

    Each row's frames are one short run (about a knot's frames per code), so the sums go by
    position in the run: one gather per position, longest runs first (``np.add.reduceat`` and
    ``np.cumsum`` over rows are several times slower)."""
    out = np.zeros((R, values.shape[1]), np.float64)
    if rows.size:
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        lengths = np.diff(np.r_[starts, rows.size])
        order = np.argsort(-lengths, kind="stable")
        first, lengths = starts[order], lengths[order]
        acc = values[first].astype(np.float64)
        for j in range(1, int(lengths[0])):
            n = int(np.searchsorted(-lengths, -j, side="left"))  # runs longer than j
            acc[:n] += values[first[:n] + j]
        out[rows[first]] = acc
    return out


def quantize_codes(z: np.ndarray, dtype: str, levels: int = 127) -> tuple[np.ndarray, np.ndarray | None]:
    """``(R, k)`` codes -> stored values and per-row scales (int8: ``q * scale``, ``|q| <= levels``,
    one step ``max |z| / levels`` shared by every row), or float16/float32 values and no scales."""
    z = np.asarray(z, np.float32)
    if dtype == "float32":
        return z.copy(), None
    if dtype == "float16":
        return np.clip(z, -65504, 65504).astype(np.float16), None
    if not 1 <= levels <= 127:
        raise ValueError(f"int8 levels must be in 1..127, got {levels}")
    amax = float(np.max(np.abs(z))) if z.size else 0.0
    step = np.float32(amax / levels) if amax > 0 else np.float32(1)
    if not np.isfinite(step) or step <= 0:  # amax below float32's tiny: every code rounds to 0
        step = np.float32(1)
    q = np.empty(z.shape, np.int8)
    for i in range(0, z.shape[0], QUANT_BLOCK):  # in blocks: no full-size float temporaries
        q[i:i + QUANT_BLOCK] = np.clip(np.rint(z[i:i + QUANT_BLOCK] / step), -levels, levels)
    return q, np.full(z.shape[0], step, np.float32)


def residual_fraction(basis: Basis) -> float:
    """Share of the training frames' variance outside the basis (the error floor of ``k``)."""
    return float(max(basis.total_variance - basis.eigenvalues.sum(), 0.0) / max(basis.total_variance, 1e-30))
