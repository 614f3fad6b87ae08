"""What ``tasz info`` reports about a container, as one plain (JSON-ready) dict."""
from __future__ import annotations

from typing import Any

from .meta import MAX_SAMPLE_RATE
from .reader import ContainerReader


def method_of(c: ContainerReader) -> str:
    """The encode method from provenance, else what the decoder and codes imply."""
    method = c.metadata["provenance"].get("method")
    if isinstance(method, str):
        return method
    if c.decoder.kind == "repeat":
        return "repeat (mean or coreset)"
    return "tca" if c.codes_source == "random" else "unknown"


def sample_rate_of(provenance: dict[str, Any]) -> int:
    """The container's sample rate: its stored videos keep every n-th frame of the source.

    ``provenance["sample_rate"]``, else ``provenance["settings"]["sample_rate"]`` (files written
    before the key existed), else 1.
    """
    settings = provenance.get("settings")
    for v in (provenance.get("sample_rate"), settings.get("sample_rate") if isinstance(settings, dict) else None):
        if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SAMPLE_RATE:
            return v
    return 1


def video_list(c: ContainerReader) -> list[dict[str, Any]]:
    """Per video, in storage order: ``name``, ``frames`` (stored), ``segments``, ``activity`` (or None)."""
    offsets = c.segment_table()[0]
    acts = c.activities or [None] * c.num_videos
    return [{"name": v, "frames": c.num_frames(i), "segments": int(offsets[i + 1] - offsets[i]), "activity": acts[i]}
            for i, v in enumerate(c.videos)]


def summarize(c: ContainerReader) -> dict[str, Any]:
    """Counts, method, K, code and decoder records, bytes per part, ratio, provenance."""
    md = c.metadata
    prov = md["provenance"]
    settings = prov.get("settings") if isinstance(prov.get("settings"), dict) else {}
    k = settings.get("K")
    max_instances = int(c.segment_table()[3].max()) if c.num_segments else 0
    parts = c.nbytes_by_part()
    raw = c.raw_feature_bytes
    return {
        "file": str(c.path),
        "version": md["version"],
        "writer": md["writer"],
        "method": method_of(c),
        "K": k if isinstance(k, int) and not isinstance(k, bool) else max_instances,
        "max_instances_per_segment": max_instances,
        "frames_per_code": settings.get("frames_per_code") if isinstance(settings.get("frames_per_code"), int) else None,
        "videos": c.num_videos,
        "segments": c.num_segments,
        "instances": c.num_rows,
        "frames": c.total_frames,
        "sample_rate": sample_rate_of(prov),
        "feature_dim": c.decoder.feature_dim,
        "classes": len(c.vocab),
        "background": list(c.background),
        "activities": sorted({a for a in c.activities if a is not None}) if c.activities else [],
        "latents": md["codes"],
        "decoder": md["decoder"],
        "bytes": parts,
        "raw_feature_bytes": raw,
        "ratio": raw / parts["total"] if parts["total"] else 0.0,
        "provenance": prov,
    }
