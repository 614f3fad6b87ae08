"""`tasz decode`: one video to an MS-TCN .npy, or the whole container to an MS-TCN dataset folder."""
from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.data.layout import read_dataset
from tascodec.decode import export
from tascodec.errors import UsageError
from helpers import write_test_container


def run(*args):
    return CliRunner().invoke(cli, ["decode", *map(str, args)])


@pytest.fixture()
def tasz(tmp_path):
    return write_test_container(tmp_path / "x.tasz", split=2)


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_one_video_is_an_mstcn_feature_file(tasz, tmp_path):
    out = tmp_path / "b.npy"
    r = run(tasz, "--video", "b_2", "-o", out)
    assert r.exit_code == 0, r.output
    with tascodec.open(tasz) as c:
        want = c.decode("b_2")
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == want.T.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, want.T, rtol=0, atol=1e-6)
    assert out.read_bytes() == npy_bytes(got)  # byte for byte what np.save writes for a (D, T) array


def test_write_features_streams_blocks_like_np_save(tmp_path):
    x = np.random.default_rng(0).standard_normal((23, 5)).astype(np.float32)  # (T, D)
    export.write_features([x[:10], x[10:11], x[11:]], 23, 5, tmp_path / "f.npy")
    assert (tmp_path / "f.npy").read_bytes() == npy_bytes(np.ascontiguousarray(x.T))
    export.write_features([], 0, 5, tmp_path / "e.npy")
    assert (tmp_path / "e.npy").read_bytes() == npy_bytes(np.zeros((5, 0), np.float32))


def test_default_name_and_force(tasz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(tasz, "--video", "a").exit_code == 0
    first = (tmp_path / "a.npy").read_bytes()
    r = run(tasz, "--video", "a")
    assert r.exit_code == 1 and "already exists" in r.stderr and "--force" in r.stderr
    assert run(tasz, "--video", "a", "-f").exit_code == 0
    assert (tmp_path / "a.npy").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "x.tasz"]  # no temp files left


def test_unknown_video_lists_close_matches(tasz):
    r = run(tasz, "--video", "b2")
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tasz: error:") and "b_2" in lines[0]


def test_usage_errors_are_one_line(tasz, tmp_path):
    for args in ([tasz], [tasz, "--video", "a", "--device", "nonsense"], [tmp_path / "missing.tasz", "-o", tmp_path / "d"]):
        r = run(*args)
        assert r.exit_code != 0 and "Traceback" not in r.output + r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_dataset_layout_reads_back(tasz, tmp_path):
    out = tmp_path / "restored"
    r = run(tasz, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [".tasz-output.json", "features", "groundTruth", "mapping.txt",
                                                     "splits"]  # the manifest marks it as written by tascodec
    assert [p.name for p in (out / "splits").iterdir()] == ["train.split2.bundle"]
    ds = read_dataset(out, split=2)
    with tascodec.open(tasz) as c:
        assert ds.vocab == c.vocab and ds.videos == c.videos and ds.feature_dim == c.decoder.feature_dim
        for v in c.videos:
            np.testing.assert_array_equal(ds.labels(v), c.labels(v))
            np.testing.assert_allclose(ds.features(v), c.decode(v), rtol=0, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the temp folder is gone


def test_dataset_folder_is_never_half_written(tasz, tmp_path, monkeypatch):
    out = tmp_path / "restored"
    calls = []
    real = export.write_features

    def failing(blocks, *args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(blocks, *args)

    monkeypatch.setattr(export, "write_features", failing)
    with pytest.raises(OSError), tascodec.open(tasz) as c:
        export.export_dataset(c, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tasz"]


def test_existing_folder_needs_force(tasz, tmp_path):
    out = tmp_path / "restored"
    out.mkdir()  # an empty folder is fine
    assert run(tasz, "-o", out).exit_code == 0
    r = run(tasz, "-o", out)
    assert r.exit_code == 1 and "already exists" in r.stderr
    (out / "mapping.txt").write_text("stale")
    assert run(tasz, "-o", out, "-f").exit_code == 0
    assert (out / "mapping.txt").read_text().startswith("0 background")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restored", "x.tasz"]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "a\\b", "a\0b", "/abs", ""])
def test_unsafe_video_names_are_refused(name):
    with pytest.raises(UsageError):
        export.check_video_name(name)


def test_names_never_escape_the_folder(tasz, tmp_path):
    class Evil:
        """A container whose video list was tampered with after validation."""

        def __init__(self, c):
            self._c = c

        def __getattr__(self, k):
            return getattr(self._c, k)

        videos = ["a", "../escape"]

    with tascodec.open(tasz) as c, pytest.raises(UsageError, match="escape"):
        export.export_dataset(Evil(c), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tasz"]


def test_class_names_with_spaces_are_refused(tmp_path):
    tasz = write_test_container(tmp_path / "s.tasz", vocab=["background", "pour milk", "a", "b", "c"])
    r = run(tasz, "-o", tmp_path / "out")
    assert r.exit_code == 1 and "'pour milk'" in r.stderr and not (tmp_path / "out").exists()
