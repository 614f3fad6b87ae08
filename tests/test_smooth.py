"""Boundary smoothing of restores (``tascodec.decode.smooth``): whole, streamed, "auto", and where it is offered."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.decode.smooth import auto_width, auto_widths, resolve_width, smooth_blocks, smooth_frames
from tascodec.errors import UsageError


def reference(x, width, lengths):
    """Frame by frame: a window reaching into another segment is averaged, the rest kept."""
    before, T = width // 2, len(x)
    seg = np.repeat(np.arange(len(lengths)), lengths)
    out = x.copy()
    for t in range(T):
        idx = np.clip(np.arange(t - before, t - before + width), 0, T - 1)
        if len(set(seg[idx].tolist())) > 1:
            out[t] = x[idx].mean(0)
    return out


@pytest.mark.parametrize("width", [1, 2, 3, 8, 16, 50])
@pytest.mark.parametrize("lengths", [[37], [10, 27], [5, 1, 20, 11], [1] * 37, [0, 30, 0, 7]])
def test_only_windows_across_a_boundary_are_averaged(width, lengths):
    x = np.random.default_rng(width).standard_normal((37, 5)).astype(np.float32)
    ref = reference(x, width, lengths)
    out = smooth_frames(x, width, lengths)
    assert np.allclose(out, ref, atol=1e-5)
    seg = np.repeat(np.arange(len(lengths)), lengths)
    inside = np.array([len(set(seg[np.clip(np.arange(t - width // 2, t - width // 2 + width), 0, 36)])) == 1
                       for t in range(37)])
    assert np.array_equal(out[inside], x[inside])  # exact, bit for bit, away from boundaries
    if width > 1 and len([n for n in lengths if n]) > 1:
        assert not np.array_equal(out, x)
    for sizes in ([37], [1] * 37, [5, 1, 20, 11], [2, 35]):
        blocks = np.split(x, np.cumsum(sizes)[:-1])
        streamed = list(smooth_blocks(iter(blocks), lengths, width))
        assert np.allclose(np.concatenate(streamed), ref, atol=1e-5)
        assert all(len(b) for b in streamed)
    assert smooth_frames(x, 1, lengths) is x
    assert smooth_frames(x, width, [37]) is x  # one segment: nothing to smooth


def test_bad_widths_lengths_and_short_streams():
    x = np.zeros((4, 2), np.float32)
    for bad in (0, -1, 2.5, True, "3", "Auto"):
        with pytest.raises(UsageError, match="smooth"):
            smooth_frames(x, bad, [4])
    with pytest.raises(UsageError, match="resolve"):
        smooth_frames(x, "auto", [4])
    with pytest.raises(UsageError, match="add up"):
        smooth_frames(x, 3, [2, 1])
    with pytest.raises(UsageError, match="expected 9"):
        list(smooth_blocks(iter([x]), [5, 4], 3))


def test_auto_is_twice_the_knot_spacing_of_a_linear_decoder_only(tmp_path):
    from helpers import make_content

    from tascodec.container import write_container

    mlp = write_container(make_content(), tmp_path / "mlp.tasz")
    with tascodec.open(mlp) as c:
        assert all(auto_width(c, v) == 1 for v in c.videos) and auto_widths(c).tolist() == [1] * len(c.videos)
    from tascodec.cli.main import cli

    r = CliRunner().invoke(cli, ["info", str(mlp)])
    assert r.exit_code == 0 and "restore " not in r.output
    from helpers import linear_content

    content = linear_content(fpc=5)
    path = write_container(content, tmp_path / "lin.tasz")
    with tascodec.open(path) as c:
        for v in c.videos:
            _, lengths, rows = c.segments(v)
            assert auto_width(c, v) == max(1, round(2 * lengths.sum() / rows.sum()))
            assert resolve_width("auto", c, v) == auto_width(c, v) and resolve_width(3, c, v) == 3
        assert max(auto_width(c, v) for v in c.videos) >= 8
        assert auto_widths(c).tolist() == [auto_width(c, v) for v in c.videos]


def test_container_dataset_and_cli_offer_it(tmp_path):
    from tascodec.cli.main import cli
    from tascodec.torch import TaszDataset
    from helpers import linear_content

    from tascodec.container import write_container

    path = write_container(linear_content(fpc=5), tmp_path / "a.tasz")
    with tascodec.open(path) as c:
        v = max(c.videos, key=c.num_frames)
        lengths = c.segments(v)[1]
        width = auto_width(c, v)
        exact = c.decode(v)  # the format's decode by default
        auto = c.decode(v, smooth="auto")
        assert np.allclose(auto, reference(exact, width, lengths), atol=1e-4) and not np.array_equal(auto, exact)
        assert np.allclose(c.decode(v, smooth=4), reference(exact, 4, lengths), atol=1e-4)
        assert np.allclose(np.concatenate(list(c.iter_decode(v, chunk_frames=3, smooth="auto"))), auto, atol=1e-5)
        assert np.array_equal(np.concatenate(list(c.iter_decode(v, chunk_frames=3))), exact)
        with pytest.raises(UsageError, match="smooth"):
            c.decode(v, smooth=0)
    # what a trainer gets by default: the auto restore; smooth=1 the exact one
    assert np.allclose(TaszDataset(path, videos=[v])[0]["features"].numpy(), auto, atol=1e-5)
    assert np.array_equal(TaszDataset(path, videos=[v], smooth=1)[0]["features"].numpy(), exact)
    run = CliRunner().invoke
    r = run(cli, ["decode", str(path), "--video", v, "-o", str(tmp_path / "v.npy"), "--rate", "stored"])
    assert r.exit_code == 0, r.output
    assert f"smoothed across action boundaries over {width} frames" in r.output
    assert np.allclose(np.load(tmp_path / "v.npy").T, auto, atol=1e-5)
    r = run(cli, ["decode", str(path), "--video", v, "-o", str(tmp_path / "x.npy"), "--smooth", "1"])
    assert r.exit_code == 0 and "smoothed" not in r.output
    assert np.array_equal(np.load(tmp_path / "x.npy").T, exact)
    r = run(cli, ["decode", str(path), "-o", str(tmp_path / "ds")])
    assert r.exit_code == 0 and "smoothed across action boundaries" in r.output, r.output
    assert np.allclose(np.load(tmp_path / "ds" / "features" / f"{v}.npy").T, auto, atol=1e-5)
    r = run(cli, ["info", str(path)])
    assert r.exit_code == 0 and "restore     smoothed across action boundaries over" in r.output, r.output
    r = run(cli, ["info", str(path), "--json"])
    assert max(json.loads(r.output)["smooth_auto"]) >= width
    for bad in ("0", "x", "-2"):
        r = run(cli, ["decode", str(path), "--video", v, "-o", str(tmp_path / "w.npy"), "--smooth", bad])
        assert r.exit_code != 0 and "--smooth" in r.output and "Traceback" not in r.output
        assert not (tmp_path / "w.npy").exists()
