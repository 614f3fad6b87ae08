"""``tasz decode FILE --video NAME [-o OUT.npy]`` or ``tasz decode FILE -o DIR``: restore features.

One video becomes a ``(D, T) float32`` ``.npy`` laid out like MS-TCN's feature files (default
``<video>.npy`` here); without ``--video`` the whole container becomes an MS-TCN dataset folder
(features/, groundTruth/, mapping.txt, splits/). Existing outputs are kept unless ``-f``.
"""
from __future__ import annotations

from pathlib import Path

import click


@click.command("decode")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--video", default=None, help="Restore this one video to a .npy file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="The .npy file (with --video; default <video>.npy) or the dataset folder (without).")
@click.option("--device", default=None, help="Decode with torch on this device (e.g. cuda); default numpy on the CPU.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output.")
def cmd(file: Path, video: str | None, output: Path | None, device: str | None, force: bool) -> None:
    """Restore features from FILE.tasz: one video (--video) or the whole dataset (-o DIR)."""
    from tascodec.container.reader import open_container
    from tascodec.decode.export import export_dataset, export_video
    from tascodec.errors import UsageError

    if video is None and output is None:
        raise UsageError("say what to restore: --video NAME [-o OUT.npy], or -o DIR for the whole dataset")
    with open_container(file) as c:
        if video is not None:
            path = export_video(c, video, output, force=force, device=device)
            click.echo(f"{path}: {c.decoder.feature_dim} x {c.num_frames(video)} float32")
        else:
            export_dataset(c, output, force=force, device=device, progress=True)
            click.echo(f"{output}: {len(c.videos)} videos, {c.total_frames} frames")
