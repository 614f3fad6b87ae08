"""Temporal smoothing of restores (``tascodec.decode.smooth``): whole, streamed, and where it is offered."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.decode.smooth import smooth_blocks, smooth_frames
from tascodec.errors import UsageError


def reference(x, width):
    before = width // 2
    T = len(x)
    return np.stack([x[np.clip(np.arange(t - before, t - before + width), 0, T - 1)].mean(0) for t in range(T)])


@pytest.mark.parametrize("width", [1, 2, 3, 8, 16, 50])
def test_moving_average_with_edges_repeated(width):
    x = np.random.default_rng(width).standard_normal((37, 5)).astype(np.float32)
    assert np.allclose(smooth_frames(x, width), reference(x, width), atol=1e-5)
    assert smooth_frames(x, 1) is x
    for sizes in ([37], [1] * 37, [5, 1, 20, 11], [2, 35]):
        blocks = np.split(x, np.cumsum(sizes)[:-1])
        out = list(smooth_blocks(iter(blocks), 37, width))
        assert np.allclose(np.concatenate(out), reference(x, width), atol=1e-5)
        assert all(len(b) for b in out)


def test_bad_widths_and_short_streams():
    x = np.zeros((4, 2), np.float32)
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(UsageError, match="smooth"):
            smooth_frames(x, bad)
    with pytest.raises(UsageError, match="expected 9"):
        list(smooth_blocks(iter([x]), 9, 3))


def test_container_dataset_and_cli_offer_it(tmp_path):
    from tascodec.cli.main import cli
    from tascodec.torch import TaszDataset
    from helpers import make_content

    from tascodec.container import write_container

    path = write_container(make_content(), tmp_path / "a.tasz")
    with tascodec.open(path) as c:
        v = max(c.videos, key=c.num_frames)
        assert c.num_frames(v) > 8
        exact = c.decode(v)
        smoothed = c.decode(v, smooth=4)
        assert np.allclose(smoothed, reference(exact, 4), atol=1e-4)
        assert np.allclose(np.concatenate(list(c.iter_decode(v, chunk_frames=3, smooth=4))), smoothed, atol=1e-5)
        with pytest.raises(UsageError, match="smooth"):
            c.decode(v, smooth=0)
    ds = TaszDataset(path, smooth=4, videos=[v])
    assert np.allclose(ds[0]["features"].numpy(), smoothed, atol=1e-5)
    out = tmp_path / "v.npy"
    r = CliRunner().invoke(cli, ["decode", str(path), "--video", v, "-o", str(out), "--smooth", "4", "--rate", "stored"])
    assert r.exit_code == 0, r.output
    assert np.allclose(np.load(out).T, smoothed, atol=1e-5)
    r = CliRunner().invoke(cli, ["decode", str(path), "--video", v, "-o", str(tmp_path / "w.npy"), "--smooth", "0"])
    assert r.exit_code != 0 and "smooth" in r.output
