"""``tasz encode DATA_DIR -o OUT.tasz``: condense a TAS dataset into a ``.tasz`` container."""
from __future__ import annotations

import os
from pathlib import Path

import click

from tascodec.encoding import defaults as D

METHODS = ("inversion", "encoded", "tca", "mean", "coreset", "pca")


@click.command("encode")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None,
              help="Output file (default: <dataset name>.tasz in the current folder).")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Folder with groundTruth/, mapping.txt and splits/ when the features live apart.")
@click.option("--split", type=int, default=1, show_default=True, help="Split number of the bundles.")
@click.option("--part", type=click.Choice(["train", "test", "all"]), default="train", show_default=True,
              help="Which part of the split to encode.")
@click.option("--sample-rate", type=int, default=None,
              help="Keep every n-th frame [a recognised benchmark's convention (50Salads: 2), else 1].")
@click.option("--background", multiple=True, default=("auto",), show_default=True,
              help="Background class name (repeatable); auto: a recognised benchmark's (GTEA background, "
                   "50Salads action_start/action_end, Breakfast SIL), else 'background' if in mapping.txt; "
                   "none: no background class.")
@click.option("--activity-pattern", default=None,
              help="Regex whose first group is a video's activity [a recognised benchmark's].")
@click.option("--trim", is_flag=True, help="Truncate videos whose feature and label lengths differ.")
@click.option("--method", type=click.Choice(METHODS), default="inversion", show_default=True,
              help="inversion | encoded (encoder means) | tca (random codes) | mean | coreset | pca "
                   "(a transform codec: principal components, codes interpolated in time) [pca with "
                   "--target-bytes/--target-ratio].")
@click.option("-K", "--K", "K", type=int, default=D.K, show_default=True, help="Instances per segment.")
@click.option("--ratio", type=float, default=1.0, show_default=True,
              help="Fraction of videos to keep (diverse subset).")
@click.option("--latent-dtype", type=click.Choice(["float32", "float16", "int8"]), default=None,
              help="Storage type of the codes [float16; pca: int8].")
@click.option("--weights-dtype", type=click.Choice(["float32", "float16", "int8"]), default=None,
              help="Storage type of the decoder weights [float16: half the bytes of float32; pca: int8, "
                   "which only pca can use].")
@click.option("--target-bytes", type=str, default=None,
              help="Byte budget of the whole file, e.g. 12MB, 500KB, 1.5GiB: method pca measures its "
                   "configurations on a sample and writes the least-error one that fits.")
@click.option("--target-ratio", type=float, default=None,
              help="Byte budget as a share of the raw float32 features, e.g. 0.001 (see --target-bytes).")
@click.option("--frames-per-code", type=int, default=None,
              help=f"pca: one code per this many frames of a segment [{D.PCA_FRAMES_PER_CODE}].")
@click.option("--levels", type=int, default=None,
              help=f"pca, int8 codes: quantisation levels per sign, 1..127 [{D.PCA_LEVELS}].")
@click.option("--epochs", type=int, default=None,
              help=f"TCA training epochs (wins over --train-steps) [preset: {D.FAST['epochs']}, capped at the "
                   "step budget].")
@click.option("--train-steps", type=int, default=None,
              help=f"TCA training budget in optimizer steps [preset: {D.FAST['train_steps']}, or "
                   f"{D.FAST['epochs']} epochs if fewer].")
@click.option("--iters", type=int, default=None, help=f"Inversion iterations [preset: {D.FAST['iters']}].")
@click.option("--lr", type=float, default=None, help=f"Inversion learning rate [preset: {D.FAST['lr']}].")
@click.option("--batch-size", type=int, default=None, help=f"Training minibatch [preset: {D.FAST['batch_size']}].")
@click.option("--hidden", type=int, default=None, help=f"Hidden width of the TCA MLPs [{D.HIDDEN}].")
@click.option("--latent-dim", type=int, default=None,
              help=f"Latent size d [{D.LATENT}; pca: {D.PCA_COMPONENTS} components].")
@click.option("--kl-weight", type=float, default=1.0, show_default=True, help="Weight of the KL term.")
@click.option("--init", type=click.Choice(["encoder", "random"]), default=None,
              help="Inversion start: encoder means, or random [encoder; random with --model].")
@click.option("--optimizer", default="adam", show_default=True, help="Inversion optimiser: adam | sgd.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed. On CPU the same seed, data, settings and torch thread count give the same "
                   "decoder and codes, bit for bit (CUDA runs may differ slightly).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1, ... [cuda if available].")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Reuse the decoder of this .tasz (no training).")
@click.option("--preset", type=click.Choice(["fast", "paper"]), default=None,
              help="fast (default): measured quick settings; paper: 7.5K epochs, 10K iterations.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.option("--no-resume", is_flag=True, help="Discard a checkpoint of an interrupted encode.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars, no summary.")
def cmd(data_dir, out, labels, split, part, sample_rate, background, activity_pattern, trim, method, K,
        ratio, latent_dtype, weights_dtype, epochs, train_steps, iters, lr, batch_size, hidden, latent_dim,
        kl_weight, init, optimizer, seed, device, model, preset, force, no_resume, quiet, target_bytes,
        target_ratio, frames_per_code, levels):
    """Encode the TAS dataset at DATA_DIR (MS-TCN layout) into a .tasz container.

    Interrupted encodes resume when the same command is run again. Under torchrun, training is
    data-parallel, ranks share the inversion, and rank 0 writes the file.
    """
    from tascodec.data.known import background_choice, dataset_defaults
    from tascodec.encoding.pipeline import encode

    if target_bytes is not None:
        target_bytes = parse_size(target_bytes)
    ctx = click.get_current_context()
    if (target_bytes is not None or target_ratio is not None) and \
            ctx.get_parameter_source("method") == click.core.ParameterSource.DEFAULT:
        method = "pca"  # the method with rate control

    chosen = dataset_defaults(data_dir, labels, background=background_choice(background),
                              activity_pattern=activity_pattern, sample_rate=sample_rate)
    if chosen.note and not quiet and int(os.environ.get("RANK", "0")) == 0:
        click.echo(chosen.note, err=True)
    background, activity_pattern, sample_rate = chosen.background, chosen.activity_pattern, chosen.sample_rate
    if out is None:
        out = Path(Path(labels if labels is not None else data_dir).resolve().name + ".tasz")
    path = encode(data_dir, out, labels=labels, split=split, part=part, sample_rate=sample_rate,
                  background=background, activity_pattern=activity_pattern, trim=trim, method=method, K=K,
                  ratio=ratio, latent_dtype=latent_dtype, weights_dtype=weights_dtype, epochs=epochs,
                  train_steps=train_steps, iters=iters, lr=lr, batch_size=batch_size, hidden=hidden,
                  latent_dim=latent_dim, kl_weight=kl_weight, init=init, optimizer=optimizer, seed=seed,
                  device=device, model=model, target_bytes=target_bytes, target_ratio=target_ratio,
                  frames_per_code=frames_per_code, levels=levels,
                  preset=preset, force=force, progress=not quiet, resume=not no_resume)
    if quiet or int(os.environ.get("RANK", "0")) != 0:
        return
    click.echo(summary(path))


_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """``"12MB"`` -> 12_000_000, ``"1.5GiB"``, ``"500KB"``, ``"4096"`` (decimal units, binary with i)."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else None
    if m is None or unit not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size such as 12MB, 500KB or 1.5GiB", param_hint="--target-bytes")
    n = int(float(m.group(1)) * _UNITS[unit])
    if n < 1:
        raise click.BadParameter(f"{text!r} is less than one byte", param_hint="--target-bytes")
    return n


def summary(path: Path) -> str:
    """One line: what was written, how small it is, how well it fits, how long it took."""
    from tascodec._format import human_bytes
    from tascodec.container.reader import open_container

    meta = open_container(path).metadata
    prov = meta.get("provenance", {}) if isinstance(meta, dict) else {}
    size = path.stat().st_size
    frames = prov.get("kept_frames", 0)
    raw = frames * prov.get("feature_dim", 0) * 4
    parts = [f"{path}: {prov.get('kept_videos', '?')} videos, {frames} frames, {human_bytes(size)}"]
    if raw:
        parts.append(f"{raw / size:.1f}x smaller than float32 features" if raw >= size
                     else f"{size / raw:.1f}x larger than float32 features")
    for name, value in prov.get("losses", {}).items():
        parts.append(f"{name} loss {value:.4g}")
    if prov.get("trimmed_frames"):
        parts.append(f"--trim dropped {prov['trimmed_frames']} frames")
    if "wall_time_s" in prov:
        parts.append(f"{prov['wall_time_s']:.1f} s")
    return ", ".join(parts)
