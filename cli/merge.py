"""``tasz merge A.tasz B.tasz ... -o OUT.tasz``: concatenate containers that share a decoder."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True, help="Output container.")
@click.option("--skip-duplicates", is_flag=True,
              help="Where video names repeat, keep the first occurrence and leave out the rest.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output.")
def cmd(inputs, out, skip_duplicates, force):
    """Merge containers with the same decoder, vocabulary and code type into one (no re-encoding)."""
    from tascodec.container.reader import open_container
    from tascodec.subsetting import merge_files

    path = merge_files(inputs, out, force=force, skip_duplicates=skip_duplicates)
    with open_container(path) as c:
        videos, frames, skipped = c.num_videos, c.total_frames, _skipped(c) if skip_duplicates else ""
    n = len(inputs)
    click.echo(f"{path}: {videos} video{'s' * (videos != 1)} from {n} container{'s' * (n != 1)}, "
               f"{frames:,} frames{skipped}")


def _skipped(c) -> str:
    n = c.metadata["provenance"]["operations"][-1].get("skipped_duplicates", 0)
    return f"; skipped {n} duplicate video{'s' * (n != 1)} (kept the first of each)" if n else ""
