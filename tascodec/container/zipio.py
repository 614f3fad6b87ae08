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
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record, 22 bytes
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes, just before the end record
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record, 56 bytes
_CD_RECORD_MIN = 46  # a central-directory record without name, extra or comment
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
    def _end_record(self, head: bytes) -> tuple[int, int, int]:
        """``(entries, central directory offset, its size)`` from the end records, checked against
        the file's size and position before any directory record is parsed."""
        size = self.file_size
        tail = self._pread(min(size, _EOCD.size + 0xFFFF), max(0, size - _EOCD.size - 0xFFFF))
        base = size - len(tail)
        pos = len(tail) - _EOCD.size
        while pos >= 0:  # the last record whose comment ends the file (as zipfile finds it)
            pos = tail.rfind(b"PK\x05\x06", 0, pos + 4)
            if pos < 0 or pos + _EOCD.size + _EOCD.unpack_from(tail, pos)[7] == len(tail):
                break
            pos -= 1
        if pos < 0:
            if head == b"PK\x03\x04":
                raise CorruptData("damaged or truncated zip archive (no end of central directory record)")
            raise NotATaszFile("not a zip archive, so not a .tasz container")
        _, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, pos)
        cd_end = base + pos
        if 0xFFFF in (disk, cd_disk, n_disk, n_total) or 0xFFFFFFFF in (cd_size, cd_offset):
            loc = self._pread(_EOCD64_LOCATOR.size, cd_end - _EOCD64_LOCATOR.size) if cd_end >= 20 else b""
            if len(loc) != _EOCD64_LOCATOR.size or loc[:4] != b"PK\x06\x07":
                raise CorruptData("damaged zip archive (ZIP64 end record locator missing)")
            z64_at = _EOCD64_LOCATOR.unpack(loc)[2]
            ok = z64_at + _EOCD64.size <= cd_end - _EOCD64_LOCATOR.size  # before reading at z64_at
            rec = self._pread(_EOCD64.size, z64_at) if ok else b""
            if len(rec) != _EOCD64.size or rec[:4] != b"PK\x06\x06":
                raise CorruptData("damaged zip archive (bad ZIP64 end of central directory record)")
            _, _, _, _, disk, cd_disk, n_disk, n_total, cd_size, cd_offset = _EOCD64.unpack(rec)
            cd_end = z64_at
        if disk or cd_disk or n_disk != n_total:
            raise InvalidStructure("multi-disk zip archives are not supported")
        if n_total > MAX_ENTRIES:
            raise LimitExceeded(f"{n_total} zip entries exceed the {MAX_ENTRIES} limit")
        if cd_offset + cd_size != cd_end:
            raise InvalidStructure("data before the archive, or a misplaced central directory: a .tasz "
                                   "archive starts at byte 0 of the file")
        if n_total * _CD_RECORD_MIN > cd_size:
            raise CorruptData(f"damaged zip archive ({n_total} entries cannot fit a {cd_size}-byte directory)")
        return n_total, cd_offset, cd_size

    def _scan(self) -> dict[str, Entry]:
        head = self._pread(4, 0)
        n_total, cd_offset, _ = self._end_record(head)
        try:
            with zipfile.ZipFile(self._fh) as zf:
                infos = zf.infolist()
                cd_start = zf.start_dir
        except Exception as e:  # BadZipFile, OSError, ValueError, struct.error, NotImplementedError, ...
            if head == b"PK\x03\x04":
                raise CorruptData(f"damaged or truncated zip archive ({e})") from None
            raise NotATaszFile("not a zip archive, so not a .tasz container") from None
        if len(infos) != n_total or cd_start != cd_offset:
            raise CorruptData(f"damaged zip archive (the end record declares {n_total} entries at byte "
                              f"{cd_offset}, the directory holds {len(infos)} at byte {cd_start})")
        entries: dict[str, Entry] = {}
        spans = []
        for info in infos:
            e, end = self._check_entry(info, cd_start)
            if e.name in entries:
                raise InvalidStructure(f"zip entry {e.name!r} appears twice")
            entries[e.name] = e
            spans.append((info.header_offset, end, e.name))
        spans.sort()
        if spans and spans[0][0] != 0:
            raise InvalidStructure(f"{spans[0][0]} bytes of data before the archive's first entry: a .tasz "
                                   "archive starts at byte 0 of the file")
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            if start < end:
                raise InvalidStructure(f"zip entries {a!r} and {b!r} overlap")
        return entries

    def _check_entry(self, info: zipfile.ZipInfo, cd_start: int) -> tuple[Entry, int]:
        """The checked entry and the end of its bytes (data and any data descriptor)."""
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
        if bool(flags & 0x08) != bool(info.flag_bits & 0x08):
            raise CorruptData(f"zip entry {name!r}: local header does not match the central directory")
        zip64 = 0xFFFFFFFF in (csize, usize)
        if zip64:  # the real sizes are in the local ZIP64 extra field: both, uncompressed first
            usize, csize = self._local_zip64_sizes(name, info.header_offset + _LOCAL.size + nlen, xlen)
        offset = info.header_offset + _LOCAL.size + nlen + xlen
        end = offset + info.file_size
        if flags & 0x08:  # CRC and sizes follow the data, in a data descriptor
            crc, csize, usize, n = self._data_descriptor(name, end, zip64 or info.file_size >= 0xFFFFFFFF)
            end += n
        if crc != info.CRC or (csize, usize) != (info.compress_size, info.file_size):
            what = "data descriptor" if flags & 0x08 else "local header"
            raise CorruptData(f"zip entry {name!r}: {what} does not match the central directory")
        if end > cd_start:
            raise CorruptData(f"zip entry {name!r} runs into the central directory")
        return Entry(name, offset, info.file_size, info.CRC), end

    def _local_zip64_sizes(self, name: str, at: int, xlen: int) -> tuple[int, int]:
        extra = self._pread(xlen, at)
        i = 0
        while i + 4 <= len(extra):
            tag, n = struct.unpack_from("<2H", extra, i)
            if tag == 1:
                if n < 16 or i + 4 + n > len(extra):
                    break
                return struct.unpack_from("<2Q", extra, i + 4)
            i += 4 + n
        raise CorruptData(f"zip entry {name!r}: local header declares ZIP64 sizes but has no ZIP64 extra field")

    def _data_descriptor(self, name: str, at: int, zip64: bool) -> tuple[int, int, int, int]:
        """``(crc, compressed size, size, descriptor length)`` of the data descriptor at ``at``."""
        raw = self._pread(24, at)
        sig = 4 if raw[:4] == b"PK\x07\x08" else 0
        fmt = "<L2Q" if zip64 else "<3L"
        if len(raw) < sig + struct.calcsize(fmt):
            raise CorruptData(f"zip entry {name!r}: bit 3 is set but no data descriptor follows its data")
        crc, csize, usize = struct.unpack_from(fmt, raw, sig)
        return crc, csize, usize, sig + struct.calcsize(fmt)

    # --- reading ---------------------------------------------------------------------
    def _pread(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (fewer at the end of the file, none past it)."""
        if offset < 0 or offset >= self.file_size:
            return b""
        n = min(n, self.file_size - offset)  # offsets and sizes may come from the file: no huge reads
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
