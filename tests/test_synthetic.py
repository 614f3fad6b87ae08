"""Synthetic TAS datasets: layout, determinism, realism checks, refusal to overwrite, ``tasz synth``."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.data import synthetic
from tascodec.data.grammars import grammar_actions
from tascodec.data.synthetic import BENCHMARKS, plan, synthesize, video_names
from tascodec.errors import OutputExistsError, UsageError

TINY = dict(dim=32, length_scale=0.05)


def _read(root: Path):
    """Read a dataset back with plain numpy: (classes, {video: (features (D,T), labels list)})."""
    classes = [line.split()[1] for line in (root / "mapping.txt").read_text().splitlines()]
    data = {}
    for f in sorted((root / "groundTruth").iterdir()):
        v = f.stem
        data[v] = (np.load(root / "features" / f"{v}.npy"), f.read_text().splitlines())
    return classes, data


def _bundle(root: Path, name: str) -> list[str]:
    return [line[:-4] for line in (root / "splits" / name).read_text().splitlines()]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("like,videos", [("gtea", 5), ("50salads", 6), ("breakfast", 8)])
def test_layout_is_valid(tmp_path, like, videos):
    root = synthesize(tmp_path / like, like=like, videos=videos, **TINY)
    bench = BENCHMARKS[like]
    classes, data = _read(root)
    assert classes == list(bench.classes)
    assert sorted(data) == sorted(video_names(like, videos)) and len(data) == videos
    assert sorted(p.stem for p in (root / "features").iterdir()) == sorted(data)
    for v, (x, labels) in data.items():
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] == 32
        assert x.shape[1] == len(labels) > 0
        assert set(labels) <= set(classes)
        assert np.isfinite(x).all() and (x >= 0).all()
    tests = [_bundle(root, f"test.split{k}.bundle") for k in range(1, bench.n_splits + 1)]
    assert not (root / "splits" / f"test.split{bench.n_splits + 1}.bundle").exists()
    assert sorted(sum(tests, [])) == sorted(data)  # every video in exactly one test split
    for k, test in enumerate(tests, 1):
        assert test, f"test split {k} is empty"
        assert sorted(_bundle(root, f"train.split{k}.bundle") + test) == sorted(data)


def test_names_follow_the_benchmark():
    assert len(video_names("gtea")) == 28 and "S1_Cheese_C1" in video_names("gtea")
    assert len(video_names("50salads")) == 50 and "rgb-01-1" in video_names("50salads")
    names = video_names("breakfast")
    assert len(names) == 1712 and len(set(names)) == 1712
    acts = {re.search(r"_([a-z]+)$", n).group(1) for n in names}
    assert acts == set(BENCHMARKS["breakfast"].grammars)
    # a small breakfast dataset still mixes dishes; every split gets test videos
    small = plan("breakfast", 12)
    assert len({v.activity for v in small}) >= 3 and {v.fold for v in small} == {0, 1, 2, 3}
    assert len(video_names("gtea", 40)) == 40  # beyond the benchmark: more subjects


def test_grammars_cover_every_class():
    for bench in BENCHMARKS.values():
        used = set().union(*(grammar_actions(g) for g in bench.grammars.values())) | set(bench.background)
        assert used == set(bench.classes), bench.name
        assert len(set(bench.classes)) == len(bench.classes)
    assert len(BENCHMARKS["gtea"].classes) == 11 and "background" in BENCHMARKS["gtea"].classes
    assert len(BENCHMARKS["50salads"].classes) == 19 and BENCHMARKS["breakfast"].classes[0] == "SIL"
    assert len(BENCHMARKS["breakfast"].classes) == 48


def test_deterministic_for_a_seed(tmp_path):
    a = _files(synthesize(tmp_path / "a", videos=4, seed=7, **TINY))
    b = _files(synthesize(tmp_path / "b", videos=4, seed=7, **TINY))
    c = _files(synthesize(tmp_path / "c", videos=4, seed=8, **TINY))
    assert a == b
    assert a.keys() == c.keys() and a != c
    # a video's content does not depend on how many videos are made
    d = _files(synthesize(tmp_path / "d", videos=8, seed=7, **TINY))
    assert all(d[k] == a[k] for k in a if not k.startswith(("splits", ".tasz-output")))  # manifest: 8 files


def test_smooth_and_not_trivially_separable(tmp_path):
    root = synthesize(tmp_path / "g", like="gtea", videos=8, dim=48, length_scale=0.5)
    classes, data = _read(root)
    lag1 = []
    for x, _ in data.values():
        xc = x - x.mean(1, keepdims=True)
        lag1.append(np.sum(xc[:, 1:] * xc[:, :-1]) / np.sum(xc * xc))
    assert np.mean(lag1) > 0.8  # temporally smooth
    X = np.concatenate([x.T for x, _ in data.values()])
    y = np.concatenate([[classes.index(l) for l in labels] for _, labels in data.values()])
    present = np.unique(y)
    mu = np.stack([X[y == k].mean(0) for k in present])
    pred = present[np.argmin(((X[:, None] - mu[None]) ** 2).sum(-1), 1)]
    acc = np.mean(pred == y)  # nearest class mean, fitted and scored on the same frames
    assert 1.0 / len(present) < acc < 0.85


def test_length_scale_shrinks_segments(tmp_path):
    full = plan("50salads", 5)[0]
    bench = BENCHMARKS["50salads"]
    _, big = synthetic.sample_labels(bench, full, np.random.default_rng(0), 1.0)
    _, small = synthetic.sample_labels(bench, full, np.random.default_rng(0), 0.01)
    assert small.min() >= 1 and small.sum() < big.sum() / 20


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "ds"
    synthesize(out, videos=4, **TINY)
    before = _files(out)
    with pytest.raises(OutputExistsError):
        synthesize(out, videos=4, seed=1, **TINY)
    assert _files(out) == before
    synthesize(out, videos=4, seed=1, force=True, **TINY)
    assert _files(out) != before
    (tmp_path / "empty").mkdir()
    synthesize(tmp_path / "empty", videos=4, **TINY)  # an empty folder is fine
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError):
        synthesize(precious, videos=4, force=True, **TINY)  # not a dataset: never deleted
    assert (precious / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "empty", "precious"]


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def boom(name, frames):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path / "ds", videos=4, progress=boom, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs", [dict(videos=3), dict(dim=0), dict(length_scale=0.0),
                                    dict(length_scale=float("nan")), dict(like="kinetics")])
def test_bad_options(tmp_path, kwargs):
    with pytest.raises(UsageError):
        synthesize(tmp_path / "ds", **{**TINY, **kwargs})
    assert not (tmp_path / "ds").exists()


def test_cli(tmp_path):
    out = tmp_path / "ds"
    args = ["synth", str(out), "--like", "breakfast", "--videos", "4", "--dim", "16",
            "--length-scale", "0.05"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert re.search(r"4 videos, \d+ frames, 48 classes, \d+ bytes", res.output)
    assert len(list((out / "features").iterdir())) == 4
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "tasz: error:" in res.output and "already exists" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(cli, args + ["-f", "--seed", "3"])
    assert res.exit_code == 0, res.output


def test_read_dataset_reads_it(tmp_path):
    layout = pytest.importorskip("tascodec.data.layout")
    root = synthesize(tmp_path / "bf", like="breakfast", videos=6, **TINY)
    ds = layout.read_dataset(root, split=1, part="test", background=("SIL",), activity_pattern=r"_([a-z]+)$")
    assert len(ds) >= 1 and ds.feature_dim == 32
    for v in ds:
        x = ds.features(v)
        assert x.shape == (ds.num_frames(v), 32)
        assert ds.activity(v) in BENCHMARKS["breakfast"].grammars


def _fortran(path: Path) -> bool:
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read(fh)[1]


def test_order_f_writes_fortran_order_files_with_the_same_values(tmp_path):
    c = synthesize(tmp_path / "c", like="gtea", videos=4, **TINY)
    f = synthesize(tmp_path / "f", like="gtea", videos=4, order="F", **TINY)
    names = sorted(p.name for p in (c / "features").iterdir())
    assert names == sorted(p.name for p in (f / "features").iterdir())
    for n in names:
        assert not _fortran(c / "features" / n) and _fortran(f / "features" / n)
        a, b = np.load(c / "features" / n), np.load(f / "features" / n)
        assert b.flags.f_contiguous and b.dtype == np.float32
        np.testing.assert_array_equal(a, b)  # the same float32 values, only the byte order differs
    assert _files(c / "groundTruth") == _files(f / "groundTruth")
    with pytest.raises(UsageError, match="order"):
        synthesize(tmp_path / "x", like="gtea", videos=4, order="K", **TINY)
    assert not (tmp_path / "x").exists()


def test_cli_order(tmp_path):
    res = CliRunner().invoke(cli, ["synth", str(tmp_path / "f"), "--videos", "4", "--dim", "8",
                                   "--length-scale", "0.05", "--order", "F"])
    assert res.exit_code == 0, res.output
    assert all(_fortran(p) for p in (tmp_path / "f" / "features").iterdir())
    res = CliRunner().invoke(cli, ["synth", str(tmp_path / "g"), "--order", "X"])
    assert res.exit_code == 2 and not (tmp_path / "g").exists()
