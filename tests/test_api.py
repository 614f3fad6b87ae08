"""The root API (``import tascodec``: a few verbs, the container type, the errors) and its error types."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli, error_line
from tascodec.errors import (FrameCountMismatch, MissingActivities, MissingFeatures, OutputExistsError,
                             UsageError)

VECTORS = Path(__file__).resolve().parent.parent / "spec" / "vectors"
MLP = VECTORS / "mlp-float32.tasz"


def test_root_api_offers_the_verbs_types_and_errors():
    for name in tascodec.__all__:
        assert getattr(tascodec, name) is not None, name
    assert {"open", "encode", "verify", "subset", "merge", "split", "Container", "UsageError",
            "OutputExistsError", "UnknownVideo", "TaszError", "__version__"} <= set(tascodec.__all__)
    for verb in ("open", "verify", "encode", "subset", "merge", "split", "read_dataset"):
        assert callable(getattr(tascodec, verb)) and getattr(tascodec, verb).__doc__, verb
    importlib.import_module("tascodec.subsetting")  # importing the package must not replace the verb

    assert callable(tascodec.subset) and tascodec.subset.__module__ == "tascodec"
    with tascodec.open(MLP) as c:
        assert isinstance(c, tascodec.Container)


def test_encode_verb_works_every_time(tmp_path):
    """Issue 12: importing tascodec.encoding.* (as the verb itself does) must not replace the verb."""
    from tascodec.data.synthetic import synthesize

    data = synthesize(tmp_path / "d", like="gtea", videos=4, dim=8, length_scale=0.05)
    for i in range(2):
        out = tascodec.encode(data, tmp_path / f"{i}.tasz", method="mean", K=1, progress=False)
        assert tascodec.verify(out) == []
    importlib.import_module("tascodec.encoding.transform")
    assert callable(tascodec.encode) and tascodec.encode.__module__ == "tascodec"
    assert sys.modules["tascodec.encoding"].__name__ == "tascodec.encoding"  # the package is still there


def test_root_api_reads_verifies_and_decodes_without_torch():
    code = ("import sys, tascodec\n"
            "assert 'numpy' not in sys.modules and 'torch' not in sys.modules\n"
            f"assert tascodec.verify({str(MLP)!r}) == []\n"
            f"with tascodec.open({str(MLP)!r}) as c:\n"
            "    x = c.decode(c.videos[0])\n"
            "    assert x.shape == (c.num_frames(c.videos[0]), c.decoder.feature_dim)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print(x.shape[0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0


def test_subset_merge_split_from_the_root(tmp_path):
    with tascodec.open(MLP) as c:
        videos = list(c.videos)
        expected = {v: c.decode(v) for v in videos}
    report = tascodec.subset(MLP, tmp_path / "one.tasz", count=1)
    assert len(report.kept) == 1 and tascodec.verify(tmp_path / "one.tasz") == []
    kept = report.videos[0]
    merged = tascodec.merge([tmp_path / "one.tasz"], tmp_path / "m.tasz")
    with tascodec.open(merged) as c:
        np.testing.assert_allclose(c.decode(kept), expected[kept], rtol=1e-6, atol=1e-6)
    with pytest.raises(OutputExistsError):
        tascodec.merge([tmp_path / "one.tasz"], tmp_path / "m.tasz")
    parts = tascodec.split(MLP, tmp_path / "acts", activity_pattern=r"^(.)")
    assert sum(tascodec.open(p).num_videos for p in parts.values()) == len(videos)


def test_errors_derive_from_the_matching_builtins(tmp_path):
    with tascodec.open(MLP) as c:
        with pytest.raises(KeyError) as ei:
            c.decode("no-such-video")
        assert isinstance(ei.value, tascodec.UnknownVideo) and isinstance(ei.value, tascodec.TaszError)
        assert str(ei.value) == f"{MLP}: no video 'no-such-video' (it has {c.num_videos} videos)"  # not quoted
        with pytest.raises(tascodec.UnknownVideo, match="out of range"):
            c.labels(c.num_videos)
        with pytest.raises(tascodec.UsageError):  # bad option value: a ValueError
            c.decode(0, backend="jax")
        with pytest.raises(ValueError):
            list(c.iter_decode(0, chunk_frames=0))
    with pytest.raises(FileNotFoundError) as ei:
        tascodec.open(tmp_path / "missing.tasz")
    assert isinstance(ei.value, tascodec.MissingFileError) and "missing.tasz: no such file" in str(ei.value)
    with pytest.raises(FileNotFoundError) as ei:
        tascodec.read_dataset(tmp_path / "no-dataset")
    assert isinstance(ei.value, tascodec.DatasetError)
    assert issubclass(tascodec.OutputExistsError, ValueError) and issubclass(tascodec.UsageError, ValueError)


def test_quant_raises_the_library_types():
    from tascodec.container.quant import dequantize, quantize

    with pytest.raises(UsageError, match="latent dtype"):
        quantize(np.zeros((2, 3), np.float32), "int4")
    with pytest.raises(UsageError, match="scale"):
        dequantize(np.zeros((2, 3), np.int8))


def test_cli_adds_the_flag_hints_not_the_library(tmp_path):
    from tascodec._io import check_writable

    (tmp_path / "a.tasz").write_bytes(b"x")
    with pytest.raises(OutputExistsError) as e:
        check_writable(tmp_path / "a.tasz")
    assert "--force" not in str(e.value) and str(e.value).endswith("already exists")
    assert error_line(OutputExistsError("a.tasz: already exists")) == \
        "a.tasz: already exists (use -f/--force to replace it)"
    assert error_line(OutputExistsError("out: exists and was not made by tasz demo"), "demo").endswith(
        "(use -f/--force or --out DIR)")
    assert error_line(OutputExistsError("x (use -f/--force to replace it)")).count("--force") == 1  # not twice
    assert error_line(FrameCountMismatch("f.npy: 3 feature frames but 4 labels")).endswith("(use --trim to "
                                                                                          "truncate to the shorter)")
    assert error_line(UsageError("bad value")) == "bad value"
    assert error_line(MissingFeatures("ds/features: no features folder")).endswith("with --labels if the "
                                                                                  "features live apart)")
    assert "--activity-pattern REGEX" in error_line(MissingActivities("no activity is stored for 1 video(s): v"))


def test_library_messages_name_no_cli_flags(tmp_path):
    from tascodec.subsetting import split_by_activity

    with tascodec.open(MLP) as c:
        content = c.content()
    with pytest.raises(MissingActivities) as ei:
        split_by_activity(content)
    assert "--" not in str(ei.value)
    (tmp_path / "ds" / "groundTruth").mkdir(parents=True)
    with pytest.raises(MissingFeatures) as ei:
        tascodec.read_dataset(tmp_path / "ds")
    assert "--" not in str(ei.value)


def test_cli_trim_hint_on_a_frame_count_mismatch(tmp_path):
    root = tmp_path / "ds"
    for d in ("features", "groundTruth", "splits"):
        (root / d).mkdir(parents=True)
    (root / "mapping.txt").write_text("0 background\n1 take\n")
    np.save(root / "features" / "v1.npy", np.zeros((4, 5), np.float32))
    (root / "groundTruth" / "v1.txt").write_text("background\ntake\ntake\n")
    (root / "splits" / "train.split1.bundle").write_text("v1.txt\n")
    with pytest.raises(FrameCountMismatch) as ei:
        tascodec.read_dataset(root)
    assert "--trim" not in str(ei.value)
    r = CliRunner().invoke(cli, ["encode", str(root), "-o", str(tmp_path / "o.tasz")])
    assert r.exit_code == 1 and "5 feature frames but 3 labels" in r.output
    assert "(use --trim to truncate to the shorter)" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o.tasz").exists()


def test_cli_missing_container_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["info", str(tmp_path / "missing.tasz")])
    assert r.exit_code == 1 and r.output.strip() == f"tasz: error: {tmp_path / 'missing.tasz'}: no such file"


def test_one_byte_formatter_for_every_message():
    from tascodec._format import human_bytes

    assert [human_bytes(n) for n in (0, 999, 1000, 733_412, 999_960, 13_000_000, 2.5e12)] == \
        ["0 B", "999 B", "1.0 KB", "733.4 KB", "1.0 MB", "13.0 MB", "2.5 TB"]
    r = CliRunner().invoke(cli, ["info", str(MLP)])
    assert r.exit_code == 0 and f"/ container {human_bytes(MLP.stat().st_size)}" in r.output


TF32_CHECK = """
import torch
from tascodec._precision import tf32
m, c = torch.backends.cuda.matmul, torch.backends.cudnn
{setup}
before = {read}
with tf32(True, "cpu"):
    assert {read} == before  # nothing changes off CUDA
with tf32(True, "cuda"):
    on = {read}
    with tf32(False, torch.device("cuda")):
        off = {read}
    assert {read} == on
assert {read} == before
print(on, off)
"""


@pytest.mark.parametrize("api", ["allow_tf32", "fp32_precision"])
def test_one_tf32_context_restores_either_api(api):
    # a subprocess: once the newer API is used, a process cannot read the old flags again
    if api == "allow_tf32":
        setup, read = "m.allow_tf32, c.allow_tf32 = False, True", "(m.allow_tf32, c.allow_tf32)"
        expected = "(True, True) (False, False)"
    else:
        # tf32 through the newer API: the old flag cannot be read any more
        setup, read = "m.fp32_precision = 'tf32'", "m.fp32_precision"
        expected = "tf32 ieee"
    out = subprocess.run([sys.executable, "-c", TF32_CHECK.format(setup=setup, read=read)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_one_collate_two_layouts():
    import torch

    from tascodec.bench.runner import collate as mstcn_collate
    from tascodec.torch import IGNORE_INDEX, collate

    rng = np.random.default_rng(0)
    videos = [(rng.random((t, 3), dtype=np.float32), rng.integers(0, 4, t)) for t in (5, 2, 0)]
    items = [{"features": torch.from_numpy(f), "labels": torch.from_numpy(y), "video": f"v{i}"}
             for i, (f, y) in enumerate(videos)]
    b = collate(items)
    x, targets, mask = mstcn_collate(videos)
    assert x.shape == (3, 3, 5) and targets.shape == (3, 5) and mask.shape == (3, 1, 5)
    torch.testing.assert_close(x, b["features"].transpose(1, 2))
    assert torch.equal(targets, b["labels"]) and int((targets == IGNORE_INDEX).sum()) == 3 + 5
    assert torch.equal(mask[:, 0], b["mask"]) and mask.sum().item() == 7
