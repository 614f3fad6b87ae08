"""Names the container writer would refuse are refused when the dataset is read (issue 11).

Video, class and activity names follow the writer's rule (``tascodec.container.names``): the
dataset reader names the file, before any training, and an encode leaves no output or ``.ckpt``.
"""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.container.names import MAX_NAME_BYTES, name_problem
from tascodec.data.layout import read_dataset
from tascodec.encoding import pipeline
from tascodec.errors import DatasetError

TINY = dict(method="inversion", epochs=1, iters=2, batch_size=32, hidden=8, latent_dim=2, progress=False)
VOCAB = ["background", "take", "pour"]
LABELS = ["background"] * 3 + ["take"] * 4 + ["pour"] * 3


def make(root, videos, vocab=VOCAB, labels=None):
    """A tiny dataset whose train split lists ``videos[:-1]`` and test split the last one."""
    rng = np.random.default_rng(0)
    for d in ("features", "groundTruth", "splits"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(vocab)), encoding="utf-8")
    labels = labels or [vocab[0]] * 3 + [vocab[1]] * 4 + [vocab[-1]] * 3
    for v in videos:
        np.save(root / "features" / f"{v}.npy", rng.random((4, len(labels)), dtype=np.float32))
        (root / "groundTruth" / f"{v}.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (root / "splits" / "train.split1.bundle").write_text("".join(f"{v}.txt\n" for v in videos[:-1]),
                                                         encoding="utf-8")
    (root / "splits" / "test.split1.bundle").write_text(f"{videos[-1]}.txt\n", encoding="utf-8")
    return root


def _refused(tmp_path, ds_dir, where: str, *, part="train", pattern=None):
    """read_dataset, encode and tasz encode all refuse, naming ``where``, leaving nothing behind."""
    with pytest.raises(DatasetError) as e:
        read_dataset(ds_dir, part=part, activity_pattern=pattern)
    msg = str(e.value)
    assert where in msg and "\n" not in msg and "\x1b" not in msg
    out = tmp_path / "out.tasz"
    with pytest.raises(DatasetError):
        pipeline.encode(ds_dir, out, part=part, activity_pattern=pattern, **TINY)
    args = ["encode", str(ds_dir), "-o", str(out), "--part", part, "-q"]
    r = CliRunner().invoke(cli, args + (["--activity-pattern", pattern] if pattern else []))
    assert r.exit_code == 1 and where in r.output and "Traceback" not in r.output, r.output
    assert not out.exists() and not (tmp_path / "out.tasz.ckpt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    return msg


def test_rule_is_the_writers():
    assert name_problem("a\x1bb") and name_problem("x" * (MAX_NAME_BYTES + 1)) and name_problem("..")


BAD_VIDEOS = {
    "control": "S1_Tea\x1b[2J_C1",
    "c1-control": "S1_Tea\x85_C1",
    "bidi": "S1_\u202eaeT_C1",
    "long": "S1_" + "x" * (MAX_NAME_BYTES - 2),  # one byte over the limit, still a valid file name here
    "dot": ".",
}


@pytest.mark.parametrize("kind", BAD_VIDEOS)
def test_bad_video_name_in_a_bundle(tmp_path, kind):
    bad = BAD_VIDEOS[kind]
    assert len(bad.encode()) + 4 <= 255
    ds_dir = make(tmp_path / "ds", ["S2_Tea_C1", bad, "S3_Tea_C1"] if kind != "dot" else ["S2_Tea_C1", "S3_Tea_C1"])
    if kind == "dot":  # "..txt" in a bundle names the video "."
        with open(ds_dir / "splits" / "train.split1.bundle", "a", encoding="utf-8") as fh:
            fh.write("..txt\n")
    msg = _refused(tmp_path, ds_dir, "train.split1.bundle")
    assert "video name" in msg and repr(bad) in msg


def test_bad_video_name_in_ground_truth_folder(tmp_path):
    ds_dir = make(tmp_path / "ds", ["S2_Tea_C1", "S1_Tea\x7f_C1", "S3_Tea_C1"])
    msg = _refused(tmp_path, ds_dir, "S1_Tea\\x7f_C1.txt", part="all")
    assert "video name" in msg and "groundTruth" in msg


@pytest.mark.parametrize("bad", ["po\x1bur", "p" * (MAX_NAME_BYTES + 1), "po\u202eur", "po\u2028ur"])
def test_bad_class_name_in_mapping(tmp_path, bad):
    vocab = ["background", "take", bad]
    ds_dir = make(tmp_path / "ds", ["S1_Tea_C1", "S2_Tea_C1"], vocab=vocab)
    msg = _refused(tmp_path, ds_dir, "mapping.txt:3")  # U+2028 is a line break to splitlines, not here
    assert ("class name" in msg) if bad != "po\u2028ur" else ("expected 'id name'" in msg)


@pytest.mark.parametrize("pattern", [r"_Tea(\.)", r"(\.\.)"])
def test_bad_activity_from_the_pattern(tmp_path, pattern):
    ds_dir = make(tmp_path / "ds", ["S1_Tea_C1", "S2_Tea..C1", "S3_Tea..C1"])
    msg = _refused(tmp_path, ds_dir, "train.split1.bundle", pattern=pattern)
    assert "activity" in msg and "not a safe file name" in msg and repr(pattern) in msg


def test_good_names_pass(tmp_path):
    ds_dir = make(tmp_path / "ds", ["S1_Tea_C1", "vidéo-ü 2", "P03_cam01_P03_cereals"])
    ds = read_dataset(ds_dir, activity_pattern=r"_([a-z]+)$|^S\d+_(\w+)_")
    assert ds.videos == ["S1_Tea_C1", "vidéo-ü 2"]
