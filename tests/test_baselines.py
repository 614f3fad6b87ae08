"""Mean and Coreset codes against brute-force numpy."""
from __future__ import annotations

import numpy as np
import pytest

from tascodec.data.segments import frame_layout, instance_counts
from tascodec.encoding.baselines import coreset_codes, mean_codes


def layout(seed=0, T=300, D=16, K=4):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, size=20)
    lengths = lengths[np.cumsum(lengths) <= T]
    counts = instance_counts(lengths, K)
    _, row, _ = frame_layout(lengths, counts)
    x = rng.normal(size=(row.size, D)).astype(np.float32)
    return x, row, int(counts.sum())


def brute(x, row, R):
    means = np.stack([x[row == k].astype(np.float64).mean(0) for k in range(R)])
    picks = []
    for k in range(R):
        idx = np.flatnonzero(row == k)
        d = ((x[idx].astype(np.float64) - means[k]) ** 2).sum(1)
        picks.append(x[idx[np.argmin(d)]])
    return means.astype(np.float32), np.stack(picks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_and_coreset_match_brute_force(seed):
    x, row, R = layout(seed)
    want_mean, want_core = brute(x, row, R)
    np.testing.assert_allclose(mean_codes(x, row, R), want_mean, rtol=1e-6, atol=1e-6)
    got = coreset_codes(x, row, R)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, want_core)


def test_unsorted_rows_and_chunking_give_the_same_codes(monkeypatch):
    import tascodec.encoding.baselines as b

    x, row, R = layout(3)
    want_mean, want_core = mean_codes(x, row, R), coreset_codes(x, row, R)
    monkeypatch.setattr(b, "_CHUNK", 7)
    np.testing.assert_allclose(mean_codes(x, row, R), want_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(coreset_codes(x, row, R), want_core)
    perm = np.random.default_rng(0).permutation(row.size)
    np.testing.assert_allclose(mean_codes(x[perm], row[perm], R), want_mean, rtol=1e-6, atol=1e-7)
    big = np.bincount(row, minlength=R) > 2          # two-frame instances tie: "earliest" moves with perm
    np.testing.assert_array_equal(coreset_codes(x[perm], row[perm], R)[big], want_core[big])


def test_coreset_ties_pick_the_earliest_frame_and_codes_are_real_frames():
    x = np.array([[0.0], [2.0], [1.0], [3.0], [5.0]], np.float32)
    row = np.array([0, 0, 0, 1, 1])
    # instance 0: mean 1 -> frame 2; instance 1: mean 4, frames 3 and 5 tie -> the earlier one
    np.testing.assert_array_equal(coreset_codes(x, row, 2), [[1.0], [3.0]])
    np.testing.assert_array_equal(mean_codes(x, row, 2), [[1.0], [4.0]])


def test_bad_rows_are_refused():
    x, row, R = layout(0)
    with pytest.raises(ValueError):
        mean_codes(x, row, R - 1)
    with pytest.raises(ValueError):
        coreset_codes(x, row[:-1], R)
