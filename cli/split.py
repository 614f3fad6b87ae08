"""``tasz split IN.tasz --by activity -o DIR/``: one container per activity.

Each file is a complete ``.tasz``: it holds the whole decoder, so k activities store the decoder k
times. There is no ``--shared-decoder``: the format (spec/tasz-v1.md) makes every file
self-contained and checks the decoder against its sha256 on open; a file that points at another
file's decoder could be moved, renamed or opened alone and then not decode. To keep one decoder,
keep one file and choose videos from it (``tasz subset``, ``TaszDataset(videos=...)``).
"""
from __future__ import annotations

from pathlib import Path

import click


@click.command("split")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--by", type=click.Choice(["activity"]), default="activity", show_default=True,
              help="What to split by.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder: one <activity>.tasz per activity.")
@click.option("--activity-pattern", default=None,
              help="Regex whose first group is a video's activity (overrides the container's field).")
@click.option("-f", "--force", is_flag=True,
              help="Replace an existing output folder (only one tascodec wrote; an empty one needs no -f).")
def cmd(source, by, out_dir, activity_pattern, force):
    """Split SOURCE into one container per activity (no re-encoding).

    Every output holds the whole decoder (a .tasz is self-contained), so the files together are
    larger than SOURCE; the summary line says by how much.
    """
    from tascodec.container.reader import open_container
    from tascodec.subsetting import split_file

    files = split_file(source, out_dir, by=by, activity_pattern=activity_pattern, force=force)
    total = 0
    for activity, path in files.items():
        size = path.stat().st_size
        total += size
        with open_container(path) as c:
            videos = c.num_videos
        click.echo(f"{path}: {videos} videos of {activity}, {size:,} bytes")
    with open_container(source) as c:
        decoder = c.nbytes_by_part()["decoder"]
    click.echo(f"{len(files)} files, {total:,} bytes in all ({source}: {source.stat().st_size:,} bytes): each "
               f"holds the whole decoder ({decoder:,} bytes), as every .tasz is self-contained")
