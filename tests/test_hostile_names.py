"""Names a restore can write, and text from a file that is safe to print (issue 11)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tascodec.container import names as names_mod
from tascodec.container import write_container
from tascodec.container.names import MAX_NAME_BYTES, name_problem, safe_text
from tascodec.errors import InvalidStructure
from helpers import edit_root, make_content


@pytest.mark.parametrize("bad", [
    "a\x1b[2Jb", "a\x7fb", "a\x85b", "a\x9b31mb", "a\u202eb", "a\u2066b", "a\u200fb", "a\u061cb",
    "a\u2028b", "a\u2029b", "\ud800", "", "x" * (MAX_NAME_BYTES + 1), "é" * (MAX_NAME_BYTES // 2 + 1),
])
def test_unsafe_names_are_refused(bad):
    assert name_problem(bad, path_safe=False) is not None


def test_name_limit_leaves_room_for_restored_files(tmp_path):
    # a restore writes <name>.npy / <name>.txt and temporaries beside them: all must fit NAME_MAX
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    longest = "x" * MAX_NAME_BYTES
    assert name_problem(longest, path_safe=True) is None
    assert len(f".{longest}.npy.XXXXXXXX.tmp".encode()) <= name_max
    (tmp_path / f"{longest}.npy").write_bytes(b"")
    assert name_problem("x" * (MAX_NAME_BYTES + 1), path_safe=True) is not None
    assert names_mod.MAX_NAME_BYTES == MAX_NAME_BYTES


@pytest.mark.parametrize("name", ["日本語 ü", "a b.c", "P03_cereals", "emoji 🙂"])
def test_ordinary_names_pass(name):
    assert name_problem(name, path_safe=True) is None


def test_reader_refuses_c1_bidi_and_long_names(tmp_path):
    good = write_container(make_content(), tmp_path / "good.tasz")
    for bad in ("v\x9b2J", "v\u202etxt.exe", "y" * (MAX_NAME_BYTES + 1)):
        out = edit_root(good, tmp_path / "b.tasz", lambda t: t.update(videos=["v1", bad, "v3"]))
        with pytest.raises(InvalidStructure, match=r"videos\[1\]"):
            __import__("tascodec").open(out)
    c = make_content(vocab=["c0", "c\u202e1", "c2", "c3"])
    with pytest.raises(InvalidStructure, match="vocab"):
        write_container(c, tmp_path / "w.tasz")


def test_safe_text_escapes_terminal_controls():
    s = "ok \x1b[2J\x1b]0;title\x07 \x9b31m \x7f \u202e \u2066 \u2028 \ud800 日本 ü \t\n"
    out = safe_text(s)
    assert out.isprintable()
    for raw in ("\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\u2066", "\u2028", "\ud800", "\t", "\n"):
        assert raw not in out
    assert "\\x1b[2J" in out and "\\x9b" in out and "\\u202e" in out and "日本 ü" in out
    assert safe_text("line1\nline2\x1b", keep_newlines=True) == "line1\nline2\\x1b"
    out.encode("utf-8")  # no lone surrogate survives


def test_safe_text_json_style_keeps_json_valid():
    import json

    doc = {"k": "a\x1bb\x9bc\u202ed\u2028e\x7f ü"}
    text = safe_text(json.dumps(doc, ensure_ascii=False), style="json")
    assert json.loads(text) == doc
    assert all(ch not in text for ch in "\x1b\x9b\u202e\u2028\x7f") and "ü" in text


def test_safe_text_is_fast_on_long_clean_text():
    import time

    s = "abc ü " * 200_000
    t = time.process_time()
    assert safe_text(s) == s
    assert time.process_time() - t < 0.5


def test_longest_names_restore(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tascodec.cli.main import cli

    long = "v" * (MAX_NAME_BYTES - 2) + "é"  # exactly MAX_NAME_BYTES UTF-8 bytes
    assert len(long.encode()) == MAX_NAME_BYTES
    p = write_container(make_content(videos=(long, "b", "c"), activities=["a" * MAX_NAME_BYTES, "x", "x"]),
                        tmp_path / "long.tasz")
    monkeypatch.chdir(tmp_path)
    for args in (["decode", str(p), "--video", long], ["decode", str(p), "-o", "ds"],
                 ["split", str(p), "-o", "parts"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, (args[1:], r.output)
    assert (tmp_path / f"{long}.npy").is_file() and (tmp_path / "ds" / "groundTruth" / f"{long}.txt").is_file()
    np.testing.assert_array_equal(np.load(tmp_path / f"{long}.npy"),
                                  np.load(tmp_path / "ds" / "features" / f"{long}.npy"))
