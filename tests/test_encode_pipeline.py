"""``tasz encode`` end to end on a tiny synthetic dataset (D = 32, a few videos, tiny models)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.container.quant import dequantize
from tascodec.data.layout import read_dataset
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.encoding.checkpoint import load_tree, save_tree
from tascodec.encoding.frames import FrameStore, feature_stats, training_batches
from tascodec.errors import DatasetError, OutputExistsError, UsageError

TINY = dict(method="inversion", epochs=2, iters=20, batch_size=64, hidden=32, latent_dim=8, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("ds") / "tiny", like="gtea", videos=6, dim=32,
                      length_scale=0.2, seed=1)


@pytest.fixture(scope="module")
def encoded(data, tmp_path_factory):
    """One container per method, made once for the module."""
    out = tmp_path_factory.mktemp("enc")
    return {m: pipeline.encode(data, out / f"{m}.tasz", **{**TINY, "method": m}) for m in pipeline.METHODS}


def _features(data, video):
    return read_dataset(data).features(video)


@pytest.mark.parametrize("method", pipeline.METHODS)
def test_every_method_writes_a_decodable_container(data, encoded, method):
    ds = read_dataset(data)
    c = tascodec.open(encoded[method])
    assert c.videos == ds.videos and c.vocab == ds.vocab
    for v in c.videos:
        x = c.decode(v)
        assert x.shape == (ds.num_frames(v), 32) and np.isfinite(x).all()
        np.testing.assert_array_equal(c.labels(v), ds.labels(v))
    meta = c.metadata
    prov = meta["provenance"]
    assert prov["method"] == method and prov["labels_sha256"] == ds.labels_hash()
    assert prov["source_videos"] == len(ds) and prov["source_frames"] == ds.total_frames
    assert prov["settings"]["K"] == (None if method == "pca" else 8) and prov["settings"]["seed"] == 0
    if method in ("mean", "coreset"):
        assert meta["decoder"]["kind"] == "repeat"
    elif method == "pca":
        assert meta["decoder"]["kind"] == "linear" and prov["settings"]["frames_per_code"] == 4
        assert 0 <= prov["losses"]["pca_floor"] < 1
    else:
        assert meta["decoder"]["kind"] == "mlp" and prov["settings"]["epochs"] == 2
        assert 0 < prov["losses"]["train"] < 10
    assert meta["codes"]["source"] == ("random" if method == "tca" else "stored")
    assert not (encoded[method].parent / f"{method}.tasz.ckpt").exists()


def test_coreset_codes_are_real_frames_and_mean_fits_better(data, encoded):
    ds = read_dataset(data)
    v = ds.videos[0]
    x = _features(data, v)
    core = tascodec.open(encoded["coreset"]).decode(v)
    mean = tascodec.open(encoded["mean"]).decode(v)
    # float16 storage: each decoded frame is a real frame rounded to float16
    assert all(np.abs(x - f).max(axis=1).min() < 1e-2 * np.abs(x).max() for f in core[:5])
    assert np.mean((mean - x) ** 2) <= np.mean((core - x) ** 2)


def test_inversion_never_worse_than_encoder_means(encoded):
    inv = tascodec.open(encoded["inversion"]).metadata["provenance"]["losses"]
    enc = tascodec.open(encoded["encoded"]).metadata["provenance"]["losses"]
    assert inv["train"] == enc["train"]  # same seed, same training
    assert inv["inversion"] <= enc["encoded"] + 1e-9  # keep-best from the same start


def test_seeded_cpu_runs_are_reproducible(data, encoded, tmp_path):
    again = pipeline.encode(data, tmp_path / "again.tasz", **TINY)
    a, b = tascodec.open(encoded["inversion"]).content(), tascodec.open(again).content()
    assert a.decoder.sha256() == b.decoder.sha256()
    np.testing.assert_array_equal(a.codes, b.codes)
    pa, pb = a.provenance, b.provenance
    for key in ("created", "wall_time_s"):
        pa.pop(key), pb.pop(key)
    assert pa == pb


def test_latent_and_weight_dtypes(data, tmp_path):
    out = pipeline.encode(data, tmp_path / "q.tasz", latent_dtype="int8", weights_dtype="float16", **TINY)
    c = tascodec.open(out)
    assert c.metadata["codes"]["dtype"] == "int8" and c.metadata["decoder"]["weights_dtype"] == "float16"
    content = c.content()
    assert content.code_scale is not None and content.code_scale.shape == (content.num_rows,)
    assert np.isfinite(dequantize(content.codes, content.code_scale)).all()


def test_ratio_keeps_a_subset(data, tmp_path):
    ds = read_dataset(data)
    out = pipeline.encode(data, tmp_path / "half.tasz", method="mean", ratio=0.5, progress=False)
    c = tascodec.open(out)
    assert len(c.videos) == round(0.5 * len(ds)) and set(c.videos) <= set(ds.videos)
    prov = c.metadata["provenance"]
    assert prov["source_videos"] == len(ds) and prov["kept_videos"] == len(c.videos)


def test_model_reuse_skips_training(data, encoded, tmp_path, monkeypatch):
    def no_training(*a, **k):
        raise AssertionError("training must be skipped with model=")

    monkeypatch.setattr(pipeline, "train_tca", no_training)
    out = pipeline.encode(data, tmp_path / "reuse.tasz", model=encoded["inversion"], **TINY)
    src, new = tascodec.open(encoded["inversion"]), tascodec.open(out)
    assert new.decoder_sha256 == src.decoder_sha256
    prov = new.metadata["provenance"]
    assert prov["settings"]["model"] == src.decoder_sha256 and prov["settings"]["init"] == "random"
    assert prov["settings"]["epochs"] is None and "train" not in prov["losses"]
    assert new.decode(new.videos[0]).shape[1] == 32


def test_model_reuse_checks_compatibility(data, encoded, tmp_path):
    other = synthesize(tmp_path / "wide", like="gtea", videos=4, dim=16, length_scale=0.2, seed=2)
    with pytest.raises(UsageError, match="16-d"):
        pipeline.encode(other, tmp_path / "x.tasz", model=encoded["inversion"], **TINY)
    with pytest.raises(UsageError, match="baseline"):
        pipeline.encode(data, tmp_path / "x.tasz", model=encoded["mean"], **TINY)
    with pytest.raises(UsageError, match="encoder"):
        pipeline.encode(data, tmp_path / "x.tasz", model=encoded["inversion"], init="encoder", **TINY)
    assert not (tmp_path / "x.tasz").exists()


def test_refuses_to_overwrite_unless_forced(data, tmp_path):
    out = tmp_path / "o.tasz"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        pipeline.encode(data, out, method="mean", progress=False)
    assert out.read_bytes() == b"keep me"
    pipeline.encode(data, out, method="mean", progress=False, force=True)
    assert tascodec.open(out).metadata["provenance"]["method"] == "mean"


@pytest.mark.parametrize("bad", [dict(method="nope"), dict(K=0), dict(ratio=0), dict(latent_dtype="int4"),
                                 dict(optimizer="lbfgs"), dict(preset="slow"), dict(epochs=0), dict(seed=-1)])
def test_bad_options_are_usage_errors(data, tmp_path, bad):
    with pytest.raises(UsageError):
        pipeline.encode(data, tmp_path / "x.tasz", **{**TINY, **bad})
    assert not any(tmp_path.iterdir())


def test_presets_and_explicit_overrides():
    fast = pipeline._resolve(**_opts())
    paper = pipeline._resolve(**_opts(preset="paper"))
    assert (paper.epochs, paper.iters, paper.lr) == (7500, 10000, 1e-3)
    assert fast.epochs < paper.epochs and fast.iters < paper.iters
    mixed = pipeline._resolve(**_opts(preset="paper", iters=5))
    assert (mixed.epochs, mixed.iters) == (7500, 5)


def _opts(**kw):
    base = dict(method="inversion", K=8, ratio=1.0, latent_dtype="float16", weights_dtype=None, epochs=None,
                iters=None, lr=None, batch_size=None, hidden=None, latent_dim=None, kl_weight=1.0, init=None,
                optimizer="adam", seed=0, preset=None, model=None)
    return {**base, **kw}


def test_streaming_matches_cached_and_chunking_is_exact(data, encoded, tmp_path):
    """Memory bounds change the cost only: no feature cache, and small inversion chunks."""
    small = pipeline.encode(data, tmp_path / "s.tasz", cache_bytes=0, chunk_frames=150, **TINY)
    a, b = tascodec.open(encoded["inversion"]).content(), tascodec.open(small).content()
    assert a.decoder.sha256() == b.decoder.sha256()
    np.testing.assert_allclose(dequantize(a.codes), dequantize(b.codes), atol=2e-3)


def test_memory_is_bounded_by_buffers_not_dataset(tmp_path):
    """Stats, training batches and inversion chunks never hold the whole split (numpy allocations)."""
    import tracemalloc

    from tascodec.encoding.frames import chunk_videos, load_chunk

    ds = read_dataset(synthesize(tmp_path / "many", like="breakfast", videos=60, dim=64, length_scale=0.1,
                                 seed=1), part="all")
    everything = ds.total_frames * ds.feature_dim * 4
    tracemalloc.start()
    try:
        store = FrameStore(ds, *feature_stats(ds), cache_bytes=0)
        stats_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for _ in training_batches(store, ds.videos, batch_size=128, seed=0, buffer_frames=1000)(0):
            pass
        train_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for ch in chunk_videos([ds.num_frames(v) for v in ds], 1000):
            chunk = load_chunk(store, [ds.videos[j] for j in ch], 8)
            del chunk
        chunk_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.total_frames > 10 * 1000
    assert max(stats_peak, train_peak, chunk_peak) < 0.4 * everything


def test_feature_stats_streaming_matches_numpy(data):
    ds = read_dataset(data)
    x = np.concatenate([ds.features(v) for v in ds]).astype(np.float64)
    mean, std = feature_stats(ds)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, x.std(0), rtol=1e-5)


@pytest.mark.parametrize("buffer_frames", [50, 10_000])
def test_training_batches_shard_the_epoch(data, buffer_frames):
    """Two ranks read disjoint halves of the frames (each about half of one process's reads) and
    cut them into the one-process steps: per step their batches add up to the global batch."""
    ds = read_dataset(data)
    mean, std = feature_stats(ds)
    kw = dict(batch_size=48, seed=3, buffer_frames=buffer_frames)
    one = FrameStore(ds, mean, std, cache_bytes=0)
    single = list(training_batches(one, ds.videos, **kw)(0))
    stores = [FrameStore(ds, mean, std, cache_bytes=0) for _ in range(2)]
    ranks = [list(training_batches(stores[r], ds.videos, rank=r, world=2, **kw)(0)) for r in range(2)]
    assert sum(len(x) for x, _, _ in single) == ds.total_frames
    assert all(len(x) == 48 for x, _, _ in single[:-1])
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for (x, _, _), (x0, _, _), (x1, _, _) in zip(single, ranks[0], ranks[1]):
        assert len(x0) + len(x1) == len(x) and abs(len(x0) - len(x1)) <= 1
    seen = [np.concatenate([b[0] for b in r]) for r in ranks]
    both = np.concatenate(seen)
    assert len(np.unique(both, axis=0)) == len(both) >= ds.total_frames - 1  # disjoint; all but a tail < 2
    frames = {row.tobytes() for v in ds.videos for row in one.standardized(v)}
    assert all(row.tobytes() in frames for row in both)
    longest = max(ds.num_frames(v) for v in ds.videos)
    for st in stores:  # read only its share: half of the frames, plus the one video the ranks cut
        assert ds.total_frames / 2 <= st.frames_read <= ds.total_frames / 2 + longest
    again = list(training_batches(stores[0], ds.videos, rank=0, world=2, **kw)(0))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(ranks[0], again))
    other = list(training_batches(one, ds.videos, **kw)(1))
    assert not np.array_equal(single[0][0], other[0][0])


def test_checkpoint_tree_round_trip(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    tree = {"model": net.state_dict(), "optimizer": opt.state_dict(), "t": (1, 2.5, None, "s")}
    save_tree(tmp_path / "t.npz", tree)
    back = load_tree(tmp_path / "t.npz")
    assert back["t"] == (1, 2.5, None, "s")
    assert back["optimizer"]["param_groups"] == opt.state_dict()["param_groups"]
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(back["optimizer"]["state"][0][k], v)
    opt2 = torch.optim.Adam(net.parameters())
    opt2.load_state_dict(back["optimizer"])
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]


# --- the command line ---------------------------------------------------------------------------
def test_cli_encode_summary_and_default_name(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["encode", str(data), "--method", "mean", "--K", "4", "--latent-dtype", "int8"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "tiny.tasz"
    assert out.exists() and "videos" in r.output and "smaller" in r.output
    assert tascodec.open(out).metadata["provenance"]["settings"]["K"] == 4
    r = CliRunner().invoke(cli, ["encode", str(data), "--method", "mean"])
    assert r.exit_code == 1 and "already exists" in r.output


def test_cli_bad_dataset_is_one_line_error(data, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "features").mkdir()
    r = CliRunner().invoke(cli, ["encode", str(bad), "-o", str(tmp_path / "b.tasz"), "-q"])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tasz: error:") and "groundTruth" in lines[0]
    assert not (tmp_path / "b.tasz").exists()
    r = CliRunner().invoke(cli, ["encode", str(data), "-o", str(tmp_path / "b.tasz"), "--ratio", "2", "-q"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "ratio" in r.output
    with pytest.raises(DatasetError):
        pipeline.encode(bad, tmp_path / "b.tasz", progress=False)


# --- training budget: optimizer steps or epochs ---------------------------------------------------
def test_budget_resolution_epochs_win_over_steps():
    fast = pipeline._resolve(**_opts())
    assert (fast.epochs, fast.train_steps) == (30, pipeline.TRAIN_STEPS)
    assert pipeline._resolve(**_opts(preset="paper")).train_steps is None
    only_steps = pipeline._resolve(**_opts(train_steps=100))
    assert (only_steps.epochs, only_steps.train_steps) == (None, 100)
    only_epochs = pipeline._resolve(**_opts(epochs=3))
    assert (only_epochs.epochs, only_epochs.train_steps) == (3, None)
    both = pipeline._resolve(**_opts(epochs=3, train_steps=100))
    assert (both.epochs, both.train_steps) == (3, None)
    with pytest.raises(UsageError, match="train steps"):
        pipeline._resolve(**_opts(train_steps=0))


def test_train_tca_stops_after_max_steps_mid_epoch():
    from tascodec.model.tca import TCA, train_tca

    net = TCA(4, 2, latent_dim=2, hidden=8, seed=0)
    seen = []

    def batches(epoch):
        for i in range(3):
            seen.append((epoch, i))
            yield torch.randn(5, 4), torch.zeros(5, dtype=torch.long), torch.rand(5)

    stats = train_tca(net, batches, epochs=10, progress=False, max_steps=7)
    assert stats["steps"] == 7 and stats["epochs"] == 3 and len(seen) == 7
    seen.clear()
    stats = train_tca(net, batches, epochs=10, progress=False, max_steps=7, start_epoch=1, start_step=3)
    assert stats["steps"] == 7 and len(seen) == 4 and seen[0] == (1, 0)


def _steps_taken(monkeypatch):
    calls = []
    train = pipeline.train_tca

    def counting(*a, **k):
        stats = train(*a, **k)
        calls.append(stats)
        return stats

    monkeypatch.setattr(pipeline, "train_tca", counting)
    return calls


def test_default_budget_is_epochs_or_steps_whichever_first(data, tmp_path, monkeypatch):
    ds = read_dataset(data)
    calls = _steps_taken(monkeypatch)
    tiny = {k: v for k, v in TINY.items() if k not in ("epochs", "method")}
    monkeypatch.setitem(pipeline.PRESETS["fast"], "epochs", 3)
    # few frames per batch: 3 epochs are more steps than the budget, which stops training
    monkeypatch.setitem(pipeline.PRESETS["fast"], "train_steps", 10)
    out = pipeline.encode(data, tmp_path / "steps.tasz", method="encoded", **{**tiny, "batch_size": 64})
    settings = tascodec.open(out).metadata["provenance"]["settings"]
    assert calls[-1]["steps"] == 10 and settings["train_steps"] == 10 and settings["epochs"] == 3
    per_epoch = -(-ds.total_frames // 64)
    assert settings["train_steps_run"] == 10 and settings["train_epochs_run"] == round(10 / per_epoch, 3)
    # a small dataset at a large batch: the 3 epochs end first, as before the step budget
    out = pipeline.encode(data, tmp_path / "epochs.tasz", method="encoded", **{**tiny, "batch_size": 512})
    settings = tascodec.open(out).metadata["provenance"]["settings"]
    per_epoch = -(-ds.total_frames // 512)
    assert calls[-1]["steps"] == 3 * per_epoch and calls[-1]["epochs"] == 3
    assert settings["train_steps_run"] == 3 * per_epoch and settings["train_epochs_run"] == 3


def test_cli_train_steps(data, tmp_path, monkeypatch):
    calls = _steps_taken(monkeypatch)
    out = tmp_path / "cli.tasz"
    r = CliRunner().invoke(cli, ["encode", str(data), "-o", str(out), "--train-steps", "4", "--batch-size", "64",
                                 "--hidden", "32", "--latent-dim", "8", "--method", "encoded", "-q"])
    assert r.exit_code == 0, r.output
    settings = tascodec.open(out).metadata["provenance"]["settings"]
    assert calls[-1]["steps"] == 4 and settings["train_steps"] == 4 and settings["epochs"] is None
    r = CliRunner().invoke(cli, ["encode", str(data), "-o", str(tmp_path / "bad.tasz"), "--train-steps", "0"])
    assert r.exit_code != 0 and "train steps must be" in r.output and not (tmp_path / "bad.tasz").exists()


class _Stop(Exception):
    pass


def test_step_budget_resumes_mid_training_where_it_stopped(data, tmp_path, monkeypatch):
    """Interrupted after 2 of the 3 epochs a 2.5-epoch budget begins: the rerun starts at epoch 2
    with the steps already taken counted, stops at the budget, and equals an uninterrupted run."""
    ds = read_dataset(data)
    per_epoch = -(-ds.total_frames // 64)
    budget = dict(TINY, epochs=None, train_steps=2 * per_epoch + per_epoch // 2, batch_size=64,
                  method="encoded", checkpoint_every=0)
    whole = pipeline.encode(data, tmp_path / "whole.tasz", **budget)
    train, calls = pipeline.train_tca, []

    def interrupted(*a, **k):
        calls.append((k["start_epoch"], k["start_step"], k["max_steps"]))
        save = k["on_epoch_end"]

        def stop_after_two(epoch, *rest):
            save(epoch, *rest)
            if epoch == 1 and len(calls) == 1:
                raise _Stop

        stats = train(*a, **{**k, "on_epoch_end": stop_after_two})
        calls[-1] += (stats["steps"],)
        return stats

    monkeypatch.setattr(pipeline, "train_tca", interrupted)
    out = tmp_path / "resumed.tasz"
    with pytest.raises(_Stop):
        pipeline.encode(data, out, **budget)
    pipeline.encode(data, out, **budget)
    assert calls[1] == (2, 2 * per_epoch, budget["train_steps"], budget["train_steps"])
    a, b = tascodec.open(whole).content(), tascodec.open(out).content()
    assert a.decoder.sha256() == b.decoder.sha256()
    np.testing.assert_allclose(dequantize(a.codes), dequantize(b.codes), atol=1e-6)


def test_help_texts_and_code_read_the_one_set_of_defaults():
    """Issue 12: one source of truth for the encode defaults (tascodec.encoding.defaults)."""
    from click.testing import CliRunner

    from tascodec.cli.main import cli
    from tascodec.encoding import defaults
    from tascodec.model import tca

    assert (tca.DEFAULT_HIDDEN, tca.DEFAULT_LATENT) == (defaults.HIDDEN, defaults.LATENT)
    assert pipeline.PRESETS is defaults.PRESETS and pipeline.TRAIN_STEPS == defaults.TRAIN_STEPS
    assert not hasattr(tca, "DEFAULT_EPOCHS") and not hasattr(tca, "DEFAULT_BATCH")
    s = pipeline._resolve(method="inversion", K=defaults.K, ratio=1.0, latent_dtype=None, weights_dtype=None,
                          epochs=None, iters=None, lr=None, batch_size=None, hidden=None, latent_dim=None,
                          kl_weight=1.0, init=None, optimizer="adam", seed=0, preset=None, model=None)
    fast = defaults.FAST
    assert (s.hidden, s.latent_dim, s.epochs, s.train_steps, s.iters, s.lr, s.batch_size) == (
        defaults.HIDDEN, defaults.LATENT, fast["epochs"], fast["train_steps"], fast["iters"], fast["lr"],
        fast["batch_size"])
    text = " ".join(CliRunner().invoke(cli, ["encode", "--help"], terminal_width=400).output.split())
    for shown in (f"[{defaults.HIDDEN}]", f"[{defaults.LATENT}; pca: {defaults.PCA_COMPONENTS} components]",
                  f"[preset: {fast['iters']}]", f"[preset: {fast['batch_size']}]",
                  f"[preset: {fast['train_steps']}, or {fast['epochs']} epochs if fewer]"):
        assert shown in text, shown
