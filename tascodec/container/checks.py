"""The invariants of spec/tasz-v1.md, section 3, on plain arrays.

Shared by the writer (an invalid container is never written) and the reader (an invalid one is
never trusted). Each check raises the ``TaszFormatError`` subclass naming the first problem.
"""
from __future__ import annotations

import json
import math

import numpy as np

from ..errors import InvalidStructure, LimitExceeded
from .content import Content, Decoder
from .layout import (MAX_DECODER_ELEMENTS, MAX_FRAMES, MAX_ROWS, MAX_SEGMENTS, MAX_VIDEOS,
                     weight_dtype, weight_shapes)
from .meta import PROVENANCE_DEPTH, check_decoder_record, check_json_tree, check_provenance
from .names import check_activities, check_names


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_tables(num_videos: int, num_classes: int, video_segments: np.ndarray, seg_label: np.ndarray,
                 seg_length: np.ndarray, seg_instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check the segment tables; return ``(num_frames (V,) int64, row_offset (S+1,) int64)``."""
    V, S = num_videos, int(np.shape(seg_label)[0]) if np.ndim(seg_label) == 1 else -1
    if V > MAX_VIDEOS:
        raise LimitExceeded(f"{V} videos exceed the {MAX_VIDEOS} limit")
    if S > MAX_SEGMENTS:
        raise LimitExceeded(f"{S} segments exceed the {MAX_SEGMENTS} limit")
    for name, a, shape in (("segment offsets", video_segments, (V + 1,)), ("segment labels", seg_label, (S,)),
                           ("segment lengths", seg_length, (S,)), ("segment instances", seg_instances, (S,))):
        a = np.asarray(a)
        if S < 0 or a.shape != shape or a.dtype.kind not in "iu":
            raise InvalidStructure(f"{name}: expected integer array of shape {shape}, got {a.dtype} {a.shape}")
    vs = np.asarray(video_segments, np.int64)
    lab, lng, ins = (np.asarray(a).astype(np.int64, copy=False) for a in (seg_label, seg_length, seg_instances))
    if vs[0] != 0 or vs[-1] != S or np.any(vs[1:] < vs[:-1]):
        raise InvalidStructure(f"video segment offsets must rise from 0 to {S} (got {vs[0]} .. {vs[-1]}, "
                               "or a decrease)")
    if S and np.any((lab < 0) | (lab >= num_classes)):
        s = _first((lab < 0) | (lab >= num_classes))
        raise InvalidStructure(f"segment {s}: label {lab[s]} outside 0..{num_classes - 1}")
    if S and np.any(lng < 1):
        s = _first(lng < 1)
        raise InvalidStructure(f"segment {s}: length {lng[s]} < 1")
    if S and np.any(lng > MAX_FRAMES):
        s = _first(lng > MAX_FRAMES)
        raise LimitExceeded(f"segment {s}: length {lng[s]} exceeds the {MAX_FRAMES} frame limit")
    if S and np.any((ins < 1) | (ins > lng)):
        s = _first((ins < 1) | (ins > lng))
        raise InvalidStructure(f"segment {s}: {ins[s]} instances for {lng[s]} frames (need 1 <= n <= length)")
    frames_cs = np.concatenate(([0], np.cumsum(lng, dtype=np.int64)))
    num_frames = frames_cs[vs[1:]] - frames_cs[vs[:-1]]
    if V and np.any(num_frames > MAX_FRAMES):
        v = _first(num_frames > MAX_FRAMES)
        raise LimitExceeded(f"video {v}: {num_frames[v]} frames exceed the {MAX_FRAMES} limit")
    row_offset = np.concatenate(([0], np.cumsum(ins, dtype=np.int64)))
    if row_offset[-1] > MAX_ROWS:
        raise LimitExceeded(f"{row_offset[-1]} code rows exceed the {MAX_ROWS} limit")
    return num_frames, row_offset


def decoder_elements(dec: Decoder) -> int:
    """Number of weight elements the architecture record implies (0 for ``repeat``)."""
    shapes = weight_shapes(dec.kind, dec.feature_dim, dec.latent_dim, dec.num_classes, dec.hidden,
                           dec.weights_dtype)
    return sum(math.prod(s) for s in shapes.values())


def check_decoder(dec: Decoder, num_classes: int) -> None:
    """Record rules, then the weights: names, dtypes, shapes, finite."""
    check_decoder_record(dec, num_classes)
    n = decoder_elements(dec)
    if n > MAX_DECODER_ELEMENTS:
        raise LimitExceeded(f"decoder has {n} weights, over the {MAX_DECODER_ELEMENTS} limit")
    if dec.kind == "repeat":
        if dec.weights:
            raise InvalidStructure(f"repeat decoder has weights {sorted(dec.weights)}")
        return
    shapes = weight_shapes(dec.kind, dec.feature_dim, dec.latent_dim, dec.num_classes, dec.hidden,
                           dec.weights_dtype)
    if set(dec.weights) != set(shapes):
        raise InvalidStructure(f"{dec.kind} decoder weights are {sorted(dec.weights)}, expected {sorted(shapes)}")
    for name, shape in shapes.items():
        a = dec.weights[name]
        dtype = weight_dtype(name, dec.weights_dtype)
        if not isinstance(a, np.ndarray) or a.dtype != np.dtype(dtype) or a.shape != shape:
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise InvalidStructure(f"decoder weight {name}: expected {dtype} {shape}, got {got}")
        _check_values(a, f"decoder weight {name}", "weight")


def _check_values(a: np.ndarray, where: str, what: str) -> None:
    """Finite floats; int8 in the symmetric range [-127, 127] (spec section 3)."""
    if a.dtype == np.int8:
        if np.any(a == -128):
            raise InvalidStructure(f"{where}: int8 {what} -128 outside [-127, 127]")
    elif not np.all(np.isfinite(a)):
        raise InvalidStructure(f"{where}: non-finite {what} values")


def check_code_values(values: np.ndarray, where: str) -> None:
    """Stored code rows: finite floats, int8 in [-127, 127]."""
    _check_values(values, where, "code")


def check_code_scale(scale: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(scale)):
        raise InvalidStructure(f"{where}: non-finite int8 scales")


def check_residual_sd(sd: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(sd)) or np.any(sd < 0):
        raise InvalidStructure(f"{where}: values must be finite and >= 0")


def check_content(c: Content) -> tuple[np.ndarray, np.ndarray]:
    """Everything a writer must guarantee; returns ``(num_frames, row_offset)`` like ``check_tables``."""
    check_names("vocab", c.vocab, path_safe=False, unique=True)
    if not c.vocab:
        raise InvalidStructure("vocab is empty")
    check_names("background", c.background, path_safe=False, unique=True)
    if set(c.background) - set(c.vocab):
        raise InvalidStructure(f"background classes {sorted(set(c.background) - set(c.vocab))} are not in the vocab")
    check_names("videos", c.videos, path_safe=True, unique=True)
    check_activities(c.activities, len(c.videos))
    check_decoder(c.decoder, len(c.vocab))
    num_frames, row_offset = check_tables(len(c.videos), len(c.vocab), c.video_segments, c.seg_label,
                                          c.seg_length, c.seg_instances)
    R, d = int(row_offset[-1]), c.decoder.latent_dim
    if c.codes is None:
        if c.codes_dtype != "float32" or c.code_scale is not None:
            raise InvalidStructure("random codes (codes=None) need codes_dtype float32 and no code_scale")
        if not (isinstance(c.random_seed, (int, np.integer)) and not isinstance(c.random_seed, bool)
                and 0 <= int(c.random_seed) < 1 << 64):
            raise InvalidStructure(f"random codes need an unsigned 64-bit random_seed, got {c.random_seed!r}")
    else:
        if c.random_seed is not None:
            raise InvalidStructure("random_seed is set but codes are stored")
        if not isinstance(c.codes, np.ndarray) or c.codes.dtype != np.dtype(c.codes_dtype) or c.codes.shape != (R, d):
            got = f"{c.codes.dtype} {c.codes.shape}" if isinstance(c.codes, np.ndarray) else type(c.codes).__name__
            raise InvalidStructure(f"codes: expected {c.codes_dtype} ({R}, {d}), got {got} (quantize first)")
        scale = c.code_scale
        if c.codes_dtype == "int8":
            if not isinstance(scale, np.ndarray) or scale.dtype != np.float32 or scale.shape != (R,):
                raise InvalidStructure(f"int8 codes need a float32 code_scale of shape ({R},)")
        elif scale is not None:
            raise InvalidStructure(f"code_scale is only for int8 codes, not {c.codes_dtype}")
        check_code_values(c.codes, "codes")
        if scale is not None:
            check_code_scale(scale, "code_scale")
    if c.residual_sd is not None:
        if c.decoder.kind != "linear":
            raise InvalidStructure(f"residual_sd is only for linear decoders, not {c.decoder.kind}")
        sd = c.residual_sd
        if not isinstance(sd, np.ndarray) or sd.dtype != np.float16 or sd.shape != (d,):
            raise InvalidStructure(f"residual_sd: expected float16 ({d},)")
        check_residual_sd(sd, "residual_sd")
    check_json_tree(c.provenance, "provenance", depth=PROVENANCE_DEPTH)  # iterative: before any recursion
    check_provenance(normalize_json(c.provenance, "provenance"))
    return num_frames, row_offset


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _check_keys(o, where: str) -> None:
    if isinstance(o, dict):
        for k, v in o.items():
            if not isinstance(k, str):
                raise InvalidStructure(f"{where}: key {k!r} is not a string")
            _check_keys(v, f"{where}.{k}")
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            _check_keys(v, f"{where}[{i}]")


def normalize_json(obj, where: str) -> dict:
    """``obj`` as plain strict JSON (numpy scalars -> Python, tuples -> lists); a dict is required."""
    if not isinstance(obj, dict):
        raise InvalidStructure(f"{where} is not a dict")
    _check_keys(obj, where)
    try:
        return json.loads(json.dumps(obj, allow_nan=False, default=_plain))
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidStructure(f"{where} is not strict JSON ({e})") from None
