"""``--seed``: a CPU encode run twice gives the same bytes, also with several torch threads (issue 11).

The rest of the suite runs torch on one thread (conftest); these tests use two, where the
backward of an indexed gather used to accumulate with parallel atomic adds (order varies).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import tascodec
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.model.tca import TCA, train_tca

# batch x hidden >= 32768 elements: the size where torch parallelises the accumulation
KW = dict(method="inversion", epochs=1, iters=3, batch_size=64, hidden=512, latent_dim=8, progress=False)


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def test_seeded_encode_is_reproducible_with_two_threads(tmp_path, two_threads):
    data = synthesize(tmp_path / "ds", like="gtea", videos=4, dim=32, length_scale=0.1, seed=1)
    runs = [tascodec.open(pipeline.encode(data, tmp_path / f"{i}.tasz", **KW)).content() for i in range(2)]
    a, b = runs
    assert a.decoder.sha256() == b.decoder.sha256()
    np.testing.assert_array_equal(a.codes, b.codes)  # the claim is bit-identical output


def test_training_is_reproducible_with_two_threads_and_restores_the_setting(two_threads):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((512, 32), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 11, 512))
    c = torch.from_numpy(rng.random(512, dtype=np.float32))

    def batches(epoch):
        for s in range(0, 512, 64):
            yield x[s:s + 64], y[s:s + 64], c[s:s + 64]

    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    weights = []
    for _ in range(3):
        model = TCA(32, 11, 8, 512, seed=0)
        train_tca(model, batches, epochs=2, progress=False, seed=0)
        weights.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
        assert (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled()) == before
    assert all(torch.equal(weights[0], w) for w in weights[1:])


def test_setting_restored_when_training_fails(two_threads):
    def batches(epoch):
        raise RuntimeError("boom")
        yield

    before = torch.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="boom"):
        train_tca(TCA(4, 2, 2, 4, seed=0), batches, epochs=1, progress=False)
    assert torch.are_deterministic_algorithms_enabled() == before
