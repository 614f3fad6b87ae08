"""Resume: an encode killed (SIGKILL) during training or inversion continues where it stopped."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import tascodec
from tascodec.container.quant import dequantize
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.encoding.checkpoint import Checkpoint
from tascodec.errors import UsageError

SETTINGS = dict(method="inversion", epochs=4, iters=20, batch_size=64, hidden=32, latent_dim=8, progress=False,
                checkpoint_every=0, chunk_frames=150)

# Runs an encode in a child process and SIGKILLs it right after epoch ``kill`` is checkpointed.
CHILD = r"""
import json, os, signal, sys
import torch
torch.set_num_threads(1)
from tascodec.encoding import checkpoint, pipeline
args = json.loads(sys.argv[1])
kill = args.pop("kill")
save_training = checkpoint.Checkpoint.save_training

def killing_save_training(self, epoch, *a, **k):
    save_training(self, epoch, *a, **k)
    if epoch == kill:
        os.kill(os.getpid(), signal.SIGKILL)

checkpoint.Checkpoint.save_training = killing_save_training
pipeline.encode(args.pop("data"), args.pop("out"), **args)
"""


class Crash(Exception):
    """An injected failure."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("ds") / "tiny", like="gtea", videos=6, dim=32,
                      length_scale=0.2, seed=1)


def _child(data, out, kill):
    args = json.dumps({**SETTINGS, "data": str(data), "out": str(out), "kill": kill})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CHILD, args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_killed_encode_resumes_without_redoing_work(data, tmp_path, monkeypatch):
    out = tmp_path / "r.tasz"
    ckpt = tmp_path / "r.tasz.ckpt"

    # 1. killed during training, right after epoch 2 of 4 was checkpointed
    r = _child(data, out, 2)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not out.exists()
    assert json.loads((ckpt / "state.json").read_text())["epoch"] == 2

    # a different encode refuses the checkpoint (and leaves it alone)
    with pytest.raises(UsageError, match="no-resume"):
        pipeline.encode(data, out, **{**SETTINGS, "epochs": 5})
    assert (ckpt / "state.json").exists() and not out.exists()

    # 2. rerun in-process: continues at epoch 2; crashes right after inversion chunk 1 of 4 is saved
    calls = {"train_from": [], "invert": 0}
    train, invert, save_chunk = pipeline.train_tca, pipeline.invert, Checkpoint.save_chunk

    def counting_train(*a, **k):
        calls["train_from"].append(k["start_epoch"])
        return train(*a, **k)

    def counting_invert(*a, **k):
        calls["invert"] += 1
        return invert(*a, **k)

    def crashing_save_chunk(self, i, *a, **k):
        save_chunk(self, i, *a, **k)
        if i == 1:
            raise Crash

    monkeypatch.setattr(pipeline, "train_tca", counting_train)
    monkeypatch.setattr(pipeline, "invert", counting_invert)
    monkeypatch.setattr(Checkpoint, "save_chunk", crashing_save_chunk)
    with pytest.raises(Crash):
        pipeline.encode(data, out, **SETTINGS)
    assert calls == {"train_from": [2], "invert": 2} and not out.exists()

    # 3. rerun: no training at all, only the two unfinished chunks
    monkeypatch.setattr(Checkpoint, "save_chunk", save_chunk)
    pipeline.encode(data, out, **SETTINGS)
    assert calls == {"train_from": [2], "invert": 4}
    assert not ckpt.exists()
    monkeypatch.undo()

    # the result equals an uninterrupted run (exactly on CPU; float16 codes compared within tolerance)
    ref = pipeline.encode(data, tmp_path / "ref.tasz", **SETTINGS)
    a, b = tascodec.open(out).content(), tascodec.open(ref).content()
    for k, w in a.decoder.weights.items():
        np.testing.assert_allclose(w, b.decoder.weights[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dequantize(a.codes), dequantize(b.codes), atol=1e-3)
    assert a.provenance["losses"] == pytest.approx(b.provenance["losses"], rel=1e-5)


def test_no_resume_discards_and_success_removes_checkpoint(data, tmp_path):
    out = tmp_path / "n.tasz"
    ckpt = tmp_path / "n.tasz.ckpt"
    ckpt.mkdir()
    (ckpt / "state.json").write_text(json.dumps({"format": "tascodec-checkpoint-1", "fingerprint": {"x": 1}}))
    with pytest.raises(UsageError, match="different encode"):
        pipeline.encode(data, out, **SETTINGS)
    pipeline.encode(data, out, resume=False, **SETTINGS)
    assert out.exists() and not ckpt.exists()


def test_unreadable_checkpoint_is_refused_clearly(data, tmp_path):
    ckpt = tmp_path / "u.tasz.ckpt"
    ckpt.mkdir()
    (ckpt / "state.json").write_text("{not json")
    with pytest.raises(UsageError, match="unreadable checkpoint"):
        pipeline.encode(data, tmp_path / "u.tasz", **SETTINGS)


def test_saved_chunks_are_tied_to_settings_and_decoder(tmp_path):
    ck = Checkpoint(tmp_path / "c.tasz", {"K": 8})
    codes = np.arange(6, dtype=np.float32).reshape(3, 2)
    ck.save_chunk(0, codes, {"frames": 9, "loss": 0.5}, "d1")
    again = Checkpoint(tmp_path / "c.tasz", {"K": 8})
    got, info = again.load_chunk(0, 3, 2, "d1")
    np.testing.assert_array_equal(got, codes)
    assert info == {"frames": 9, "loss": 0.5}
    assert again.load_chunk(0, 3, 2, "d2") is None  # another decoder: recompute
    assert again.load_chunk(0, 4, 2, "d1") is None  # another layout: recompute
    assert again.load_chunk(1, 3, 2, "d1") is None
    with pytest.raises(UsageError, match="K 8 -> 4"):
        Checkpoint(tmp_path / "c.tasz", {"K": 4})
