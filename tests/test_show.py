"""`tasz show`: a real PNG of one video; a clear message without matplotlib."""
from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.data.synthetic import synthesize
from tascodec.encoding.pipeline import encode

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("show")
    d = synthesize(root / "d", like="gtea", videos=5, dim=16, length_scale=0.05, seed=2)
    f = encode(d, root / "d.tasz", method="mean", K=4, progress=False)
    return d, f


def test_show_writes_png(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    import tascodec

    d, f = tiny
    video = tascodec.open(f).videos[0]
    out = tmp_path / "fig.png"
    r = CliRunner().invoke(cli, ["show", str(f), "--video", video, "--data", str(d), "-o", str(out)])
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    r = CliRunner().invoke(cli, ["show", str(f), "--video", video, "-o", str(out)])
    assert r.exit_code == 1 and "already exists" in r.output
    r = CliRunner().invoke(cli, ["show", str(f), "--video", video + "x", "-o", str(tmp_path / "b.png")])
    assert r.exit_code == 1 and video in r.output and not (tmp_path / "b.png").exists()


def test_show_without_matplotlib(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    d, f = tiny
    r = CliRunner().invoke(cli, ["show", str(f), "--video", "x", "-o", str(tmp_path / "f.png")])
    assert r.exit_code == 1 and "pip install 'tascodec[plot]'" in r.output


def test_show_draws_a_per_frame_error_curve_with_its_mean(tiny):
    pytest.importorskip("matplotlib")
    import numpy as np

    import tascodec
    from tascodec.data.layout import read_dataset
    from tascodec.show import build_figure, frame_errors

    d, f = tiny
    c = tascodec.open(f)
    video = c.videos[0]
    x, y = read_dataset(d, part="all").features(video), c.decode(video)
    err, cos = frame_errors(x, y)
    assert err.shape == cos.shape == (x.shape[0],)
    i = 3
    assert err[i] == pytest.approx(np.linalg.norm(x[i] - y[i]) / np.linalg.norm(x[i]), rel=1e-4)
    assert cos[i] == pytest.approx(x[i] @ y[i] / np.linalg.norm(x[i]) / np.linalg.norm(y[i]), rel=1e-4)

    fig, stats = build_figure(f, video, data_dir=d)
    assert stats["relative_error"] == pytest.approx(float(err.mean()), rel=1e-5)
    assert stats["cosine"] == pytest.approx(float(cos.mean()), rel=1e-5)
    curves = [ax for ax in fig.axes if any(len(line.get_ydata()) == x.shape[0] for line in ax.get_lines())]
    assert len(curves) == 1
    curve = curves[0]
    assert np.allclose(curve.get_lines()[0].get_ydata(), err, rtol=1e-4)
    assert f"{err.mean():.3f}" in curve.get_title()
    # every colour a title names is the colour its boundaries are drawn in
    for ax in fig.axes:
        colours = {tuple(np.round(col.get_colors()[0][:3], 2)) for col in ax.collections
                   if hasattr(col, "get_segments") and len(col.get_segments()) and len(col.get_colors())}
        title = ax.get_title()
        if (0.0, 1.0, 1.0) in colours:
            assert "cyan" in title, title
        if "white" in title:
            assert (1.0, 1.0, 1.0) in colours, title

    r = CliRunner().invoke(cli, ["show", str(f), "--video", video, "--data", str(d), "-o", str(d.parent / "c.png")])
    assert r.exit_code == 0 and f"{err.mean():.3f}" in r.output
