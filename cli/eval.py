"""``tasz eval``: train the reference backbone on original and restored data, test on the original."""
from __future__ import annotations

import json

import click

from .options import NOISE, SMOOTH


@click.command("eval")
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--tasz", "containers", multiple=True, type=click.Path(dir_okay=False),
              help="A container to evaluate (repeatable).")
@click.option("--labels", type=click.Path(file_okay=False), help="Labels folder when features live apart.")
@click.option("--split", default="1", show_default=True,
              help="Split number (train on train, test on test), or 'all': every split and their mean.")
@click.option("--sample-rate", type=int, default=None,
              help="Keep every n-th frame [a recognised benchmark's convention (50Salads: 2), else 1].")
@click.option("--background", multiple=True, default=("auto",), show_default=True,
              help="Background class names, left out of Edit and F1 (repeatable); auto: a recognised "
                   "benchmark's, else 'background' if in mapping.txt; none: no background class.")
@click.option("--epochs", default=50, show_default=True)
@click.option("--lr", default=5e-4, show_default=True)
@click.option("--batch-size", default=1, show_default=True)
@click.option("--stages", default=4, show_default=True, help="MS-TCN stages.")
@click.option("--layers", default=10, show_default=True, help="Dilated layers per stage.")
@click.option("--channels", default=64, show_default=True, help="Feature maps per layer.")
@click.option("--seed", default=0, show_default=True)
@click.option("--seeds", default=1, show_default=True,
              help="Train every model with this many seeds (--seed, --seed+1, ...): mean and spread.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--smooth", type=SMOOTH, default="auto", show_default=True,
              help="Restore the containers for training as tasz decode does: smoothed across action boundaries "
                   "over N frames (auto: two knot spacings for a pca file, else 1; 1: the exact decode).")
@click.option("--noise", type=NOISE, default="auto", show_default=True,
              help="Noise filling, as TaszDataset does: fresh noise on every pass at the level a pca file stores "
                   "of what its codes miss, times X (auto: 1 where stored, else 0; 0: none).")
@click.option("--no-original", is_flag=True, help="Skip the model trained on the original features.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars, no note of the defaults chosen.")
def cmd(data_dir, containers, labels, split, sample_rate, background, epochs, lr, batch_size, stages, layers,
        channels, seed, seeds, device, smooth, noise, no_original, as_json, quiet):
    """Score MS-TCN trained on DATA_DIR's train split and on each --tasz container, tested on the original test split."""
    from tascodec.bench.evaluate import format_table, rows_to_json, run_eval, warnings_of
    from tascodec.data.known import background_choice, dataset_defaults
    from tascodec.errors import UsageError

    if no_original and not containers:
        raise UsageError("nothing to evaluate: give --tasz FILE or drop --no-original")
    chosen = dataset_defaults(data_dir, labels, background=background_choice(background), sample_rate=sample_rate)
    if chosen.note and not quiet:
        click.echo(chosen.note, err=True)
    background, sample_rate = chosen.background, chosen.sample_rate
    rows = run_eval(data_dir, containers, labels=labels, split=split, sample_rate=sample_rate,
                    background=background, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, seeds=seeds,
                    device=device, include_original=not no_original, progress=not quiet,
                    log=None if quiet or as_json else (lambda s: click.echo(s, err=True)),
                    num_stages=stages, num_layers=layers, num_f_maps=channels, smooth=smooth, noise=noise)
    if as_json:
        for w in warnings_of(rows):
            click.echo(w, err=True)
    click.echo(json.dumps(rows_to_json(rows), indent=2) if as_json else format_table(rows))
