"""``tasz decode FILE --video NAME [-o OUT.npy]`` or ``tasz decode FILE -o DIR``: restore features.

One video becomes a ``(D, T) float32`` ``.npy`` laid out like MS-TCN's feature files (default
``<video>.npy`` here); without ``--video`` the whole container becomes an MS-TCN dataset folder
(features/, groundTruth/, mapping.txt, splits/); ``--with-test DATA_DIR`` adds the original test
split, for training code written for that layout. Existing outputs are kept unless ``-f``.
"""
from __future__ import annotations

from pathlib import Path

import click

from .options import SMOOTH, smoothed


@click.command("decode")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--video", default=None, help="Restore this one video to a .npy file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="The .npy file (with --video; default <video>.npy) or the dataset folder (without).")
@click.option("--device", default=None, help="Decode with torch on this device (e.g. cuda); default numpy on the CPU.")
@click.option("--with-test", "with_test", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Original dataset folder (MS-TCN layout): add its test split (features hard-linked or "
                   "copied, ground truth, test bundle) so training code trains and tests on OUT.")
@click.option("--rate", type=click.Choice(["source", "stored"]), default="source", show_default=True,
              help="source: repeat each frame of a container encoded with --sample-rate N N times, back to "
                   "the source frame rate (what loaders that subsample again expect); stored: as stored.")
@click.option("--smooth", type=SMOOTH, default="auto", show_default=True,
              help="Smooth the restore across action boundaries over N stored frames (1: the exact restore; "
                   "auto: two knot spacings for a pca file, which trains segmentation models better at "
                   "small budgets, else 1; README, Rate and quality).")
@click.option("-f", "--force", is_flag=True,
              help="Replace an existing output (a folder only if tascodec wrote it, or it is empty).")
def cmd(file: Path, video: str | None, output: Path | None, device: str | None, with_test: Path | None,
        rate: str, smooth: str, force: bool) -> None:
    """Restore features from FILE.tasz: one video (--video) or the whole dataset (-o DIR)."""
    from tascodec.container.reader import open_container
    from tascodec.decode.export import export_dataset, export_video, restore_repeat
    from tascodec.decode.smooth import AUTO, auto_widths, resolve_width
    from tascodec.errors import UsageError

    if video is None and output is None:
        raise UsageError("say what to restore: --video NAME [-o OUT.npy], or -o DIR for the whole dataset")
    if video is not None and with_test is not None:
        raise UsageError("--with-test makes a dataset folder: use it with -o DIR, not with --video")
    with open_container(file) as c:
        repeat = restore_repeat(c, rate)
        times = f" (each stored frame repeated {repeat}x, back to the source rate)" if repeat > 1 else ""
        if video is not None:
            path = export_video(c, video, output, force=force, device=device, rate=rate, smooth=smooth)
            how = smoothed([resolve_width(smooth, c, video)])
            click.echo(f"{path}: {c.decoder.feature_dim} x {repeat * c.num_frames(video)} float32{times}"
                       + (f", {how}" if how else ""))
        else:
            export_dataset(c, output, force=force, device=device, progress=True, with_test=with_test, rate=rate,
                           smooth=smooth)
            how = smoothed(auto_widths(c).tolist() if smooth == AUTO else [smooth])
            click.echo(f"{output}: {len(c.videos)} videos, {repeat * c.total_frames:,} frames{times}"
                       + (f", {how}" if how else ""))
            if with_test is not None:
                test = (output / "splits").glob("test.split*.bundle")
                n = sum(len(p.read_text().split()) for p in test)
                click.echo(f"{output}: {n} test videos of {with_test} (original features and ground truth, "
                           "hard-linked where the filesystem allows, else copied)")
