"""The examples run as a user runs them (subprocess, real files)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tascodec.data.synthetic import synthesize
from tascodec.encoding.pipeline import encode

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    d = synthesize(root / "gtea", like="gtea", videos=8, dim=16, length_scale=0.05, seed=3)
    f = encode(d, root / "gtea.tasz", method="mean", K=2, progress=False)
    return d, f


def run(*args: str) -> str:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_train_on_tasz_with_workers(data):
    d, f = data
    out = run(str(EXAMPLES / "train_on_tasz.py"), str(f), "--epochs", "2", "--workers", "2",
              "--test-data", str(d))
    losses = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("epoch")]
    assert len(losses) == 2 and all(l > 0 for l in losses)
    assert "test acc" in out and "f1@50" in out


def test_incremental_replay(data, tmp_path):
    d, _ = data
    out = run(str(EXAMPLES / "incremental_replay.py"), str(d), "--activity-pattern", r"^S\d+_([^_]+)_",
              "--epochs", "1", "--work", str(tmp_path))
    assert "replay memory:" in out
    steps = [line for line in out.splitlines() if line.startswith("after ")]
    assert len(steps) >= 2 and all("acc on all seen" in s for s in steps)
    assert list(tmp_path.glob("replay-*.tasz"))
