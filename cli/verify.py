"""``tasz verify FILE...``: read every chunk, check every invariant; exit 1 on any problem."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def cmd(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Check FILES (.tasz) completely: prints 'FILE: ok', or one line per problem and exits 1."""
    from tascodec.container.names import safe_text
    from tascodec.container.reader import verify_file

    failed = False
    for f in files:
        problems = verify_file(f)
        for line in problems or [f"{f}: ok"]:
            click.echo(safe_text(line))
        failed = failed or bool(problems)
    ctx.exit(1 if failed else 0)
