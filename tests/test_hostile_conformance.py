"""Spec gaps an independent reader found (issue 11): zstd frames, codec configuration, version
strings, required keys."""
from __future__ import annotations

import json

import google_crc32c
import numcodecs.zstd
import numpy as np
import pytest

import tascodec
from tascodec.container import write_container
from tascodec.errors import CorruptData, InvalidStructure, UnsupportedVersion
from helpers import edit_root, entries_of, make_content, rezip

KEY = "segments/length/c/0"


@pytest.fixture
def good(tmp_path):
    return write_container(make_content(), tmp_path / "good.tasz")


def with_chunk_frame(good, out, fn):
    e = entries_of(good)
    frame = fn(e[KEY][:-4])
    e[KEY] = frame + google_crc32c.value(frame).to_bytes(4, "little")
    return rezip(e, out)


@pytest.mark.parametrize("tail", [
    b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"junk",   # a skippable frame
    bytes(numcodecs.zstd.compress(b"", 3)),                          # an empty second frame
    b"\x00",                                                         # a stray byte
])
def test_one_zstd_frame_per_chunk(good, tmp_path, tail):
    out = with_chunk_frame(good, tmp_path / "t.tasz", lambda f: f + tail)
    with pytest.raises(CorruptData, match="single zstd frame|trailing"):
        tascodec.open(out)


def test_frame_parser_agrees_with_zstd():
    from tascodec.container.chunks import zstd_frame_size

    rng = np.random.default_rng(0)
    for data in (b"", bytes(1000), rng.integers(0, 4, 300_000, dtype=np.uint8).tobytes(),
                 rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()):
        for level in (1, 3, 19):
            frame = bytes(numcodecs.zstd.compress(data, level))
            assert zstd_frame_size(frame) == len(frame)
            assert zstd_frame_size(frame[:-1]) is None


@pytest.mark.parametrize("conf", [{"level": 3}, {"checksum": False}, {}, {"level": 3, "checksum": 0},
                                  {"level": True, "checksum": False}])
def test_zstd_configuration_needs_level_and_checksum(good, tmp_path, conf):
    e = entries_of(good)
    doc = json.loads(e["segments/length/zarr.json"])
    doc["codecs"][1]["configuration"] = conf
    e["segments/length/zarr.json"] = json.dumps(doc).encode()
    with pytest.raises(InvalidStructure, match="codecs"):
        tascodec.open(rezip(e, tmp_path / "c.tasz"))


@pytest.mark.parametrize("version, exc", [
    ("1.0000000001", InvalidStructure), ("01.0", InvalidStructure), ("1.00", InvalidStructure),
    ("\u0661.\u0660", InvalidStructure), ("1.\uff10", InvalidStructure), ("1.0 ", InvalidStructure),
    ("1", InvalidStructure), ("+1.0", InvalidStructure), ("2.0", UnsupportedVersion),
    ("10.0", UnsupportedVersion), ("1" * 5000 + ".0", UnsupportedVersion),
])
def test_version_strings(good, tmp_path, version, exc):
    with pytest.raises(exc):
        tascodec.open(edit_root(good, tmp_path / "v.tasz", lambda t: t.update(version=version)))


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.12345678901", "1.10"])
def test_accepted_versions(good, tmp_path, version):
    with tascodec.open(edit_root(good, tmp_path / "v.tasz", lambda t: t.update(version=version))) as c:
        assert c.metadata["version"] == version


@pytest.mark.parametrize("drop", [lambda t: t.pop("activities"), lambda t: t.pop("provenance"),
                                  lambda t: t["codes"].pop("random_seed")])
def test_required_root_keys(good, tmp_path, drop):
    with pytest.raises(InvalidStructure, match="missing key"):
        tascodec.open(edit_root(good, tmp_path / "k.tasz", drop))
    # writer stays optional
    with tascodec.open(edit_root(good, tmp_path / "w.tasz", lambda t: t.pop("writer"))) as c:
        assert c.metadata["writer"] == {}
