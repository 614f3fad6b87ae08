"""The .tasz v1 container: round trips, every validation rule, atomic writes, fork and torch-free use."""
from __future__ import annotations

import json
import multiprocessing
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tascodec
from tascodec.container import Content, open_container, verify_file, write_container
from tascodec.container import meta as meta_mod
from tascodec.container import reader as reader_mod
from tascodec.container import writer as writer_mod
from tascodec.container.chunks import encode_chunk
from tascodec.container.layout import ArraySpec
from tascodec.errors import (CorruptData, InvalidStructure, LimitExceeded, NotATaszFile, OutputExistsError,
                             TaszFormatError, UnknownVideo, UnsupportedVersion, UsageError)
from helpers import (assert_same_content, edit_root, entries_of, make_content, reference_frames, rezip,
                     write_unchecked)


# --- building content ----------------------------------------------------------------------
def check_roundtrip(c: Content, path: Path) -> None:
    write_container(c, path, force=True)
    with tascodec.open(path) as r:
        assert_same_content(c, r.content())
        assert r.videos == c.videos and r.num_videos == len(c.videos)
        assert r.decoder_sha256 == c.decoder.sha256()
        for v, name in enumerate(c.videos):
            a, b = int(c.video_segments[v]), int(c.video_segments[v + 1])
            lab, lng, ins = r.segments(name)
            assert np.array_equal(lab, c.seg_label[a:b]) and np.array_equal(ins, c.seg_instances[a:b])
            assert r.num_frames(name) == int(lng.sum())
            assert np.array_equal(r.labels(v), np.repeat(c.seg_label[a:b], c.seg_length[a:b]))
            x = r.decode(name)
            assert x.dtype == np.float32 and x.shape == (int(lng.sum()), c.decoder.feature_dim)
            np.testing.assert_allclose(x, reference_frames(c, v), rtol=1e-5, atol=1e-5)
        assert r.verify() == []


# --- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("opts", [
    dict(codes_dtype="float32"), dict(codes_dtype="float16"), dict(codes_dtype="int8"),
    dict(random=True), dict(random=True, random_seed=(1 << 64) - 1), dict(kind="repeat"),
    dict(kind="repeat", codes_dtype="int8"), dict(weights_dtype="float16"),
    dict(videos=(), segs_per_video=()), dict(videos=("only",), segs_per_video=(0,)),
    dict(videos=("vidéo ü", "日本語", "a b.c"), activities=["act", None, "ä"],
         vocab=["背景", "pour milk", "x", "y"]),
])
def test_roundtrip_cases(tmp_path, opts):
    check_roundtrip(make_content(**opts), tmp_path / "a.tasz")


_name = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                min_size=1, max_size=12).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=6), ch, max_size=3),
                     max_leaves=8)


_TYPED = set(meta_mod._PROVENANCE_TYPES)  # provenance keys with a type (free-form values go elsewhere)


@st.composite
def contents(draw):
    V = draw(st.integers(0, 4))
    videos = draw(st.lists(_name, min_size=V, max_size=V, unique=True))
    C = draw(st.integers(1, 5))
    vocab = draw(st.lists(_name, min_size=C, max_size=C, unique=True))
    kind = draw(st.sampled_from(["mlp", "repeat"]))
    source = draw(st.sampled_from(["float32", "float16", "int8", "random"]))
    c = make_content(draw(st.integers(0, 2**32)), kind=kind, codes_dtype="float32" if source == "random" else source,
                     random=source == "random", weights_dtype=draw(st.sampled_from(["float32", "float16"])),
                     videos=videos, segs_per_video=draw(st.lists(st.integers(0, 4), min_size=V, max_size=V)),
                     K=draw(st.integers(1, 4)), D=draw(st.integers(1, 6)), d=draw(st.integers(1, 4)), C=C,
                     H=draw(st.integers(1, 5)), vocab=vocab,
                     activities=draw(st.none() | st.lists(st.none() | _name, min_size=V, max_size=V)),
                     provenance=draw(st.dictionaries(st.text(max_size=6).filter(lambda k: k not in _TYPED), _json,
                                                     max_size=4)),
                     random_seed=draw(st.integers(0, 2**64 - 1)))
    c.background = draw(st.lists(st.sampled_from(vocab), unique=True, max_size=C))
    return c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents())
def test_roundtrip_hypothesis(c):
    with tempfile.TemporaryDirectory() as d:
        check_roundtrip(c, Path(d) / "h.tasz")


def test_zarr_reads_it(tmp_path):
    import zarr

    c = make_content(codes_dtype="int8")
    p = write_container(c, tmp_path / "z.tasz")
    g = zarr.open_group(zarr.storage.ZipStore(p, mode="r"), mode="r")
    assert g.attrs["tasz"]["format"] == "tasz"
    assert np.array_equal(g["codes/values"][:], c.codes) and np.array_equal(g["codes/scale"][:], c.code_scale)
    assert np.array_equal(g["segments/length"][:], c.seg_length)
    assert np.array_equal(g["decoder/w1"][:], c.decoder.weights["w1"])


def test_writer_is_deterministic(tmp_path):
    c = make_content(codes_dtype="float16")
    a = write_container(c, tmp_path / "a.tasz", created="2000-01-01T00:00:00Z").read_bytes()
    b = write_container(c, tmp_path / "b.tasz", created="2000-01-01T00:00:00Z").read_bytes()
    assert a == b
    with zipfile.ZipFile(tmp_path / "a.tasz") as zf:
        infos = zf.infolist()
    assert infos[0].filename == "zarr.json" and all(i.compress_type == zipfile.ZIP_STORED for i in infos)


def test_large_codes_are_chunked_by_rows(tmp_path):
    c = make_content(videos=[f"v{i}" for i in range(40)], segs_per_video=[30] * 40, K=8, d=256,
                     codes_dtype="float32")
    p = write_container(c, tmp_path / "big.tasz")
    with zipfile.ZipFile(p) as zf:
        chunks = [n for n in zf.namelist() if n.startswith("codes/values/c/")]
    assert len(chunks) > 1
    with open_container(p) as r:
        for v in (0, 17, 39):
            np.testing.assert_array_equal(r.codes(v), expected_codes(c, v))


def expected_codes(c: Content, v: int) -> np.ndarray:
    ro = c.row_offsets()
    a, b = int(c.video_segments[v]), int(c.video_segments[v + 1])
    return c.codes[ro[a]:ro[b]].astype(np.float32)


# --- the reader's API ----------------------------------------------------------------------
def test_api(tmp_path):
    c = make_content(codes_dtype="int8", activities=["a", None, "b"])
    p = write_container(c, tmp_path / "a.tasz", created="2001-02-03T04:05:06Z")
    with tascodec.open(p) as r:
        assert r.path == p and len(r) == 3 and list(r) == c.videos and "v2" in r
        assert r.vocab == c.vocab and r.background == ["c0"] and r.activity("v3") == "b" and r.activity(1) is None
        assert r.codes_dtype == "int8" and r.codes_source == "stored" and r.random_seed is None
        assert r.decoder.weights_dtype == "float32"
        md = r.metadata
        assert md["version"] == "1.1" and md["writer"]["created"] == "2001-02-03T04:05:06Z"
        assert md["provenance"] == c.provenance and md["codes"]["dtype"] == "int8"
        assert r.total_frames == int(c.seg_length.sum()) and r.num_segments == 6 and r.num_rows == c.num_rows
        assert r.raw_feature_bytes == 4 * 5 * r.total_frames
        parts = r.nbytes_by_part()
        assert parts["total"] == p.stat().st_size
        assert sum(v for k, v in parts.items() if k != "total") == parts["total"]
        assert min(parts[k] for k in ("decoder", "codes", "tables", "metadata", "zip")) > 0
        assert r.num_frames("v2") == 0 and r.decode("v2").shape == (0, 5) and r.labels("v2").shape == (0,)
        blocks = list(r.iter_decode("v3", chunk_frames=4))
        assert all(len(b) <= 4 for b in blocks)
        np.testing.assert_allclose(np.concatenate(blocks), r.decode("v3"), rtol=1e-5, atol=1e-5)
        with pytest.raises(UnknownVideo, match="close matches: v1") as ei:
            r.decode("v1x")
        assert isinstance(ei.value, KeyError) and str(ei.value).startswith(f"{p}: no video 'v1x'")
        with pytest.raises(KeyError, match="out of range"):
            r.num_frames(3)
        again = pickle.loads(pickle.dumps(r))
        assert type(again) is type(r) and again.videos == r.videos
        np.testing.assert_array_equal(again.decode("v3"), r.decode("v3"))
        again.close()
    with pytest.raises(UsageError, match="closed"):
        r.codes("v1")


def test_decoder_float16_weights_are_exposed_as_float32(tmp_path):
    c = make_content(weights_dtype="float16")
    with open_container(write_container(c, tmp_path / "a.tasz")) as r:
        assert r.decoder.weights["w1"].dtype == np.float32 and r.decoder.weights_dtype == "float32"
        assert r.content().decoder.weights["w1"].dtype == np.float16
        assert r.decoder_sha256 == c.decoder.sha256() == r.metadata["decoder"]["sha256"]


# --- writing -------------------------------------------------------------------------------
def test_overwrite_refused_unless_forced(tmp_path):
    p = tmp_path / "a.tasz"
    write_container(make_content(), p)
    with pytest.raises(OutputExistsError):
        write_container(make_content(seed=1), p)
    write_container(make_content(seed=1), p, force=True)
    with open_container(p) as r:
        assert_same_content(make_content(seed=1), r.content())


def test_crash_mid_write_leaves_nothing(tmp_path):
    calls = []

    def boom(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return encode_chunk(*a, **k)

    with mock.patch.object(writer_mod, "encode_chunk", boom), pytest.raises(RuntimeError):
        write_container(make_content(), tmp_path / "a.tasz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("edit, match", [
    (lambda c: setattr(c, "videos", ["v1", "v1", "v3"]), "duplicate"),
    (lambda c: setattr(c, "videos", ["v1", "../x", "v3"]), "safe file name"),
    (lambda c: setattr(c, "videos", ["v1", "", "v3"]), "empty"),
    (lambda c: setattr(c, "videos", ["v1", "a\nb", "v3"]), "control"),
    (lambda c: setattr(c, "vocab", ["c0", "c1", "c2"]), "num_classes"),
    (lambda c: setattr(c, "background", ["nope"]), "not in the vocab"),
    (lambda c: c.seg_label.__setitem__(0, 4), "label 4"),
    (lambda c: c.seg_instances.__setitem__(0, 0), "instances"),
    (lambda c: c.seg_length.__setitem__(0, 0), "length 0"),
    (lambda c: setattr(c, "video_segments", np.array([0, 3, 2, 6])), "offsets"),
    (lambda c: setattr(c, "codes", c.codes.astype(np.float64)), "quantize"),
    (lambda c: c.codes.__setitem__((0, 0), np.nan), "non-finite"),
    (lambda c: c.decoder.weights["w2"].__setitem__((0, 0), np.inf), "non-finite"),
    (lambda c: c.decoder.weights.pop("b2"), "weights"),
    (lambda c: setattr(c, "provenance", {"loss": float("nan")}), "strict JSON"),
    (lambda c: setattr(c, "provenance", {1: "x"}), "not a string"),
    (lambda c: setattr(c, "activities", ["a"]), "one entry per video"),
    (lambda c: setattr(c, "random_seed", 3), "random_seed"),
])
def test_invalid_content_is_never_written(tmp_path, edit, match):
    c = make_content()
    edit(c)
    with pytest.raises(InvalidStructure, match=match):
        write_container(c, tmp_path / "a.tasz")
    assert list(tmp_path.iterdir()) == []


def test_provenance_numpy_scalars_become_json(tmp_path):
    c = make_content(provenance={"loss": np.float32(0.5), "K": np.int64(3), "bg": ("a", "b")})
    with open_container(write_container(c, tmp_path / "a.tasz")) as r:
        assert r.metadata["provenance"] == {"loss": 0.5, "K": 3, "bg": ["a", "b"]}


# --- hostile and broken files --------------------------------------------------------------
@pytest.fixture
def good(tmp_path) -> Path:
    return write_container(make_content(codes_dtype="int8"), tmp_path / "good.tasz")


def test_not_a_tasz(tmp_path):
    for data in (b"", b"hello world", b"\x89PNG\r\n\x1a\n" + bytes(100)):
        (tmp_path / "x").write_bytes(data)
        with pytest.raises(NotATaszFile):
            open_container(tmp_path / "x")
    with pytest.raises(NotATaszFile):
        open_container(rezip({"a.txt": b"hi"}, tmp_path / "y.zip"))
    with pytest.raises(NotATaszFile):
        open_container(rezip({"zarr.json": b'{"zarr_format":3,"node_type":"group","attributes":{}}'},
                             tmp_path / "z.zip"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_container(tmp_path / "missing.tasz")
    with pytest.raises(UsageError):
        open_container(tmp_path)


def test_versions(good, tmp_path):
    def future(t):
        t["version"] = "1.9"
        t["shiny_new_key"] = {"x": 1}
        t["provenance"]["unknown"] = [1, 2]
        t["writer"]["extra"] = True

    with tascodec.open(good) as a, tascodec.open(edit_root(good, tmp_path / "m.tasz", future)) as b:
        for v in a.videos:
            np.testing.assert_array_equal(a.decode(v), b.decode(v))
    with pytest.raises(UnsupportedVersion, match="2.0"):
        open_container(edit_root(good, tmp_path / "v2.tasz", lambda t: t.update(version="2.0")))
    with pytest.raises(InvalidStructure, match="MAJOR.MINOR"):
        open_container(edit_root(good, tmp_path / "v.tasz", lambda t: t.update(version="one")))


@pytest.mark.parametrize("fn, exc, match", [
    (lambda t: t.pop("vocab"), InvalidStructure, "vocab"),
    (lambda t: t.update(videos=["a", "b"]), InvalidStructure, "shape"),
    (lambda t: t["decoder"].update(kind="transformer"), InvalidStructure, "kind"),
    (lambda t: t["decoder"].update(feature_dim=True), InvalidStructure, "wrong type"),
    (lambda t: t["decoder"].update(hidden=2**30), LimitExceeded, "hidden"),
    (lambda t: t["decoder"].update(sha256="0" * 64), CorruptData, "sha256"),
    (lambda t: t["codes"].update(dtype="float16"), InvalidStructure, "data_type"),
    (lambda t: t["codes"].update(dtype="bfloat16"), InvalidStructure, "codes.dtype"),
    (lambda t: t["codes"].update(source="random", random_seed=1, dtype="float32"), InvalidStructure, "random"),
    (lambda t: t["codes"].update(width=4), InvalidStructure, "width"),
    (lambda t: t.update(videos=["v1", "v2", "/etc/passwd"]), InvalidStructure, "safe file name"),
    (lambda t: t.update(videos=["v1", "v1", "v3"]), InvalidStructure, "duplicate"),
    (lambda t: t.update(activities=["a"]), InvalidStructure, "activities"),
    (lambda t: t.update(background=["zz"]), InvalidStructure, "background"),
    (lambda t: t.update(vocab=["c0", "c1", "c2"]), InvalidStructure, "num_classes"),
])
def test_bad_metadata(good, tmp_path, fn, exc, match):
    with pytest.raises(exc, match=match):
        open_container(edit_root(good, tmp_path / "b.tasz", fn))


def test_bad_json(good, tmp_path):
    e = entries_of(good)
    for bad in (b'{"a": NaN}', b'{"a": 1, "a": 2}', b"\xff\xfe", b"[" * 100000, b'{"zarr_format": 3'):
        e2 = dict(e, **{"segments/label/zarr.json": bad})
        with pytest.raises((InvalidStructure, LimitExceeded)):  # "[" * 100000: nested too deep
            open_container(rezip(e2, tmp_path / "j.tasz"))


def test_zip_rules(good, tmp_path):
    e = entries_of(good)
    with pytest.raises(InvalidStructure, match="compressed"):
        open_container(rezip(e, tmp_path / "d.tasz", zipfile.ZIP_DEFLATED))
    with pytest.raises(InvalidStructure, match="confined"):
        open_container(rezip(dict(e, **{"../evil": b"x"}), tmp_path / "t.tasz"))
    with pytest.raises(InvalidStructure, match="confined"):
        open_container(rezip(dict(e, **{"/abs": b"x"}), tmp_path / "a.tasz"))
    with pytest.warns(UserWarning), zipfile.ZipFile(tmp_path / "dup.tasz", "w") as zf:
        for k, v in e.items():
            zf.writestr(k, v)
        zf.writestr("zarr.json", e["zarr.json"])
    with pytest.raises(InvalidStructure, match="twice"):
        open_container(tmp_path / "dup.tasz")
    with pytest.raises(InvalidStructure, match="missing"):
        open_container(rezip({k: v for k, v in e.items() if k != "segments/length/c/0"}, tmp_path / "m.tasz"))
    # unknown entries are ignored (forward compatible)
    with open_container(rezip(dict(e, **{"extra/thing.bin": b"\x00" * 10}), tmp_path / "x.tasz")) as r:
        assert r.nbytes_by_part()["other"] == 10 and r.verify() == []


def test_limits(good, tmp_path):
    with mock.patch.object(reader_mod, "MAX_ROOT_META", 100), pytest.raises(LimitExceeded, match="zarr.json"):
        open_container(good)
    e = entries_of(good)
    doc = json.loads(e["codes/values/zarr.json"])
    doc["chunk_grid"]["configuration"]["chunk_shape"] = [2**30, 3]
    with pytest.raises(LimitExceeded, match="chunks|decoded bytes"):
        open_container(rezip(dict(e, **{"codes/values/zarr.json": json.dumps(doc).encode()}), tmp_path / "l.tasz"))


def test_huge_declared_tables_are_refused_before_reading(good, tmp_path):
    e = entries_of(good)
    doc = json.loads(e["segments/label/zarr.json"])
    doc["shape"] = [2**27]
    doc["chunk_grid"]["configuration"]["chunk_shape"] = [2**23]  # 16 chunks of 32 MiB: within the chunk limits
    with pytest.raises(LimitExceeded, match="segments exceed"):
        open_container(rezip(dict(e, **{"segments/label/zarr.json": json.dumps(doc).encode()}), tmp_path / "h.tasz"))


def test_chunk_checksums(good, tmp_path):
    e = entries_of(good)
    key = "segments/length/c/0"
    flipped = bytearray(e[key])
    flipped[-6] ^= 1  # inside the zstd frame; zip CRC recomputed by rezip
    with pytest.raises(CorruptData, match="crc32c"):
        open_container(rezip(dict(e, **{key: bytes(flipped)}), tmp_path / "c.tasz"))
    spec = ArraySpec("segments/length", (3,), "int64", 3)  # wrong chunk size, correct checksum
    with pytest.raises(CorruptData, match="declares"):
        open_container(rezip(dict(e, **{key: encode_chunk(np.ones(3, np.int64), spec, 3)}), tmp_path / "s.tasz"))


@pytest.mark.parametrize("edit, kw, match", [
    (lambda c: c.seg_label.__setitem__(2, -1), {}, "label -1"),
    (lambda c: c.seg_instances.__setitem__(1, 99), {}, "instances"),
    (lambda c: c.seg_length.__setitem__(1, 0), {}, "length 0"),
    (lambda c: setattr(c, "video_segments", np.array([0, 4, 2, 6])), {}, "offsets"),
    (lambda c: setattr(c, "video_segments", np.array([1, 2, 2, 6])), {}, "offsets"),
    (lambda c: None, {"num_frames": np.array([1, 2, 3])}, "num_frames"),
    (lambda c: None, {"row_offset": np.arange(7)}, "row_offset"),
    (lambda c: c.seg_length.__setitem__(1, 2**40), {}, "frame limit"),
])
def test_bad_tables(tmp_path, edit, kw, match):
    c = make_content()
    edit(c)
    with pytest.raises(TaszFormatError, match=match):
        open_container(write_unchecked(c, tmp_path / "t.tasz", **kw))


def test_bad_codes_refused_on_open_found_on_read_and_verify(tmp_path):
    c = make_content()
    c.codes[-1, 0] = np.nan  # last video's rows
    p = write_unchecked(c, tmp_path / "nan.tasz")
    with pytest.raises(InvalidStructure, match="non-finite") as e:  # a file verify rejects never opens
        open_container(p)
    assert str(p) in str(e.value) and isinstance(e.value, TaszFormatError)
    with pytest.raises(InvalidStructure, match="non-finite"):
        tascodec.open(p)
    with open_container(p, check="metadata") as r:  # tables and decoder are fine: the codes fail on read
        assert r.labels("v3").size
        with pytest.raises(InvalidStructure, match="non-finite"):
            r.codes("v3")
        problems = r.verify()
    assert len(problems) == 1 and "non-finite" in problems[0] and str(p) in problems[0]
    assert verify_file(p) == problems
    c = make_content(codes_dtype="int8")
    c.codes[0, 0] = -128
    with pytest.raises(InvalidStructure, match="-128"):
        open_container(write_unchecked(c, tmp_path / "i8.tasz"))
    with open_container(tmp_path / "i8.tasz", check="metadata") as r, pytest.raises(InvalidStructure, match="-128"):
        r.codes(0)
    assert verify_file(tmp_path / "i8.tasz") and verify_file(tmp_path / "nope.tasz")
    with pytest.raises(UsageError, match="check"):
        open_container(p, check="none")


def test_unreadable_extra_entry_refused_on_open(tmp_path):
    """An entry outside the arrays (unknown to this reader) that fails its CRC also keeps the file closed."""
    p = write_container(make_content(), tmp_path / "a.tasz")
    with zipfile.ZipFile(p, "a", compression=zipfile.ZIP_STORED) as z:
        z.writestr("extra/notes.txt", b"hello world, this entry is ours")
    data = bytearray(p.read_bytes())
    i = data.index(b"hello world")
    data[i] ^= 0xFF
    bad = tmp_path / "bad.tasz"
    bad.write_bytes(bytes(data))
    assert verify_file(bad)
    with pytest.raises(TaszFormatError, match="extra/notes.txt"):
        open_container(bad)
    with open_container(bad, check="metadata") as r:
        assert r.num_videos


def test_random_codes_must_not_store_values(tmp_path):
    c = make_content()
    p = write_container(c, tmp_path / "a.tasz")
    out = edit_root(p, tmp_path / "b.tasz", lambda t: t["codes"].update(source="random", random_seed=3))
    with pytest.raises(InvalidStructure, match="codes/values is present"):
        open_container(out)


# --- processes -----------------------------------------------------------------------------
_SHARED = None


def _child_sum(i: int) -> float:
    r = _SHARED
    return float(sum(float(np.float64(r.decode(v).sum())) + float(r.codes(v).sum()) for v in r.videos))


def test_fork_children_read_correctly(tmp_path, monkeypatch):
    """Parent and forked children read the same open container at once (a shared file position
    would corrupt reads: with the chunk cache off, every read goes to the file)."""
    global _SHARED
    monkeypatch.setattr(reader_mod, "_CACHE_CHUNKS", 0)
    c = make_content(videos=[f"v{i}" for i in range(12)], segs_per_video=[3] * 12, d=64, codes_dtype="float16")
    _SHARED = r = tascodec.open(write_container(c, tmp_path / "f.tasz"))
    try:
        expected = _child_sum(0)  # fills the parent's chunk cache and leaves its state behind
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            pending = pool.map_async(_child_sum, range(8))
            for _ in range(20):  # the parent keeps reading while the children do
                assert _child_sum(0) == expected
            assert pending.get(timeout=60) == [expected] * 8
    finally:
        _SHARED = None
        r.close()


def test_reader_works_without_torch(tmp_path):
    p = write_container(make_content(codes_dtype="int8"), tmp_path / "nt.tasz")
    code = ("import sys; sys.modules['torch'] = None\n"
            "import tascodec\n"
            f"c = tascodec.open({str(p)!r})\n"
            "x = [c.decode(v) for v in c.videos]\n"
            "assert c.verify() == []\n"
            "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
            "print(sum(a.shape[0] for a in x))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == int(make_content(codes_dtype="int8").seg_length.sum())


def test_scale_only_with_int8_codes(tmp_path):
    f32 = entries_of(write_container(make_content(codes_dtype="float32"), tmp_path / "f.tasz"))
    i8 = entries_of(write_container(make_content(codes_dtype="int8"), tmp_path / "i.tasz"))
    mixed = dict(f32, **{k: v for k, v in i8.items() if k.startswith("codes/scale/")})
    with pytest.raises(InvalidStructure, match="codes/scale is present"):
        open_container(rezip(mixed, tmp_path / "m.tasz"))
