"""The shape of a ``.tasz`` v1 file (spec/tasz-v1.md): entry names, array documents and limits.

Everything here mirrors the spec; the writer builds from it and the reader checks against it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidStructure, LimitExceeded

FORMAT = "tasz"
VERSION = "1.1"  # what the writer writes (VERSION_RESIDUAL for a file with CODES_RESIDUAL); readers read every 1.x
VERSION_RESIDUAL = "1.2"
MAJOR = 1

ROOT_META = "zarr.json"
GROUPS = ("videos", "segments", "codes", "decoder")

# table arrays and their data types; shapes in terms of V and S (see ``table_shapes``)
TABLES: dict[str, str] = {
    "videos/segment_offset": "int64",
    "videos/num_frames": "int64",
    "segments/label": "int32",
    "segments/length": "int64",
    "segments/instances": "int32",
    "segments/row_offset": "int64",
}
CODES_VALUES = "codes/values"
CODES_SCALE = "codes/scale"
CODES_RESIDUAL = "codes/residual_sd"  # optional (1.2, linear only): (d,) float16, for noise filling
DECODER_PREFIX = "decoder/"

# safety limits (spec section 6)
MAX_ROOT_META = 16 << 20
MAX_NODE_META = 1 << 20
MAX_JSON_DEPTH = 64  # nesting of arrays/objects in any JSON document; the outermost value is depth 1
MAX_JSON_TOKENS = 1 << 20  # bytes '{', '[', ',' and ':' in one JSON document (bounds its parsed size)
MAX_ENTRIES = 1_000_000
MAX_ENTRY_BYTES = 128 << 20
MAX_CHUNK_BYTES = 64 << 20
MAX_VIDEOS = 1 << 24
MAX_SEGMENTS = 1 << 26
MAX_ROWS = 1 << 32
MAX_DIM = 1 << 20
MAX_DECODER_ELEMENTS = 1 << 28
MAX_FRAMES = 1 << 24  # per segment and per video: labels() of the longest video is 128 MiB of int64
# the arrays a reader decodes (every chunk, padding included) hold at most this much per file:
MAX_DECODED_BASE = 32 << 20
MAX_DECODED_RATIO = 32  # ... plus this many times the file's size
from .names import MAX_NAME_BYTES  # noqa: E402,F401 - the name rule lives in names.py

# writer's chunk targets (decoded bytes per chunk)
CHUNK_TARGET = 1 << 20
CODES_CHUNK_TARGET = 1 << 18

DTYPES = {"int8": np.dtype("<i1"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8"),
          "float16": np.dtype("<f2"), "float32": np.dtype("<f4")}


def table_shapes(V: int, S: int) -> dict[str, tuple[int, ...]]:
    """Expected shape of each table array for ``V`` videos and ``S`` segments."""
    return {"videos/segment_offset": (V + 1,), "videos/num_frames": (V,), "segments/label": (S,),
            "segments/length": (S,), "segments/instances": (S,), "segments/row_offset": (S + 1,)}


def decoder_shapes(D: int, d: int, C: int, H: int) -> dict[str, tuple[int, ...]]:
    """Expected shape of each ``mlp`` decoder array."""
    return {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}


def weight_shapes(kind: str, D: int, d: int, C: int, H: int, dtype: str = "float32") -> dict[str, tuple[int, ...]]:
    """Expected shape of each decoder array of a decoder ``kind`` (none for ``repeat``)."""
    if kind == "mlp":
        return decoder_shapes(D, d, C, H)
    if kind == "linear":
        return {"w": (D, d), "w_scale": (d,), "b": (D,)} if dtype == "int8" else {"w": (D, d), "b": (D,)}
    return {}


def weight_dtype(name: str, dtype: str) -> str:
    """Data type of decoder array ``name`` when the record says ``weights_dtype == dtype``."""
    return "float32" if dtype == "int8" and name != "w" else dtype


def chunk_key(name: str, i: int, ndim: int) -> str:
    """Entry name of row-chunk ``i`` of array ``name``."""
    return f"{name}/c/{i}" if ndim == 1 else f"{name}/c/{i}/0"


def chunk_rows_for(shape: tuple[int, ...], itemsize: int, target: int) -> int:
    """Rows per chunk so that a chunk decodes to about ``target`` bytes (at least one row)."""
    row_bytes = itemsize * (shape[1] if len(shape) == 2 else 1)
    rows = max(1, target // max(row_bytes, 1))
    return int(min(rows, shape[0])) if shape[0] else int(rows)


def codec_chain(level: int) -> list[dict[str, Any]]:
    return [{"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "zstd", "configuration": {"level": int(level), "checksum": False}},
            {"name": "crc32c"}]


def group_doc() -> dict[str, Any]:
    return {"zarr_format": 3, "node_type": "group", "attributes": {}}


def array_doc(shape: tuple[int, ...], dtype: str, chunk_rows: int, level: int) -> dict[str, Any]:
    """The zarr v3 ``zarr.json`` of an array written by tascodec."""
    chunk_shape = [int(chunk_rows)] + [int(s) for s in shape[1:]]
    return {
        "zarr_format": 3, "node_type": "array", "shape": [int(s) for s in shape], "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0.0 if dtype.startswith("float") else 0,
        "codecs": codec_chain(level), "attributes": {}, "storage_transformers": [],
    }


@dataclass(frozen=True)
class ArraySpec:
    """A parsed, checked array document: what the reader needs to fetch its chunks."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    chunk_rows: int

    @property
    def np_dtype(self) -> np.dtype:
        return DTYPES[self.dtype]

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        return (self.chunk_rows,) + self.shape[1:]

    @property
    def chunk_bytes(self) -> int:
        return math.prod(self.chunk_shape) * self.np_dtype.itemsize

    @property
    def num_chunks(self) -> int:
        return -(-self.shape[0] // self.chunk_rows)

    def chunk_keys(self) -> list[str]:
        return [chunk_key(self.name, i, len(self.shape)) for i in range(self.num_chunks)]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def declared_bytes(doc: Any) -> int:
    """Bytes the chunks of an array document decode to in all (padding included); 0 when the
    document is malformed (``parse_array_doc`` then refuses it)."""
    try:
        shape = doc["shape"]
        cs = doc["chunk_grid"]["configuration"]["chunk_shape"]
        itemsize = DTYPES[doc["data_type"]].itemsize
        if not (shape and cs and all(map(_is_int, shape + cs)) and min(cs) >= 1 and min(shape) >= 0):
            return 0
        return -(-shape[0] // cs[0]) * math.prod(cs) * itemsize
    except (KeyError, TypeError, IndexError, AttributeError):
        return 0


def parse_array_doc(name: str, doc: Any, dtypes: tuple[str, ...], ndim: int) -> ArraySpec:
    """Check a zarr v3 array document against the spec; raise ``InvalidStructure`` naming the problem."""
    where = f"array {name}"

    def bad(what: str) -> InvalidStructure:
        return InvalidStructure(f"{where}: {what}")

    if not isinstance(doc, dict):
        raise bad("metadata is not a JSON object")
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "array":
        raise bad("metadata is not a zarr v3 array")
    shape = doc.get("shape")
    if not (isinstance(shape, list) and len(shape) == ndim and all(_is_int(s) and s >= 0 for s in shape)):
        raise bad(f"shape {shape!r} is not a {ndim}-D list of non-negative integers")
    dtype = doc.get("data_type")
    if dtype not in dtypes:
        raise bad(f"data_type {dtype!r} is not one of {list(dtypes)}")
    grid = doc.get("chunk_grid")
    cs = grid.get("configuration", {}).get("chunk_shape") if isinstance(grid, dict) and \
        isinstance(grid.get("configuration"), dict) else None
    if not (isinstance(grid, dict) and grid.get("name") == "regular" and isinstance(cs, list)
            and len(cs) == ndim and all(_is_int(c) and c >= 1 for c in cs)):
        raise bad("chunk_grid is not a regular grid of positive integers")
    if ndim == 2 and cs[1] != shape[1]:
        raise bad(f"chunk_shape {cs} does not span all {shape[1]} columns")
    enc = doc.get("chunk_key_encoding")
    if not (isinstance(enc, dict) and enc.get("name") == "default"):
        raise bad("chunk_key_encoding is not 'default'")
    conf = enc.get("configuration", {})
    if not isinstance(conf, dict) or conf.get("separator", "/") != "/":
        raise bad("chunk_key_encoding separator is not '/'")
    fill = doc.get("fill_value")
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or fill != 0:
        raise bad(f"fill_value {fill!r} is not 0")
    if doc.get("storage_transformers", []) != []:
        raise bad("storage_transformers are not supported")
    _check_codecs(doc.get("codecs"), bad)
    spec = ArraySpec(name, tuple(shape), dtype, cs[0])
    if spec.chunk_bytes > MAX_CHUNK_BYTES:
        raise LimitExceeded(f"{where}: chunks of {spec.chunk_bytes} bytes exceed the {MAX_CHUNK_BYTES} limit")
    if spec.num_chunks > MAX_ENTRIES:
        raise LimitExceeded(f"{where}: {spec.num_chunks} chunks exceed the {MAX_ENTRIES} entry limit")
    return spec


def _check_codecs(codecs: Any, bad) -> None:
    ok = isinstance(codecs, list) and len(codecs) == 3 and all(isinstance(c, dict) for c in codecs)
    if ok:
        b, z, c = codecs
        zc = z.get("configuration", {})
        ok = (b.get("name") == "bytes" and b.get("configuration") == {"endian": "little"}
              and z.get("name") == "zstd" and isinstance(zc, dict)
              and _is_int(zc.get("level")) and isinstance(zc.get("checksum"), bool)
              and c.get("name") == "crc32c" and c.get("configuration", {}) == {})
    if not ok:
        raise bad("codecs are not [bytes(little), zstd, crc32c]")
