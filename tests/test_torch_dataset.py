"""TaszDataset and collate: items, padding, caching, and DataLoader workers under fork and spawn."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import tascodec
from tascodec.errors import UsageError
from tascodec.torch import IGNORE_INDEX, TaszDataset, collate
from helpers import write_test_container


@pytest.fixture(scope="module")
def tasz(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "x.tasz"
    return write_test_container(path, videos=("a", "b_2", "c", "d"), activities=["cereals", None, "tea", "tea"])


@pytest.fixture(scope="module")
def expected(tasz):
    with tascodec.open(tasz) as c:
        return {v: (c.decode(v), c.labels(v), c.activity(v)) for v in c.videos}


def check_item(item, expected):
    x, y, _ = expected[item["video"]]
    assert item["features"].dtype == torch.float32 and item["labels"].dtype == torch.long
    np.testing.assert_allclose(item["features"].cpu().numpy(), x, rtol=0, atol=1e-5 * np.abs(x).max())
    np.testing.assert_array_equal(item["labels"].cpu().numpy(), y)


def test_items(tasz, expected):
    ds = TaszDataset(tasz, return_activity=True)
    assert len(ds) == 4 and ds.videos == ["a", "b_2", "c", "d"] and ds.vocab[0] == "background"
    for i in range(len(ds)):
        item = ds[i]
        check_item(item, expected)
        assert item["activity"] == expected[item["video"]][2]
    assert ds[-1]["video"] == "d"
    with pytest.raises(IndexError):
        ds[4]
    assert "activity" not in TaszDataset(tasz)[0]


def test_videos_subset_and_unknown_names(tasz):
    assert [TaszDataset(tasz, videos=["c", "a"])[i]["video"] for i in range(2)] == ["c", "a"]
    with pytest.raises(KeyError, match="b_2"):  # UnknownVideo, naming close matches
        TaszDataset(tasz, videos=["b2"])


def test_collate_pads_like_mstcn(tasz, expected):
    ds = TaszDataset(tasz, return_activity=True)
    batch = collate([ds[0], ds[2]])
    n0, n2 = len(expected["a"][1]), len(expected["c"][1])
    T = max(n0, n2)
    assert batch["features"].shape == (2, T, ds.feature_dim) and batch["labels"].shape == (2, T)
    assert batch["mask"].dtype == torch.float32 and batch["mask"].sum().item() == n0 + n2
    assert batch["lengths"].tolist() == [n0, n2] and batch["videos"] == ["a", "c"]
    assert batch["activities"] == ["cereals", "tea"]
    short = 0 if n0 < n2 else 1
    n = min(n0, n2)
    assert (batch["labels"][short, n:] == IGNORE_INDEX).all() and (batch["features"][short, n:] == 0).all()
    assert (batch["mask"][short, n:] == 0).all() and (batch["mask"][short, :n] == 1).all()


def test_cache_keeps_restored_videos(tasz, expected):
    ds = TaszDataset(tasz, cache=True)
    first = ds[1]["features"]
    assert ds[1]["features"].data_ptr() == first.data_ptr()  # no second decode
    half = TaszDataset(tasz, cache=True, cache_dtype=torch.float16)
    a, b = half[1]["features"], half[1]["features"]
    assert a.dtype == torch.float32 and torch.equal(a, b)
    assert half._cached[1].dtype == torch.float16
    x = expected["b_2"][0]
    np.testing.assert_allclose(a.numpy(), x, rtol=2e-3, atol=2e-3 * np.abs(x).max())


def test_pickles_as_path_not_handle(tasz, expected):
    ds = TaszDataset(tasz, cache=True)
    ds[0]
    assert ds._container is not None and ds._cached
    state = ds.__getstate__()
    assert state["_container"] is None and state["_cached"] == {}
    clone = pickle.loads(pickle.dumps(ds))
    check_item(clone[3], expected)
    ds._pid = -1  # as if in a forked child: the next item reopens the file
    old = ds._container
    check_item(ds[2], expected)
    assert ds._container is not old and ds._pid == os.getpid()


def test_torch_device_decode(tasz, expected):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        ds = TaszDataset(tasz, device=dev)
        item = ds[2]
        assert item["features"].device.type == dev and item["labels"].device.type == dev
        check_item(item, expected)
    with pytest.raises(UsageError):
        TaszDataset(tasz, device="nonsense")


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers(tasz, expected, context):
    ds = TaszDataset(tasz, return_activity=True)
    ds[0]  # an open handle in the parent must not reach the workers
    loader = DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=2, multiprocessing_context=context)
    seen = []
    for batch in loader:
        for j, v in enumerate(batch["videos"]):
            n = int(batch["lengths"][j])
            check_item({"video": v, "features": batch["features"][j, :n], "labels": batch["labels"][j, :n]}, expected)
            seen.append(v)
    assert sorted(seen) == sorted(expected)


def test_index_by_name_and_video_facts(tasz, expected):
    ds = TaszDataset(tasz)
    assert ds["b_2"]["video"] == "b_2" and torch.equal(ds["b_2"]["features"], ds[1]["features"])
    with pytest.raises(KeyError, match="b_2"):  # close matches named
        ds["b2"]
    with pytest.raises(TypeError):
        ds[1.5]
    sub = TaszDataset(tasz, videos=["c", "a"])
    assert sub["a"]["video"] == "a" and sub.index("a") == 1
    with pytest.raises(KeyError):
        sub["b_2"]  # in the file, not in this dataset
    assert ds.videos == ["a", "b_2", "c", "d"] and ds.vocab[0] == "background"
    assert ds.activities == ["cereals", None, "tea", "tea"]
    assert ds.activity("c") == "tea" and ds.activity(1) is None
    names = ds.label_names("c")
    assert names == [ds.vocab[i] for i in expected["c"][1]] and len(names) == ds.num_frames[2]


def test_transform_hook(tasz, expected):
    def add_doubled(item):
        item["doubled"] = item["features"] * 2
        return item

    ds = TaszDataset(tasz, transform=add_doubled)
    item = ds["a"]
    check_item(item, expected)
    assert torch.allclose(item["doubled"], item["features"] * 2)
    with pytest.raises(UsageError):
        TaszDataset(tasz, transform="not callable")


def test_dt_layout_needs_no_transposes(tasz, expected):
    ds = TaszDataset(tasz, layout="DT", cache=True, return_activity=True)
    for v, (x, y, _) in expected.items():
        item = ds[v]
        assert item["features"].shape == (ds.feature_dim, len(y)) and item["features"].is_contiguous()
        np.testing.assert_allclose(item["features"].numpy(), x.T, rtol=0, atol=1e-5 * np.abs(x).max())
    for batch in (ds.collate([ds[0], ds[2]]), collate([ds[0], ds[2]])):
        T = max(len(expected["a"][1]), len(expected["c"][1]))
        assert batch["features"].shape == (2, ds.feature_dim, T) and batch["mask"].shape == (2, T)
        n = len(expected["a"][1])
        torch.testing.assert_close(batch["features"][0, :, :n], ds[0]["features"])
        assert (batch["features"][0, :, n:] == 0).all()
    assert TaszDataset(tasz).collate([TaszDataset(tasz)[0]])["features"].shape[1:] == (len(expected["a"][1]),
                                                                                          ds.feature_dim)
    with pytest.raises(UsageError, match="layout"):
        TaszDataset(tasz, layout="TDX")
