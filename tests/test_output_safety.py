"""Output safety: one rule for every file and folder tascodec writes (tascodec._io).

Folder outputs (``decode -o``, ``split``, ``synth``, ``demo``) share one matrix of cases below.
"""
from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from tascodec.cli.main import cli
from test_decode import write_test_container


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- decode --video -o NAME: the .npy suffix is appended as np.save does (issue 17) -------------
def test_decode_video_appends_npy_suffix_like_np_save(tmp_path):
    src = write_test_container(tmp_path / "x.tasz")
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "out2")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out2.npy").is_file() and not (tmp_path / "out2").exists()
    assert "out2.npy" in r.output
    np.load(tmp_path / "out2.npy")
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "out3.txt")  # np.save("out3.txt") -> out3.txt.npy
    assert r.exit_code == 0 and (tmp_path / "out3.txt.npy").is_file()
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "out2")  # the same file: needs -f
    assert r.exit_code == 1 and "out2.npy: already exists" in r.output
