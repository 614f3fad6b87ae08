"""``tasz merge A.tasz B.tasz ... -o OUT.tasz``: concatenate containers that share a decoder."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True, help="Output container.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output.")
def cmd(inputs, out, force):
    """Merge containers with the same decoder, vocabulary and code type into one (no re-encoding)."""
    from tascodec.container.reader import open_container
    from tascodec.subset import merge_files

    path = merge_files(inputs, out, force=force)
    c = open_container(path)
    click.echo(f"{path}: {c.num_videos} videos from {len(inputs)} containers, {c.total_frames:,} frames")
