"""One chunk's bytes: ``zstd_frame || crc32c (4 bytes, little-endian)`` (the zarr v3 codec chain
``bytes(little) -> zstd -> crc32c`` of spec/tasz-v1.md, section 1.2).

Decoding checks the checksum first, then that the zstd frame declares exactly the chunk's size,
so a hostile file can neither fake data nor make us allocate more than the chunk.
"""
from __future__ import annotations

import google_crc32c
import numcodecs.zstd
import numpy as np

from ..errors import CorruptData
from .layout import ArraySpec

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def encode_chunk(block: np.ndarray, spec: ArraySpec, level: int) -> bytes:
    """Rows of ``spec``'s array (at most ``chunk_rows``) -> the chunk entry's bytes (zero padded)."""
    out = np.zeros(spec.chunk_shape, spec.np_dtype)
    out[: block.shape[0]] = block
    frame = numcodecs.zstd.compress(out.tobytes(), int(level))
    return bytes(frame) + google_crc32c.value(frame).to_bytes(4, "little")


def zstd_content_size(frame: bytes) -> int | None:
    """The Frame_Content_Size declared by a zstd frame header (RFC 8878, 3.1.1.1), or None."""
    if len(frame) < 6 or frame[:4] != _ZSTD_MAGIC:
        return None
    fhd = frame[4]
    fcs_flag, single, reserved, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 3) & 1, fhd & 3
    if reserved or dict_flag:
        return None
    pos = 5 + (0 if single else 1)
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0 or len(frame) < pos + size:
        return None
    value = int.from_bytes(frame[pos:pos + size], "little")
    return value + 256 if size == 2 else value


def zstd_frame_size(frame: bytes) -> int | None:
    """Length in bytes of the zstd frame that starts ``frame`` (RFC 8878, 3.1.1: header, blocks,
    optional checksum), or None when it is not a complete frame. Walks the 3-byte block headers:
    work proportional to the stored bytes."""
    if len(frame) < 6 or frame[:4] != _ZSTD_MAGIC:
        return None
    fhd = frame[4]
    fcs_flag, single, checksum, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag] + ((1 if single else 0), 2, 4, 8)[fcs_flag]
    n = len(frame)
    while True:
        if pos + 3 > n:
            return None
        h = frame[pos] | frame[pos + 1] << 8 | frame[pos + 2] << 16
        last, kind, size = h & 1, (h >> 1) & 3, h >> 3
        if kind == 3:  # reserved
            return None
        pos += 3 + (1 if kind == 1 else size)
        if last:
            break
    pos += 4 if checksum else 0
    return pos if pos <= n else None


def decode_chunk(frame: bytes, crc: bytes, spec: ArraySpec, key: str) -> np.ndarray:
    """A chunk entry, split as ``(zstd frame, 4 crc32c bytes)`` -> ``spec.chunk_shape`` array (read-only)."""
    if len(frame) < 6 or len(crc) != 4:
        raise CorruptData(f"chunk {key}: {len(frame) + len(crc)} bytes is too short")
    if google_crc32c.value(frame) != int.from_bytes(crc, "little"):
        raise CorruptData(f"chunk {key}: crc32c checksum mismatch")
    expected = spec.chunk_bytes
    declared = zstd_content_size(frame)
    if declared != expected:
        raise CorruptData(f"chunk {key}: zstd frame declares {declared} bytes, expected {expected}")
    if zstd_frame_size(frame) != len(frame):
        raise CorruptData(f"chunk {key}: not a single zstd frame (trailing or missing bytes)")
    try:
        data = numcodecs.zstd.decompress(frame)  # allocates the declared size, checked above
    except Exception as e:  # numcodecs raises RuntimeError/ValueError on bad frames
        raise CorruptData(f"chunk {key}: zstd decompression failed ({e})") from None
    if len(data) != expected:
        raise CorruptData(f"chunk {key}: decompressed to {len(data)} bytes, expected {expected}")
    arr = np.frombuffer(data, spec.np_dtype).reshape(spec.chunk_shape)
    arr.flags.writeable = False
    return arr
