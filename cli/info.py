"""``tasz info FILE [--json] [--videos]``: what a container holds and what it costs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tascodec._format import human_bytes
from tascodec.container.names import safe_text

from .options import smoothed


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{safe_text(k)}={_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "; ".join(_value(x) for x in v) if v else "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return safe_text(str(v))


def render(s: dict[str, Any]) -> str:
    """The aligned, human-readable table of ``summarize``'s dict."""
    w, lat, dec, parts = s["writer"], s["latents"], s["decoder"], s["bytes"]
    w = {k: safe_text(str(x)) for k, x in w.items()}  # strings from the file: escape control characters
    written = f", written by {w.get('name', '?')} {w.get('version', '?')} on {w.get('created', '?')}" if w else ""
    lines = [
        ("file", f"{safe_text(s['file'])} (tasz {s['version']}{written})"),
        ("method", f"{safe_text(s['method'])}, " + (f"one code per {s['frames_per_code']} frames of a segment"
                                          if s.get("frames_per_code") else f"K = {s['K']}")),
        ("videos", f"{s['videos']:,}" + (f" ({len(s['activities'])} activities)" if s["activities"] else "")),
        ("segments", f"{s['segments']:,}"),
        ("instances", f"{s['instances']:,} (at most {s['max_instances_per_segment']} per segment)"),
        ("frames", f"{s['frames']:,} restored as {s['feature_dim']}-d features, {s['classes']} classes"
                   + (f", one in {s['sample_rate']} source frames (restored at the source rate: "
                      f"{s['sample_rate'] * s['frames']:,})" if s.get("sample_rate", 1) > 1 else "")),
        ("background", ", ".join(safe_text(b) for b in s["background"]) or "none"),
        ("latents", f"{lat['dtype']}, {lat['width']}-d, {lat['source']}"
                    + (f" (seed {lat['random_seed']})" if lat["source"] == "random" else "")),
        ("decoder", f"{dec['kind']}" + (f", hidden {dec['hidden']}" if dec["kind"] == "mlp" else "")
                    + f", {dec['weights_dtype']} weights, sha256 {dec['sha256'][:16]}"),
    ]
    how = smoothed(s["smooth_auto"])
    if how:
        lines.append(("restore", f"{how} by default (tasz decode, TaszDataset; --smooth 1 / smooth=1: "
                                 "the exact decode)"))
    if s.get("noise_level") is not None:
        lo, hi = s["noise_level"]
        lines.append(("training", f"TaszDataset and tasz eval add fresh noise on every pass at the stored level of "
                                  f"what the codes miss ({lo:.3g}-{hi:.3g} per code dimension; noise=0 / --noise 0: none)"))
    out = [f"{k:<11} {v}" for k, v in lines]
    total = parts["total"] or 1
    out.append("")
    out.append(f"{'bytes':<11} {'stored':>13} {'share':>7}")
    names = {"codes": "latents", "zip": "zip"}
    for key in ("decoder", "codes", "tables", "metadata", "other", "zip", "total"):
        if key == "other" and not parts[key]:
            continue
        out.append(f"  {names.get(key, key):<9} {parts[key]:>13,} {100 * parts[key] / total:>6.1f}%")
    out.append(f"{'ratio':<11} {s['ratio']:.3g}x = raw float32 features {human_bytes(s['raw_feature_bytes'])} "
               f"/ container {human_bytes(parts['total'])}")
    prov = s["provenance"]
    if prov:
        out.append("")
        out.append("provenance")
        keys = [safe_text(k) for k in prov]
        width = max(map(len, keys))
        out.extend(f"  {k:<{width}}  {_value(v)}" for k, v in zip(keys, prov.values()))
    return safe_text("\n".join(out), keep_newlines=True)  # and anything missed above


def render_videos(rows: list[dict[str, Any]]) -> str:
    """The ``--videos`` table: name, stored frames, segments, activity."""
    names = [safe_text(r["name"]) for r in rows]
    width = max([len("video"), *map(len, names)])
    out = [f"{'video':<{width}} {'frames':>9} {'segments':>8}  activity"]
    out.extend(f"{n:<{width}} {r['frames']:>9,} {r['segments']:>8}  {safe_text(r['activity'] or '-')}"
               for n, r in zip(names, rows))
    return "\n".join(out)


@click.command("info")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--videos", is_flag=True,
              help="Also list every video: name, frames, segments, activity (JSON: video_list).")
def cmd(file: Path, as_json: bool, videos: bool) -> None:
    """Show what FILE (.tasz) holds: counts, method, sizes per part, ratio, provenance."""
    from tascodec.container.reader import open_container
    from tascodec.container.summary import summarize, video_list
    from tascodec.decode.smooth import auto_widths

    with open_container(file) as c:
        s = summarize(c)
        widths = auto_widths(c).tolist() or [1]
        s["smooth_auto"] = [min(widths), max(widths)]  # what --smooth auto gives, per video
        sd = c.residual_sd
        s["noise_level"] = None if sd is None else [float(sd.min()), float(sd.max())]
        rows = video_list(c) if videos else None
    if as_json:
        if rows is not None:
            s["video_list"] = rows
        click.echo(safe_text(json.dumps(s, indent=2, ensure_ascii=False), style="json", keep_newlines=True))
    else:
        click.echo(render(s) + ("" if rows is None else "\n\n" + render_videos(rows)))
