"""``tasz synth OUT_DIR --like gtea|50salads|breakfast``: write a synthetic TAS dataset."""
from __future__ import annotations

import os

import click


@click.command("synth")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--like", type=click.Choice(["gtea", "50salads", "breakfast"]), default="gtea",
              show_default=True,
              help="Benchmark to imitate: classes, action grammars, segment lengths, video names, splits.")
@click.option("--videos", type=int, default=None,
              help="Number of videos [default: the benchmark's, 28 / 50 / 1712].")
@click.option("--dim", type=int, default=2048, show_default=True, help="Feature dimension D.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--length-scale", type=float, default=1.0, show_default=True,
              help="Multiply segment lengths by this (e.g. 0.1 for a tiny dataset).")
@click.option("--order", type=click.Choice(["C", "F"]), default="C", show_default=True,
              help="Byte order of the feature files: C (row-major) or F (column-major, what "
                   "np.save(path, x.T) of a (T, D) array writes).")
@click.option("-f", "--force", is_flag=True,
              help="Replace an existing dataset folder that tascodec wrote (never one it did not).")
def cmd(out_dir, like, videos, dim, seed, length_scale, order, force):
    """Write a synthetic TAS dataset shaped like GTEA, 50Salads or Breakfast to OUT_DIR.

    MS-TCN layout: features/<video>.npy float32 (D, T), groundTruth/<video>.txt,
    mapping.txt and splits/{train,test}.split<N>.bundle.
    """
    from tascodec.progress import tqdm

    from tascodec.data.synthetic import BENCHMARKS, plan, synthesize

    total = len(plan(like, videos))
    frames = 0
    bar = None  # opened on the first video, so a refused output prints no bar

    def progress(name, num_frames):
        nonlocal frames, bar
        if bar is None:
            bar = tqdm(total=total, unit="video", desc="synth", leave=False)
        frames += num_frames
        bar.update(1)

    try:
        out = synthesize(out_dir, like=like, videos=videos, dim=dim, seed=seed, length_scale=length_scale,
                         force=force, progress=progress, order=order)
    finally:
        if bar is not None:
            bar.close()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(out) for f in files)
    click.echo(f"{out}: {total} videos, {frames} frames, {len(BENCHMARKS[like].classes)} classes, "
               f"{size} bytes ({size / 2**20:.1f} MiB)")
