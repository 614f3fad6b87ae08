"""Bounded memory: a whole ``encode`` with small buffers holds far less than the split's features,
and within ``pipeline.memory_bound`` (numpy allocations, traced with tracemalloc; deterministic)."""
from __future__ import annotations

import tracemalloc

import numpy as np

import tascodec
from tascodec.data.layout import read_dataset
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline

BUFFERS = dict(cache_bytes=0, buffer_frames=300, chunk_frames=300)


def test_encode_peak_is_bounded_by_the_buffers_not_the_dataset(tmp_path):
    data = synthesize(tmp_path / "bf", like="breakfast", videos=240, dim=256, length_scale=0.03, seed=2)
    ds = read_dataset(data, background=["SIL"])
    everything = ds.total_frames * ds.feature_dim * 4
    longest = max(ds.num_frames(v) for v in ds)
    assert ds.total_frames > 12 * max(longest, BUFFERS["chunk_frames"])  # the buffers are a small share
    _warm_up()  # torch's first optimizer step imports modules: Python objects, not encode's memory
    tracemalloc.start()
    try:
        out = pipeline.encode(data, tmp_path / "bf.tasz", background=["SIL"], train_steps=6, iters=3,
                              batch_size=64, hidden=32, latent_dim=8, progress=False, **BUFFERS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    c = tascodec.open(out)
    assert len(c.videos) == len(ds) and np.isfinite(c.decode(c.videos[0])).all()
    rows = int(c.content().num_rows)
    bound = pipeline.memory_bound(ds.feature_dim, frames=ds.total_frames, longest=longest, rows=rows,
                                  num_classes=len(ds.vocab), latent_dim=8, hidden=32, batch_size=64,
                                  base=0, **BUFFERS)
    assert peak < bound
    assert peak < 0.25 * everything, (peak, everything)


def _warm_up():
    import torch

    from tascodec.model.tca import TCA, train_tca

    batch = (torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), torch.zeros(2))
    train_tca(TCA(4, 2, 2, 4), lambda epoch: iter([batch]), epochs=1, progress=False)


def test_memory_bound_does_not_grow_with_feature_bytes():
    small = pipeline.memory_bound(2048, frames=25_000, longest=10_000, rows=8_000)
    breakfast = pipeline.memory_bound(2048, frames=3_085_477, longest=10_000, rows=79_080, num_classes=48)
    assert breakfast < 4 * 2**30  # the goal at 2048-d, whatever the number of videos
    assert breakfast - small < 0.02 * 3_085_477 * 2048 * 4  # 25 GB more features: labels and codes grow, < 2%
