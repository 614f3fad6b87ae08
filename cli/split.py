"""``tasz split IN.tasz --by activity -o DIR/``: one container per activity."""
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
@click.option("-f", "--force", is_flag=True, help="Replace existing output files.")
def cmd(source, by, out_dir, activity_pattern, force):
    """Split SOURCE into one container per activity (no re-encoding)."""
    from tascodec.container.reader import open_container
    from tascodec.subset import split_file

    files = split_file(source, out_dir, by=by, activity_pattern=activity_pattern, force=force)
    for activity, path in files.items():
        click.echo(f"{path}: {open_container(path).num_videos} videos of {activity}")
