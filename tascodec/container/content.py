"""The in-memory content of a ``.tasz`` container: plain numpy arrays and Python values.

Writers take a ``Content``; readers give one back. Nothing here touches files or torch.
Shapes: V videos, S segments, R instance rows, D feature dim, d code width, C classes, H hidden.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DECODER_KINDS = ("mlp", "repeat", "linear")
CODE_DTYPES = ("float32", "float16", "int8")
WEIGHT_DTYPES = ("float32", "float16", "int8")  # int8: linear decoders only
MLP_WEIGHTS = ("w1", "b1", "w2", "b2", "mean", "std")


@dataclass
class Decoder:
    """How instance codes become frames.

    ``kind == "mlp"``: the TCA decoder. ``weights``: ``w1 (H, d + C + 1)`` whose columns are
    ``[z (d) | one-hot label (C) | c (1)]``, ``b1 (H,)``, ``w2 (D, H)``, ``b2 (D,)`` and the
    feature normalisation ``mean (D,)``, ``std (D,)``: ``x = (w2 @ relu(w1 @ [z, a, c] + b1) + b2) * std + mean``.

    ``kind == "repeat"``: a code *is* a ``(D,)`` frame, repeated over its instance's frames
    (the Mean and Coreset baselines). ``weights`` is empty, ``hidden == 0``, ``latent_dim == D``.

    ``kind == "linear"`` (format 1.1): a transform codec. A segment's codes are knots at its
    instances' centres, linearly interpolated in time (``tascodec.decode.linear``), then
    ``x = w @ z + b`` with ``w (D, d)``, ``b (D,)``; ``hidden == 0``. With ``weights_dtype ==
    "int8"``, ``w`` is int8 with a float32 scale per column ``w_scale (d,)`` and ``b`` is float32.
    """

    kind: str
    feature_dim: int
    latent_dim: int
    num_classes: int
    hidden: int = 0
    activation: str = "relu"
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    weights_dtype: str = "float32"

    def sha256(self) -> str:
        """Digest of the architecture and weights: two decoders with equal digests decode alike."""
        h = hashlib.sha256()
        h.update(f"{self.kind}|{self.feature_dim}|{self.latent_dim}|{self.num_classes}|"
                 f"{self.hidden}|{self.activation}|{self.weights_dtype}".encode())
        for name in sorted(self.weights):
            a = np.ascontiguousarray(self.weights[name])
            h.update(f"|{name}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        return h.hexdigest()

    def float32_weights(self) -> dict[str, np.ndarray]:
        """The weights as float32 (int8 ``w`` of a linear decoder times its column scales)."""
        if self.weights_dtype == "int8":
            w = self.weights["w"].astype(np.float32) * np.asarray(self.weights["w_scale"], np.float32)[None, :]
            return {"w": w, "b": np.asarray(self.weights["b"], np.float32)}
        return {k: np.asarray(v, np.float32) for k, v in self.weights.items()}


@dataclass
class Content:
    """Everything a ``.tasz`` file holds.

    Tables (ragged, by offsets):
      ``video_segments (V + 1,) int64``: video v owns segments ``[video_segments[v], video_segments[v+1])``.
      ``seg_label (S,) int32``, ``seg_length (S,) int64``, ``seg_instances (S,) int32``.
      Instance rows follow segment order: segment s owns ``seg_instances[s]`` consecutive rows.
    Codes:
      ``codes (R, d)`` in ``codes_dtype`` (float32, float16 or int8) or ``None`` when the codes are
      drawn at decode time from ``random_seed`` (the TCA baseline); ``code_scale (R,) float32``
      multiplies int8 rows (``None`` otherwise).
      ``residual_sd (d,) float16`` or ``None`` (format 1.2, ``linear`` decoders only): per code
      dimension, the root-mean-square over the encoded frames of what the stored codes miss of each
      frame's coefficients; a training restore may add ``w @ (residual_sd * e)``, ``e ~ N(0, I)``
      per frame (noise filling, ``tascodec.decode.noise``). The exact decode never uses it.
    """

    vocab: list[str]
    videos: list[str]
    video_segments: np.ndarray
    seg_label: np.ndarray
    seg_length: np.ndarray
    seg_instances: np.ndarray
    decoder: Decoder
    codes: np.ndarray | None = None
    code_scale: np.ndarray | None = None
    residual_sd: np.ndarray | None = None
    codes_dtype: str = "float32"
    random_seed: int | None = None
    background: list[str] = field(default_factory=list)
    activities: list[str | None] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    # --- derived views -------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return int(np.sum(self.seg_instances, dtype=np.int64))

    def row_offsets(self) -> np.ndarray:
        """``(S + 1,) int64``: segment s owns rows ``[off[s], off[s+1])``."""
        return np.concatenate(([0], np.cumsum(self.seg_instances, dtype=np.int64)))

    def num_frames(self) -> np.ndarray:
        """``(V,) int64`` frames per video."""
        cs = np.concatenate(([0], np.cumsum(self.seg_length, dtype=np.int64)))
        return cs[self.video_segments[1:]] - cs[self.video_segments[:-1]]
