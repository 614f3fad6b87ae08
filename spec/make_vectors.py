"""Write the conformance vectors of spec/tasz-v1.md, section 5: tiny ``.tasz`` files + manifest.

    python spec/make_vectors.py [OUT_DIR]        (default: spec/vectors next to this script)

Every value is made by integer arithmetic (no RNG whose stream could change between library
versions) and the write time is fixed, so the files are reproducible. The expected features come
from ``tascodec.decode.reference`` applied to the in-memory content, not from reading the files.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from tascodec.container import Content, Decoder, write_container
from tascodec.container.layout import VERSION, VERSION_RESIDUAL
from tascodec.container.quant import dequantize, quantize
from tascodec.container.normative import random_codes
from tascodec.decode.reference import reference_decode

CREATED = "2000-01-01T00:00:00Z"
TOLERANCE = "per video: max |x - expected| <= 1e-4 * max(1, max |expected|); labels equal"
D, d, C, H, K = 4, 3, 3, 5, 3
VOCAB = ["background", "take", "pour"]


def values(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """``n`` deterministic float32 values in [-scale, scale] (multiples of scale/1000)."""
    k = np.arange(n, dtype=np.int64)
    return (((k * 7919 + seed * 104729 + 17) % 2001 - 1000) * (scale / 1000)).astype(np.float32)


def mlp_decoder(weights_dtype: str) -> Decoder:
    shapes = {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}
    w = {name: values(int(np.prod(s)), i + 1).reshape(s) for i, (name, s) in enumerate(shapes.items())}
    w["std"] = np.abs(w["std"]) + np.float32(0.5)
    w["mean"] = w["mean"] * np.float32(3)
    return Decoder("mlp", D, d, C, H, weights={k: v.astype(weights_dtype) for k, v in w.items()},
                   weights_dtype=weights_dtype)


def linear_decoder(weights_dtype: str) -> Decoder:
    """A ``linear`` decoder (spec 4.7): float16 weights, or int8 ``w`` with a scale per column."""
    w = values(D * d, 11).reshape(D, d)
    b = values(D, 12, 2.0)
    if weights_dtype == "int8":
        scale = np.array([0.01, 0.02, 0.005], np.float32)[:d]
        q = np.clip(np.rint(w / scale / 2.5), -127, 127).astype(np.int8)
        weights = {"w": q, "w_scale": scale, "b": b}
    else:
        weights = {"w": w.astype(weights_dtype), "b": b.astype(weights_dtype)}
    return Decoder("linear", D, d, C, 0, activation="identity", weights=weights, weights_dtype=weights_dtype)


def tables(with_empty_video: bool):
    """Videos and segments covering l == 1 (c = 0), l < K, l == K, l not divisible by K."""
    videos = ["P03_cereals", "vidéo-ü"] + (["empty"] if with_empty_video else [])
    seg_label = np.array([0, 1, 2, 0, 2, 1], np.int32)
    seg_length = np.array([1, 2, 7, 3, 5, 4], np.int64)
    segs_per_video = [3, 3] + ([0] if with_empty_video else [])
    return videos, np.concatenate(([0], np.cumsum(segs_per_video))).astype(np.int64), seg_label, seg_length


def vector(name: str) -> tuple[Content, str]:
    """The content of one vector and its method name."""
    kind, codes, *extra = name.split("-")
    videos, vs, lab, lng = tables(with_empty_video=name == "mlp-int8")
    # linear: one code per 2 frames (n == l, n == 1 < l, and interpolated segments)
    inst = (np.minimum(lng, -(-lng // 2)) if kind == "linear" else np.minimum(lng, K)).astype(np.int32)
    R = int(inst.sum())
    if kind == "repeat":
        decoder = Decoder("repeat", D, D, C, 0)
    elif kind == "linear":
        decoder = linear_decoder(codes)
    else:
        decoder = mlp_decoder("float16" if codes == "float16" else "float32")
    method = {"mlp": "inversion", "tca": "tca", "repeat": "mean", "linear": "pca"}[kind]
    c = Content(vocab=list(VOCAB), videos=videos, video_segments=vs, seg_label=lab, seg_length=lng,
                seg_instances=inst, decoder=decoder, background=["background"],
                activities=["cereals", None] + ([None] if len(videos) == 3 else []),
                provenance={"dataset": "conformance", "method": method, "settings": {"K": K}})
    if codes == "random":
        c.random_seed = (1 << 63) + 12345  # above 2^53: readers must parse it exactly
    else:
        c.codes, c.code_scale = quantize(values(R * decoder.latent_dim, 99, 2.5).reshape(R, -1), codes)
        c.codes_dtype = codes
    if "noise" in extra:  # the optional noise level of 1.2 (section 4.8)
        c.residual_sd = np.abs(values(decoder.latent_dim, 7, 0.5)).astype(np.float16)
    return c, method


NAMES = ["mlp-float32", "mlp-float16", "mlp-int8", "tca-random", "repeat-float32", "linear-float16", "linear-int8",
         "linear-int8-noise"]


def expected(c: Content) -> list[dict]:
    """Per video: name, labels, segment table, dequantized codes and decoded features (9 digits)."""
    out = []
    ro = c.row_offsets()
    for v, name in enumerate(c.videos):
        a, b = int(c.video_segments[v]), int(c.video_segments[v + 1])
        if c.codes is None:
            z = random_codes(c.random_seed, name, int(ro[b] - ro[a]), c.decoder.latent_dim)
        else:
            z = dequantize(c.codes[ro[a]:ro[b]], None if c.code_scale is None else c.code_scale[ro[a]:ro[b]])
        x = reference_decode(c.decoder, z, c.seg_label[a:b], c.seg_length[a:b], c.seg_instances[a:b])
        out.append({
            "name": name,
            "num_frames": int(c.seg_length[a:b].sum()),
            "segments": {"labels": c.seg_label[a:b].tolist(), "lengths": c.seg_length[a:b].tolist(),
                         "instances": c.seg_instances[a:b].tolist()},
            "labels": np.repeat(c.seg_label[a:b], c.seg_length[a:b]).tolist(),
            "codes": [[float(f"{t:.9g}") for t in row] for row in z],
            "features": [[float(f"{t:.9g}") for t in row] for row in x],
        })
    return out


def compatibility() -> list[dict]:
    """Entries of the frozen files an older writer made (``compat-1.0-*.tasz``): never rewritten,
    carried over from the committed manifest so that every later reader is tested on them."""
    committed = Path(__file__).resolve().parent / "vectors" / "manifest.json"
    if not committed.exists():
        return []
    return json.loads(committed.read_text(encoding="utf-8")).get("compatibility", [])


def write_all(out_dir: Path) -> dict:
    """Write every vector and ``manifest.json`` into ``out_dir``; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in NAMES:
        c, method = vector(name)
        path = write_container(c, out_dir / f"{name}.tasz", force=True, created=CREATED)
        data = path.read_bytes()
        entry = {"file": path.name, "version": VERSION if c.residual_sd is None else VERSION_RESIDUAL,
                 "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                 "method": method, "decoder": c.decoder.kind, "codes": c.codes_dtype if c.codes is not None
                 else "random", "videos": expected(c)}
        if c.residual_sd is not None:
            entry["residual_sd"] = [float(t) for t in c.residual_sd.astype(np.float32)]
        entries.append(entry)
    manifest = {"format": f"tasz {VERSION_RESIDUAL}", "spec": "spec/tasz-v1.md", "generator": "spec/make_vectors.py",
                "tolerance": TOLERANCE, "vectors": entries, "compatibility": compatibility()}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    return manifest


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "vectors"
    m = write_all(target)
    for e in m["vectors"]:
        print(f"{e['file']:<22} {e['bytes']:>6} bytes  sha256 {e['sha256'][:16]}")
