"""Rough edges a newcomer hits: background names, ``tasz info`` listings, progress bars and errors."""
from __future__ import annotations

import json
import warnings

import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.data.layout import read_dataset
from tascodec.data.synthetic import synthesize
from tascodec.errors import DatasetWarning
from helpers import write_test_container


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def breakfast(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("bf") / "breakfast", like="breakfast", videos=6, dim=8,
                      length_scale=0.05, seed=1)


def test_unknown_background_name_warns(breakfast):
    with pytest.warns(DatasetWarning, match=r"mapping\.txt.*'background'.*SIL"):
        ds = read_dataset(breakfast, background=("background",))
    assert ds.background == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        assert read_dataset(breakfast, background=("SIL",)).background == ["SIL"]


def test_unknown_background_name_warns_on_the_command_line(breakfast, tmp_path):
    r = run("subset", breakfast, "--bundle", tmp_path / "half.bundle", "--background", "background")
    assert r.exit_code == 0, r.output
    said = [line for line in r.stderr.splitlines() if "'background'" in line]
    assert len(said) == 1 and "warning" in said[0] and "mapping.txt" in said[0]


@pytest.fixture()
def tasz(tmp_path):
    return write_test_container(tmp_path / "x.tasz", activities=["cereals", None, "tea"])


def test_info_shows_background_classes(tasz):
    r = run("info", tasz)
    assert r.exit_code == 0, r.output
    line = next(line for line in r.output.splitlines() if line.startswith("background"))
    assert line.split(None, 1)[1] == "background"


def test_info_videos_lists_names_frames_segments_activity(tasz):
    r = run("info", tasz, "--videos")
    assert r.exit_code == 0, r.output
    with tascodec.open(tasz) as c:
        table = r.output.split("\nvideo ", 1)[1].splitlines()[1:]
        rows = {line.split()[0]: line.split() for line in table}
        assert sorted(rows) == sorted(c.videos)
        for v in c.videos:
            frames, segments = rows[v][1].replace(",", ""), rows[v][2]
            assert int(frames) == c.num_frames(v) and int(segments) == len(c.segments(v)[0])
            assert rows[v][3] == (c.activity(v) or "-")
        doc = json.loads(run("info", tasz, "--videos", "--json").output)
        assert [d["name"] for d in doc["video_list"]] == c.videos
        assert doc["video_list"][0] == {"name": "a", "frames": c.num_frames("a"), "segments": 2,
                                        "activity": "cereals"}
    assert "video_list" not in json.loads(run("info", tasz, "--json").output)


# --- progress bars ----------------------------------------------------------------------------------
@pytest.fixture()
def bars(monkeypatch):
    """Every tascodec bar made during the test, drawn into a buffer as on a terminal."""
    import io

    import tascodec.progress as progress
    from tqdm import tqdm as real

    made, out = [], io.StringIO()

    def record(*args, disable=False, **kw):
        kw.setdefault("file", out)
        bar = real(*args, disable=disable, **kw)
        made.append(bar)
        return bar

    monkeypatch.setattr(progress, "tqdm", record)
    return made, out


@pytest.mark.parametrize("iters", [0, 1, 7])
def test_inversion_bar_ends_at_its_total(bars, iters):
    import numpy as np
    import torch

    from helpers import INV_C as C, INV_D as D, INV_d as d, inversion_problem as problem, inversion_videos as videos

    from tascodec.encoding.invert import invert
    from tascodec.model.tca import TCA

    x, row, row_label, c = problem(videos(n=1))
    model = TCA(D, C, d, 8, seed=0)
    z0 = np.zeros((row_label.size, d), np.float32)
    with torch.no_grad():
        invert(model, x, row, row_label, c, z0, iters=iters, lr=0.1, progress=True)
    made, out = bars
    (bar,) = [b for b in made if b.desc.startswith("invert")]
    assert bar.total == iters and bar.n == iters, (bar.n, bar.total)
    assert f"{iters}/{iters + 1}" not in out.getvalue()
    if iters:
        assert f"{iters}/{iters}" in out.getvalue()


def test_an_error_never_starts_on_a_progress_bar_line(bars, tmp_path, monkeypatch):
    from tascodec.decode import export
    from tascodec.errors import UsageError

    tasz = write_test_container(tmp_path / "x.tasz")
    real, calls = export.write_features, []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise UsageError("disk full")
        return real(*args)

    monkeypatch.setattr(export, "write_features", failing)
    r = run("decode", tasz, "-o", tmp_path / "out")
    made, out = bars
    assert r.exit_code == 1 and "disk full" in r.stderr
    assert made and all(b.disable for b in made)  # closed (tqdm disables a bar when it closes it)
    assert out.getvalue().endswith("\n")  # the bar's line is finished before the error is printed


def test_the_cli_ends_bars_an_error_left_open(bars, tmp_path, monkeypatch):
    """Any verb: a bar the library left open is ended before ``tasz: error:`` is printed."""
    import tascodec.progress as progress
    from tascodec.decode import export
    from tascodec.errors import UsageError

    def fails_mid_bar(*args, **kwargs):
        bar = progress.tqdm(total=10, desc="decode")
        bar.update(3)
        raise UsageError("disk full")

    monkeypatch.setattr(export, "export_dataset", fails_mid_bar)
    r = run("decode", write_test_container(tmp_path / "x.tasz"), "-o", tmp_path / "out")
    made, out = bars
    assert r.exit_code == 1 and "disk full" in r.stderr
    assert len(made) == 1 and made[0].disable and out.getvalue().endswith("\n")


def test_show_with_data_reads_labels_without_a_background_warning(breakfast, tmp_path):
    pytest.importorskip("matplotlib")
    from tascodec.encoding import pipeline
    from tascodec.show import build_figure

    f = pipeline.encode(breakfast, tmp_path / "bf.tasz", background=("SIL",), epochs=1, iters=2, batch_size=64,
                        hidden=16, latent_dim=4, progress=False, device="cpu")
    with tascodec.open(f) as c:
        video = c.videos[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        build_figure(f, video, data_dir=breakfast)
