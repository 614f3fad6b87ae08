"""Synthetic TAS datasets shaped like GTEA, 50Salads or Breakfast (``tasz synth``).

``synthesize(out_dir, like=...)`` writes an MS-TCN-layout dataset: ``features/<v>.npy`` float32
``(D, T)``, ``groundTruth/<v>.txt``, ``mapping.txt``, ``splits/{train,test}.split<N>.bundle``.

Labels. Each benchmark has its class list (mapping order), its video names and split folds, and
one action grammar per activity (ordered, optional, swappable, repeated and alternative steps).
Segment lengths are log-normal per class; the parameters (log-mean, log-sd) were measured once
on the real benchmarks' label files and live in ``grammars.py``, as do the grammars and their
probabilities. Background-like classes (``background``, ``SIL``) get separate start/middle/end
length laws.

Features. A low-rank model of I3D-like features: a latent trajectory ``z_t`` (rank ``_RANK``)
mapped through a random projection and a softplus, ``x_t = softplus(W z_t + b + u_subject)``.
``z_t`` is the sum of an activity context, a subject and camera offset, the segment's mean
(class mean + a per-instance deviation; class means share token and generic prototypes, so
``pour_milk`` resembles ``pour_cereals`` and ``stir_milk``), a within-segment drift along the
coherence ``c`` in [0, 1], a Gaussian blur over a few frames (soft boundaries) and AR(1) noise.
Classes overlap per frame on purpose: a nearest-class-mean or linear frame classifier is far
from perfect, and held-out subjects look different from training subjects.

Determinism: everything derives from ``numpy.random.default_rng`` seeded by ``(seed, tag,
stable hash of a name)``, so a video's labels and features depend only on the seed, the
benchmark, ``dim``, ``length_scale`` and the video's name (not on how many videos are made).
Generation streams video by video; the output is built in a hidden folder beside ``out_dir``
and renamed into place, so an interrupted run leaves nothing that looks like a dataset.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .._io import atomic_dir
from ..errors import UsageError
from .grammars import BENCHMARKS, MAX_REP, Benchmark, VideoSpec
from .segments import frame_layout

__all__ = ["BENCHMARKS", "Benchmark", "VideoSpec", "synthesize", "video_names", "sample_labels", "plan"]

# --------------------------------------------------------------------------------------------
# Sampling the grammars of grammars.py (the node types are described there).
# --------------------------------------------------------------------------------------------
def _expand(node, rng: np.random.Generator, out: list[str]) -> None:
    """Append one random derivation of grammar ``node`` to ``out``."""
    if isinstance(node, str):
        out.append(node)
        return
    op = node[0]
    if op == "seq":
        for c in node[1:]:
            _expand(c, rng, out)
    elif op == "opt":
        if rng.random() < node[1]:
            _expand(node[2], rng, out)
    elif op == "swap":
        a, b = (node[3], node[2]) if rng.random() < node[1] else (node[2], node[3])
        _expand(a, rng, out)
        _expand(b, rng, out)
    elif op == "perm":
        for i in rng.permutation(len(node) - 1):
            _expand(node[1 + i], rng, out)
    elif op == "rep":
        _expand(node[2], rng, out)
        k = 1
        while k < MAX_REP and rng.random() < node[1]:
            _expand(node[2], rng, out)
            k += 1
    elif op == "alt":
        w = np.array([p for p, _ in node[1:]], np.float64)
        i = int(rng.choice(len(w), p=w / w.sum()))
        _expand(node[1 + i][1], rng, out)
    else:  # pragma: no cover - the grammars are fixed
        raise ValueError(f"unknown grammar node {op!r}")


# --------------------------------------------------------------------------------------------
# Which videos, and the labels of one video.
# --------------------------------------------------------------------------------------------
def _key(*parts) -> int:
    """A stable 63-bit integer for names (Python's hash() is salted per process)."""
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def _get(like: str) -> Benchmark:
    if like not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {like!r}; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[like]


def plan(like: str = "gtea", videos: int | None = None) -> list[VideoSpec]:
    """The videos ``synthesize`` writes, in a stable order.

    ``videos=None`` is the benchmark's full list. Fewer are picked round-robin over the split folds
    (and, within a fold, round-robin over activities) so every split keeps a test part and the
    activities stay mixed; more keep the full list and add subjects beyond the benchmark's.
    """
    bench = _get(like)
    full = bench.videos()
    if videos is None:
        return full
    if videos < bench.n_splits:
        raise UsageError(f"--videos must be at least {bench.n_splits} for {like} "
                         f"(one test video per split), got {videos}")
    if videos <= len(full):
        return _round_robin(full, videos, bench.n_splits)
    extra = 1
    while len(bench.videos(extra)) < videos:
        extra *= 2
    return full + _round_robin(bench.videos(extra)[len(full):], videos - len(full), bench.n_splits)


def _round_robin(pool: list[VideoSpec], n: int, n_splits: int) -> list[VideoSpec]:
    """``n`` videos of ``pool`` taken in turn from each fold (activities in turn within a fold)."""
    queues = []
    for f in range(n_splits):
        rank: dict[str, int] = {}
        keyed = []
        for v in sorted((v for v in pool if v.fold == f), key=lambda v: _key("pick", v.name)):
            rank[v.activity] = rank.get(v.activity, -1) + 1
            keyed.append((rank[v.activity], _key("pick", f, v.activity), v))
        queues.append([v for _, _, v in sorted(keyed, key=lambda t: t[:2])])
    chosen: set[str] = set()
    for i in range(max(map(len, queues)) * n_splits):
        if len(chosen) == n:
            break
        q = queues[i % n_splits]
        if i // n_splits < len(q):
            chosen.add(q[i // n_splits].name)
    return [v for v in pool if v.name in chosen]


def video_names(like: str = "gtea", videos: int | None = None) -> list[str]:
    """Names (no extension) of the videos ``synthesize(like=like, videos=videos)`` writes."""
    return [v.name for v in plan(like, videos)]


_SPEED_SD = 0.15  # log-sd of a whole video's tempo
_MIN_LOG_SD = 0.2  # floor of a class's log-sd once the tempo part is taken out


def sample_labels(bench: Benchmark, video: VideoSpec, rng: np.random.Generator,
                  length_scale: float = 1.0) -> tuple[list[str], np.ndarray]:
    """One video's segments: ``(names (S,), lengths int64 (S,))``, no two neighbours equal."""
    actions: list[str] = []
    _expand(bench.grammars[video.activity], rng, actions)
    bg = bench.background[0] if bench.background else None
    labels: list[str] = []
    where: list[str] = []
    if bg is not None:
        labels.append(bg)
        where.append("@start")
    for i, a in enumerate(actions):
        if bg is not None and i > 0 and rng.random() < bench.bg_mid_prob:
            labels.append(bg)
            where.append("@mid")
        labels.append(a)
        where.append("")
    if bg is not None and rng.random() < bench.bg_end_prob[video.activity]:
        labels.append(bg)
        where.append("@end")
    speed = rng.normal(0.0, _SPEED_SD)  # this video is slower or faster than usual
    lengths = np.empty(len(labels), np.int64)
    for i, (name, pos) in enumerate(zip(labels, where)):
        mu, sd = bench.lengths[name + pos]
        sd = max(np.sqrt(max(sd * sd - _SPEED_SD**2, 0.0)), _MIN_LOG_SD)
        log_len = mu + speed + sd * float(np.clip(rng.standard_normal(), -3.0, 3.0))
        lengths[i] = max(1, int(round(np.exp(log_len) * length_scale)))
    # merge neighbours with the same label (a segment is a run of identical labels)
    names: list[str] = []
    merged: list[int] = []
    for name, n in zip(labels, lengths.tolist()):
        if names and names[-1] == name:
            merged[-1] += n
        else:
            names.append(name)
            merged.append(n)
    return names, np.asarray(merged, np.int64)

# --------------------------------------------------------------------------------------------
# Features: a low-rank latent trajectory through a random softplus layer.
# --------------------------------------------------------------------------------------------
_RANK = 64  # latent dimensions
_N_SHARED = 6  # generic prototypes mixed into every class mean
_TOKEN_W, _SHARED_W, _UNIQUE_W = 0.75, 0.75, 0.45  # class mean = tokens + shared + unique parts
_CLASS_SCALE = 0.4  # class means are close together relative to the noise below
_CONTEXT_SD = 0.5  # per-activity scene component
_SUBJECT_SD = 0.55  # per-subject latent offset
_CAMERA_SD = 0.35  # per-camera latent offset
_SUBJECT_DIM_SD = 0.25  # per-subject offset of every output dimension (full rank)
_INSTANCE_SD = 0.6  # per-segment deviation from the class mean
_DRIFT_SD, _DRIFT_INST_SD = 0.35, 0.25  # within-segment drift: class direction + per-segment part
_BG_PULL = 0.4  # background segments lean towards the actions around them
_BLUR_SIGMA = 3.0  # frames: soft boundaries
_AR_PHI, _AR_SD = 0.92, 0.75  # AR(1) latent noise: lag-1 correlation, stationary sd
_GAIN, _BIAS = 1.2, -1.0  # pre-activation scale and offset (mean activation ~0.5, median ~0.3)


def _tokens(name: str) -> list[str]:
    """Class name -> object/verb tokens: ``put_toppingOnTop`` -> put, topping, top."""
    words = re.split(r"[_2]|(?<=[a-z])(?=[A-Z])", name)
    return [w.lower() for w in words if w and w.lower() not in ("into", "on", "onto")]


class _Model:
    """The global parameters of one synthetic dataset (one seed, benchmark and dim)."""

    def __init__(self, bench: Benchmark, dim: int, seed: int):
        self.bench, self.dim, self.seed = bench, dim, seed
        rng = np.random.default_rng([seed, 0, _key(bench.name)])
        r = _RANK
        tokens = sorted({t for c in bench.classes for t in _tokens(c)})
        token_vec = {t: rng.standard_normal(r) for t in tokens}
        shared = rng.standard_normal((_N_SHARED, r))
        self.class_mean = np.empty((len(bench.classes), r))
        for i, c in enumerate(bench.classes):
            tok = np.mean([token_vec[t] for t in _tokens(c)], axis=0)
            tok /= np.sqrt(np.mean(tok**2))  # unit rms, however many tokens
            mix = rng.dirichlet(np.full(_N_SHARED, 0.3)) @ shared
            mix /= np.sqrt(np.mean(mix**2))
            own = rng.standard_normal(r)
            self.class_mean[i] = _CLASS_SCALE * (_TOKEN_W * tok + _SHARED_W * mix + _UNIQUE_W * own)
        self.class_drift = _DRIFT_SD * rng.standard_normal((len(bench.classes), r))
        self.context = {a: _CONTEXT_SD * rng.standard_normal(r) for a in sorted(bench.grammars)}
        self.index = {c: i for i, c in enumerate(bench.classes)}
        wrng = np.random.default_rng([seed, 1, _key(bench.name), dim])
        self.W = (wrng.standard_normal((dim, r)) * (_GAIN / np.sqrt(r))).astype(np.float32)
        self.b = (_BIAS + 0.3 * wrng.standard_normal(dim)).astype(np.float32)
        self._subjects: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._cameras: dict[str, np.ndarray] = {}

    def subject(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(latent offset (r,), output offset (D,) float32) of a subject."""
        if name not in self._subjects:
            rng = np.random.default_rng([self.seed, 2, _key(self.bench.name, name)])
            lat = _SUBJECT_SD * rng.standard_normal(_RANK)
            drng = np.random.default_rng([self.seed, 3, _key(self.bench.name, name), self.dim])
            out = (_SUBJECT_DIM_SD * drng.standard_normal(self.dim)).astype(np.float32)
            self._subjects[name] = (lat, out)
        return self._subjects[name]

    def camera(self, name: str) -> np.ndarray:
        if name not in self._cameras:
            rng = np.random.default_rng([self.seed, 4, _key(self.bench.name, name)])
            self._cameras[name] = _CAMERA_SD * rng.standard_normal(_RANK)
        return self._cameras[name]

    def features(self, video: VideoSpec, names: list[str], lengths: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        """``(D, T)`` float32 non-negative features for one video's segments."""
        r = _RANK
        S = len(names)
        cls = np.array([self.index[n] for n in names])
        seg_mean = self.class_mean[cls] + _INSTANCE_SD * rng.standard_normal((S, r))
        bgs = [self.index[b] for b in self.bench.background]
        for s in range(S):
            if cls[s] in bgs:
                nb = [seg_mean[j] for j in (s - 1, s + 1) if 0 <= j < S and cls[j] not in bgs]
                if nb:
                    seg_mean[s] = (1 - _BG_PULL) * seg_mean[s] + _BG_PULL * np.mean(nb, axis=0)
        seg_drift = self.class_drift[cls] + _DRIFT_INST_SD * rng.standard_normal((S, r))
        seg, _, c = frame_layout(lengths, np.ones(S, np.int64))
        T = int(lengths.sum())
        lat_s, out_s = self.subject(video.subject)
        base = self.context[video.activity] + lat_s + self.camera(video.camera)
        z = seg_mean[seg] + (c.astype(np.float64) - 0.5)[:, None] * seg_drift[seg] + base
        z = _blur(z, _BLUR_SIGMA) + _ar1(rng, T, r, _AR_PHI, _AR_SD)
        h = self.W @ z.T.astype(np.float32)  # (D, T)
        h += (self.b + out_s)[:, None]
        return _softplus_(h)


def _softplus_(h: np.ndarray) -> np.ndarray:
    """``log(1 + exp(h))`` in place, stably: ``max(h, 0) + log1p(exp(-|h|))`` (10x np.logaddexp)."""
    a = np.abs(h)
    np.negative(a, out=a)
    np.exp(a, out=a)
    np.log1p(a, out=a)
    np.maximum(h, 0, out=h)
    h += a
    return h


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter along axis 0 of ``(T, r)``, edges extended."""
    half = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    out = np.zeros_like(x)
    T = x.shape[0]
    for i, w in enumerate(k):
        out += w * pad[i:i + T]
    return out


def _ar1(rng: np.random.Generator, T: int, r: int, phi: float, sd: float, chunk: int = 128) -> np.ndarray:
    """Stationary AR(1) noise ``(T, r)``: ``e_t = phi e_{t-1} + w_t``, marginal sd ``sd``."""
    n = -(-T // chunk)
    w = rng.standard_normal((n * chunk, r)) * (sd * np.sqrt(1 - phi * phi))
    w[0] *= 1 / np.sqrt(1 - phi * phi)  # start in the stationary distribution
    j = np.arange(chunk)
    M = np.tril(phi ** (j[:, None] - j[None, :]).clip(0))  # e_local = M @ w within a chunk
    # one GEMM over all chunks (a broadcast M @ (n, chunk, r) is ~40x slower in numpy)
    cols = w.reshape(n, chunk, r).transpose(1, 0, 2).reshape(chunk, n * r)
    e = (M @ cols).reshape(chunk, n, r).transpose(1, 0, 2)
    carry = phi ** (j + 1)
    for i in range(1, n):
        e[i] += carry[:, None] * e[i - 1, -1]
    return e.reshape(n * chunk, r)[:T]


# --------------------------------------------------------------------------------------------
# Writing the dataset.
# --------------------------------------------------------------------------------------------
def _write_text(path: Path, lines: Iterator[str] | list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(f"{line}\n" for line in lines)


def synthesize(out_dir: str | os.PathLike, like: str = "gtea", videos: int | None = None, dim: int = 2048,
               seed: int = 0, length_scale: float = 1.0, force: bool = False, *,
               progress: Callable[[str, int], None] | None = None, order: str = "C") -> Path:
    """Write a synthetic TAS dataset in the MS-TCN layout and return its path.

    Args:
        out_dir: the dataset folder to create (must not exist or be empty, unless ``force``).
        like: ``gtea``, ``50salads`` or ``breakfast``: classes, grammars, lengths, names, splits.
        videos: how many videos (default: as many as the benchmark, 28 / 50 / 1712).
        dim: feature dimension ``D`` (I3D: 2048).
        seed: everything is a deterministic function of the seed (byte-identical files).
        length_scale: multiplies every segment length (minimum 1 frame); small values for tests.
        force: replace an existing dataset folder.
        progress: called as ``progress(video_name, num_frames)`` after each video is written.
        order: byte order of the feature files, ``C`` (row-major, as ``np.save(p, x)`` of a
            ``(D, T)`` array) or ``F`` (column-major, as ``np.save(p, y.T)`` of a ``(T, D)`` array);
            the values are the same either way.
    Raises:
        UsageError: a bad option, or ``out_dir`` is a folder tascodec did not write (never replaced);
        OutputExistsError: ``out_dir`` is a non-empty folder and ``force`` is not given.
    """
    bench = _get(like)
    if dim < 1:
        raise UsageError(f"--dim must be at least 1, got {dim}")
    if not (length_scale > 0 and np.isfinite(length_scale)):
        raise UsageError(f"--length-scale must be a positive number, got {length_scale}")
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed must be in [0, 2**63), got {seed}")
    if order not in ("C", "F"):
        raise UsageError(f"--order must be C or F, got {order!r}")
    specs = plan(like, videos)
    out = Path(out_dir)
    with atomic_dir(out, "synthetic-dataset", force) as tmp:  # tascodec._io: the one folder rule
        (tmp / "features").mkdir()
        (tmp / "groundTruth").mkdir()
        (tmp / "splits").mkdir()
        model = _Model(bench, dim, seed)
        for v in specs:
            rng = np.random.default_rng([seed, 5, _key(bench.name, v.name)])
            names, lengths = sample_labels(bench, v, rng, length_scale)
            x = model.features(v, names, lengths, rng)
            np.save(tmp / "features" / f"{v.name}.npy", np.asfortranarray(x) if order == "F" else x)
            _write_text(tmp / "groundTruth" / f"{v.name}.txt",
                        (n for n, l in zip(names, lengths.tolist()) for _ in range(l)))
            if progress is not None:
                progress(v.name, int(lengths.sum()))
        _write_text(tmp / "mapping.txt", [f"{i} {c}" for i, c in enumerate(bench.classes)])
        for f in range(bench.n_splits):
            for part, inside in (("test", True), ("train", False)):
                _write_text(tmp / "splits" / f"{part}.split{f + 1}.bundle",
                            [f"{v.name}.txt" for v in specs if (v.fold == f) == inside])
    return out
