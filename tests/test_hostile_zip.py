"""The ZIP layer against hostile archives: entry counts read first, data before the archive,
ZIP64 local sizes, data descriptors (issue 11)."""
from __future__ import annotations

import io
import struct
import time
import zipfile
from unittest import mock

import pytest

import tascodec
from tascodec.container import write_container
from tascodec.container import zipio
from tascodec.errors import CorruptData, InvalidStructure, LimitExceeded, TaszFormatError
from helpers import entries_of, make_content

EOCD = struct.Struct("<4s4H2LH")


@pytest.fixture
def good(tmp_path):
    return write_container(make_content(), tmp_path / "good.tasz")


def with_eocd(data: bytes, **fields) -> bytes:
    """``data`` with fields of its end-of-central-directory record replaced."""
    pos = len(data) - EOCD.size
    sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, clen = EOCD.unpack(data[pos:])
    vals = dict(n_disk=n_disk, n_total=n_total, cd_size=cd_size, cd_offset=cd_offset)
    vals.update(fields)
    return data[:pos] + EOCD.pack(sig, disk, cd_disk, vals["n_disk"], vals["n_total"], vals["cd_size"],
                                  vals["cd_offset"], clen)


def test_entry_count_is_read_before_the_central_directory(good, tmp_path, monkeypatch):
    n = len(entries_of(good))
    monkeypatch.setattr(zipio, "MAX_ENTRIES", n - 1)
    with mock.patch.object(zipio.zipfile, "ZipFile", side_effect=AssertionError("parsed the directory")):
        with pytest.raises(LimitExceeded, match="entries"):
            tascodec.open(good)


def test_declared_million_entries_answer_at_once(good, tmp_path):
    # a 1,000,001-entry claim (ZIP64 end records, as such an archive needs) in a small file
    data = good.read_bytes()
    pos = len(data) - EOCD.size
    _, _, _, _, n, cd_size, cd_offset, _ = EOCD.unpack(data[pos:])
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 1_000_001, 1_000_001, cd_size, cd_offset)
    loc = struct.pack("<4sLQL", b"PK\x06\x07", 0, pos, 1)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, cd_size, cd_offset, 0)
    bad = tmp_path / "million.tasz"
    bad.write_bytes(data[:pos] + z64 + loc + end)
    t = time.process_time()
    with pytest.raises(LimitExceeded, match="1000001 zip entries"):
        tascodec.open(bad)
    assert time.process_time() - t < 0.5


def test_entry_count_must_match_the_directory(good, tmp_path):
    data = good.read_bytes()
    n = EOCD.unpack(data[-EOCD.size:])[4]
    bad = tmp_path / "n.tasz"
    bad.write_bytes(with_eocd(data, n_disk=n + 1, n_total=n + 1))
    with pytest.raises(CorruptData, match="entries"):
        tascodec.open(bad)


def test_data_before_the_archive_is_refused(good, tmp_path):
    bad = tmp_path / "pre.tasz"
    bad.write_bytes(b"MZ" + bytes(100) + good.read_bytes())  # what a self-extractor looks like
    assert zipfile.ZipFile(bad).testzip() is None  # zipfile itself reads it
    with pytest.raises(InvalidStructure, match="before the archive"):
        tascodec.open(bad)


def _zip64_local(good, tmp_path):
    """``good`` rewritten with ZIP64 local headers (sizes 0xFFFFFFFF, real sizes in the extra field)."""
    out = tmp_path / "z64.tasz"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries_of(good).items():
            with zf.open(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), "w", force_zip64=True) as f:
                f.write(data)
    return out


def _local_header(path, name):
    """``(file bytes, zip info, local header offset, name length, extra length)`` of entry ``name``."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    h = info.header_offset
    nlen, xlen = struct.unpack("<2H", data[h + 26:h + 30])
    return data, info, h, nlen, xlen


def test_zip64_local_sizes_are_compared(good, tmp_path):
    ok = _zip64_local(good, tmp_path)
    with tascodec.open(ok) as c:
        assert c.verify() == []
    data, info, h, nlen, xlen = _local_header(ok, "segments/length/c/0")
    extra = h + 30 + nlen
    assert struct.unpack("<2H", data[extra:extra + 4]) == (1, 16)
    data[extra + 4:extra + 12] = struct.pack("<Q", info.file_size + 1)  # uncompressed size in the extra
    bad = tmp_path / "z64bad.tasz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match="local header"):
        tascodec.open(bad)


class _Unseekable(io.RawIOBase):
    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)


def _with_descriptors(good, tmp_path):
    """``good`` written to an unseekable stream: every entry sets bit 3 and has a data descriptor."""
    buf = io.BytesIO()
    with zipfile.ZipFile(_Unseekable(buf), "w") as zf:
        for name, data in entries_of(good).items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    out = tmp_path / "dd.tasz"
    out.write_bytes(buf.getvalue())
    return out


def test_bit3_needs_its_data_descriptor(good, tmp_path):
    ok = _with_descriptors(good, tmp_path)
    with zipfile.ZipFile(ok) as zf:
        assert all(i.flag_bits & 0x08 for i in zf.infolist())
    with tascodec.open(ok) as c:  # 1.0 files may use descriptors: still read
        assert c.verify() == []
    data, info, h, nlen, xlen = _local_header(ok, "segments/length/c/0")
    dd = h + 30 + nlen + xlen + info.file_size
    assert data[dd:dd + 4] == b"PK\x07\x08"
    data[dd + 4] ^= 0xFF  # the descriptor's CRC-32
    bad = tmp_path / "dd_bad.tasz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match="data descriptor"):
        tascodec.open(bad)


def test_bit3_without_descriptor_is_refused(good, tmp_path):
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        cd = zf.start_dir
    info = infos["segments/length/c/0"]
    data[info.header_offset + 6] |= 0x08  # local flags
    # the same flag in its central-directory record
    pos = data.index(b"PK\x01\x02" + data[cd + 4:cd + 8], cd)
    while True:
        nlen, xlen, clen = struct.unpack("<3H", data[pos + 28:pos + 34])
        if data[pos + 46:pos + 46 + nlen] == info.filename.encode():
            data[pos + 8] |= 0x08
            break
        pos += 46 + nlen + xlen + clen
    bad = tmp_path / "b3.tasz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match="data descriptor"):
        tascodec.open(bad)


def test_truncated_and_foreign_files_are_format_errors(good, tmp_path):
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        (tmp_path / "t.tasz").write_bytes(data[:cut])
        with pytest.raises(TaszFormatError):
            tascodec.open(tmp_path / "t.tasz")


def test_zip64_locator_beyond_the_file(good, tmp_path):
    data = good.read_bytes()
    pos = len(data) - EOCD.size
    _, _, _, _, n, cd_size, cd_offset, _ = EOCD.unpack(data[pos:])
    loc = struct.pack("<4sLQL", b"PK\x06\x07", 0, (1 << 64) - 1, 1)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, cd_size, cd_offset, 0)
    bad = tmp_path / "loc.tasz"
    bad.write_bytes(data[:pos] + loc + end)
    with pytest.raises(CorruptData, match="ZIP64"):
        tascodec.open(bad)


def test_reads_at_hostile_offsets_return_nothing(good):
    zr = zipio.ZipReader(good)
    try:
        assert zr._pread(30, (1 << 64) - 1) == b"" and zr._pread(30, zr.file_size + 5) == b""
        assert len(zr._pread(1 << 40, zr.file_size - 3)) == 3
    finally:
        zr.close()
