"""`tasz info` and `tasz verify` on good, damaged and foreign files."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.container import write_container
from helpers import make_content


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_info_table_and_json(tmp_path):
    c = make_content(codes_dtype="int8", provenance={"dataset": "gtea", "method": "inversion",
                                                     "settings": {"K": 3, "iters": 10}, "losses": {"inversion": 0.25}})
    p = write_container(c, tmp_path / "a.tasz")
    r = run("info", p)
    assert r.exit_code == 0, r.output
    for text in ("method      inversion, K = 3", "videos      3", "latents     int8, 3-d, stored",
                 "decoder     mlp, hidden 6", "latents", "total", "ratio", "dataset   gtea", "K=3, iters=10"):
        assert text in r.output, text
    j = json.loads(run("info", "--json", p).output)
    assert j["videos"] == 3 and j["frames"] == int(c.seg_length.sum()) and j["K"] == 3
    assert j["latents"]["dtype"] == "int8" and j["bytes"]["total"] == p.stat().st_size
    assert j["instances"] == c.num_rows and j["raw_feature_bytes"] == 4 * 5 * j["frames"]


def test_info_infers_method_without_provenance(tmp_path):
    p = write_container(make_content(random=True, provenance={}), tmp_path / "t.tasz")
    j = json.loads(run("info", "--json", p).output)
    assert j["method"] == "tca" and j["K"] == 3 and j["latents"]["source"] == "random"


def test_info_errors_are_one_line(tmp_path):
    (tmp_path / "x.tasz").write_bytes(b"nope")
    r = run("info", tmp_path / "x.tasz")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "not a zip archive" in r.output
    assert "Traceback" not in r.output


def test_verify(tmp_path):
    good = write_container(make_content(), tmp_path / "good.tasz")
    r = run("verify", good)
    assert r.exit_code == 0 and r.output.strip() == f"{good}: ok"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tasz"
    bad.write_bytes(bytes(data))
    r = run("verify", good, bad, tmp_path / "missing.tasz")
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert lines[0] == f"{good}: ok" and lines[1].startswith(f"{bad}: ") and "no such file" in lines[2]
