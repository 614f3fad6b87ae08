"""``tasz subset``, ``tasz merge``, ``tasz split`` on real files, including their error paths."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.container import open_container, write_container
from tascodec.errors import UsageError
from tascodec.subsetting import split_file, subset_content, subset_dataset, subset_file
from helpers import make_subset_content


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(tmp_path: Path, name: str, **kw) -> Path:
    path = tmp_path / name
    write_container(make_subset_content(**kw), path, created="2025-01-01T00:00:00Z")
    return path


def test_subset_container_decodes_the_same(tmp_path):
    src = write(tmp_path, "in.tasz", seed=1, videos=12, codes_dtype="int8")
    out = tmp_path / "out.tasz"
    r = run("subset", src, "-o", out, "--ratio", "0.5")
    assert r.exit_code == 0, r.output
    assert "kept 6 of 12 videos (50.0%), " in r.output and "mean normalized distance" in r.output
    a, b = tascodec.open(src), tascodec.open(out)
    assert b.num_videos == 6 and b.videos == [v for v in a.videos if v in set(b.videos)]  # source order
    for v in b.videos:
        assert np.array_equal(a.decode(v), b.decode(v)) and np.array_equal(a.labels(v), b.labels(v))
    op = b.metadata["provenance"]["operations"][-1]
    assert op["op"] == "subset" and op["strategy"] == "diverse" and op["ratio"] == 0.5 and op["videos"] == 6
    assert op["source"] == "in.tasz" and op["source_decoder_sha256"] == a.decoder.sha256()
    # refuses to overwrite without -f, and replaces with it
    assert run("subset", src, "-o", out, "--count", "3").exit_code == 1
    r = run("subset", src, "-o", out, "--count", "3", "--strategy", "random", "--seed", "4", "-f")
    assert r.exit_code == 0 and open_container(out).num_videos == 3


def test_subset_per_activity(tmp_path):
    src = write(tmp_path, "in.tasz", seed=2, videos=9)
    rep = subset_file(src, tmp_path / "o.tasz", count=1, per_activity=True)
    c = open_container(tmp_path / "o.tasz")
    assert sorted(c.activity(v) for v in c.videos) == ["a0", "a1", "a2"] and len(rep.kept) == 3
    rep = subset_file(src, tmp_path / "p.tasz", ratio=0.5, per_activity=True, activity_pattern=r"v(\d)")
    assert len(rep.kept) == 9  # one activity per video name: each keeps its only video
    nope = write(tmp_path, "noact.tasz", seed=2, videos=4, activities=False)
    with pytest.raises(UsageError, match="no activity is stored"):
        subset_file(nope, tmp_path / "q.tasz", per_activity=True)
    assert not (tmp_path / "q.tasz").exists()


def test_merge_and_split_files(tmp_path):
    a = write(tmp_path, "a.tasz", seed=1, prefix="a")
    b = write(tmp_path, "b.tasz", seed=2, prefix="b")
    out = tmp_path / "m.tasz"
    r = run("merge", a, b, "-o", out)
    assert r.exit_code == 0, r.output
    assert "12 videos from 2 containers" in r.output
    m = tascodec.open(out)
    for src in (a, b):
        c = tascodec.open(src)
        for v in c.videos:
            assert np.array_equal(c.decode(v), m.decode(v))
    r = run("split", out, "--by", "activity", "-o", tmp_path / "parts")
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in (tmp_path / "parts").iterdir() if p.name != ".tasz-output.json")
    assert files == ["a0.tasz", "a1.tasz", "a2.tasz"]
    assert sum(open_container(tmp_path / "parts" / f).num_videos for f in files) == 12
    assert run("split", out, "-o", tmp_path / "parts").exit_code == 1  # files exist
    assert run("split", out, "-o", tmp_path / "parts", "-f").exit_code == 0
    paths = split_file(out, tmp_path / "byname", activity_pattern=r"^(\w)")
    assert sorted(paths) == ["a", "b"] and paths["a"].name == "a.tasz"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_cli_error_paths(tmp_path):
    a = write(tmp_path, "a.tasz", seed=1, prefix="a")
    other = write(tmp_path, "o.tasz", seed=2, prefix="b", decoder_seed=9)
    out = tmp_path / "m.tasz"
    r = run("merge", a, other, "-o", out)
    assert r.exit_code == 1 and "tasz: error: cannot merge" in r.output and "different decoder" in r.output
    assert "Traceback" not in r.output and not out.exists()
    r = run("merge", a, a, "-o", out)
    assert r.exit_code == 1 and "video names repeat" in r.output
    r = run("merge", a, tmp_path / "missing.tasz", "-o", out)
    assert r.exit_code == 1 and "missing.tasz" in r.output
    r = run("subset", tmp_path / "missing", "-o", out)
    assert r.exit_code == 1 and "no such file or folder" in r.output
    junk = tmp_path / "junk.tasz"
    junk.write_bytes(b"not a zip")
    r = run("subset", junk, "-o", out)
    assert r.exit_code == 1 and "junk.tasz" in r.output and not out.exists()
    assert "use -o" in run("subset", a, "--bundle", tmp_path / "x.bundle").output
    assert "use --bundle" in run("subset", tmp_path, "-o", out).output
    assert "not both" in run("subset", a, "-o", out, "--ratio", "0.5", "--count", "2").output
    assert "ratio must be in (0, 1]" in run("subset", a, "-o", out, "--ratio", "2").output
    r = run("subset", a, "-o", a, "-f")
    assert r.exit_code == 1 and "replace its own input" in r.output
    r = run("split", a, "-o", a)
    assert r.exit_code == 1 and "not a folder" in r.output
    empty = tmp_path / "empty.tasz"
    write_container(subset_content(make_subset_content(0), []), empty)
    r = run("split", empty, "-o", tmp_path / "none")
    assert r.exit_code == 1 and "no videos to split" in r.output and not (tmp_path / "none").exists()


def labels_only_dataset(root: Path, n=40) -> Path:
    """An MS-TCN layout without features: groundTruth, mapping, splits."""
    rng = np.random.default_rng(0)
    names = ["background", "take", "pour", "stir", "cut", "fry"]
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names)))
    videos = [f"P{i:02d}_{['tea', 'salad'][i % 2]}" for i in range(n)]
    for v in videos:
        seq = ["background"] + [names[j] for j in rng.integers(1, 6, rng.integers(2, 6))] + ["background"]
        frames = [s for s in seq for _ in range(int(rng.integers(1, 4)))]
        (root / "groundTruth" / f"{v}.txt").write_text("\n".join(frames) + "\n")
    (root / "splits" / "train.split1.bundle").write_text("".join(f"{v}.txt\n" for v in videos[:30]))
    (root / "splits" / "test.split1.bundle").write_text("".join(f"{v}.txt\n" for v in videos[30:]))
    return root


def test_dataset_bundle_mode(tmp_path):
    data = labels_only_dataset(tmp_path / "toy")
    bundle = tmp_path / "half.bundle"
    r = run("subset", data, "--ratio", "0.5", "--bundle", bundle)
    assert r.exit_code == 0, r.output
    assert "kept 15 of 30 videos" in r.output
    lines = bundle.read_text().splitlines()
    train = (data / "splits" / "train.split1.bundle").read_text().splitlines()
    assert len(lines) == 15 and all(l.endswith(".txt") for l in lines)
    assert lines == [l for l in train if l in set(lines)]  # the split's order
    assert run("subset", data, "--ratio", "0.5", "--bundle", bundle).exit_code == 1  # exists
    rep = subset_dataset(data, tmp_path / "t.bundle", part="test", count=1, per_activity=True,
                         activity_pattern=r"_(\w+)$")
    assert len(rep.kept) == 2 and {v.split("_")[1] for v in rep.videos} == {"tea", "salad"}
    with pytest.raises(UsageError, match="no activity is stored"):
        subset_dataset(data, tmp_path / "u.bundle", per_activity=True)
    assert not (tmp_path / "u.bundle").exists()


def test_subset_derives_an_output_name(tmp_path, monkeypatch):
    src = write(tmp_path, "in.tasz", seed=1, videos=8)
    monkeypatch.chdir(tmp_path)
    r = run("subset", src, "--ratio", "0.5")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "in-50pct.tasz").is_file() and "in-50pct.tasz" in r.output
    assert open_container(tmp_path / "in-50pct.tasz").num_videos == 4
    assert run("subset", src, "--ratio", "0.5").exit_code == 1  # exists: -f replaces it
    assert run("subset", src, "--ratio", "0.5", "-f").exit_code == 0
    assert run("subset", src, "--count", "3", "--strategy", "random").exit_code == 0
    assert run("subset", src, "--ratio", "0.25", "--per-activity").exit_code == 0
    r = run("subset", src)  # the default ratio, 0.5: the same name, which exists now
    assert r.exit_code == 1 and "in-50pct.tasz" in r.output
    assert sorted(p.name for p in tmp_path.glob("in-*.tasz")) == [
        "in-25pct-per-activity.tasz", "in-3videos-random.tasz", "in-50pct.tasz"]


def test_merge_skip_duplicates_keeps_the_first(tmp_path):
    a = write(tmp_path, "a.tasz", seed=1, videos=6, prefix="v")
    b = write(tmp_path, "b.tasz", seed=2, videos=8, prefix="v")  # v0..v5 repeat, v6 and v7 are new
    out = tmp_path / "m.tasz"
    r = run("merge", a, b, "-o", out)
    assert r.exit_code == 1 and "--skip-duplicates" in r.output and not out.exists()
    r = run("merge", a, b, "-o", out, "--skip-duplicates")
    assert r.exit_code == 0, r.output
    assert "8 videos from 2 containers" in r.output and "skipped 6 duplicate videos" in r.output
    m, ca, cb = tascodec.open(out), tascodec.open(a), tascodec.open(b)
    assert m.videos == [f"v{i}" for i in range(8)]
    for v in ca.videos:
        assert np.array_equal(m.decode(v), ca.decode(v))  # the first one's copy
    for v in ("v6", "v7"):
        assert np.array_equal(m.decode(v), cb.decode(v))
    op = m.metadata["provenance"]["operations"][-1]
    assert op["op"] == "merge" and op["skipped_duplicates"] == 6
    r = run("merge", a, a, "-o", tmp_path / "aa.tasz", "--skip-duplicates")
    assert r.exit_code == 0 and open_container(tmp_path / "aa.tasz").num_videos == 6


def test_merge_refuses_different_sample_rates(tmp_path):
    c1, c2 = make_subset_content(1, prefix="a"), make_subset_content(2, prefix="b")
    c2.provenance["sample_rate"] = 2
    write_container(c1, tmp_path / "r1.tasz")
    write_container(c2, tmp_path / "r2.tasz")
    r = run("merge", tmp_path / "r1.tasz", tmp_path / "r2.tasz", "-o", tmp_path / "m.tasz")
    assert r.exit_code == 1 and "sample rate 2, not 1" in r.output


def test_split_says_each_file_holds_the_whole_decoder(tmp_path):
    src = write(tmp_path, "in.tasz", seed=1, videos=9)
    r = run("split", src, "-o", tmp_path / "parts")
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "parts").glob("*.tasz"))
    total = sum(p.stat().st_size for p in files)
    decoder = open_container(src).nbytes_by_part()["decoder"]
    assert f"{total:,} bytes" in r.output and "whole decoder" in r.output and f"{decoder:,}" in r.output


def test_file_operations_close_every_container_they_open(tmp_path, monkeypatch):
    from tascodec.container.reader import ContainerReader

    opened, closed = [], []
    real_init, real_close = ContainerReader.__init__, ContainerReader.close

    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        opened.append(id(self))

    def close(self):
        if self._zip is not None:
            closed.append(id(self))
        real_close(self)

    monkeypatch.setattr(ContainerReader, "__init__", init)
    monkeypatch.setattr(ContainerReader, "close", close)
    a = write(tmp_path, "a.tasz", seed=1, prefix="a")
    b = write(tmp_path, "b.tasz", seed=2, prefix="b")
    subset_file(a, tmp_path / "s.tasz", count=2)
    assert run("merge", a, b, "-o", tmp_path / "m.tasz").exit_code == 0
    assert run("split", tmp_path / "m.tasz", "-o", tmp_path / "parts").exit_code == 0
    assert len(opened) >= 7 and sorted(closed) == sorted(opened)  # closed by `with`, not left to the GC
