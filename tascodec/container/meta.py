"""The container metadata (root ``attributes.tasz``, spec section 2): strict JSON, build and parse.

``parse_header`` turns an untrusted JSON document into a ``Header`` or raises the
``TaszFormatError`` subclass naming the problem; ``build_attributes`` is its inverse.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidStructure, LimitExceeded, NotATaszFile, UnsupportedVersion
from .content import CODE_DTYPES, DECODER_KINDS, WEIGHT_DTYPES, Content, Decoder
from .layout import FORMAT, MAJOR, MAX_DIM, MAX_JSON_DEPTH, MAX_JSON_TOKENS, MAX_VIDEOS, VERSION, VERSION_RESIDUAL
from .names import check_activities, check_names

_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")  # ASCII digits, no leading zeros
_HEX64 = re.compile(r"[0-9a-f]{64}")
CODE_SOURCES = ("stored", "random")


# --- strict JSON ---------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"number {text[:40]} is not a finite float64")
    return x


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(data: bytes, where: str) -> Any:
    """Parse RFC 8259 JSON with the limits of spec sections 2 and 6, or raise ``InvalidStructure``
    (syntax, duplicate keys, NaN/Infinity, numbers beyond float64, lone surrogates) or
    ``LimitExceeded`` (more than ``MAX_JSON_TOKENS`` structural bytes, deeper than ``MAX_JSON_DEPTH``).
    The structural bytes are counted before parsing: they bound the parsed document's memory."""
    tokens = data.count(b"{") + data.count(b"[") + data.count(b",") + data.count(b":")
    if tokens > MAX_JSON_TOKENS:
        raise LimitExceeded(f"{where}: {tokens} structural characters ({{ [ , :) exceed the {MAX_JSON_TOKENS} limit")
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                         parse_float=_finite_float)
    except RecursionError:
        raise LimitExceeded(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except Exception as e:  # UnicodeDecodeError, JSONDecodeError, ValueError
        raise InvalidStructure(f"{where}: invalid JSON ({e})") from None
    check_json_tree(doc, where, strings=_ESCAPED_SURROGATE.search(data) is not None)
    return doc


def check_json_tree(doc: Any, where: str, *, depth: int = 1, strings: bool = True) -> None:
    """Nesting at most ``MAX_JSON_DEPTH`` (``doc`` itself at ``depth``) and, with ``strings``, no lone
    surrogate in any key or string (iterative: no recursion on hostile input)."""
    stack = [(doc, depth)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (dict, list, tuple)):
            if d > MAX_JSON_DEPTH:
                raise LimitExceeded(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
            items = o.values() if isinstance(o, dict) else o
            if strings and isinstance(o, dict):
                for k in o:
                    if isinstance(k, str):
                        _no_surrogate(k, where)
            for v in items:
                if isinstance(v, (dict, list)):
                    stack.append((v, d + 1))
                elif strings and isinstance(v, str):
                    _no_surrogate(v, where)
        elif strings and isinstance(o, str):
            _no_surrogate(o, where)


def _no_surrogate(s: str, where: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidStructure(f"{where}: a string holds a lone surrogate (not Unicode): {s[:40]!r}") from None


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


# --- the parsed header ---------------------------------------------------------------------
@dataclass
class Header:
    """The root metadata after checking. ``decoder`` carries no weights yet."""

    version: str
    vocab: list[str]
    background: list[str]
    videos: list[str]
    activities: list[str | None] | None
    decoder: Decoder
    decoder_sha256: str
    codes_source: str
    codes_dtype: str
    random_seed: int | None
    provenance: dict[str, Any] = field(default_factory=dict)
    writer: dict[str, Any] = field(default_factory=dict)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _get(obj: dict, key: str, where: str, kind: type | tuple, *, optional: bool = False, default: Any = None) -> Any:
    if key not in obj:
        if optional:
            return default
        raise InvalidStructure(f"{where}: missing key {key!r}")
    v = obj[key]
    ok = _is_int(v) if kind is int else isinstance(v, kind)
    if not ok:
        raise InvalidStructure(f"{where}.{key}: {v!r:.60} has the wrong type")
    return v


def parse_root(doc: Any) -> dict[str, Any]:
    """The ``tasz`` object of the root ``zarr.json``; ``NotATaszFile``/``UnsupportedVersion`` first."""
    tasz = doc.get("attributes", {}).get("tasz") if isinstance(doc, dict) and \
        isinstance(doc.get("attributes"), dict) else None
    if not isinstance(tasz, dict) or tasz.get("format") != FORMAT:
        raise NotATaszFile("no tasz magic in the root zarr.json: not a .tasz container")
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "group":
        raise InvalidStructure("root zarr.json is not a zarr v3 group")
    version = tasz.get("version")
    m = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if not m:
        raise InvalidStructure(f"version {version!r} is not of the form MAJOR.MINOR")
    if m.group(1) != str(MAJOR):  # compared as text: any length, no int() of a huge string
        raise UnsupportedVersion(f"format version {version:.24} is not supported: this reader reads "
                                 f"tasz {MAJOR}.x (upgrade tascodec to read it)")
    return tasz


def parse_header(tasz: dict[str, Any]) -> Header:
    """Check every key of spec section 2 (types, enumerations, names, limits)."""
    w = "tasz"
    vocab = check_names("vocab", _get(tasz, "vocab", w, list), path_safe=False, unique=True)
    if not 1 <= len(vocab) <= MAX_DIM:
        raise InvalidStructure(f"vocab has {len(vocab)} classes, expected 1..{MAX_DIM}")
    background = check_names("background", _get(tasz, "background", w, list), path_safe=False, unique=True)
    known = set(vocab)
    missing = [b for b in background if b not in known]
    if missing:
        raise InvalidStructure(f"background class {missing[0]!r} is not in the vocab")
    videos = _get(tasz, "videos", w, list)
    if len(videos) > MAX_VIDEOS:
        raise LimitExceeded(f"{len(videos)} videos exceed the {MAX_VIDEOS} limit")
    check_names("videos", videos, path_safe=True, unique=True)
    activities = _get(tasz, "activities", w, (list, type(None)))
    check_activities(activities, len(videos))
    decoder, sha = _parse_decoder(_get(tasz, "decoder", w, dict), len(vocab))
    codes = _get(tasz, "codes", w, dict)
    source = _get(codes, "source", "codes", str)
    dtype = _get(codes, "dtype", "codes", str)
    width = _get(codes, "width", "codes", int)
    seed = _get(codes, "random_seed", "codes", (int, type(None)))
    if source not in CODE_SOURCES:
        raise InvalidStructure(f"codes.source {source!r} is not one of {list(CODE_SOURCES)}")
    if dtype not in CODE_DTYPES:
        raise InvalidStructure(f"codes.dtype {dtype!r} is not one of {list(CODE_DTYPES)}")
    if width != decoder.latent_dim:
        raise InvalidStructure(f"codes.width {width} != decoder.latent_dim {decoder.latent_dim}")
    if source == "random":
        if not (_is_int(seed) and 0 <= seed < 1 << 64):
            raise InvalidStructure(f"codes.random_seed {seed!r} is not an unsigned 64-bit integer")
        if dtype != "float32":
            raise InvalidStructure(f"random codes must have dtype float32, not {dtype!r}")
    elif seed is not None:
        raise InvalidStructure("codes.random_seed is set but codes are stored")
    provenance = check_provenance(_get(tasz, "provenance", w, dict))
    writer = check_writer(_get(tasz, "writer", w, dict, optional=True, default={}))
    return Header(tasz["version"], vocab, background, videos, activities, decoder, sha,
                  source, dtype, seed if source == "random" else None, provenance, writer)


# --- provenance and writer: free-form, but the keys spec section 2 lists have their types ------
PROVENANCE_DEPTH = 4  # root (1) > attributes (2) > tasz (3) > provenance (4)
MAX_SPLIT = (1 << 31) - 1
MAX_SAMPLE_RATE = 1024  # a restore repeats each frame this often: bounded like the frames
_HEX = re.compile(r"[0-9a-f]+")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _count(minimum: int, maximum: int | None = None):
    def ok(x: Any) -> bool:
        return _is_int(x) and x >= minimum and (maximum is None or x <= maximum)
    return ok


_PROVENANCE_TYPES = {
    "dataset": (lambda x: isinstance(x, str), "a string"),
    "split": (_count(0, MAX_SPLIT), f"an integer in 0..{MAX_SPLIT}"),
    "part": (lambda x: isinstance(x, str), "a string"),
    "source_videos": (_count(0), "a non-negative integer"),
    "source_frames": (_count(0), "a non-negative integer"),
    "sample_rate": (_count(1, MAX_SAMPLE_RATE), f"an integer in 1..{MAX_SAMPLE_RATE}"),
    "labels_sha256": (lambda x: isinstance(x, str) and _HEX.fullmatch(x) is not None, "a lowercase hex string"),
    "method": (lambda x: isinstance(x, str), "a string"),
    "settings": (lambda x: isinstance(x, dict), "an object"),
    "losses": (lambda x: isinstance(x, dict) and all(map(_is_number, x.values())), "an object of numbers"),
    "tascodec_version": (lambda x: isinstance(x, str), "a string"),
    "created": (lambda x: isinstance(x, str), "a string"),
    "operations": (lambda x: isinstance(x, list) and all(isinstance(o, dict) and isinstance(o.get("op"), str)
                                                          for o in x), "an array of objects with a string 'op'"),
}
_WRITER_TYPES = {k: (lambda x: isinstance(x, str), "a string") for k in ("name", "version", "created")}


def _check_keys(obj: dict[str, Any], types: dict, where: str) -> dict[str, Any]:
    for key, (ok, what) in types.items():
        if key in obj and not ok(obj[key]):
            raise InvalidStructure(f"{where}.{key}: {obj[key]!r:.60} is not {what}")
    return obj


def check_provenance(prov: dict[str, Any]) -> dict[str, Any]:
    """The types of the provenance keys that spec section 2 lists (others are free-form)."""
    return _check_keys(prov, _PROVENANCE_TYPES, "provenance")


def check_writer(writer: dict[str, Any]) -> dict[str, Any]:
    return _check_keys(writer, _WRITER_TYPES, "writer")


def _parse_decoder(rec: dict[str, Any], num_classes: int) -> tuple[Decoder, str]:
    w = "decoder"
    kind = _get(rec, "kind", w, str)
    if kind not in DECODER_KINDS:
        raise InvalidStructure(f"decoder.kind {kind!r} is not one of {list(DECODER_KINDS)}")
    dims = {k: _get(rec, k, w, int) for k in ("feature_dim", "latent_dim", "num_classes", "hidden")}
    activation = _get(rec, "activation", w, str)
    wdtype = _get(rec, "weights_dtype", w, str)
    sha = _get(rec, "sha256", w, str)
    dec = Decoder(kind=kind, activation=activation, weights_dtype=wdtype, **dims)
    check_decoder_record(dec, num_classes)
    if not _HEX64.fullmatch(sha):
        raise InvalidStructure("decoder.sha256 is not 64 lowercase hex digits")
    return dec, sha


def check_decoder_record(dec: Decoder, num_classes: int) -> None:
    """Architecture record rules (no weights): kinds, dims in range, kind-specific constraints."""
    if dec.kind not in DECODER_KINDS:
        raise InvalidStructure(f"decoder.kind {dec.kind!r} is not one of {list(DECODER_KINDS)}")
    if dec.weights_dtype not in WEIGHT_DTYPES:
        raise InvalidStructure(f"decoder.weights_dtype {dec.weights_dtype!r} is not one of {list(WEIGHT_DTYPES)}")
    for k in ("feature_dim", "latent_dim", "num_classes"):
        v = getattr(dec, k)
        if not (_is_int(v) and 1 <= v <= MAX_DIM):
            raise LimitExceeded(f"decoder.{k} = {v!r} is outside 1..{MAX_DIM}")
    if not (_is_int(dec.hidden) and 0 <= dec.hidden <= MAX_DIM):
        raise LimitExceeded(f"decoder.hidden = {dec.hidden!r} is outside 0..{MAX_DIM}")
    if dec.num_classes != num_classes:
        raise InvalidStructure(f"decoder.num_classes {dec.num_classes} != {num_classes} vocab classes")
    if not isinstance(dec.activation, str) or len(dec.activation) > 64:
        raise InvalidStructure("decoder.activation is not a short string")
    if dec.weights_dtype == "int8" and dec.kind != "linear":
        raise InvalidStructure(f"decoder.weights_dtype 'int8' is for linear decoders, not {dec.kind!r}")
    if dec.kind == "mlp":
        if dec.hidden < 1 or dec.activation != "relu":
            raise InvalidStructure(f"mlp decoder needs hidden >= 1 and activation 'relu' "
                                   f"(got {dec.hidden}, {dec.activation!r})")
    elif dec.kind == "linear":
        if dec.hidden != 0:
            raise InvalidStructure(f"linear decoder needs hidden == 0 (got {dec.hidden})")
    elif dec.hidden != 0 or dec.latent_dim != dec.feature_dim:
        raise InvalidStructure(f"repeat decoder needs hidden == 0 and latent_dim == feature_dim "
                               f"(got {dec.hidden}, {dec.latent_dim} vs {dec.feature_dim})")


# --- building ------------------------------------------------------------------------------
def build_attributes(content: Content, writer: dict[str, Any]) -> dict[str, Any]:
    """The root ``attributes`` of a checked ``content``."""
    dec = content.decoder
    random = content.codes is None
    return {"tasz": {
        "format": FORMAT,
        "version": VERSION if content.residual_sd is None else VERSION_RESIDUAL,  # the lowest that has it
        "writer": writer,
        "vocab": list(content.vocab),
        "background": list(content.background),
        "videos": list(content.videos),
        "activities": None if content.activities is None else list(content.activities),
        "decoder": {"kind": dec.kind, "feature_dim": int(dec.feature_dim), "latent_dim": int(dec.latent_dim),
                    "num_classes": int(dec.num_classes), "hidden": int(dec.hidden),
                    "activation": dec.activation, "weights_dtype": dec.weights_dtype, "sha256": dec.sha256()},
        "codes": {"source": "random" if random else "stored", "dtype": content.codes_dtype,
                  "width": int(dec.latent_dim), "random_seed": int(content.random_seed) if random else None},
        "provenance": content.provenance,
    }}
