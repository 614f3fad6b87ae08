"""A file that verify accepts works in every tool (issue 11): one container with every edge the
reader allows (deepest provenance, longest names, largest split and sample rate, huge integers,
non-ASCII, an empty video), through info, verify, decode, subset, merge, split, show, the Dataset."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.container import write_container
from tascodec.container.layout import MAX_JSON_DEPTH
from tascodec.container.meta import MAX_SAMPLE_RATE, MAX_SPLIT, PROVENANCE_DEPTH
from tascodec.container.names import MAX_NAME_BYTES
from helpers import make_content


def edge_file(tmp_path):
    deep = 0
    for _ in range(MAX_JSON_DEPTH - PROVENANCE_DEPTH):
        deep = {"k": deep}
    long = "é" * (MAX_NAME_BYTES // 2)
    prov = {"split": MAX_SPLIT, "sample_rate": MAX_SAMPLE_RATE // 256, "deep": deep, "big": 10 ** 300,
            "text": "x" * 10_000, "dataset": "日本語 🙂", "method": "inversion", "settings": {"K": 3},
            "losses": {"tca": 1e300, "inversion": 0}, "operations": [{"op": "subset"}]}
    c = make_content(videos=(long, "🙂 b", "empty"), segs_per_video=(2, 3, 0), activities=["a" * MAX_NAME_BYTES,
                     "a" * MAX_NAME_BYTES, "ü"], vocab=["背景", "c" * MAX_NAME_BYTES, "x", "y"], provenance=prov)
    return write_container(c, tmp_path / "edge.tasz"), long


def test_edge_file_works_everywhere(tmp_path, monkeypatch):
    p, long = edge_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert tascodec.open(p).verify() == []
    runs = [("info", p), ("info", "--json", "--videos", p), ("verify", p), ("decode", p, "-o", "ds"),
            ("decode", p, "--video", long), ("subset", p, "-o", "s.tasz", "--count", "2"),
            ("merge", "s.tasz", "-o", "m.tasz"), ("split", p, "-o", "parts"),
            ("show", p, "--video", "🙂 b", "-o", "b.png")]
    for args in runs:
        r = CliRunner().invoke(cli, list(map(str, args)))
        assert r.exit_code == 0, (args, r.output, r.exception)
    assert json.loads(CliRunner().invoke(cli, ["info", "--json", str(p)]).output)["provenance"]["big"] == 10 ** 300
    assert (tmp_path / "ds" / "splits" / f"train.split{MAX_SPLIT}.bundle").is_file()
    pytest.importorskip("torch")
    from tascodec.torch import TaszDataset

    ds = TaszDataset(p)
    items = [ds[i] for i in range(len(ds))]
    assert items[2]["features"].numel() == 0 and items[2]["labels"].numel() == 0
    x, ref = items[0]["features"].numpy(), tascodec.open(p).decode(long)
    np.testing.assert_allclose(x if x.shape == ref.shape else x.T, ref, rtol=1e-5, atol=1e-5)
