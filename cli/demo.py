"""``tasz demo``: synthesize, encode, subset, decode and evaluate in one offline run."""
from __future__ import annotations

import click


@click.command("demo")
@click.option("--out", "out_dir", default="tasz-demo", show_default=True, type=click.Path(),
              help="Folder for the demo's dataset and containers (replaced if an earlier demo made it).")
@click.option("--quick", is_flag=True, help="A tiny version (seconds): small features, few epochs.")
@click.option("--seed", default=0, show_default=True)
@click.option("-f", "--force", is_flag=True, help="Replace --out if another tascodec command wrote it (a folder tascodec did not write "
                   "is never replaced).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def cmd(out_dir, quick, seed, force, quiet):
    """Show tascodec at work on a built-in synthetic GTEA-like dataset (about 72 CPU-seconds)."""
    from tascodec.demo import DEFAULT, QUICK, run_demo

    run_demo(out_dir, size=QUICK if quick else DEFAULT, force=force, seed=seed, progress=not quiet,
             echo=click.echo)
