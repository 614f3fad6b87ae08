"""``tasz subset``: keep a diverse (or random) fraction of the videos of a container or a dataset.

``tasz subset IN.tasz [-o OUT.tasz]`` copies the chosen videos into a new container (no
re-encoding; default name ``IN-50pct.tasz`` etc. in the current folder, see ``derived_name``); ``tasz subset DATA_DIR --bundle OUT.bundle`` chooses on a raw dataset's labels and
writes a split bundle. The input's type decides the mode.
"""
from __future__ import annotations

from pathlib import Path

import click


@click.command("subset")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None,
              help="Output container (when SOURCE is a .tasz file) [default: <SOURCE name>-<50pct|Nvideos>"
                   "[-random][-per-activity].tasz in the current folder].")
@click.option("--bundle", type=click.Path(path_type=Path), default=None,
              help="Output split bundle, one <video>.txt per line (when SOURCE is a dataset folder).")
@click.option("--ratio", type=float, default=None, help="Fraction of videos to keep, in (0, 1]  [default: 0.5].")
@click.option("--count", type=int, default=None, help="Number of videos to keep (per activity with --per-activity).")
@click.option("--strategy", type=click.Choice(["diverse", "random"]), default="diverse", show_default=True,
              help="diverse: farthest-point over action orders; random: seeded uniform.")
@click.option("--per-activity", is_flag=True, help="Select within each activity (the ratio of each).")
@click.option("--activity-pattern", default=None,
              help="Regex whose first group is a video's activity (overrides the container's field).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random strategy.")
@click.option("--keep-background", is_flag=True, help="Keep background classes in the action sequences.")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Dataset mode: folder with groundTruth/, mapping.txt and splits/ if apart.")
@click.option("--split", type=int, default=1, show_default=True, help="Dataset mode: split number.")
@click.option("--part", type=click.Choice(["train", "test", "all"]), default="train", show_default=True,
              help="Dataset mode: which part of the split to choose from.")
@click.option("--background", multiple=True, default=("background",), show_default=True,
              help="Dataset mode: background class name (repeatable).")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output.")
def cmd(source, out, bundle, ratio, count, strategy, per_activity, activity_pattern, seed, keep_background,
        labels, split, part, background, force):
    """Keep a diverse fraction of the videos of SOURCE (a .tasz file or a dataset folder)."""
    from tascodec.errors import UsageError
    from tascodec.subsetting import subset_dataset, subset_file

    if ratio is not None and count is not None:
        raise UsageError("give --ratio or --count, not both")
    common = dict(ratio=ratio, count=count, strategy=strategy, seed=seed, per_activity=per_activity,
                  activity_pattern=activity_pattern, keep_background=keep_background, force=force)
    if source.is_dir():
        if bundle is None or out is not None:
            raise UsageError(f"{source}: a dataset folder is subset into a split bundle: use --bundle OUT.bundle "
                             "(-o is for .tasz inputs)")
        report = subset_dataset(source, bundle, labels=labels, split=split, part=part, background=background,
                                **common)
    elif source.is_file():
        if bundle is not None:
            raise UsageError(f"{source}: a container is subset into a container: use -o OUT.tasz "
                             "(--bundle is for dataset folders)")
        if out is None:
            out = derived_name(source, ratio, count, strategy, per_activity)
        report = subset_file(source, out, **common)
    else:
        raise UsageError(f"{source}: no such file or folder")
    click.echo(report.summary())


def derived_name(source: Path, ratio: float | None, count: int | None, strategy: str, per_activity: bool) -> Path:
    """``<stem>-50pct.tasz`` (ratio; default 0.5) or ``<stem>-3videos.tasz`` (count), then ``-random``
    and ``-per-activity`` when chosen, in the current folder (as ``tasz encode`` names its output)."""
    size = f"{count}videos" if count is not None else f"{100 * (0.5 if ratio is None else ratio):.4g}pct"
    parts = [source.stem, size] + (["random"] if strategy == "random" else []) + \
        (["per-activity"] if per_activity else [])
    return Path("-".join(parts) + ".tasz")
