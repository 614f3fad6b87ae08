"""Every `tasz ...` command shown in README.md parses: the verb exists and its options are real.

The commands also run for real elsewhere: the install-and-demo and test commands in .ci/run,
and each verb's behaviour in its own tests (encode, decode, subset, merge, split, eval, show, ...).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from tascodec.cli.main import VERBS, cli

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[list[str]]:
    text = README.read_text()
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            words = shlex.split(line)
            if "tasz" in words:  # plain `tasz VERB` and `... && tasz demo`
                words = words[words.index("tasz") + 1:]
            elif "tascodec.cli.main" in words:  # torchrun ... -m tascodec.cli.main VERB
                words = words[words.index("tascodec.cli.main") + 1:]
            else:
                continue
            cmds.append(words)
    return cmds


def test_readme_shows_every_main_verb():
    verbs = {c[0] for c in readme_commands()}
    assert {"demo", "encode", "decode", "info", "verify", "subset", "merge", "split", "eval", "show"} <= verbs


@pytest.mark.parametrize("words", readme_commands(), ids=lambda w: " ".join(w)[:60])
def test_readme_command_parses(words):
    assert words[0] in VERBS
    command = cli.get_command(click.Context(cli), words[0])
    # parse the arguments exactly as the command line would, without running the command
    ctx = command.make_context(words[0], words[1:])
    assert ctx.params is not None
