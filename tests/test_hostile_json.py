"""Metadata a reader must refuse, or must survive in every tool: nesting depth, numbers that overflow,
lone surrogates, wrong provenance/writer types, metadata that would cost memory (issue 11)."""
from __future__ import annotations

import zipfile

import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.container import write_container
from tascodec.container.layout import MAX_JSON_DEPTH
from tascodec.errors import InvalidStructure, LimitExceeded, TaszFormatError
from helpers import bounded, edit_root, entries_of, make_content, rezip


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


@pytest.fixture
def good(tmp_path):
    return write_container(make_content(), tmp_path / "good.tasz")


def root_with(good, out, text: bytes):
    """``good`` with its root document replaced by raw bytes."""
    return rezip(dict(entries_of(good), **{"zarr.json": text}), out)


def raw_edit(good, out, old: bytes, new: bytes):
    e = entries_of(good)
    assert old in e["zarr.json"]
    return root_with(good, out, e["zarr.json"].replace(old, new, 1))


def nested(depth: int):
    x = 0
    for _ in range(depth):
        x = [x]
    return x


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 2, 400, 600, 5000])
def test_deep_provenance_is_refused(good, tmp_path, depth):
    # provenance sits at depth 4 (root, attributes, tasz, provenance): deeper than the limit in all
    out = raw_edit(good, tmp_path / "d.tasz", b'"provenance":{',
                   b'"provenance":{"deep":' + b"[" * depth + b"0" + b"]" * depth + b",")
    with pytest.raises(LimitExceeded, match="nested deeper"):
        tascodec.open(out)
    r = run("info", out)
    assert r.exit_code == 1 and "Traceback" not in r.output and r.output.count("\n") == 1


def test_provenance_at_the_depth_limit_works_everywhere(good, tmp_path):
    deep = nested(MAX_JSON_DEPTH - 4)  # provenance (depth 4) + "deep" list: exactly MAX_JSON_DEPTH
    out = edit_root(good, tmp_path / "ok.tasz", lambda t: t["provenance"].update(deep=deep))
    with tascodec.open(out) as c:
        assert c.metadata["provenance"]["deep"] == deep and c.verify() == []
    for args in (("info", out), ("info", "--json", out), ("verify", out), ("decode", out, "-o", tmp_path / "ds"),
                 ("subset", out, "-o", tmp_path / "s.tasz", "--count", "1")):
        r = run(*args)
        assert r.exit_code == 0, (args, r.output)
    with pytest.raises(LimitExceeded, match="nested deeper"):
        write_container(make_content(provenance={"deep": nested(MAX_JSON_DEPTH - 3)}), tmp_path / "w.tasz")


@pytest.mark.parametrize("value", [b'"abc"', b"[1]", b"1e400", b"1" + b"0" * 300, b"-1", b"true", b"1.5"])
def test_bad_split_is_refused(good, tmp_path, value):
    out = raw_edit(good, tmp_path / "s.tasz", b'"provenance":{', b'"provenance": {"split": ' + value + b", ")
    with pytest.raises(InvalidStructure, match="split|finite"):
        tascodec.open(out)


@pytest.mark.parametrize("key, value", [
    ("dataset", 3), ("part", None), ("source_videos", "x"), ("source_frames", -1), ("labels_sha256", "xyz"),
    ("method", ["a"]), ("settings", []), ("losses", {"tca": "low"}), ("losses", {"tca": True}),
    ("tascodec_version", 1), ("created", {}), ("operations", {}), ("operations", [1]),
    ("operations", [{"videos": []}]), ("sample_rate", 0), ("sample_rate", 10**6),
])
def test_provenance_types_are_checked(good, tmp_path, key, value):
    out = edit_root(good, tmp_path / "p.tasz", lambda t: t["provenance"].update({key: value}))
    with pytest.raises(InvalidStructure, match=f"provenance.{key}"):
        tascodec.open(out)


@pytest.mark.parametrize("key, value", [("name", 1), ("version", []), ("created", None)])
def test_writer_types_are_checked(good, tmp_path, key, value):
    out = edit_root(good, tmp_path / "w.tasz", lambda t: t["writer"].update({key: value}))
    with pytest.raises(InvalidStructure, match=f"writer.{key}"):
        tascodec.open(out)
    out = edit_root(good, tmp_path / "w2.tasz", lambda t: t.update(writer="tascodec"))
    with pytest.raises(InvalidStructure, match="writer"):
        tascodec.open(out)


@pytest.mark.parametrize("where", [b'"provenance":{', b'"writer":{'])
def test_lone_surrogates_are_refused(good, tmp_path, where):
    for s in (b'"\\ud800"', b'"a\\uDFFFb"'):
        out = raw_edit(good, tmp_path / "u.tasz", where, where + b'"x": ' + s + b", ")
        with pytest.raises(InvalidStructure, match="surrogate"):
            tascodec.open(out)
    out = raw_edit(good, tmp_path / "k.tasz", where, where + b'"\\ud83d": 1, ')
    with pytest.raises(InvalidStructure, match="surrogate"):
        tascodec.open(out)
    # a pair is one character: fine
    with tascodec.open(raw_edit(good, tmp_path / "p.tasz", where, where + b'"x": "\\ud83d\\ude00", ')):
        pass


def test_writer_refuses_lone_surrogates(tmp_path):
    with pytest.raises(InvalidStructure, match="surrogate"):
        write_container(make_content(provenance={"note": "\ud800"}), tmp_path / "a.tasz")
    assert not (tmp_path / "a.tasz").exists()


@pytest.mark.parametrize("number", [b"1e999", b"-1e400", b"1E+309"])
def test_overflowing_numbers_are_refused(good, tmp_path, number):
    out = raw_edit(good, tmp_path / "n.tasz", b'"provenance":{', b'"provenance": {"x": ' + number + b", ")
    with pytest.raises(InvalidStructure, match="finite"):
        tascodec.open(out)


def test_many_small_values_are_refused_before_parsing(good, tmp_path):
    # a ~3 MB root of empty objects: parsed, it would take ~100x its size
    doc = b'{"zarr_format":3,"node_type":"group","attributes":{"tasz":{"format":"tasz","version":"1.0","x":[' + \
        b",".join([b"{}"] * 1_100_000) + b"]}}}"
    out = root_with(good, tmp_path / "m.tasz", doc)

    def go():
        with pytest.raises(LimitExceeded, match="zarr.json"):
            tascodec.open(out)
    _, _, peak = bounded(go, seconds=1.0, mb=64)


def test_root_metadata_size_limit(good, tmp_path):
    from tascodec.container.layout import MAX_ROOT_META

    assert MAX_ROOT_META <= 16 << 20
    e = entries_of(good)
    big = e["zarr.json"].replace(b'"provenance":{', b'"provenance": {"pad": "' + b"a" * MAX_ROOT_META + b'", ')
    out = tmp_path / "big.tasz"
    with zipfile.ZipFile(out, "w") as zf:
        for k, v in dict(e, **{"zarr.json": big}).items():
            zf.writestr(k, v)
    with pytest.raises(LimitExceeded, match="zarr.json"):
        bounded(lambda: tascodec.open(out), seconds=1.0, mb=64)


def test_errors_are_format_errors(good, tmp_path):
    for text in (b"[" * 100000, b'{"a":' * 2000 + b"1" + b"}" * 2000):
        with pytest.raises(TaszFormatError):
            tascodec.open(root_with(good, tmp_path / "e.tasz", text))


def test_sample_rate_from_settings_is_bounded():
    from tascodec.container.summary import sample_rate_of

    assert sample_rate_of({"settings": {"sample_rate": 2}}) == 2
    assert sample_rate_of({"settings": {"sample_rate": 10**12}}) == 1  # an old file's free-form settings


def test_dataset_reader_refuses_what_the_writer_would(tmp_path):
    from tascodec.container.meta import MAX_SAMPLE_RATE, MAX_SPLIT
    from tascodec.data.layout import read_dataset
    from tascodec.errors import DatasetError

    (tmp_path / "features").mkdir()
    with pytest.raises(DatasetError, match="sample rate"):
        read_dataset(tmp_path, sample_rate=MAX_SAMPLE_RATE + 1)
    for split in (-1, MAX_SPLIT + 1):
        with pytest.raises(DatasetError, match="split"):
            read_dataset(tmp_path, split=split)


def test_dataset_reader_refuses_videos_longer_than_the_frame_limit(tmp_path, monkeypatch):
    from tascodec.data import layout as data_layout
    from tascodec.data.layout import read_dataset
    from tascodec.errors import DatasetError

    (tmp_path / "groundTruth").mkdir()
    (tmp_path / "splits").mkdir()
    (tmp_path / "mapping.txt").write_text("0 background\n1 act\n")
    (tmp_path / "groundTruth" / "v.txt").write_text("act\n" * 11)
    (tmp_path / "splits" / "train.split1.bundle").write_text("v.txt\n")
    monkeypatch.setattr(data_layout, "MAX_FRAMES", 10)
    with pytest.raises(DatasetError, match="11 frames exceed"):
        read_dataset(tmp_path, require_features=False)
    assert read_dataset(tmp_path, require_features=False, sample_rate=2).num_frames("v") == 6
