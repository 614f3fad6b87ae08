"""``tasz show``: a PNG of one video's segments, instances and restored features."""
from __future__ import annotations

import click


@click.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--video", required=True, help="Video name (as listed by `tasz info --videos`).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False),
              help="The original dataset: also draw its features and the difference.")
@click.option("-o", "--output", help="PNG path (default: <video>.png).")
@click.option("--dims", default=256, show_default=True, help="Feature dimensions shown in the heat maps.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
def cmd(file, video, data_dir, output, dims, force):
    """Draw VIDEO of FILE.tasz: timeline coloured by class with instance boundaries, feature heat maps."""
    from tascodec.show import render

    out, stats = render(file, video, output or f"{video}.png", data_dir=data_dir, max_dims=dims, force=force)
    extra = (f" (per-frame restored error: mean {stats['relative_error']:.3f}, mean cosine {stats['cosine']:.3f})"
             if stats else "")
    click.echo(f"wrote {out}{extra}")
