"""``tasz decode X.tasz -o OUT --with-test DATA``: a dataset that MS-TCN-style training code reads unchanged.

The readers below follow the loaders of MS-TCN (yabufarha/ms-tcn ``batch_gen.py``, ``main.py``,
``eval.py``), ASFormer (the same reading logic) and DiffAct (``np.loadtxt`` of bundles, mapping
and ground truth, and an assertion that features and ground truth have the same length), rewritten
here: string paths, ``read().split('\\n')[:-1]``, ``vid.split('.')[0]``, ``[:, ::sample_rate]``.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.container.summary import sample_rate_of
from tascodec.data.synthetic import synthesize
from tascodec.decode import export
from tascodec.encoding import pipeline
from tascodec.errors import UsageError

TINY = dict(method="inversion", epochs=2, iters=5, batch_size=64, hidden=32, latent_dim=8, progress=False, device="cpu",
            background=("action_start", "action_end"))


# --- the loaders' reading logic --------------------------------------------------------------
def mstcn_lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().split("\n")[:-1]


def mstcn_actions(root: str) -> dict[str, int]:
    return {a.split()[1]: int(a.split()[0]) for a in mstcn_lines(root + "mapping.txt")}


def mstcn_batch(root: str, part: str, split: int, sample_rate: int):
    """``(video, features (D, T'), classes (T',))`` per bundle line, as BatchGenerator.next_batch reads them."""
    actions = mstcn_actions(root)
    out = []
    for vid in mstcn_lines(root + f"splits/{part}.split{split}.bundle"):
        features = np.load(root + "features/" + vid.split(".")[0] + ".npy")
        content = mstcn_lines(root + "groundTruth/" + vid)
        classes = np.zeros(min(np.shape(features)[1], len(content)))
        for i in range(len(classes)):
            classes[i] = actions[content[i]]
        out.append((vid, features[:, ::sample_rate], classes[::sample_rate]))
    return out


def diffact_check(root: str, part: str, split: int) -> None:
    """DiffAct's get_data_dict: names from np.loadtxt, and features exactly as long as the labels."""
    events = list(np.loadtxt(root + "mapping.txt", dtype=str)[:, 1])
    for vid in [v.split(".")[0] for v in np.atleast_1d(np.loadtxt(root + f"splits/{part}.split{split}.bundle",
                                                                   dtype=str))]:
        event = np.loadtxt(root + f"groundTruth/{vid}.txt", dtype=str)
        assert all(e in events for e in event)
        feature = np.load(root + f"features/{vid}.npy", allow_pickle=True)
        assert feature.ndim == 2 and feature.shape[1] == len(event)


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("ds") / "50salads", like="50salads", videos=8, dim=16,
                      length_scale=0.1, seed=1)


@pytest.fixture(scope="module")
def containers(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("enc")
    return {r: pipeline.encode(data, out / f"r{r}.tasz", sample_rate=r, **TINY) for r in (1, 2)}


def decode(*args):
    return CliRunner().invoke(cli, ["decode", *map(str, args)])


def test_the_container_records_its_sample_rate(containers):
    for r, path in containers.items():
        with tascodec.open(path) as c:
            assert c.metadata["provenance"]["sample_rate"] == r and sample_rate_of(c.metadata["provenance"]) == r
    assert sample_rate_of({}) == 1 and sample_rate_of({"settings": {"sample_rate": 3}}) == 3


def test_with_test_writes_a_complete_mstcn_dataset(data, containers, tmp_path):
    out = tmp_path / "50salads"
    r = decode(containers[1], "-o", out, "--with-test", data)
    assert r.exit_code == 0, r.output
    assert "test videos" in r.output and "warning" not in r.stderr  # no background is asked for
    assert sorted(p.name for p in (out / "splits").iterdir()) == ["test.split1.bundle", "train.split1.bundle"]
    root = str(out) + "/"
    assert mstcn_actions(root) == mstcn_actions(str(data) + "/")
    with tascodec.open(containers[1]) as c:
        train = mstcn_batch(root, "train", 1, sample_rate=1)
        assert [v for v, _, _ in train] == [f"{v}.txt" for v in c.videos]
        for vid, x, y in train:
            name = vid[:-4]
            np.testing.assert_allclose(x, c.decode(name).T, rtol=0, atol=1e-5)
            np.testing.assert_array_equal(y, c.labels(name))
    test = mstcn_batch(root, "test", 1, sample_rate=2)
    want = mstcn_batch(str(data) + "/", "test", 1, sample_rate=2)
    assert [v for v, _, _ in test] == [v for v, _, _ in want] and len(test) > 0
    for (_, x, y), (_, x0, y0) in zip(test, want):
        assert np.array_equal(x, x0) and np.array_equal(y, y0)
    for vid in mstcn_lines(root + "splits/test.split1.bundle"):  # the originals, hard-linked here
        v = vid[:-4]
        for sub, ext in (("features", ".npy"), ("groundTruth", ".txt")):
            a, b = out / sub / f"{v}{ext}", data / sub / f"{v}{ext}"
            assert a.read_bytes() == b.read_bytes() and os.path.samefile(a, b)
    diffact_check(root, "train", 1)
    diffact_check(root, "test", 1)


def test_copies_where_hard_links_fail(data, containers, tmp_path, monkeypatch):
    def no_links(*a, **k):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "copied"
    with tascodec.open(containers[1]) as c:
        export.export_dataset(c, out, with_test=data)
    v = mstcn_lines(str(out) + "/splits/test.split1.bundle")[0][:-4]
    a, b = out / "features" / f"{v}.npy", data / "features" / f"{v}.npy"
    assert a.read_bytes() == b.read_bytes() and not os.path.samefile(a, b)


def test_half_rate_container_restores_at_the_source_rate(data, containers, tmp_path):
    """Rate 2: each restored frame is repeated twice, so a loader at sample_rate 2 reads the stored frames."""
    out = tmp_path / "50salads"
    r = decode(containers[2], "-o", out, "--with-test", data)
    assert r.exit_code == 0, r.output
    assert "2x" in r.output
    root = str(out) + "/"
    with tascodec.open(containers[2]) as c:
        for vid, x, y in mstcn_batch(root, "train", 1, sample_rate=2):
            name = vid[:-4]
            assert np.load(root + f"features/{name}.npy").shape[1] == 2 * c.num_frames(name)
            np.testing.assert_allclose(x, c.decode(name).T, rtol=0, atol=1e-5)
            np.testing.assert_array_equal(y, c.labels(name))
            # and at the source rate, the frames and labels line up with the original video's
            full = len(mstcn_lines(str(data) + f"/groundTruth/{vid}"))
            assert full <= x.shape[1] * 2 < full + 2
    # train and test are at the same rate: the loader's sample rate gives both the same frame spacing
    diffact_check(root, "train", 1)
    diffact_check(root, "test", 1)


def test_stored_rate_is_kept_on_request(containers, tmp_path):
    out = tmp_path / "stored"
    assert decode(containers[2], "-o", out, "--rate", "stored").exit_code == 0
    with tascodec.open(containers[2]) as c:
        v = c.videos[0]
        assert np.load(out / "features" / f"{v}.npy").shape[1] == c.num_frames(v)
        assert decode(containers[2], "--video", v, "-o", tmp_path / "v.npy").exit_code == 0
        x = np.load(tmp_path / "v.npy")
        assert x.shape[1] == 2 * c.num_frames(v)
        np.testing.assert_allclose(x[:, ::2], c.decode(v).T, rtol=0, atol=1e-5)


def test_with_test_refusals_are_one_line(data, containers, tmp_path):
    cases = [
        ([containers[2], "-o", tmp_path / "a", "--with-test", data, "--rate", "stored"], "rate"),
        ([containers[1], "--video", "rgb-07-1", "--with-test", data], "--with-test"),
        ([containers[1], "-o", tmp_path / "b", "--with-test", tmp_path / "nowhere"], "nowhere"),
    ]
    for args, word in cases:
        r = decode(*args)
        assert r.exit_code != 0 and "Traceback" not in r.output, r.output
        assert len(r.stderr.strip().splitlines()) == 1 and word in r.stderr, r.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_with_test_checks_classes_and_leaks(data, containers, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(data, other)
    (other / "mapping.txt").write_text((data / "mapping.txt").read_text().replace("cut_tomato", "cut_tomatoes"))
    for v in (other / "groundTruth").iterdir():
        v.write_text(v.read_text().replace("cut_tomato\n", "cut_tomatoes\n"))
    with tascodec.open(containers[1]) as c, pytest.raises(UsageError, match="mapping.txt"):
        export.export_dataset(c, tmp_path / "o1", with_test=other)
    leak = tmp_path / "leak"
    shutil.copytree(data, leak)
    with tascodec.open(containers[1]) as c:
        (leak / "splits" / "test.split1.bundle").write_text(f"{c.videos[0]}.txt\n")
        with pytest.raises(UsageError, match=c.videos[0]):
            export.export_dataset(c, tmp_path / "o2", with_test=leak)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
