"""Noise filling (format 1.2): the pca encoder stores what its codes miss, training restores draw it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import tascodec
from tascodec.container import write_container
from tascodec.data.synthetic import synthesize
from tascodec.decode.noise import NoisySource, add_noise, check_noise, noise_map, resolve_noise
from tascodec.encoding import transform
from tascodec.encoding.pipeline import encode
from tascodec.errors import InvalidStructure, UsageError
from tascodec.subsetting.contents import merge_contents
from tascodec.torch import TaszDataset

from helpers import assert_same_content, linear_content, write_test_container


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("d") / "gtea", like="gtea", videos=8, dim=32, length_scale=0.3)


@pytest.fixture(scope="module")
def pca(data, tmp_path_factory):
    return encode(data, tmp_path_factory.mktemp("e") / "pca.tasz", method="pca", latent_dim=8, frames_per_code=4,
                  progress=False)


def _missed(path, data) -> np.ndarray:
    """Per code dimension, the RMS of the frames' least-squares coefficients minus the decoded codes."""
    ds = tascodec.read_dataset(data)
    with tascodec.open(path) as c:
        w, b = c.decoder.weights["w"].astype(np.float64), c.decoder.weights["b"].astype(np.float64)
        pinv = np.linalg.pinv(w)
        sq, n = 0.0, 0
        for v in c.videos:
            r = (ds.features(v) - c.decode(v)) @ pinv.T  # decode is affine: (x - b) P - z_t
            sq = sq + (r ** 2).sum(0)
            n += len(r)
    return np.sqrt(sq / n)


def test_pca_stores_the_rms_of_what_its_codes_miss(pca, data):
    with tascodec.open(pca) as c:
        assert c.metadata["version"] == "1.2" and c.verify() == []
        sd = c.residual_sd
        assert sd.shape == (8,) and sd.dtype == np.float32 and np.all(sd > 0)
        assert c.nbytes_by_part()["codes"] > 0
    # the closed form (|y|^2 - z.Nz + e.Ne) equals the direct residual, within float16 rounding
    np.testing.assert_allclose(sd, _missed(pca, data), rtol=2e-3)


def test_a_knot_per_frame_misses_only_the_quantization(data, tmp_path):
    exact = encode(data, tmp_path / "f32.tasz", method="pca", latent_dim=8, frames_per_code=1,
                   latent_dtype="float32", weights_dtype="float32", progress=False)
    coarse = encode(data, tmp_path / "q.tasz", method="pca", latent_dim=8, frames_per_code=1, levels=7,
                    progress=False)
    with tascodec.open(exact) as a, tascodec.open(coarse) as b:
        assert np.all(a.residual_sd < 1e-3 * b.residual_sd.max())  # float32 knots on every frame: nothing missed
        assert np.all(b.residual_sd > 0)
    np.testing.assert_allclose(tascodec.open(coarse).residual_sd, _missed(coarse, data), rtol=2e-3)


def test_residual_sd_closed_form_matches_a_direct_sum():
    rng = np.random.default_rng(3)
    layouts, ys, zs = [], [], []
    for _ in range(3):
        lengths = rng.integers(1, 30, 7).astype(np.int64)
        inst = transform.knot_counts(lengths, 4)
        y = rng.standard_normal((int(lengths.sum()), 5)).astype(np.float32)
        layouts.append((lengths, inst))
        ys.append(y)
        zs.append(transform.knots_from_coefficients(y, lengths, inst))
    z = np.concatenate(zs)
    zq = np.round(z * 4) / 4  # any stored knots
    energy = sum(np.einsum("tk,tk->k", y, y, dtype=np.float64) for y in ys)
    stats = transform.CodeStats(energy, frames=sum(len(y) for y in ys))
    got, _ = transform.code_residuals(stats, z, zq, layouts, np.eye(5, dtype=np.float32))
    direct, r0 = 0.0, 0
    for (lengths, inst), y in zip(layouts, ys):
        system = transform.KnotSystem(lengths, inst)
        zv = zq[r0:r0 + system.R].astype(np.float64)
        interp = (1 - system.w[:, None]) * zv[system.row_a] + system.w[:, None] * zv[system.row_b]
        direct = direct + ((y - interp) ** 2).sum(0)
        r0 += system.R
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float64), np.sqrt(direct / sum(len(y) for y in ys)), rtol=1e-3)


def test_only_pca_files_carry_it(tmp_path):
    p = write_test_container(tmp_path / "mlp.tasz")
    with tascodec.open(p) as c:
        assert c.residual_sd is None and c.metadata["version"] == "1.1"
    c = linear_content()
    write_container(c, tmp_path / "lin.tasz")
    assert tascodec.open(tmp_path / "lin.tasz").metadata["version"] == "1.1"  # no noise level: a 1.1 file


@pytest.mark.parametrize("bad, why", [
    (np.array([0.5, -1, 0, 0], np.float16), "finite and >= 0"),
    (np.array([0.5, np.inf, 0, 0], np.float16), "finite and >= 0"),
    (np.array([0.5, 0.5, 0.5], np.float16), r"float16 \(4,\)"),
    (np.array([0.5, 0.5, 0.5, 0.5], np.float32), r"float16 \(4,\)"),
])
def test_the_writer_refuses_a_bad_noise_level(tmp_path, bad, why):
    c = dataclasses.replace(linear_content(), residual_sd=bad)
    with pytest.raises(InvalidStructure, match=why):
        write_container(c, tmp_path / "x.tasz")
    assert not (tmp_path / "x.tasz").exists()


def test_the_writer_refuses_it_on_other_decoders(tmp_path):
    from helpers import make_content

    c = dataclasses.replace(make_content(), residual_sd=np.ones(3, np.float16))
    with pytest.raises(InvalidStructure, match="only for linear"):
        write_container(c, tmp_path / "x.tasz")


def test_subset_keeps_and_merge_pools_it(pca, tmp_path):
    half = tmp_path / "half.tasz"
    tascodec.subset(pca, half, ratio=0.5)
    with tascodec.open(pca) as a, tascodec.open(half) as b:
        assert np.array_equal(a.residual_sd, b.residual_sd)
        content = a.content()
    again = tascodec.open(pca).content()
    assert_same_content(content, again)  # read back whole, noise level included
    # merging two parts pools their levels over their frames
    one = tascodec.open(pca).content()
    from tascodec.subsetting.contents import subset_content

    first = subset_content(one, [0, 1, 2])
    rest = subset_content(one, list(range(3, len(one.videos))))
    first.residual_sd = np.full(8, 1.0, np.float16)
    rest.residual_sd = np.full(8, 2.0, np.float16)
    merged = merge_contents([first, rest])
    f1, f2 = first.num_frames().sum(), rest.num_frames().sum()
    np.testing.assert_allclose(merged.residual_sd.astype(np.float64), np.sqrt((f1 * 1 + f2 * 4) / (f1 + f2)), rtol=1e-3)
    rest.residual_sd = None
    assert merge_contents([first, rest]).residual_sd is None  # not every input has one: none


def test_dataset_draws_fresh_noise_at_the_stored_level(pca):
    clean = TaszDataset(pca, noise=0)
    noisy = TaszDataset(pca)
    assert clean.noise_scale == 0 and noisy.noise_scale == 1.0
    with tascodec.open(pca) as c:
        sd = c.residual_sd
        w = c.decoder.weights["w"].astype(np.float64)
        v = max(c.videos, key=c.num_frames)
        assert torch.equal(clean[v]["features"], torch.from_numpy(c.decode(v, smooth="auto")))
    torch.manual_seed(0)
    a = noisy[v]["features"]
    b = noisy[v]["features"]
    torch.manual_seed(0)
    assert torch.equal(noisy[v]["features"], a)  # torch's RNG makes it reproducible
    assert not torch.equal(a, b)  # and it is drawn anew on every access
    base = clean[v]["features"].double().numpy()
    draws = np.concatenate([(noisy[v]["features"].double().numpy() - base) @ np.linalg.pinv(w).T for _ in range(20)])
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.1)  # in the decoder's span, at the stored level
    np.testing.assert_allclose(draws.mean(0), 0, atol=0.1 * sd.max())
    twice = TaszDataset(pca, noise=2)
    d2 = np.concatenate([(twice[v]["features"].double().numpy() - base) @ np.linalg.pinv(w).T for _ in range(20)])
    np.testing.assert_allclose(d2.std(0), 2 * sd, rtol=0.1)


def test_dataset_noise_never_touches_the_cache_and_follows_the_layout(pca):
    ds = TaszDataset(pca, cache=True, layout="DT")
    v = ds.videos[0]
    first = ds[v]["features"]
    cached = ds._cached[0].clone()
    second = ds[v]["features"]
    assert first.shape == (ds.feature_dim, ds.num_frames[0]) and not torch.equal(first, second)
    assert torch.equal(ds._cached[0], cached)
    clean = TaszDataset(pca, noise=0, layout="DT")[v]["features"]
    assert torch.equal(cached, clean)


def test_noise_option_is_checked(pca, tmp_path):
    for bad in (-1, "loud", float("nan"), True):
        with pytest.raises(UsageError, match="noise"):
            TaszDataset(pca, noise=bad)
    assert check_noise("AUTO") == "auto" and check_noise("0.5") == 0.5
    mlp = write_test_container(tmp_path / "mlp.tasz")
    assert TaszDataset(mlp).noise_scale == 0  # auto: nothing stored, nothing drawn
    with pytest.raises(UsageError, match="residual_sd"):
        TaszDataset(mlp, noise=1)
    with tascodec.open(mlp) as c:
        assert resolve_noise(0, c) == 0 and noise_map(c, 0) is None


def test_noisy_source_for_training_loops(pca):
    with tascodec.open(pca) as c:
        source = [(c.decode(v), c.labels(v)) for v in c.videos]
        m = noise_map(c, 1.0)
    noisy = NoisySource(source, m)
    assert len(noisy) == len(source)
    x, y = noisy[0]
    assert x.shape == source[0][0].shape and x.dtype == np.float32 and y is source[0][1]
    assert not np.array_equal(x, source[0][0])
    t = torch.from_numpy(source[0][0])
    assert torch.equal(add_noise(t, torch.from_numpy(m) * 0), t)
