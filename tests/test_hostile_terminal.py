"""Strings from a file never reach the terminal as control sequences (issue 11)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tascodec.cli.main import cli
from tascodec.container import write_container
from tascodec.container.names import UNSAFE
from helpers import edit_root, make_content

EVIL = "\x1b[2J\x1b]0;pwned\x07\x9b31m\x7f\u202e\u2066\u2028"


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def hostile(tmp_path):
    good = write_container(make_content(), tmp_path / "good.tasz")

    def edit(t):
        t["writer"].update(name="tas" + EVIL, version=EVIL, created=EVIL)
        t["provenance"].update({"dataset": "d" + EVIL, "method": EVIL, "note" + EVIL: [EVIL, {EVIL: EVIL}],
                                "settings": {"K": 3, "x": EVIL}})
    return edit_root(good, tmp_path / "evil.tasz", edit)


def assert_clean(text: str) -> None:
    bad = {c for c in UNSAFE.findall(text) if c != "\n"}
    assert not bad, sorted(map(hex, map(ord, bad)))


def test_info_escapes_file_strings(tmp_path):
    p = hostile(tmp_path)
    r = run("info", p)
    assert r.exit_code == 0, r.output
    assert_clean(r.output)
    assert "\\x1b[2J" in r.output and "\\u202e" in r.output and "K=3" in r.output


def test_info_json_is_clean_and_exact(tmp_path):
    p = hostile(tmp_path)
    r = run("info", "--json", p)
    assert r.exit_code == 0, r.output
    assert_clean(r.output)
    j = json.loads(r.output)
    assert j["writer"]["name"] == "tas" + EVIL and j["provenance"]["note" + EVIL] == [EVIL, {EVIL: EVIL}]


def test_reports_of_other_commands_are_clean(tmp_path):
    p = hostile(tmp_path)
    for args in (("verify", p), ("subset", p, "-o", tmp_path / "s.tasz", "--count", "1"),
                 ("merge", p, "-o", tmp_path / "m.tasz")):
        r = run(*args)
        assert r.exit_code == 0, (args, r.output)
        assert_clean(r.output)
