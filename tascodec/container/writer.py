"""Write a ``Content`` as a ``.tasz`` v1 file (spec/tasz-v1.md), atomically.

The content is checked with the reader's own rules first, so an invalid container is never
written. Entries stream into a ZIP beside the output, which is renamed into place on success:
a crash leaves nothing at the output path, and an existing file is replaced only with ``force``.
"""
from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from .._io import atomic_path
from ..errors import LimitExceeded, UsageError
from .checks import check_content, normalize_json
from .chunks import encode_chunk
from .content import Content
from .layout import (CHUNK_TARGET, CODES_CHUNK_TARGET, CODES_RESIDUAL, CODES_SCALE, CODES_VALUES, DECODER_PREFIX, GROUPS,
                     MAX_ROOT_META, ROOT_META, TABLES, ArraySpec, array_doc, chunk_key, chunk_rows_for,
                     group_doc)
from .meta import build_attributes, dumps
from .zipio import ZipWriter

DEFAULT_LEVEL = 3


def utc_now() -> str:
    """Current time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _arrays(content: Content, num_frames: np.ndarray, row_offset: np.ndarray) -> list[tuple[str, np.ndarray, int]]:
    """``(name, array in storage dtype, rows per chunk)`` of every array, in writing order."""
    tables = {"videos/segment_offset": content.video_segments, "videos/num_frames": num_frames,
              "segments/label": content.seg_label, "segments/length": content.seg_length,
              "segments/instances": content.seg_instances, "segments/row_offset": row_offset}
    out = []
    for name, dtype in TABLES.items():
        a = np.asarray(tables[name]).astype(dtype)
        out.append((name, a, chunk_rows_for(a.shape, a.itemsize, CHUNK_TARGET)))
    if content.codes is not None:
        rows = chunk_rows_for(content.codes.shape, content.codes.itemsize, CODES_CHUNK_TARGET)
        out.append((CODES_VALUES, content.codes, rows))
        if content.code_scale is not None:  # same rows per chunk: a video's rows sit in matching chunks
            out.append((CODES_SCALE, content.code_scale, rows))
    if content.residual_sd is not None:
        out.append((CODES_RESIDUAL, content.residual_sd, content.residual_sd.shape[0]))
    for name in sorted(content.decoder.weights):
        w = content.decoder.weights[name]
        out.append((DECODER_PREFIX + name, w, chunk_rows_for(w.shape, w.itemsize, CHUNK_TARGET)))
    return out


def write_container(content: Content, path: str | os.PathLike, *, force: bool = False,
                    compression_level: int = DEFAULT_LEVEL, created: str | None = None) -> Path:
    """Write ``content`` to ``path`` and return the path.

    Args:
        content: codes already in their storage dtype (see ``quant.quantize``).
        force: replace an existing file (refused otherwise with ``OutputExistsError``).
        compression_level: zstd level, 1..22.
        created: the ``writer.created`` timestamp (default: now); fixed for reproducible files.
    Raises:
        InvalidStructure / LimitExceeded when the content breaks a rule of the spec.
    """
    if not (isinstance(compression_level, int) and 1 <= compression_level <= 22):
        raise UsageError(f"compression level must be an integer in 1..22, got {compression_level!r}")
    num_frames, row_offset = check_content(content)
    content = dataclasses.replace(content, provenance=normalize_json(content.provenance, "provenance"))
    writer = {"name": "tascodec", "version": __version__, "created": created or utc_now()}
    root = dumps({"zarr_format": 3, "node_type": "group", "attributes": build_attributes(content, writer)})
    if len(root) > MAX_ROOT_META:
        raise LimitExceeded(f"metadata of {len(root)} bytes exceeds the {MAX_ROOT_META} limit "
                            "(too many or too long names?)")
    arrays = _arrays(content, num_frames, row_offset)
    with atomic_path(path, force) as tmp, ZipWriter(tmp) as zw:
        zw.add(ROOT_META, root)
        for g in GROUPS:
            zw.add(f"{g}/{ROOT_META}", dumps(group_doc()))
        for name, arr, rows in arrays:
            dtype = arr.dtype.name
            spec = ArraySpec(name, tuple(arr.shape), dtype, rows)
            zw.add(f"{name}/{ROOT_META}", dumps(array_doc(arr.shape, dtype, rows, compression_level)))
            for i in range(spec.num_chunks):
                block = arr[i * rows:(i + 1) * rows]
                zw.add(chunk_key(name, i, arr.ndim), encode_chunk(block, spec, compression_level))
    return Path(path)
