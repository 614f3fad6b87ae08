"""`tasz eval`: original vs restored training, tested on the original test split."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.data.synthetic import synthesize
from tascodec.encoding.pipeline import encode

TINY = ["--epochs", "2", "--stages", "2", "--layers", "3", "--channels", "8", "-q"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    d = synthesize(root / "gtea", like="gtea", videos=8, dim=16, length_scale=0.05, seed=1)
    enc = dict(epochs=2, iters=10, hidden=32, latent_dim=8, progress=False)
    train = encode(d, root / "train.tasz", method="mean", **enc)
    leaky = encode(d, root / "all.tasz", part="all", method="mean", **enc)
    return d, train, leaky


def test_eval_table_and_json(data):
    d, train, _ = data
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), "--json", *TINY])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["name"] for x in rows] == ["original", "train.tasz"]
    assert rows[1]["method"] == "mean" and rows[1]["bytes"] == train.stat().st_size
    for row in rows:
        assert set(row["scores"]) == {"acc", "edit", "f1@10", "f1@25", "f1@50"}
        assert all(0.0 <= v <= 100.0 for v in row["scores"].values())
    assert rows[0]["percent_of_original"] == 100.0
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), *TINY])
    assert r.exit_code == 0 and "F1@50" in r.stdout and "train.tasz" in r.stdout


def test_eval_refuses_container_with_test_videos(data):
    d, _, leaky = data
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(leaky), *TINY])
    assert r.exit_code == 1
    assert "holds" in r.output and "test split 1" in r.output and "Traceback" not in r.output


def test_eval_needs_something_to_do(data):
    r = CliRunner().invoke(cli, ["eval", str(data[0]), "--no-original", *TINY])
    assert r.exit_code == 1 and "nothing to evaluate" in r.output


def test_retained_is_na_when_the_reference_did_not_learn(data):
    """Two epochs teach the tiny reference nothing (majority class, Edit 0): 0/0 is not 100%."""
    d, train, _ = data
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), "--json", *TINY])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert min(rows[0]["scores"]["edit"], rows[0]["scores"]["f1@10"]) == 0.0  # the premise
    for row in rows:
        assert row["mean_retained"] is None
        assert all(v is None for v in row["retained"].values())
    assert "did not learn" in rows[0]["warning"]
    assert "did not learn" in r.stderr
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), *TINY])
    assert r.exit_code == 0
    assert "100.0%" not in r.stdout and "n/a" in r.stdout and "did not learn" in r.output


def test_retained_is_a_number_when_the_reference_learned(data):
    d, train, _ = data
    learn = ["--epochs", "20", "--lr", "0.01", "--stages", "2", "--layers", "3", "--channels", "16", "-q"]
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), "--json", *learn])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["scores"]["edit"] > 0 and rows[0]["warning"] is None
    assert rows[0]["mean_retained"] == pytest.approx(100.0)
    assert rows[1]["mean_retained"] == pytest.approx(
        sum(100 * rows[1]["scores"][m] / rows[0]["scores"][m] for m in rows[0]["scores"]) / 5, rel=1e-6)


def test_eval_seeds_reports_mean_and_spread(data):
    d, train, _ = data
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), "--json", "--seeds", "2",
                                 "--epochs", "1", "--stages", "1", "--layers", "2", "--channels", "8", "-q"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["name"] for x in rows] == ["original", "train.tasz"]
    for row in rows:
        assert row["seeds"] == [0, 1] and len(row["per_seed"]) == 2
        for m in row["scores"]:
            values = [s[m] for s in row["per_seed"]]
            assert row["scores"][m] == pytest.approx(sum(values) / 2)
            assert row["std"][m] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5)
            assert row["min"][m] == pytest.approx(min(values)) and row["max"][m] == pytest.approx(max(values))
    r = CliRunner().invoke(cli, ["eval", str(d), "--seeds", "2", "--epochs", "1", "--stages", "1",
                                 "--layers", "2", "--channels", "8", "-q"])
    assert r.exit_code == 0 and "±" in r.stdout and "2 seeds" in r.stdout


def test_eval_split_all_runs_every_split_and_reports_the_mean(data):
    d = data[0]
    r = CliRunner().invoke(cli, ["eval", str(d), "--split", "all", "--json",
                                 "--epochs", "1", "--stages", "1", "--layers", "2", "--channels", "8", "-q"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    splits = sorted(int(p.name.split("split")[1].split(".")[0]) for p in (d / "splits").glob("test.split*.bundle"))
    assert len(splits) == 4
    assert [x["split"] for x in rows] == [*splits, "mean"]
    for m in rows[0]["scores"]:
        assert rows[-1]["scores"][m] == pytest.approx(sum(x["scores"][m] for x in rows[:-1]) / len(splits))
    r = CliRunner().invoke(cli, ["eval", str(d), "--split", "all",
                                 "--epochs", "1", "--stages", "1", "--layers", "2", "--channels", "8", "-q"])
    assert r.exit_code == 0 and "mean" in r.stdout and "split" in r.stdout


def test_eval_split_all_refuses_a_container_holding_a_test_video(data):
    d, train, _ = data  # built from split 1's train part: other splits test on some of its videos
    r = CliRunner().invoke(cli, ["eval", str(d), "--split", "all", "--tasz", str(train), *TINY])
    assert r.exit_code == 1 and "test split 2" in r.output and "Traceback" not in r.output


def test_eval_rejects_a_bad_split(data):
    r = CliRunner().invoke(cli, ["eval", str(data[0]), "--split", "two", *TINY])
    assert r.exit_code != 0 and "Traceback" not in r.output


def test_eval_noise_filling(data, tmp_path):
    d, train, _ = data
    # a scale on a file that stores no noise level fails in one line, before any training
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), "--noise", "1", *TINY])
    assert r.exit_code != 0 and "residual_sd" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(train), "--noise", "-1", *TINY])
    assert r.exit_code == 2 and "--noise" in r.output
    pca = encode(d, tmp_path / "pca.tasz", method="pca", latent_dim=8, frames_per_code=4, progress=False)
    r = CliRunner().invoke(cli, ["eval", str(d), "--tasz", str(pca), "--json", "--no-original", *TINY])
    assert r.exit_code == 0, r.output
    from tascodec.bench.evaluate import container_source
    from tascodec.decode.container import Container
    from tascodec.decode.noise import NoisySource

    with Container(pca) as c:
        noisy, clean = container_source(c), container_source(c, noise=0)  # the default trains on noise-filled restores
        assert isinstance(noisy, NoisySource) and isinstance(clean, list)
        x0, y0 = clean[0]
        x1, y1 = noisy[0]
        assert x1.shape == x0.shape and not (x1 == x0).all() and (y1 == y0).all()
