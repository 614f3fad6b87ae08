"""The ``linear`` decoder kind (format 1.1) and the ``pca`` method that writes it."""
from __future__ import annotations

import numpy as np
import pytest

import tascodec
from tascodec.container import Content, Decoder, write_container
from tascodec.data.synthetic import synthesize
from tascodec.decode import decode_segments, iter_decode_segments
from tascodec.decode.linear import knots
from tascodec.decode.plan import segment_starts
from tascodec.decode.reference import reference_decode
from tascodec.encoding import transform
from tascodec.encoding.pipeline import encode
from tascodec.errors import InvalidStructure, TaszFormatError, UsageError

D, k, C = 24, 6, 3


def linear_decoder(rng, dtype="float32") -> Decoder:
    w = rng.standard_normal((D, k))
    b = rng.standard_normal(D)
    return Decoder("linear", D, k, C, 0, activation="identity", weights=transform.store_weights(w, b, dtype),
                   weights_dtype=dtype)


def tables(rng, S=25, fpc=3):
    lengths = rng.integers(1, 40, S).astype(np.int64)
    lengths[::5] = 1
    lengths[1::6] = 2
    counts = transform.knot_counts(lengths, fpc)
    labels = rng.integers(0, C, S).astype(np.int32)
    codes = rng.standard_normal((int(counts.sum()), k)).astype(np.float32)
    return codes, labels, lengths, counts


def rel(a, ref):
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
@pytest.mark.parametrize("fpc", [1, 2, 3, 7, 1000])
def test_decode_matches_reference_and_streams_exactly(dtype, fpc):
    rng = np.random.default_rng(fpc)
    dec = linear_decoder(rng, dtype)
    arrays = tables(rng, fpc=fpc)
    ref = reference_decode(dec, *arrays)
    out = decode_segments(dec, *arrays)
    assert out.shape == (int(arrays[2].sum()), D) and out.dtype == np.float32
    assert rel(out, ref) < 1e-5
    blocks = list(iter_decode_segments(dec, *arrays, chunk_frames=17))
    assert np.array_equal(np.concatenate(blocks), out)  # streaming is bit-identical
    part = decode_segments(dec, *arrays, start=5, stop=50)
    assert np.array_equal(part, out[5:50])


def test_torch_backend_matches_numpy():
    from tascodec.decode.torch_backend import decode_segments_torch

    rng = np.random.default_rng(3)
    dec = linear_decoder(rng, "int8")
    arrays = tables(rng)
    assert rel(decode_segments_torch(dec, *arrays).numpy(), decode_segments(dec, *arrays)) < 1e-5


@pytest.mark.parametrize("knots_first", [True, False])
def test_device_kernel_matches_reference(knots_first):
    """The torch kernel a GPU runs (on a CPU the torch backend calls numpy's), run here on CPU tensors."""
    import torch

    from tascodec.decode import VideoTables, prepared
    from tascodec.decode.torch_backend import _run_linear

    rng = np.random.default_rng(5)
    dec = linear_decoder(rng, "float16")
    arrays = tables(rng, fpc=4)
    prep = prepared(dec)
    v = VideoTables(prep, *arrays)
    ref = reference_decode(dec, *arrays)
    out = torch.empty((v.num_frames, D))
    for s in range(0, v.num_frames, 50):
        e = min(v.num_frames, s + 50)
        _run_linear(prep, torch.from_numpy(v.codes), v.knots(s, e), out[s:e], knots_first)
    assert rel(out.numpy(), ref) < 1e-5


def test_knot_first_is_decided_per_video():
    from tascodec.decode import linear

    assert linear.knot_first(400, 100) and not linear.knot_first(100, 100)
    rng = np.random.default_rng(6)
    dec = linear_decoder(rng)
    arrays = tables(rng, fpc=2)
    whole = decode_segments(dec, *arrays)
    for chunk in (1, 3, 64):  # blocks of any size compute each frame as the whole decode does
        assert np.array_equal(np.concatenate(list(iter_decode_segments(dec, *arrays, chunk_frames=chunk))), whole)


def test_knots_interpolate_between_centres_within_a_segment():
    # one segment of 8 frames, 2 codes: centres at frames 1.5 and 5.5
    row_a, row_b, w = knots(segment_starts([8]), segment_starts([2]), np.array([8]), np.array([2]), 0, 8)
    expected = np.array([0, 0, 0.125, 0.375, 0.625, 0.875, 0, 0], np.float32)
    assert np.array_equal(w, expected)
    assert row_a.tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert row_b.tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    # two segments never mix their rows
    row_a, row_b, w = knots(segment_starts([3, 3]), segment_starts([1, 3]), np.array([3, 3]), np.array([1, 3]), 0, 6)
    assert row_a.tolist()[:3] == [0, 0, 0] and row_b.tolist()[:3] == [0, 0, 0]
    assert np.array_equal(w, np.zeros(6, np.float32))  # n == l: every frame is its own knot


def test_video_codes_are_the_least_squares_knots():
    rng = np.random.default_rng(0)
    lengths = np.array([1, 2, 9, 30, 4], np.int64)
    counts = transform.knot_counts(lengths, 4)
    x = rng.standard_normal((int(lengths.sum()), D)).astype(np.float32)
    basis = transform.Basis(transform.store_weights(np.linalg.qr(rng.standard_normal((D, k)))[0],
                                                    rng.standard_normal(D), "float32"), "float32",
                            np.ones(k), float(k))
    proj = basis.projector()
    z = transform.video_codes(x, lengths, counts, proj)
    ra, rb, w = knots(segment_starts(lengths), segment_starts(counts), lengths, counts, 0, int(lengths.sum()))
    A = np.zeros((x.shape[0], int(counts.sum())))
    A[np.arange(x.shape[0]), ra] += 1 - w
    A[np.arange(x.shape[0]), rb] += w
    best = np.linalg.lstsq(A, (x - proj[1]) @ proj[2], rcond=None)[0]
    assert np.abs(z - best).max() < 1e-4


def test_codes_share_one_step():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((50, k)).astype(np.float32) * np.linspace(3, 0.01, k, dtype=np.float32)
    z[7] *= 0.001  # a quiet row keeps the common step (one scale per row would give it its own)
    for levels in (127, 15, 3):
        q, scale = transform.quantize_codes(z, "int8", levels)
        assert q.dtype == np.int8 and scale.shape == (50,) and np.all(scale == scale[0])
        assert scale[0] == pytest.approx(np.abs(z).max() / levels, rel=1e-6)
        assert np.abs(q).max() == levels and np.abs(q.astype(np.float32) * scale[:, None] - z).max() <= scale[0] / 2 * 1.0001
    assert not np.any(transform.quantize_codes(z, "int8", 3)[0][7])  # the quiet row rounds to zeros
    q, scale = transform.quantize_codes(np.zeros((4, k), np.float32), "int8")
    assert not q.any() and np.all(scale == 1)
    with pytest.raises(ValueError, match="levels"):
        transform.quantize_codes(z, "int8", 128)


def test_coarser_weights_on_weak_components():
    rng = np.random.default_rng(4)
    w = np.linalg.qr(rng.standard_normal((256, 8)))[0]
    b = rng.standard_normal(256)
    sigma = np.array([10, 5, 3, 2, 1, 0.5, 0.1, 0.0])
    plain = transform.store_weights(w, b, "int8")
    assert transform.store_weights(w, b, "int8", sigma=sigma, coarseness=0.0)["w_scale"].tolist() == \
        plain["w_scale"].tolist()
    coarse = transform.store_weights(w, b, "int8", sigma=sigma, coarseness=1.0)
    assert coarse["w_scale"][0] == plain["w_scale"][0] and np.array_equal(coarse["w"][:, 0], plain["w"][:, 0])
    step = coarse["w_scale"]
    assert np.all(step >= plain["w_scale"] * (1 - 1e-6)) and step[6] > 5 * plain["w_scale"][6]
    # weight error per column times the component's spread is at most the first column's (or the column is ~0)
    err = np.abs(coarse["w"] * step - w).max(0)
    assert np.all(err[:7] * sigma[:7] <= step[0] / 2 * sigma[0] * 1.001)
    assert np.abs(coarse["w"][:, 7]).max() <= 1  # a component of no variance keeps at most one level
    with pytest.raises(ValueError, match="int8"):
        transform.store_weights(w, b, "float16", sigma=sigma, coarseness=1.0)


def test_int8_weights_are_checked(tmp_path):
    rng = np.random.default_rng(1)
    dec = linear_decoder(rng, "int8")
    assert dec.weights["w"].dtype == np.int8 and dec.weights["b"].dtype == np.float32
    codes, labels, lengths, counts = tables(rng)
    content = Content(vocab=["a", "b", "c"], videos=["v"], video_segments=np.array([0, labels.size]),
                      seg_label=labels, seg_length=lengths, seg_instances=counts, decoder=dec,
                      codes=codes, codes_dtype="float32")
    path = write_container(content, tmp_path / "x.tasz")
    with tascodec.open(path) as c:
        assert c.decoder.kind == "linear"
        assert rel(c.decode("v"), reference_decode(dec, codes, labels, lengths, counts)) < 1e-5
        assert c.verify() == []
    bad = Decoder("linear", D, k, C, 0, weights={**dec.weights, "w": np.full((D, k), -128, np.int8)},
                  weights_dtype="int8")
    with pytest.raises(InvalidStructure, match="-128"):
        write_container(Content(**{**content.__dict__, "decoder": bad}), tmp_path / "bad.tasz")
    mlp_int8 = Decoder("mlp", D, k, C, 4, weights={}, weights_dtype="int8")
    with pytest.raises(TaszFormatError, match="int8"):
        write_container(Content(**{**content.__dict__, "decoder": mlp_int8}), tmp_path / "bad2.tasz")
    hidden = Decoder("linear", D, k, C, 3, weights=dec.weights, weights_dtype="int8")
    with pytest.raises(InvalidStructure, match="hidden"):
        write_container(Content(**{**content.__dict__, "decoder": hidden}), tmp_path / "bad3.tasz")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("d") / "gtea", like="gtea", dim=32, length_scale=0.3)


def _error(path, data) -> float:
    ds = tascodec.read_dataset(data)
    err = tot = 0.0
    with tascodec.open(path) as c:
        for v in c.videos:
            x = ds.features(v)
            err += float(((x - c.decode(v)) ** 2).sum())
            tot += float((x**2).sum())
    return err / tot


def test_pca_method_end_to_end(tiny, tmp_path):
    errors = {}
    for kk, fpc, wdt in ((4, 4, "int8"), (16, 4, "int8"), (16, 1, "float16"), (32, 1, "float32")):
        out = encode(tiny, tmp_path / f"{kk}-{fpc}-{wdt}.tasz", method="pca", latent_dim=kk, frames_per_code=fpc,
                     weights_dtype=wdt, latent_dtype="float32" if wdt == "float32" else "int8", progress=False)
        errors[kk, fpc, wdt] = _error(out, tiny)
        with tascodec.open(out) as c:
            assert c.decoder.kind == "linear" and c.decoder.latent_dim == kk
            assert c.metadata["provenance"]["settings"]["frames_per_code"] == fpc
            # the encoder's closed form, with no second pass, is the decoded error
            restored = c.metadata["provenance"]["losses"]["restored"]
            assert restored == pytest.approx(errors[kk, fpc, wdt], rel=1e-3, abs=1e-7)  # abs: cancellation
    # more components, denser knots: less error; all 32 components and a knot per frame: exact
    assert errors[16, 4, "int8"] < errors[4, 4, "int8"]
    assert errors[16, 1, "float16"] < errors[16, 4, "int8"]
    assert errors[32, 1, "float32"] < 1e-8


def test_pca_container_subsets_and_merges(tiny, tmp_path):
    src = encode(tiny, tmp_path / "all.tasz", method="pca", latent_dim=8, latent_dtype="int8", progress=False)
    with tascodec.open(src) as c:
        whole = {v: c.decode(v) for v in c.videos}
    tascodec.subset(src, tmp_path / "half.tasz", ratio=0.5)
    with tascodec.open(tmp_path / "half.tasz") as c:
        assert 0 < len(c.videos) < len(whole)
        for v in c.videos:
            assert np.array_equal(c.decode(v), whole[v])
    tascodec.merge([tmp_path / "half.tasz"], tmp_path / "again.tasz")
    with tascodec.open(tmp_path / "again.tasz") as c:
        for v in c.videos:
            assert np.array_equal(c.decode(v), whole[v])


def test_pca_rejects_options_it_cannot_use(tiny, tmp_path):
    with pytest.raises(UsageError, match="int8"):
        encode(tiny, tmp_path / "x.tasz", method="inversion", weights_dtype="int8", progress=False)
    with pytest.raises(UsageError, match="levels"):
        encode(tiny, tmp_path / "x.tasz", method="pca", latent_dtype="int8", levels=200, progress=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("r") / "gtea", like="gtea", videos=8, dim=16, length_scale=0.15)


def test_rate_control_fits_the_budget_with_the_least_error_it_measured(small, tmp_path):
    sizes, errors = {}, {}
    for budget in (15_000, 40_000):
        out = encode(small, tmp_path / f"{budget}.tasz", method="pca", target_bytes=budget, progress=False)
        sizes[budget] = out.stat().st_size
        with tascodec.open(out) as c:
            target = c.metadata["provenance"]["settings"]["target"]
            restored = c.metadata["provenance"]["losses"]["restored"]
            assert target["budget_bytes"] == budget and target["candidates"] > 10
            scale = c._rows(c._scale, 0, c.num_rows)
            assert np.all(scale == scale[0])  # one code step for the whole file
            assert c.decoder.kind == "linear" and c.codes_dtype == "int8"
        errors[budget] = _error(out, small)
        assert sizes[budget] <= budget
        # the estimate on the sample (here: every video) is the restored error, and so is the
        # whole split's, recorded after the encode (int8 weights, rounded coarser on weak components)
        assert errors[budget] == pytest.approx(target["estimated_error"], rel=0.05, abs=1e-5)
        assert errors[budget] == pytest.approx(restored, rel=1e-3)
    assert errors[40_000] < errors[15_000]
    ratio = encode(small, tmp_path / "r.tasz", method="pca", target_ratio=0.2, progress=False)
    raw = tascodec.read_dataset(small).total_frames * 16 * 4
    assert ratio.stat().st_size <= 0.2 * raw


def test_rate_control_says_when_nothing_fits(small, tmp_path):
    with pytest.raises(UsageError, match="nothing fits in 2,000 bytes"):
        encode(small, tmp_path / "x.tasz", method="pca", target_bytes=2_000, progress=False)
    assert not (tmp_path / "x.tasz").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="method pca"):
        encode(small, tmp_path / "x.tasz", method="inversion", target_bytes=50_000, progress=False)


def test_default_encode_is_rate_control_at_the_default_budget(small, tmp_path, monkeypatch):
    from tascodec.encoding import defaults

    raw = tascodec.read_dataset(small).total_frames * 16 * 4
    # this small dataset cannot fit 0.5% of its raw bytes: the fixed shape, and provenance says why
    out = encode(small, tmp_path / "small.tasz", progress=False)
    with tascodec.open(out) as c:
        settings = c.metadata["provenance"]["settings"]
        assert c.decoder.kind == "linear" and settings["frames_per_code"] == defaults.PCA_FRAMES_PER_CODE
        assert settings["target"]["default"] and "does not fit" in settings["target"]["fallback"]
    monkeypatch.setattr(defaults, "TARGET_RATIO", 0.2)
    out = encode(small, tmp_path / "d.tasz", progress=False)
    ref = encode(small, tmp_path / "r.tasz", method="pca", target_ratio=0.2, progress=False)
    assert out.stat().st_size <= 0.2 * raw
    with tascodec.open(out) as c, tascodec.open(ref) as r:
        target = c.metadata["provenance"]["settings"]["target"]
        assert target["default"] and target["budget_bytes"] == int(0.2 * raw) and "fallback" not in target
        # what --target-ratio 0.2 writes (the estimate differs by the metadata's few bytes)
        assert target["chosen"].split(" (~")[0] == r.metadata["provenance"]["settings"]["target"]["chosen"].split(" (~")[0]
        np.testing.assert_array_equal(c.content().codes, r.content().codes)


def test_pca_K_places_K_knots_per_segment(tiny, tmp_path):
    out = encode(tiny, tmp_path / "k.tasz", K=3, latent_dim=8, progress=False)
    with tascodec.open(out) as c:
        assert c.decoder.kind == "linear" and c.metadata["provenance"]["settings"]["K"] == 3
        for v in c.videos:
            _, lengths, rows = c.segments(v)
            np.testing.assert_array_equal(rows, np.minimum(lengths, 3))
    with pytest.raises(UsageError, match="give K or a target"):
        encode(tiny, tmp_path / "x.tasz", K=3, target_ratio=0.1, progress=False)


def test_cli_target_bytes_picks_pca(small, tmp_path):
    from click.testing import CliRunner

    from tascodec.cli.encode import parse_size
    from tascodec.cli.main import cli

    assert parse_size("12MB") == 12_000_000 and parse_size("1.5KiB") == 1536 and parse_size("4096") == 4096
    out = tmp_path / "c.tasz"
    res = CliRunner().invoke(cli, ["encode", str(small), "-o", str(out), "--target-bytes", "40KB", "-q"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size <= 40_000
    with tascodec.open(out) as c:
        assert c.metadata["provenance"]["method"] == "pca"
    res = CliRunner().invoke(cli, ["encode", str(small), "-o", str(out), "--target-bytes", "3 parsecs", "-f"])
    assert res.exit_code == 2 and "not a size" in res.output
