"""Output meant for people and logs: no terminal control codes off a terminal, plural that agrees."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.encoding.pipeline import encode


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("honest")
    d = synthesize(root / "gtea", like="gtea", videos=4, dim=8, length_scale=0.03, seed=3)
    return root, d


def _tasz(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "xterm-256color"}
    return subprocess.run([sys.executable, "-m", "tascodec.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_no_escape_codes_or_carriage_returns_when_output_is_not_a_terminal(tiny):
    """Bars are off when stderr is a pipe: logs get no ESC[A or \\r from nested bars."""
    root, d = tiny
    runs = [
        _tasz("synth", str(root / "s"), "--like", "gtea", "--videos", "4", "--dim", "8", "--length-scale", "0.03",
              cwd=root),
        _tasz("encode", str(d), "-o", str(root / "e.tasz"), "--method", "inversion", "--epochs", "2", "--iters", "3", "--hidden", "16",
              "--latent-dim", "4", "--device", "cpu", cwd=root),
        _tasz("encode", str(d), "-o", str(root / "p.tasz"), cwd=root),  # the default: pca, its own bars
        _tasz("decode", str(root / "e.tasz"), "-o", str(root / "restored"), cwd=root),
        _tasz("eval", str(d), "--tasz", str(root / "e.tasz"), "--epochs", "2", "--stages", "1", "--layers", "2",
              "--channels", "8", cwd=root),
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
        for stream in (r.stdout, r.stderr):
            assert "\x1b" not in stream and "\r" not in stream, (r.args, stream)


def test_progress_bars_follow_the_terminal(monkeypatch):
    from tascodec import progress

    class Fake:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

        def write(self, s):
            pass

        def flush(self):
            pass

    class Log(Fake):
        text = ""

        def write(self, s):
            Log.text += s

    monkeypatch.setattr(sys, "stderr", Log(False))
    with pipeline._progress(3, "codes", True) as step:  # the encode's own per-video bars
        step(1)
    assert Log.text == ""
    monkeypatch.setattr(sys, "stderr", Fake(False))
    assert progress.tqdm(range(3)).disable and not progress.shown()
    monkeypatch.setattr(sys, "stderr", Fake(True))
    assert not progress.tqdm(range(3), leave=False).disable
    assert progress.tqdm(range(3), disable=True).disable


def test_merge_says_container_in_the_singular(tiny):
    root, d = tiny
    one = encode(d, root / "one.tasz", method="mean", progress=False)
    r = CliRunner().invoke(cli, ["merge", str(one), "-o", str(root / "m1.tasz")])
    assert r.exit_code == 0, r.output
    assert "from 1 container," in r.output and "1 containers" not in r.output
