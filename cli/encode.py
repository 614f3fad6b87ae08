"""``tasz encode DATA_DIR -o OUT.tasz``: condense a TAS dataset into a ``.tasz`` container.

The options are the settings of ``tascodec.encoding.config.EncodeConfig``: their names, types,
``Choice``\\ s, defaults and help come from its fields. A setting whose default is automatic or the
preset's (its ``note``, shown in brackets) is left unset unless given. ``SPELLING`` holds the few
places where the command line differs from ``--setting-name VALUE``.
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from tascodec.encoding import config as C

# How the command line spells or means a setting, where not plainly "--setting-name VALUE".
# "negate": the flag's name (it sets the setting to False); "more": added to the help.
SPELLING: dict[str, dict] = {
    "K": {"decls": ("-K", "--K")},
    "sample_rate": {"note": "a recognised benchmark's convention (50Salads: 2), else 1"},
    "background": {"default": ("auto",),
                   "help": "Background class name (repeatable); auto: a recognised benchmark's (GTEA background, "
                           "50Salads action_start/action_end, Breakfast SIL), else 'background' if in mapping.txt; "
                           "none: no background class"},
    "activity_pattern": {"note": "a recognised benchmark's"},
    "force": {"decls": ("-f", "--force")},
    "progress": {"negate": "quiet", "decls": ("-q", "--quiet"), "help": "No progress bars, no summary"},
    "resume": {"negate": "no_resume", "decls": ("--no-resume",),
               "help": "Discard a checkpoint of an interrupted encode"},
}


class _Size(click.ParamType):
    name = "size"

    def convert(self, value, param, ctx):
        return value if isinstance(value, int) else parse_size(value)


_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING, Path: click.Path(path_type=Path)}


def _option(setting: C.Setting):
    """The click option of one config setting."""
    spell, meta = SPELLING.get(setting.name, {}), setting.metadata
    decls = spell.get("decls", ("--" + setting.name.replace("_", "-"),))
    help_text = spell.get("help", meta["help"]) + spell.get("more", "")
    if "negate" in spell:
        return click.option(*decls, spell["negate"], is_flag=True, help=help_text + ".")
    if setting.type is bool:
        return click.option(*decls, setting.name, is_flag=True, help=help_text + ".")
    kw: dict = {}
    if meta["choices"] is not None:
        kw["type"] = click.Choice(meta["choices"])
    elif setting.name == "target_bytes":
        kw["type"] = _Size()
    elif setting.type is tuple:
        kw["multiple"] = True
    else:
        kw["type"] = _TYPES[setting.type]
    note = spell.get("note", meta["note"])
    if "default" in spell:
        kw.update(default=spell["default"], show_default=True)
    elif note is not None or setting.default is None:
        kw["default"] = None  # unset: the automatic or the preset's value
        if note is not None:
            help_text += f" [{note}]"
    else:
        kw.update(default=setting.default, show_default=True)
    return click.option(*decls, setting.name, help=help_text + ".", **kw)


def _with_settings(f):
    for setting in reversed([s for s in C.settings() if s.metadata["cli"]]):
        f = _option(setting)(f)
    return f


@click.command("encode")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None,
              help="Output file (default: <dataset name>.tasz in the current folder).")
@_with_settings
def cmd(data_dir, out, quiet, no_resume, **settings):
    """Encode the TAS dataset at DATA_DIR (MS-TCN layout) into a .tasz container.

    By default: method pca, the least restored error that fits 0.5% of the raw float32 features
    (--target-bytes / --target-ratio choose the budget; --method inversion is the paper's method).
    Interrupted encodes resume when the same command is run again. Under torchrun, the inversion's
    training is data-parallel, ranks share the inversion, and rank 0 writes the file.
    """
    from tascodec.data.known import background_choice, dataset_defaults
    from tascodec.encoding.pipeline import encode

    settings.update(progress=not quiet, resume=not no_resume)
    ctx = click.get_current_context()
    if (settings["target_bytes"] is not None or settings["target_ratio"] is not None) and \
            ctx.get_parameter_source("method") == click.core.ParameterSource.DEFAULT:
        settings["method"] = "pca"  # the method with rate control

    labels = settings["labels"]
    chosen = dataset_defaults(data_dir, labels, background=background_choice(settings["background"]),
                              activity_pattern=settings["activity_pattern"], sample_rate=settings["sample_rate"])
    if chosen.note and not quiet and int(os.environ.get("RANK", "0")) == 0:
        click.echo(chosen.note, err=True)
    settings.update(background=chosen.background, activity_pattern=chosen.activity_pattern,
                    sample_rate=chosen.sample_rate)
    if out is None:
        out = Path(Path(labels if labels is not None else data_dir).resolve().name + ".tasz")
    path = encode(data_dir, out, **settings)
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

    with open_container(path, check="metadata") as c:  # just written and checked
        meta = c.metadata
    prov = meta.get("provenance", {}) if isinstance(meta, dict) else {}
    size = path.stat().st_size
    frames = prov.get("kept_frames", 0)
    raw = frames * prov.get("feature_dim", 0) * 4
    parts = [f"{path}: {prov.get('kept_videos', '?')} videos, {frames} frames, {human_bytes(size)}"]
    if raw:
        parts.append(f"{raw / size:.1f}x smaller than float32 features" if raw >= size
                     else f"{size / raw:.1f}x larger than float32 features")
    for name, value in prov.get("losses", {}).items():
        if name == "restored":  # pca: the exact decode's sum |x - x^|^2 / sum |x|^2 over every frame
            parts.append(f"restored error {value:.4g}")
        elif name != "pca_floor":  # the basis's share of variance left out: in provenance, not an error
            parts.append(f"{name} loss {value:.4g}")
    if prov.get("trimmed_frames"):
        parts.append(f"--trim dropped {prov['trimmed_frames']} frames")
    if "wall_time_s" in prov:
        parts.append(f"{prov['wall_time_s']:.1f} s")
    return ", ".join(parts)
