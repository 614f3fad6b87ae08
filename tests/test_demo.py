"""`tasz demo --quick`: every stage runs and the summary is printed; its folder is handled safely."""
from __future__ import annotations

import re

from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec._io import output_kind


def test_quick_demo_runs_end_to_end_and_reruns(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    for stage in ("1/5", "2/5", "3/5", "4/5", "5/5"):
        assert stage in r.output
    assert "relative L2 error" in r.output and "retained" in r.output and "F1@50" in r.output
    # its reference model learns something, so the retained share is a number
    assert "did not learn" not in r.output and "n/a" not in r.output
    assert re.search(r"scores retained \d+\.\d%", r.output)
    full, half = tascodec.open(out / "gtea.tasz"), tascodec.open(out / "gtea-half.tasz")
    assert full.verify() == [] and half.verify() == []
    assert 0 < half.num_videos < full.num_videos
    assert set(half.videos) <= set(full.videos)
    # marked as the demo's own folder, which a second run replaces without --force (tests/test_output_safety.py)
    assert output_kind(out) == "demo"


def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    r = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(tmp_path / "mine"), "-q"])
    assert r.exit_code == 1 and "not written by tascodec" in r.output
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_a_demo_whose_reference_did_not_learn_says_so(tmp_path):
    from dataclasses import replace

    from tascodec.demo import QUICK, run_demo

    lines: list[str] = []
    size = replace(QUICK, eval_epochs=1, eval_lr=5e-4)  # one slow epoch: the majority class
    result = run_demo(tmp_path / "demo", size=size, progress=False, echo=lines.append)
    text = "\n".join(lines)
    assert result["rows"][0].warning and "did not learn" in text
    assert "scores retained n/a" in text and "100.0%" not in text
