"""Small files that declare big things: open, verify, labels(), info and decode -o answer within
2 s CPU and 256 MB (tracemalloc) before doing anything proportional to the declared sizes (issue 11)."""
from __future__ import annotations

import io
import json
import math
import zipfile

import numcodecs.zstd
import google_crc32c
import numpy as np
import pytest

import tascodec
from tascodec.container import write_container
from tascodec.container.layout import MAX_FRAMES, array_doc
from tascodec.errors import LimitExceeded, TaszFormatError
from helpers import bounded, entries_of, make_content, write_unchecked

_ZEROS: dict[int, bytes] = {}


def zero_chunk(nbytes: int) -> bytes:
    """A chunk entry (zstd frame + crc32c) decoding to ``nbytes`` zero bytes (a few kB at most)."""
    if nbytes not in _ZEROS:
        frame = bytes(numcodecs.zstd.compress(bytes(nbytes), 19))
        _ZEROS[nbytes] = frame + google_crc32c.value(frame).to_bytes(4, "little")
    return _ZEROS[nbytes]


def set_array(e: dict, name: str, shape, dtype: str, rows: int) -> None:
    """Replace array ``name`` by an all-zero one of ``shape`` (chunks of ``rows`` rows)."""
    for k in [k for k in e if k.startswith(name + "/")]:
        del e[k]
    e[f"{name}/zarr.json"] = json.dumps(array_doc(tuple(shape), dtype, rows, 3)).encode()
    itemsize = np.dtype(dtype).itemsize
    chunk = zero_chunk(rows * math.prod(shape[1:]) * itemsize)
    for i in range(-(-shape[0] // rows)):
        e[f"{name}/c/{i}" if len(shape) == 1 else f"{name}/c/{i}/0"] = chunk


def rezip(e: dict, path):
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in e.items():
            zf.writestr(k, v)
    return path


def refused(path, match):
    def go():
        with pytest.raises(TaszFormatError, match=match) as ei:
            tascodec.open(path)
        return ei.value
    return bounded(go)[0]


@pytest.fixture
def good(tmp_path):
    return write_container(make_content(), tmp_path / "good.tasz")


def test_zero_decoder_with_a_million_features(good, tmp_path):
    # D = 2^20, H = 64: w2 alone is 256 MiB float32 (2 GB in the reported case); all zero, a few kB stored
    e = entries_of(good)
    D, H = 1 << 20, 64
    doc = json.loads(e["zarr.json"])
    doc["attributes"]["tasz"]["decoder"].update(feature_dim=D, hidden=H)
    e["zarr.json"] = json.dumps(doc).encode()
    set_array(e, "decoder/w1", (H, 3 + 4 + 1), "float32", H)
    set_array(e, "decoder/b1", (H,), "float32", H)
    set_array(e, "decoder/w2", (D, H), "float32", 1 << 16)
    for k in ("b2", "mean", "std"):
        set_array(e, f"decoder/{k}", (D,), "float32", D)
    p = rezip(e, tmp_path / "zdec.tasz")
    assert p.stat().st_size < 1 << 20
    refused(p, "decoded bytes")


def test_huge_segment_table_in_a_small_file(good, tmp_path):
    e = entries_of(good)
    S = 1 << 26
    for name, dtype in (("segments/label", "int32"), ("segments/length", "int64"), ("segments/instances", "int32")):
        set_array(e, name, (S,), dtype, 1 << 23)
    set_array(e, "segments/row_offset", (S + 1,), "int64", 1 << 23)
    p = rezip(e, tmp_path / "bigS.tasz")
    assert p.stat().st_size < 1 << 20
    refused(p, "decoded bytes|segments")


def test_padding_chunks_count(good, tmp_path):
    # a 3-element array declared with 64 MiB chunks: the padding would be decoded too
    e = entries_of(good)
    set_array(e, "decoder/b2", (5,), "float32", 1 << 24)
    refused(rezip(e, tmp_path / "pad.tasz"), "decoded bytes")


def test_frame_limit_is_what_labels_can_hold(tmp_path):
    assert 8 * MAX_FRAMES <= 128 << 20  # labels() of the longest video: int64, 128 MiB
    c = make_content(videos=("long",), segs_per_video=(1,))
    c.seg_length[0] = 1 << 28
    p = write_unchecked(c, tmp_path / "long.tasz")
    assert p.stat().st_size < 1 << 20
    refused(p, "frame limit")


def test_longest_video_labels_within_bounds(tmp_path):
    c = make_content(kind="repeat", videos=("long",), segs_per_video=(2,), K=1)
    c.seg_length[:] = [MAX_FRAMES // 2, MAX_FRAMES - MAX_FRAMES // 2]
    c.seg_instances[:] = 1
    c.codes = c.codes[:2]
    p = write_container(c, tmp_path / "long.tasz")
    assert p.stat().st_size < 1 << 20

    def go():
        with tascodec.open(p) as r:
            return r.labels("long").shape
    assert bounded(go)[0] == (MAX_FRAMES,)


def test_label_text_is_streamed(tmp_path):
    from tascodec.decode.export import write_labels

    class Sink(io.StringIO):
        n = 0

        def write(self, s):
            Sink.n += len(s)
            return len(s)

    name = "a-rather-long-class-name-" * 8
    bounded(lambda: write_labels(Sink(), [name, "x"], np.array([0, 1]), np.array([MAX_FRAMES, 3])), mb=32)
    assert Sink.n == (len(name) + 1) * MAX_FRAMES + 2 * 3
    out = io.StringIO()
    write_labels(out, ["a", "b c"], np.array([1, 0, 1]), np.array([2, 1, 3]))
    assert out.getvalue() == "b c\nb c\na\nb c\nb c\nb c\n"


def test_random_codes_of_a_huge_width_are_refused_before_generating(tmp_path):
    """A small file with random codes of width 2^16 for 4,000 rows would need ~12 GB to generate them."""
    from tascodec.container import Content, Decoder

    d, C, H, D = 1 << 16, 2, 1, 1
    weights = {"w1": np.zeros((H, d + C + 1), np.float32), "b1": np.zeros(H, np.float32),
               "w2": np.zeros((D, H), np.float32), "b2": np.zeros(D, np.float32),
               "mean": np.zeros(D, np.float32), "std": np.ones(D, np.float32)}
    content = Content(vocab=["a", "b"], videos=["v"], video_segments=np.array([0, 1]),
                      seg_label=np.array([0], np.int32), seg_length=np.array([4000]),
                      seg_instances=np.array([4000], np.int32), decoder=Decoder("mlp", D, d, C, H, weights=weights),
                      random_seed=1, activities=None)
    path = write_container(content, tmp_path / "wide.tasz")
    assert path.stat().st_size < 1 << 20
    err = refused(path, "random codes")
    assert isinstance(err, LimitExceeded)
