"""The MS-TCN layout reader: good data, options, and every bad-input case of issue 2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tascodec.data.layout import read_dataset
from tascodec.errors import DatasetError, FrameCountMismatch, MissingFeatures, UsageError

VOCAB = ["background", "take", "pour", "stir"]


def make_dataset(root: Path, videos: dict[str, list[str]], dim: int = 8, *, features_apart: bool = False,
                 seed: int = 0) -> Path:
    """Write a tiny MS-TCN dataset; ``videos`` maps name -> per-frame label names."""
    rng = np.random.default_rng(seed)
    feat_dir = (root / "feats") if features_apart else (root / "features")
    for d in (feat_dir, root / "groundTruth", root / "splits"):
        d.mkdir(parents=True, exist_ok=True)
    (root / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(VOCAB)))
    for name, labels in videos.items():
        np.save(feat_dir / f"{name}.npy", rng.random((dim, len(labels)), dtype=np.float32))
        (root / "groundTruth" / f"{name}.txt").write_text("\n".join(labels) + "\n")
    names = list(videos)
    (root / "splits" / "train.split1.bundle").write_text("".join(f"{n}.txt\n" for n in names[:-1]))
    (root / "splits" / "test.split1.bundle").write_text(f"{names[-1]}.txt\n")
    return root


SEQ_A = ["background"] * 3 + ["take"] * 5 + ["pour"] * 4 + ["background"] * 2
SEQ_B = ["take"] * 6 + ["stir"] * 7
SEQ_C = ["pour"] * 9


@pytest.fixture
def ds_dir(tmp_path):
    return make_dataset(tmp_path / "toy", {"S1_Cheese_C1": SEQ_A, "S2_Tea_C1": SEQ_B, "S3_Tea_C1": SEQ_C})


def test_reads_train_split_lazily(ds_dir):
    ds = read_dataset(ds_dir)
    assert ds.videos == ["S1_Cheese_C1", "S2_Tea_C1"]
    assert ds.vocab == VOCAB and ds.feature_dim == 8 and ds.name == "toy"
    assert ds.num_frames("S1_Cheese_C1") == len(SEQ_A)
    assert ds.total_frames == len(SEQ_A) + len(SEQ_B)
    labels, lengths = ds.segments("S1_Cheese_C1")
    assert labels.tolist() == [0, 1, 2, 0] and lengths.tolist() == [3, 5, 4, 2]
    x = ds.features("S2_Tea_C1")
    raw = np.load(ds_dir / "features" / "S2_Tea_C1.npy")
    assert x.shape == (len(SEQ_B), 8) and x.flags.c_contiguous and x.dtype == np.float32
    np.testing.assert_array_equal(x, raw.T)
    assert ds.background_ids == [0]


def test_test_part_all_part_and_subset(ds_dir):
    assert read_dataset(ds_dir, part="test").videos == ["S3_Tea_C1"]
    all_ = read_dataset(ds_dir, part="all")
    assert sorted(all_.videos) == ["S1_Cheese_C1", "S2_Tea_C1", "S3_Tea_C1"]
    sub = all_.subset(["S3_Tea_C1"])
    assert sub.videos == ["S3_Tea_C1"] and sub.total_frames == len(SEQ_C)
    with pytest.raises(DatasetError, match="unknown video"):
        all_.subset(["nope"])


def test_sample_rate(ds_dir):
    ds = read_dataset(ds_dir, sample_rate=2)
    assert ds.num_frames("S1_Cheese_C1") == 7
    raw = np.load(ds_dir / "features" / "S1_Cheese_C1.npy")
    np.testing.assert_array_equal(ds.features("S1_Cheese_C1"), raw[:, ::2].T)
    assert ds.labels("S1_Cheese_C1").tolist() == [0, 0, 1, 1, 2, 2, 0]


def test_activity_pattern_and_labels_hash(ds_dir):
    ds = read_dataset(ds_dir, activity_pattern=r"^S\d+_([A-Za-z]+)_")
    assert ds.activity("S1_Cheese_C1") == "Cheese"
    assert read_dataset(ds_dir).activity("S1_Cheese_C1") is None
    assert ds.labels_hash() == read_dataset(ds_dir).labels_hash()
    assert ds.labels_hash() != read_dataset(ds_dir, part="test").labels_hash()


def test_features_apart_with_labels_option(tmp_path):
    root = make_dataset(tmp_path / "bf", {"a": SEQ_A, "b": SEQ_B}, features_apart=True)
    ds = read_dataset(root / "feats", labels=root)
    assert ds.videos == ["a"] and ds.features("a").shape == (len(SEQ_A), 8)
    with pytest.raises(MissingFeatures, match="no features folder"):  # the CLI adds the --labels hint
        read_dataset(root)


def test_labels_only_when_features_not_required(tmp_path):
    root = make_dataset(tmp_path / "x", {"a": SEQ_A, "b": SEQ_B})
    for f in (root / "features").iterdir():
        f.unlink()
    (root / "features").rmdir()
    ds = read_dataset(root, require_features=False)
    assert ds.features_dir is None and ds.feature_dim is None and ds.num_frames("a") == len(SEQ_A)


def test_iter_videos_streams_one_at_a_time(ds_dir):
    names = [n for n, x, y in read_dataset(ds_dir).iter_videos()]
    assert names == ["S1_Cheese_C1", "S2_Tea_C1"]


# --- bad input: one clear message naming the file ------------------------------------------
def _expect(match: str, fn):
    with pytest.raises(DatasetError, match=match) as ei:
        fn()
    assert "\n" not in str(ei.value)
    return str(ei.value)


def test_missing_feature_file(ds_dir):
    (ds_dir / "features" / "S2_Tea_C1.npy").unlink()
    msg = _expect("feature file not found", lambda: read_dataset(ds_dir))
    assert "S2_Tea_C1.npy" in msg


def test_missing_label_file(ds_dir):
    (ds_dir / "groundTruth" / "S2_Tea_C1.txt").unlink()
    assert "S2_Tea_C1.txt" in _expect("file not found", lambda: read_dataset(ds_dir))


def test_label_not_in_mapping(ds_dir):
    (ds_dir / "groundTruth" / "S1_Cheese_C1.txt").write_text("take\nflip\n")
    msg = _expect("'flip' is not in mapping.txt", lambda: read_dataset(ds_dir))
    assert "S1_Cheese_C1.txt" in msg


def test_nan_and_inf_in_features(ds_dir):
    x = np.load(ds_dir / "features" / "S1_Cheese_C1.npy")
    x[2, 5] = np.nan
    np.save(ds_dir / "features" / "S1_Cheese_C1.npy", x)
    ds = read_dataset(ds_dir)  # lazy: detected when the features are read
    msg = _expect("non-finite value", lambda: ds.features("S1_Cheese_C1"))
    assert "S1_Cheese_C1.npy" in msg and "frame 5" in msg
    x[2, 5] = np.inf
    np.save(ds_dir / "features" / "S1_Cheese_C1.npy", x)
    _expect("non-finite", lambda: read_dataset(ds_dir).features("S1_Cheese_C1"))


def test_empty_video(ds_dir):
    (ds_dir / "groundTruth" / "S1_Cheese_C1.txt").write_text("")
    assert "S1_Cheese_C1.txt" in _expect("empty video", lambda: read_dataset(ds_dir))
    np.save(ds_dir / "features" / "S2_Tea_C1.npy", np.zeros((8, 0), np.float32))
    (ds_dir / "groundTruth" / "S1_Cheese_C1.txt").write_text("take\n" * 14)
    assert "S2_Tea_C1.npy" in _expect("empty video", lambda: read_dataset(ds_dir))


def test_feature_dimension_differs(ds_dir):
    np.save(ds_dir / "features" / "S2_Tea_C1.npy", np.zeros((9, len(SEQ_B)), np.float32))
    msg = _expect("feature dimension 9 differs from 8", lambda: read_dataset(ds_dir))
    assert "S2_Tea_C1.npy" in msg


def test_wrong_dtype_and_not_npy(ds_dir):
    np.save(ds_dir / "features" / "S2_Tea_C1.npy", np.zeros((8, len(SEQ_B)), np.int32))
    _expect("must be float16, float32 or float64, found int32", lambda: read_dataset(ds_dir))
    (ds_dir / "features" / "S2_Tea_C1.npy").write_bytes(b"not numpy at all")
    _expect("not a valid .npy", lambda: read_dataset(ds_dir))


def test_frame_count_mismatch_and_trim(ds_dir):
    x = np.load(ds_dir / "features" / "S1_Cheese_C1.npy")
    np.save(ds_dir / "features" / "S1_Cheese_C1.npy", x[:, :-3])
    with pytest.raises(FrameCountMismatch, match="11 feature frames but 14 labels"):
        read_dataset(ds_dir)  # the CLI adds the --trim hint (test_container_cli)
    ds = read_dataset(ds_dir, trim=True)
    assert ds.num_frames("S1_Cheese_C1") == 11 and ds.dropped_frames == {"S1_Cheese_C1": 3}
    assert ds.features("S1_Cheese_C1").shape == (11, 8)
    # more features than labels: trimmed to the labels
    np.save(ds_dir / "features" / "S1_Cheese_C1.npy", np.concatenate([x, x[:, :2]], axis=1))
    ds = read_dataset(ds_dir, trim=True)
    assert ds.dropped_frames == {"S1_Cheese_C1": 2}
    np.testing.assert_array_equal(ds.features("S1_Cheese_C1"), x.T)


def test_bad_mapping_and_split(ds_dir):
    (ds_dir / "mapping.txt").write_text("0 background\n2 take\n")
    _expect("without gaps", lambda: read_dataset(ds_dir))
    (ds_dir / "mapping.txt").write_text("zero background\n")
    _expect(r"mapping.txt:1: expected 'id name'", lambda: read_dataset(ds_dir))
    (ds_dir / "mapping.txt").write_text("0 background\n1 take\n2 pour\n3 stir\n")
    assert "train.split7.bundle" in _expect("file not found", lambda: read_dataset(ds_dir, split=7))
    _expect("no such dataset folder", lambda: read_dataset(ds_dir / "nope"))
    _expect("part must be", lambda: read_dataset(ds_dir, part="val"))
    with pytest.raises(UsageError, match="not a valid regex"):  # a bad option value, as in tasz subset
        read_dataset(ds_dir, activity_pattern="(")
