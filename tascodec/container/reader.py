"""Read a ``.tasz`` v1 file: ``open_container(path) -> ContainerReader`` (spec/tasz-v1.md).

Opening checks the archive, the metadata, every array document, the tables and the decoder
(sha256 included) before returning; code rows are checked when read. Every problem raises a
``TaszFormatError`` subclass whose message starts with the file name; nothing else escapes.
Reads use ``os.pread``, so a container opened before ``fork()`` keeps working in the children
(and in threads).

The reader gives tables, labels, codes and content; decoding frames is the decode layer's job:
``tascodec.open`` returns ``tascodec.decode.container.Container``, a subclass that adds
``decode``/``iter_decode``. This module never imports ``tascodec.decode`` (nor torch).
"""
from __future__ import annotations

import difflib
import functools
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import (CorruptData, InvalidStructure, LimitExceeded, NotATaszFile, TaszError, UnknownVideo,
                      UsageError)
from .checks import (check_code_scale, check_code_values, check_decoder, check_residual_sd, check_tables,
                     decoder_elements)
from .chunks import decode_chunk
from .content import Content, Decoder
from .layout import MAX_DECODED_BASE, MAX_DECODED_RATIO, declared_bytes
from .layout import (CODES_RESIDUAL, CODES_SCALE, CODES_VALUES, DECODER_PREFIX, GROUPS, MAX_DECODER_ELEMENTS,
                     MAX_NODE_META, MAX_ROOT_META, MAX_SEGMENTS, ROOT_META, TABLES, ArraySpec, chunk_key, weight_dtype, weight_shapes,
                     parse_array_doc, table_shapes)
from .meta import Header, loads, parse_header, parse_root
from .normative import random_codes
from .quant import dequantize
from .zipio import ZipReader

RANDOM_CODE_BYTES = 48  # peak bytes per generated random code value (uint64 draws, float64 maths)

_CACHE_CHUNKS = 8
CHECKS = ("full", "metadata")


def open_container(path: str | os.PathLike, *, check: str = "full") -> "ContainerReader":
    """Open and validate a ``.tasz`` file (read-only).

    ``check="full"`` (the default) reads every entry and code chunk once before returning, so that a
    file ``verify`` rejects never opens; ``check="metadata"`` reads only the metadata, tables and
    decoder (the code chunks are checked when first read), for a file already checked.
    """
    return ContainerReader(path, check=check)


def _named(path: Path, e: TaszError) -> TaszError:
    msg = str(e)
    return e if msg.startswith(f"{path}:") else type(e)(f"{path}: {msg}")


def _guard(method):
    """Name the file in errors, turn stray exceptions into ``CorruptData``, reset state after fork."""

    @functools.wraps(method)
    def wrapper(self: "ContainerReader", *args, **kwargs):
        self._ensure_usable()
        try:
            return method(self, *args, **kwargs)
        except TaszError as e:
            raise _named(self.path, e) from None
        except MemoryError:
            raise LimitExceeded(f"{self.path}: not enough memory for this read") from None
        except Exception as e:  # noqa: BLE001 - hostile input must never raise anything else
            raise CorruptData(f"{self.path}: unreadable data ({type(e).__name__}: {e})") from None

    return wrapper


class ContainerReader:
    """A validated, read-only ``.tasz`` file. Videos are named by string or by index.

    Subclasses (``tascodec.decode.container.Container``) add decoding; pickling reopens the
    file as the same class."""

    def __init__(self, path: str | os.PathLike, *, check: str = "full"):
        if check not in CHECKS:
            raise UsageError(f"check must be one of {', '.join(CHECKS)}, got {check!r}")
        self.path = Path(path)
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._zip: ZipReader | None = None
        try:
            self._zip = ZipReader(self.path)
            self._load()
            if check == "full":
                for _, problem in self._scan():
                    raise problem
        except BaseException as e:
            if self._zip is not None:
                self._zip.close()
                self._zip = None
            if isinstance(e, TaszError):
                raise _named(self.path, e) from None
            if isinstance(e, MemoryError):
                raise LimitExceeded(f"{self.path}: not enough memory to open") from None
            if isinstance(e, Exception):
                raise InvalidStructure(f"{self.path}: unreadable container ({type(e).__name__}: {e})") from None
            raise

    # --- opening -----------------------------------------------------------------------
    def _json(self, name: str, cap: int) -> Any:
        entry = self._zip.entries.get(name)
        if entry is None:
            raise InvalidStructure(f"missing {name}")
        if entry.size > cap:
            raise LimitExceeded(f"{name} has {entry.size} bytes, over the {cap} limit")
        return loads(self._zip.read(name), name)

    def _array(self, name: str, dtypes: tuple[str, ...], shape: tuple[int, ...]) -> ArraySpec:
        spec = parse_array_doc(name, self._json(f"{name}/{ROOT_META}", MAX_NODE_META), dtypes, len(shape))
        if spec.shape != shape:
            raise InvalidStructure(f"array {name}: shape {spec.shape}, expected {shape}")
        if spec.num_chunks > len(self._zip.entries):  # before listing the keys
            raise InvalidStructure(f"array {name}: {spec.num_chunks} chunks declared, the archive has "
                                   f"{len(self._zip.entries)} entries")
        missing = [k for k in spec.chunk_keys() if k not in self._zip.entries]
        if missing:
            raise InvalidStructure(f"array {name}: chunk {missing[0]} is missing")
        return spec

    def _check_decoded_size(self) -> None:
        """Spec section 6: the arrays a reader decodes (tables, codes, decoder; every chunk, padding
        included) hold at most ``MAX_DECODED_BASE + MAX_DECODED_RATIO * file size`` bytes, so that a
        small file cannot make a reader allocate or decompress much more than its size."""
        total = 0
        for key in self._zip.entries:
            name = key[:-len(ROOT_META) - 1] if key.endswith("/" + ROOT_META) else None
            if name in TABLES or name in (CODES_VALUES, CODES_SCALE, CODES_RESIDUAL) or (name or "").startswith(DECODER_PREFIX):
                total += declared_bytes(self._json(key, MAX_NODE_META))
        limit = MAX_DECODED_BASE + MAX_DECODED_RATIO * self._zip.file_size
        if total > limit:
            raise LimitExceeded(f"arrays declare {total} decoded bytes, more than the {limit} a "
                                f"{self._zip.file_size}-byte file may hold ({MAX_DECODED_BASE >> 20} MiB + "
                                f"{MAX_DECODED_RATIO} x its size)")

    def _load(self) -> None:
        if ROOT_META not in self._zip.entries:
            raise NotATaszFile("no root zarr.json: not a .tasz container")
        h: Header = parse_header(parse_root(self._json(ROOT_META, MAX_ROOT_META)))
        for g in GROUPS:
            doc = self._json(f"{g}/{ROOT_META}", MAX_NODE_META)
            if not isinstance(doc, dict) or doc.get("zarr_format") != 3 or doc.get("node_type") != "group":
                raise InvalidStructure(f"{g}/zarr.json is not a zarr v3 group")
        self.header = h
        V = len(h.videos)
        label = "segments/label"
        S = parse_array_doc(label, self._json(f"{label}/{ROOT_META}", MAX_NODE_META), (TABLES[label],), 1).shape[0]
        if S > MAX_SEGMENTS:  # before any table is read
            raise LimitExceeded(f"{S} segments exceed the {MAX_SEGMENTS} limit")
        shapes = table_shapes(V, S)
        # check every table document before reading any
        specs = {name: self._array(name, (dtype,), shapes[name]) for name, dtype in TABLES.items()}
        self._check_decoded_size()  # before reading any chunk
        t = {name: self._read_all(spec) for name, spec in specs.items()}
        num_frames, row_offset = check_tables(V, len(h.vocab), t["videos/segment_offset"], t["segments/label"],
                                              t["segments/length"], t["segments/instances"])
        if not np.array_equal(num_frames, t["videos/num_frames"]):
            v = int(np.flatnonzero(num_frames != t["videos/num_frames"])[0])
            raise InvalidStructure(f"videos/num_frames[{v}] = {t['videos/num_frames'][v]} but its segments "
                                   f"have {num_frames[v]} frames")
        if not np.array_equal(row_offset, t["segments/row_offset"]):
            s = int(np.flatnonzero(row_offset != t["segments/row_offset"])[0])
            raise InvalidStructure(f"segments/row_offset[{s}] is not the running sum of segments/instances")
        self._seg_offset = t["videos/segment_offset"]
        self._num_frames = num_frames
        self._label, self._length, self._instances = t["segments/label"], t["segments/length"], t["segments/instances"]
        self._row_offset = row_offset
        for a in (self._seg_offset, self._num_frames, self._label, self._length, self._instances, self._row_offset):
            a.flags.writeable = False
        R, d = int(row_offset[-1]), h.decoder.latent_dim
        self._values = self._scale = None
        has_values = f"{CODES_VALUES}/{ROOT_META}" in self._zip.entries
        has_scale = f"{CODES_SCALE}/{ROOT_META}" in self._zip.entries
        if h.codes_source == "stored":
            self._values = self._array(CODES_VALUES, (h.codes_dtype,), (R, d))
        elif V:  # random codes are made whole per video: bound them like decoded arrays (spec section 6)
            rows = row_offset[self._seg_offset[1:]] - row_offset[self._seg_offset[:-1]]
            need = int(rows.max()) * d * RANDOM_CODE_BYTES
            limit = MAX_DECODED_BASE + MAX_DECODED_RATIO * self._zip.file_size
            if need > limit:
                v = int(rows.argmax())
                raise LimitExceeded(f"video {v}'s random codes ({int(rows[v])} x {d}) would take {need} bytes to "
                                    f"generate, more than the {limit} a {self._zip.file_size}-byte file may")
        if h.codes_source != "stored" and has_values:
            raise InvalidStructure("codes/values is present but codes.source is 'random'")
        if self._values is not None and h.codes_dtype == "int8":
            self._scale = self._array(CODES_SCALE, ("float32",), (R,))
        elif has_scale:
            raise InvalidStructure(f"codes/scale is present but codes are {h.codes_source} {h.codes_dtype}")
        self._residual = None
        if f"{CODES_RESIDUAL}/{ROOT_META}" in self._zip.entries:
            if h.decoder.kind != "linear":
                raise InvalidStructure(f"{CODES_RESIDUAL} is present but the decoder is {h.decoder.kind}, not linear")
            self._residual = self._read_all(self._array(CODES_RESIDUAL, ("float16",), (d,)))
            check_residual_sd(self._residual, CODES_RESIDUAL)
            self._residual.flags.writeable = False
        self._decoder_stored = self._read_decoder(h)
        self._decoder32 = self._decoder_stored
        if self._decoder_stored.weights_dtype != "float32":
            self._decoder32 = Decoder(**{**self._decoder_stored.__dict__, "weights_dtype": "float32",
                                         "weights": self._decoder_stored.float32_weights()})
            for a in self._decoder32.weights.values():
                a.flags.writeable = False
        self._index = {v: i for i, v in enumerate(h.videos)}

    def _read_decoder(self, h: Header) -> Decoder:
        dec = h.decoder
        weights: dict[str, np.ndarray] = {}
        if dec.kind in ("mlp", "linear"):
            if decoder_elements(dec) > MAX_DECODER_ELEMENTS:
                raise LimitExceeded(f"decoder has {decoder_elements(dec)} weights, over the "
                                    f"{MAX_DECODER_ELEMENTS} limit")
            shapes = weight_shapes(dec.kind, dec.feature_dim, dec.latent_dim, dec.num_classes, dec.hidden,
                                   dec.weights_dtype)
            for name, shape in shapes.items():
                dtype = weight_dtype(name, dec.weights_dtype)
                weights[name] = self._read_all(self._array(DECODER_PREFIX + name, (dtype,), shape))
                weights[name].flags.writeable = False
        stored = Decoder(kind=dec.kind, feature_dim=dec.feature_dim, latent_dim=dec.latent_dim,
                         num_classes=dec.num_classes, hidden=dec.hidden, activation=dec.activation,
                         weights=weights, weights_dtype=dec.weights_dtype)
        check_decoder(stored, len(h.vocab))
        if stored.sha256() != h.decoder_sha256:
            raise CorruptData("decoder weights do not match decoder.sha256")
        return stored

    # --- chunks ------------------------------------------------------------------------
    def _chunk(self, spec: ArraySpec, i: int) -> np.ndarray:
        key = (spec.name, i)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        name = chunk_key(spec.name, i, len(spec.shape))
        arr = decode_chunk(*self._zip.read_split(name, 4), spec, name)
        valid = arr[: max(0, min(spec.chunk_rows, spec.shape[0] - i * spec.chunk_rows))]  # padding ignored
        if spec.name == CODES_VALUES:
            check_code_values(valid, name)
        elif spec.name == CODES_SCALE:
            check_code_scale(valid, name)
        if spec.name.startswith("codes/"):
            with self._lock:
                self._cache[key] = arr
                while len(self._cache) > _CACHE_CHUNKS:
                    self._cache.popitem(last=False)
        return arr

    def _rows(self, spec: ArraySpec, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of an array, as a fresh writable array."""
        cr = spec.chunk_rows
        if stop <= start:
            return np.empty((0,) + spec.shape[1:], spec.np_dtype)
        parts = [self._chunk(spec, i)[max(start - i * cr, 0):min(stop - i * cr, cr)]
                 for i in range(start // cr, (stop - 1) // cr + 1)]
        return np.concatenate(parts).astype(spec.np_dtype.newbyteorder("="), copy=False)

    def _read_all(self, spec: ArraySpec) -> np.ndarray:
        return self._rows(spec, 0, spec.shape[0])

    # --- lifecycle ---------------------------------------------------------------------
    def _ensure_usable(self) -> None:
        if self._zip is None:
            raise UsageError(f"{self.path}: container is closed")
        if os.getpid() != self._pid:  # forked: fresh lock and cache (pread needs no new handle)
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._cache = OrderedDict()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> "ContainerReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        zr = getattr(self, "_zip", None)
        if zr is not None:
            zr.close()

    def __reduce__(self):  # pickled (e.g. for spawn workers) as "open this path again", same class
        return (_reopen, (str(self.path), type(self)))

    def __repr__(self) -> str:
        return f"<tasz.Container {str(self.path)!r}: {self.num_videos} videos, {self.total_frames} frames>"

    # --- metadata ----------------------------------------------------------------------
    @property
    def videos(self) -> list[str]:
        """Video names in storage order (do not modify)."""
        return self.header.videos

    @property
    def vocab(self) -> list[str]:
        return self.header.vocab

    @property
    def background(self) -> list[str]:
        return self.header.background

    @property
    def activities(self) -> list[str | None] | None:
        return self.header.activities

    @property
    def decoder(self) -> Decoder:
        """The decoder with float32 weights (read-only arrays), ready to decode."""
        return self._decoder32

    @property
    def decoder_sha256(self) -> str:
        """The stored (and verified) digest of the decoder as stored (``Decoder.sha256``)."""
        return self.header.decoder_sha256

    @property
    def residual_sd(self) -> np.ndarray | None:
        """``(d,) float32``: per code dimension, the RMS of what the codes miss (format 1.2, ``linear``
        files that store it; for noise filling, ``tascodec.decode.noise``), or None."""
        return None if self._residual is None else self._residual.astype(np.float32)

    @property
    def codes_dtype(self) -> str:
        return self.header.codes_dtype

    @property
    def codes_source(self) -> str:
        return self.header.codes_source

    @property
    def random_seed(self) -> int | None:
        return self.header.random_seed

    @property
    def metadata(self) -> dict[str, Any]:
        """Version, writer, decoder and code records, provenance (a fresh dict)."""
        h, dec = self.header, self._decoder_stored
        return {
            "version": h.version, "writer": dict(h.writer),
            "decoder": {"kind": dec.kind, "feature_dim": dec.feature_dim, "latent_dim": dec.latent_dim,
                        "num_classes": dec.num_classes, "hidden": dec.hidden, "activation": dec.activation,
                        "weights_dtype": dec.weights_dtype, "sha256": h.decoder_sha256},
            "codes": {"source": h.codes_source, "dtype": h.codes_dtype, "width": dec.latent_dim,
                      "random_seed": h.random_seed},
            "provenance": _deepcopy_json(h.provenance),
        }

    @property
    def num_videos(self) -> int:
        return len(self.header.videos)

    def __len__(self) -> int:
        return self.num_videos

    def __iter__(self) -> Iterator[str]:
        return iter(self.header.videos)

    def __contains__(self, video: object) -> bool:
        return video in self._index

    @property
    def num_segments(self) -> int:
        return int(self._label.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self._row_offset[-1])

    @property
    def total_frames(self) -> int:
        return int(self._num_frames.sum())

    @property
    def raw_feature_bytes(self) -> int:
        """Bytes of the float32 ``(D, T)`` features this container stands for."""
        return 4 * self.decoder.feature_dim * self.total_frames

    def nbytes_by_part(self) -> dict[str, int]:
        """Stored bytes per part: decoder, codes, tables, metadata, other entries, zip structure, total."""
        parts = dict.fromkeys(("decoder", "codes", "tables", "metadata", "other"), 0)
        for name, e in self._zip.entries.items():
            top = name.split("/", 1)[0]
            part = ("metadata" if name.endswith(ROOT_META) else "decoder" if top == "decoder" else
                    "codes" if top == "codes" else "tables" if top in ("videos", "segments") else "other")
            parts[part] += e.size
        parts["zip"] = self._zip.file_size - sum(parts.values())
        parts["total"] = self._zip.file_size
        return parts

    def segment_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All videos' tables, read-only: ``(segment_offset (V+1,), labels, lengths, instances (S,))``."""
        return self._seg_offset, self._label, self._length, self._instances

    # --- per video ---------------------------------------------------------------------
    def index(self, video: str | int) -> int:
        """Index of a video given by name or index; ``UnknownVideo`` (a ``KeyError``) listing close names if unknown."""
        if isinstance(video, (int, np.integer)) and not isinstance(video, bool):
            if 0 <= video < self.num_videos:
                return int(video)
            raise UnknownVideo(f"{self.path}: video index {video} out of range 0..{self.num_videos - 1}")
        if isinstance(video, str):
            i = self._index.get(video)
            if i is not None:
                return i
            close = difflib.get_close_matches(video, self.header.videos, n=3)
            hint = f"; close matches: {', '.join(close)}" if close else f" (it has {self.num_videos} videos)"
            raise UnknownVideo(f"{self.path}: no video {video!r}{hint}")
        raise UsageError(f"{self.path}: a video is a name or an index, not {type(video).__name__}")

    @_guard
    def num_frames(self, video: str | int) -> int:
        return int(self._num_frames[self.index(video)])

    @_guard
    def activity(self, video: str | int) -> str | None:
        acts = self.header.activities
        return None if acts is None else acts[self.index(video)]

    def _seg_range(self, v: int) -> tuple[int, int]:
        return int(self._seg_offset[v]), int(self._seg_offset[v + 1])

    @_guard
    def segments(self, video: str | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels int32 (S_v,), lengths int64 (S_v,), instances int32 (S_v,))`` of one video."""
        a, b = self._seg_range(self.index(video))
        return self._label[a:b].copy(), self._length[a:b].copy(), self._instances[a:b].copy()

    @_guard
    def labels(self, video: str | int) -> np.ndarray:
        """Per-frame class ids ``(T,) int64``."""
        a, b = self._seg_range(self.index(video))
        return np.repeat(self._label[a:b].astype(np.int64), self._length[a:b])

    @_guard
    def codes(self, video: str | int) -> np.ndarray:
        """The video's code rows, dequantized: ``(R_v, d) float32`` (generated for random codes)."""
        v = self.index(video)
        a, b = self._seg_range(v)
        r0, r1 = int(self._row_offset[a]), int(self._row_offset[b])
        if self._values is None:
            return random_codes(self.header.random_seed, self.header.videos[v], r1 - r0, self.decoder.latent_dim)
        values = self._rows(self._values, r0, r1)
        scale = self._rows(self._scale, r0, r1) if self._scale is not None else None
        return dequantize(values, scale)

    # --- whole file --------------------------------------------------------------------
    @_guard
    def content(self) -> Content:
        """Everything in the file, codes and weights in their storage dtypes (for subset/merge)."""
        h = self.header
        values = self._read_all(self._values) if self._values is not None else None
        scale = self._read_all(self._scale) if self._scale is not None else None
        dec = self._decoder_stored
        return Content(
            vocab=list(h.vocab), videos=list(h.videos), video_segments=self._seg_offset.copy(),
            seg_label=self._label.copy(), seg_length=self._length.copy(), seg_instances=self._instances.copy(),
            decoder=Decoder(kind=dec.kind, feature_dim=dec.feature_dim, latent_dim=dec.latent_dim,
                            num_classes=dec.num_classes, hidden=dec.hidden, activation=dec.activation,
                            weights={k: w.copy() for k, w in dec.weights.items()}, weights_dtype=dec.weights_dtype),
            codes=values, code_scale=scale, codes_dtype=h.codes_dtype,
            residual_sd=None if self._residual is None else self._residual.copy(), random_seed=h.random_seed,
            background=list(h.background), activities=None if h.activities is None else list(h.activities),
            provenance=_deepcopy_json(h.provenance),
        )

    def verify(self) -> list[str]:
        """Read every entry and every code chunk; return one line per problem (empty when sound)."""
        self._ensure_usable()
        return [str(_named(self.path, e)) for _, e in self._scan()]

    def _scan(self) -> Iterator[tuple[str, TaszError]]:
        """Read every entry (every code chunk decoded and checked); yield ``(entry, error)`` per problem."""
        code_chunks = {}
        for spec in (self._values, self._scale):
            if spec is not None:
                code_chunks.update({k: (spec, i) for i, k in enumerate(spec.chunk_keys())})
        for name in sorted(self._zip.entries):
            try:
                if name in code_chunks:
                    spec, i = code_chunks[name]
                    with self._lock:
                        self._cache.pop((spec.name, i), None)
                    self._chunk(spec, i)
                else:
                    self._zip.read(name)
            except TaszError as e:
                yield name, e
            except MemoryError:
                yield name, LimitExceeded(f"{name}: not enough memory to read it")
            except Exception as e:  # noqa: BLE001
                yield name, CorruptData(f"{name}: unreadable ({type(e).__name__}: {e})")


def verify_file(path: str | os.PathLike) -> list[str]:
    """Open ``path`` and verify it; problems as lines (``[]`` when the file is sound)."""
    try:
        with open_container(path, check="metadata") as c:
            return c.verify()
    except TaszError as e:
        return [str(e)]


def _reopen(path: str, cls: type = ContainerReader) -> "ContainerReader":
    """Unpickle a container (e.g. in a spawn worker): the file was checked whole when first opened."""
    return cls(path, check="metadata")


def _deepcopy_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deepcopy_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deepcopy_json(v) for v in obj]
    return obj
