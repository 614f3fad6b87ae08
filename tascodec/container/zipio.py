"""The ZIP layer of a ``.tasz``: a validating, fork-safe entry reader and a deterministic writer.

Reading trusts nothing: the central directory is parsed by ``zipfile``, then every entry is
checked (stored, unencrypted, confined name, unique, local header equal to the central record,
no overlap, within limits) before anything is read. Entries are read with ``os.pread`` at their
checked offsets, so one descriptor serves every thread and every forked child (no shared file
position), and each read is checked against the entry's CRC-32.
"""
from __future__ import annotations

import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorruptData, InvalidStructure, LimitExceeded, MissingFileError, NotATaszFile, UsageError
from .layout import MAX_ENTRIES, MAX_ENTRY_BYTES

_NAME = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # PKWARE local file header, 30 bytes
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Entry:
    name: str
    offset: int  # first data byte in the file
    size: int
    crc: int


class ZipReader:
    """Checked, random-access view of a stored-entries ZIP file. ``entries``: name -> ``Entry``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise MissingFileError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise UsageError(f"{self.path}: is a directory, expected a .tasz file") from None
        except OSError as e:
            raise UsageError(f"{self.path}: cannot open ({e.strerror or e})") from None
        try:
            self._fd = self._fh.fileno()
            self.file_size = os.fstat(self._fd).st_size
            self.entries = self._scan()
        except BaseException:
            self._fh.close()
            raise

    # --- opening ---------------------------------------------------------------------
    def _scan(self) -> dict[str, Entry]:
        head = self._pread(4, 0)
        try:
            with zipfile.ZipFile(self._fh) as zf:
                infos = zf.infolist()
                cd_start = zf.start_dir
        except Exception as e:  # BadZipFile, OSError, ValueError, struct.error, NotImplementedError, ...
            if head == b"PK\x03\x04":
                raise CorruptData(f"damaged or truncated zip archive ({e})") from None
            raise NotATaszFile("not a zip archive, so not a .tasz container") from None
        if len(infos) > MAX_ENTRIES:
            raise LimitExceeded(f"{len(infos)} zip entries exceed the {MAX_ENTRIES} limit")
        entries: dict[str, Entry] = {}
        spans = []
        for info in infos:
            e = self._check_entry(info, cd_start)
            if e.name in entries:
                raise InvalidStructure(f"zip entry {e.name!r} appears twice")
            entries[e.name] = e
            spans.append((info.header_offset, e.offset + e.size, e.name))
        spans.sort()
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            if start < end:
                raise InvalidStructure(f"zip entries {a!r} and {b!r} overlap")
        return entries

    def _check_entry(self, info: zipfile.ZipInfo, cd_start: int) -> Entry:
        name = info.orig_filename
        if not _NAME.fullmatch(name) or any(p in (".", "..") for p in name.split("/")):
            raise InvalidStructure(f"zip entry name {name!r} is not a confined relative path")
        if info.flag_bits & 0x41:
            raise InvalidStructure(f"zip entry {name!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise InvalidStructure(f"zip entry {name!r} is compressed; .tasz entries must be stored")
        if info.file_size > MAX_ENTRY_BYTES:
            raise LimitExceeded(f"zip entry {name!r} has {info.file_size} bytes, over the {MAX_ENTRY_BYTES} limit")
        hdr = self._pread(_LOCAL.size, info.header_offset)
        if len(hdr) != _LOCAL.size:
            raise CorruptData(f"zip entry {name!r}: local header lies past the end of the file")
        sig, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen = _LOCAL.unpack(hdr)
        lname = self._pread(nlen, info.header_offset + _LOCAL.size)
        if sig != b"PK\x03\x04" or lname != name.encode("ascii") or method != zipfile.ZIP_STORED:
            raise CorruptData(f"zip entry {name!r}: local header does not match the central directory")
        if not flags & 0x08 and (crc != info.CRC or (
                csize != 0xFFFFFFFF and usize != 0xFFFFFFFF and (csize, usize) != (info.compress_size, info.file_size))):
            raise CorruptData(f"zip entry {name!r}: local header does not match the central directory")
        offset = info.header_offset + _LOCAL.size + nlen + xlen
        if offset + info.file_size > cd_start:
            raise CorruptData(f"zip entry {name!r} runs into the central directory")
        return Entry(name, offset, info.file_size, info.CRC)

    # --- reading ---------------------------------------------------------------------
    def _pread(self, n: int, offset: int) -> bytes:
        parts, got = [], 0
        while got < n:
            try:
                b = os.pread(self._fd, n - got, offset + got)
            except OSError as e:
                raise CorruptData(f"read error at byte {offset + got} ({e.strerror or e})") from None
            if not b:
                break
            parts.append(b)
            got += len(b)
        return b"".join(parts)

    def read(self, name: str) -> bytes:
        """The whole entry, CRC-32 checked. ``KeyError`` when absent (callers check names first)."""
        return self.read_split(name, 0)[0]

    def read_split(self, name: str, tail: int) -> tuple[bytes, bytes]:
        """The entry as ``(all but the last tail bytes, the last tail bytes)``, CRC-32 checked
        (two reads instead of one read and a copying slice)."""
        e = self.entries[name]
        cut = max(0, e.size - tail)
        head, end = self._pread(cut, e.offset), self._pread(e.size - cut, e.offset + cut)
        if len(head) + len(end) != e.size:
            raise CorruptData(f"zip entry {name!r} is truncated")
        if zlib.crc32(end, zlib.crc32(head)) != e.crc:
            raise CorruptData(f"zip entry {name!r}: CRC-32 mismatch")
        return head, end

    def close(self) -> None:
        self._fh.close()


class ZipWriter:
    """Writes stored entries with fixed timestamps, in the order given (deterministic bytes)."""

    def __init__(self, path: str | os.PathLike):
        self._zf = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True)

    def add(self, name: str, data: bytes) -> None:
        zi = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
        zi.compress_type = zipfile.ZIP_STORED
        zi.create_system = 3
        zi.external_attr = 0o644 << 16
        self._zf.writestr(zi, data)

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> "ZipWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
