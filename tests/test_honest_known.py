"""Dataset-aware defaults: GTEA, 50Salads and Breakfast are recognised by their classes and names."""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.data.known import dataset_defaults, recognise
from tascodec.data.synthetic import synthesize


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("known")
    tiny = dict(dim=4, length_scale=0.02, seed=5)
    return {like: synthesize(root / like, like=like, videos=5 if like == "50salads" else 4, **tiny)
            for like in ("gtea", "50salads", "breakfast")}


def test_each_benchmark_is_recognised_with_its_conventions(sets):
    gtea, salads, breakfast = (recognise(sets[k]) for k in ("gtea", "50salads", "breakfast"))
    assert gtea.name == "gtea" and gtea.background == ("background",) and gtea.sample_rate == 1
    assert salads.name == "50salads" and salads.background == ("action_start", "action_end")
    assert salads.sample_rate == 2
    assert breakfast.name == "breakfast" and breakfast.background == ("SIL",) and breakfast.sample_rate == 1
    import re

    assert re.search(breakfast.activity_pattern, "P03_cam01_P03_cereals").group(1) == "cereals"
    assert re.search(breakfast.activity_pattern, "P54_webcam02_P54_scrambledegg").group(1) == "scrambledegg"
    assert re.search(gtea.activity_pattern, "S1_CofHoney_C1").group(1) == "CofHoney"


def test_a_folder_that_only_looks_alike_is_not_recognised(sets, tmp_path):
    other = tmp_path / "mine"
    shutil.copytree(sets["breakfast"] / "groundTruth", other / "groundTruth")
    shutil.copy(sets["breakfast"] / "mapping.txt", other / "mapping.txt")
    for p in (other / "groundTruth").iterdir():  # Breakfast's classes, other names
        p.rename(p.with_name("clip_" + p.name.split("_")[-1]))
    assert recognise(other) is None
    d = dataset_defaults(other)
    assert d.known is None and d.background == () and d.sample_rate == 1 and d.activity_pattern is None
    assert "not recognised" in d.note and "no background" in d.note


def test_defaults_are_used_unless_given(sets):
    d = dataset_defaults(sets["50salads"])
    assert d.background == ("action_start", "action_end") and d.sample_rate == 2
    assert "50salads" in d.note and "action_start" in d.note and "sample rate 2" in d.note
    assert "\n" not in d.note
    d = dataset_defaults(sets["50salads"], background=(), sample_rate=1)
    assert d.background == () and d.sample_rate == 1
    assert "given" in d.note


def test_encode_uses_and_names_the_recognised_defaults(sets, tmp_path):
    r = CliRunner().invoke(cli, ["encode", str(sets["breakfast"]), "-o", str(tmp_path / "b.tasz"),
                                 "--method", "mean"])
    assert r.exit_code == 0, r.output
    lines = [x for x in r.stderr.splitlines() if "breakfast" in x and "SIL" in x]
    assert len(lines) == 1, r.stderr
    c = tascodec.open(tmp_path / "b.tasz")
    assert c.background == ["SIL"]
    r = CliRunner().invoke(cli, ["encode", str(sets["breakfast"]), "-o", str(tmp_path / "n.tasz"),
                                 "--method", "mean", "--background", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert tascodec.open(tmp_path / "n.tasz").background == []


def test_eval_uses_the_recognised_background(sets):
    args = ["--epochs", "1", "--stages", "1", "--layers", "2", "--channels", "4"]
    r = CliRunner().invoke(cli, ["eval", str(sets["50salads"]), *args])
    assert r.exit_code == 0, r.output
    assert "50salads" in r.stderr and "action_start" in r.stderr and "sample rate 2" in r.stderr
    r = CliRunner().invoke(cli, ["eval", str(sets["50salads"]), *args, "-q"])  # quiet: no note
    assert r.exit_code == 0 and "recognised" not in r.stderr
