"""Real-world feature files (issue 11): Fortran order, read-only files, float16/float64, transposed.

Each layout goes through the whole pipeline: the dataset reader, ``encode`` (default method and
``mean``) and ``tasz eval``. The reference is the same dataset written C-order float32.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.data.layout import read_dataset
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.errors import DatasetError, DatasetWarning, FrameCountMismatch

TINY = dict(method="inversion", epochs=1, iters=5, batch_size=64, hidden=16, latent_dim=4, progress=False)
TINY_CLI = ["--epochs", "1", "--iters", "5", "--batch-size", "64", "--hidden", "16", "--latent-dim", "4"]
EVAL = ["--epochs", "1", "--stages", "1", "--layers", "2", "--channels", "8", "-q"]
LAYOUTS = ["F", "readonly", "F-readonly", "float16", "float64"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def reference(root):
    return synthesize(root / "C", like="gtea", videos=5, dim=16, length_scale=0.1, seed=3)


def _make(root: Path, reference: Path, layout: str) -> Path:
    out = root / layout
    if out.exists():
        return out
    if layout.startswith("F"):
        synthesize(out, like="gtea", videos=5, dim=16, length_scale=0.1, seed=3, order="F")
    else:
        shutil.copytree(reference, out)
    for p in (out / "features").glob("*.npy"):
        if layout.startswith("float"):
            np.save(p, np.load(p).astype(layout))
        if layout.endswith("readonly"):
            p.chmod(0o444)
    return out


@pytest.fixture(scope="module", params=LAYOUTS)
def variant(request, root, reference):
    return request.param, _make(root, reference, request.param)


def _expected(reference: Path, layout: str, video: str) -> np.ndarray:
    x = read_dataset(reference).features(video)
    return x.astype(np.float16).astype(np.float32) if layout == "float16" else x


def test_features_are_fresh_float32_c_arrays(variant, reference):
    layout, path = variant
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        ds = read_dataset(path)
    for v in ds.videos:
        x = ds.features(v)
        assert x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable and x.flags.owndata
        assert x.shape == (ds.num_frames(v), 16)
        np.testing.assert_allclose(x, _expected(reference, layout, v), rtol=0, atol=0)
        x[:] = 0  # callers may standardise in place; the next read is unaffected
        assert np.abs(ds.features(v)).max() > 0


def test_conversion_is_said_once_per_read(variant):
    layout, path = variant
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_dataset(path)
    said = [w for w in caught if issubclass(w.category, DatasetWarning)]
    if layout.startswith("float"):
        assert len(said) == 1, [str(w.message) for w in said]
        msg = str(said[0].message)
        assert layout in msg and "float32" in msg and "features" in msg and "\n" not in msg
    else:
        assert said == []


@pytest.mark.filterwarnings("ignore::tascodec.errors.DatasetWarning")
@pytest.mark.parametrize("method", ["inversion", "mean"])
def test_encode_matches_the_c_order_float32_encode(variant, reference, root, method):
    layout, path = variant
    want = root / f"ref-{method}.tasz"
    if not want.exists():
        pipeline.encode(reference, want, **{**TINY, "method": method})
    got = pipeline.encode(path, root / f"{layout}-{method}.tasz", force=True, **{**TINY, "method": method})
    assert not (root / f"{layout}-{method}.tasz.ckpt").exists()
    a, b = tascodec.open(want), tascodec.open(got)
    assert a.videos == b.videos
    for v in a.videos:
        np.testing.assert_array_equal(a.labels(v), b.labels(v))
        x, y = a.decode(v), b.decode(v)
        assert y.shape == x.shape and np.isfinite(y).all()
        if layout != "float16":  # the same float32 values in: the same result
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-4 * max(1.0, float(np.max(np.abs(x)))))
        elif method == "mean":  # inputs rounded to float16: means within a few float16 steps
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-2 * max(1.0, float(np.max(np.abs(x)))))


def test_cli_encode_and_eval(variant, root):
    layout, path = variant
    out = root / f"{layout}-cli.tasz"
    r = CliRunner().invoke(cli, ["encode", str(path), "-o", str(out), "--method", "mean", "-f", "-q", *TINY_CLI])
    assert r.exit_code == 0, r.output
    said = [line for line in r.stderr.splitlines() if "float32" in line and "warning" in line]
    assert len(said) == (1 if layout.startswith("float") else 0), r.stderr
    r = CliRunner().invoke(cli, ["eval", str(path), "--tasz", str(out), "--json", *EVAL])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    said = [line for line in r.stderr.splitlines() if "float32" in line and "warning" in line]
    assert len(said) == (1 if layout.startswith("float") else 0), r.stderr  # train and test read: said once


# --- refused, with the right message ----------------------------------------------------------
def _copy(reference: Path, tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    return out


def test_transposed_features_get_their_own_message(reference, tmp_path):
    ds_dir = _copy(reference, tmp_path)
    v = read_dataset(ds_dir).videos[1]
    p = ds_dir / "features" / f"{v}.npy"
    x = np.load(p)
    np.save(p, x.T.copy())  # (T, D): the common mistake
    with pytest.raises(DatasetError) as e:
        read_dataset(ds_dir)
    msg = str(e.value)
    assert not isinstance(e.value, FrameCountMismatch)
    assert "features look transposed" in msg and f"{v}.npy" in msg and "--trim" not in msg
    assert f"({x.shape[1]}, {x.shape[0]})" in msg and "(T, D)" in msg and "expected (D, T)" in msg
    r = CliRunner().invoke(cli, ["encode", str(ds_dir), "-o", str(tmp_path / "o.tasz"), "-q", "--method", "inversion", *TINY_CLI])
    assert r.exit_code == 1 and "features look transposed" in r.output and "--trim" not in r.output
    assert [line for line in r.output.splitlines() if "error" in line] == [r.output.splitlines()[-1]]
    assert "Traceback" not in r.output and not (tmp_path / "o.tasz.ckpt").exists()


def test_every_file_transposed(reference, tmp_path):
    ds_dir = _copy(reference, tmp_path)
    for p in (ds_dir / "features").glob("*.npy"):
        np.save(p, np.load(p).T.copy())
    with pytest.raises(DatasetError, match="features look transposed"):
        read_dataset(ds_dir)


def test_a_real_frame_mismatch_still_hints_trim(reference, tmp_path):
    ds_dir = _copy(reference, tmp_path)
    v = read_dataset(ds_dir).videos[0]
    p = ds_dir / "features" / f"{v}.npy"
    np.save(p, np.load(p)[:, :-2])
    with pytest.raises(FrameCountMismatch):
        read_dataset(ds_dir)


@pytest.mark.parametrize("dtype", ["int64", "complex64", "bool"])
def test_non_float_features_are_refused(reference, tmp_path, dtype):
    ds_dir = _copy(reference, tmp_path)
    v = read_dataset(ds_dir).videos[0]
    p = ds_dir / "features" / f"{v}.npy"
    np.save(p, np.load(p).astype(dtype))
    with pytest.raises(DatasetError, match=rf"{v}.npy: features must be float16, float32 or float64, found {dtype}"):
        read_dataset(ds_dir)


def test_float64_beyond_float32_range_is_named(reference, tmp_path):
    ds_dir = _copy(reference, tmp_path)
    v = read_dataset(ds_dir).videos[0]
    p = ds_dir / "features" / f"{v}.npy"
    x = np.load(p).astype(np.float64)
    x[3, 2] = 1e300
    np.save(p, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        ds = read_dataset(ds_dir)
    with pytest.raises(DatasetError, match=r"outside the float32 range at frame 2, dim 3"):
        ds.features(v)
