"""`tasz show`: a real PNG of one video; a clear message without matplotlib."""
from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.data.synthetic import synthesize
from tascodec.encode.pipeline import encode

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
