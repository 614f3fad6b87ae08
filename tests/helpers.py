"""Helpers shared by several test modules (test modules never import each other).

- ``bounded``: CPU time and memory bounds for the hostile-file tests.
- Contents and files for the container tests: ``make_decoder``, ``make_content``,
  ``reference_frames``, ``assert_same_content``, and raw-archive edits (``entries_of``, ``rezip``,
  ``edit_root``, ``write_unchecked``).
- ``make_subset_content``: many small videos with activities, for subset/merge/split.
- ``mlp_decoder``, ``write_test_container``: a real ``.tasz`` for the decode, CLI and Dataset tests
  (sizes ``DEC_*``).
- ``inversion_videos``, ``inversion_problem``: a small inversion problem (sizes ``INV_*``).
- ``SPEC``, ``load_spec_script``: the spec folder and its vector-writing scripts.
"""
from __future__ import annotations

import importlib.util
import json
import time
import tracemalloc
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np

from tascodec.container import writer as writer_mod
from tascodec.container.content import Content, Decoder
from tascodec.container.normative import frame_layout, random_codes
from tascodec.container.quant import quantize
from tascodec.container.writer import write_container
from tascodec.data.segments import instance_counts
from tascodec.decode.reference import reference_decode


def bounded(fn, seconds: float = 2.0, mb: int = 256):
    """Run ``fn`` under tracemalloc; assert its CPU time and peak; return ``(result, seconds, peak bytes)``."""
    tracemalloc.start()
    t = time.process_time()
    try:
        out = fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    took = time.process_time() - t
    assert took < seconds, f"{took:.2f} s CPU"
    assert peak < mb << 20, f"{peak / 2**20:.0f} MiB peak"
    return out, took, peak


SPEC = Path(__file__).resolve().parent.parent / "spec"


def load_spec_script(name: str):
    """``spec/<name>.py`` (a script, not a package module) loaded as a module."""
    spec = importlib.util.spec_from_file_location(name, SPEC / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- contents and files for the container tests ------------------------------------------
def make_decoder(rng, kind="mlp", D=5, d=3, C=4, H=6, weights_dtype="float32") -> Decoder:
    if kind == "repeat":
        return Decoder("repeat", D, D, C, 0, weights_dtype=weights_dtype)
    shapes = {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}
    w = {k: rng.standard_normal(s).astype(weights_dtype) for k, s in shapes.items()}
    w["std"] = (np.abs(w["std"]) + 0.5).astype(weights_dtype)
    return Decoder("mlp", D, d, C, H, weights=w, weights_dtype=weights_dtype)


def make_content(seed=0, *, kind="mlp", codes_dtype="float32", random=False, weights_dtype="float32",
                 videos=("v1", "v2", "v3"), segs_per_video=(2, 0, 4), K=3, D=5, d=3, C=4, H=6,
                 vocab=None, activities=None, provenance=None, random_seed=7) -> Content:
    rng = np.random.default_rng(seed)
    dec = make_decoder(rng, kind, D, d, C, H, weights_dtype)
    S = int(sum(segs_per_video))
    lengths = rng.integers(1, 9, S).astype(np.int64)
    labels = rng.integers(0, C, S).astype(np.int32)
    inst = np.minimum(lengths, K).astype(np.int32)
    R = int(inst.sum())
    c = Content(vocab=list(vocab or [f"c{i}" for i in range(C)]), videos=list(videos),
                video_segments=np.concatenate(([0], np.cumsum(segs_per_video))).astype(np.int64),
                seg_label=labels, seg_length=lengths, seg_instances=inst, decoder=dec,
                background=[(vocab or ["c0"])[0]], activities=activities,
                provenance=provenance if provenance is not None else {"method": "inversion", "settings": {"K": K}})
    if random:
        c.random_seed = random_seed
    else:
        c.codes, c.code_scale = quantize(rng.standard_normal((R, dec.latent_dim)) * 2, codes_dtype)
        c.codes_dtype = codes_dtype
    return c


def reference_frames(c: Content, v: int) -> np.ndarray:
    """Video ``v`` of ``c`` decoded by the plain reference decoder (random codes drawn as spec 4.5 says)."""
    a, b = int(c.video_segments[v]), int(c.video_segments[v + 1])
    ro = c.row_offsets()
    if c.codes is None:
        z = random_codes(c.random_seed, c.videos[v], int(ro[b] - ro[a]), c.decoder.latent_dim)
    else:
        z = c.codes[ro[a]:ro[b]].astype(np.float32)
        if c.code_scale is not None:
            z = z * c.code_scale[ro[a]:ro[b], None]
    return reference_decode(c.decoder, z, c.seg_label[a:b], c.seg_length[a:b], c.seg_instances[a:b])


def assert_same_content(a: Content, b: Content) -> None:
    assert a.vocab == b.vocab and a.videos == b.videos and a.background == b.background
    assert a.activities == b.activities and a.provenance == b.provenance
    for name in ("video_segments", "seg_label", "seg_length", "seg_instances"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y), name
    assert b.seg_label.dtype == np.int32 and b.seg_length.dtype == np.int64 and b.seg_instances.dtype == np.int32
    assert a.codes_dtype == b.codes_dtype and a.random_seed == b.random_seed
    if a.codes is None:
        assert b.codes is None and b.code_scale is None
    else:
        assert b.codes.dtype == a.codes.dtype and np.array_equal(a.codes, b.codes)
        assert (a.code_scale is None) == (b.code_scale is None)
        if a.code_scale is not None:
            assert np.array_equal(a.code_scale, b.code_scale)
    assert (a.residual_sd is None) == (b.residual_sd is None)
    if a.residual_sd is not None:
        assert b.residual_sd.dtype == np.float16 and np.array_equal(a.residual_sd, b.residual_sd)
    da, db = a.decoder, b.decoder
    assert (da.kind, da.feature_dim, da.latent_dim, da.num_classes, da.hidden, da.activation, da.weights_dtype) == \
        (db.kind, db.feature_dim, db.latent_dim, db.num_classes, db.hidden, db.activation, db.weights_dtype)
    assert sorted(da.weights) == sorted(db.weights)
    for k in da.weights:
        assert db.weights[k].dtype == da.weights[k].dtype and np.array_equal(da.weights[k], db.weights[k])
    assert da.sha256() == db.sha256()


def entries_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rezip(entries: dict[str, bytes], path: Path, method=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return path


def edit_root(path: Path, out: Path, fn) -> Path:
    e = entries_of(path)
    doc = json.loads(e["zarr.json"])
    fn(doc["attributes"]["tasz"])
    e["zarr.json"] = json.dumps(doc).encode()
    return rezip(e, out)


def write_unchecked(c: Content, path: Path, num_frames=None, row_offset=None) -> Path:
    """Write without the writer's checks (to build invalid files with valid checksums)."""
    def lenient(content):
        lng, vs = np.asarray(content.seg_length, np.int64), np.asarray(content.video_segments, np.int64)
        cs = np.concatenate(([0], np.cumsum(lng)))
        vs = np.clip(vs, 0, lng.size)
        nf = cs[vs[1:]] - cs[vs[:-1]]
        ro = np.concatenate(([0], np.cumsum(content.seg_instances, dtype=np.int64)))
        return (nf if num_frames is None else num_frames), (ro if row_offset is None else row_offset)

    with mock.patch.object(writer_mod, "check_content", lenient):
        return write_container(c, path, force=True)


# --- many small videos with activities, for subset / merge / split ------------------------
def make_subset_content(seed=0, *, videos=6, kind="mlp", codes_dtype="float32", random=False, C=5, D=4, d=3, H=6,
                 K=3, prefix="v", activities=True, decoder_seed=0, background=("c0",)) -> Content:
    """A small valid content: ``videos`` videos of 0-5 segments each."""
    rng = np.random.default_rng(seed)
    drng = np.random.default_rng(decoder_seed)
    if kind == "repeat":
        dec = Decoder("repeat", D, D, C, 0)
    else:
        shapes = {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}
        dec = Decoder("mlp", D, d, C, H, weights={k: drng.standard_normal(s).astype(np.float32)
                                                  for k, s in shapes.items()})
    nseg = rng.integers(0, 6, videos)
    S = int(nseg.sum())
    lengths = rng.integers(1, 9, S).astype(np.int64)
    inst = np.minimum(lengths, K).astype(np.int32)
    c = Content(vocab=[f"c{i}" for i in range(C)], videos=[f"{prefix}{i}" for i in range(videos)],
                video_segments=np.concatenate(([0], np.cumsum(nseg))).astype(np.int64),
                seg_label=rng.integers(0, C, S).astype(np.int32), seg_length=lengths, seg_instances=inst,
                decoder=dec, background=list(background),
                activities=[f"a{i % 3}" for i in range(videos)] if activities else None,
                provenance={"dataset": "toy", "method": "inversion", "settings": {"K": K}})
    if random:
        c.random_seed = 11
    else:
        c.codes, c.code_scale = quantize(rng.standard_normal((int(inst.sum()), dec.latent_dim)), codes_dtype)
        c.codes_dtype = codes_dtype
    return c


# --- a real .tasz for the decode, CLI and Dataset tests -----------------------------------
DEC_D, DEC_d, DEC_C, DEC_H = 40, 12, 5, 32


def mlp_decoder(rng, c_scale=1.0, D=DEC_D, d=DEC_d, C=DEC_C, H=DEC_H) -> Decoder:
    """A random decoder; ``c_scale`` grows the coherence weights so that many hidden units switch."""
    w1 = rng.standard_normal((H, d + C + 1)).astype(np.float32) / np.sqrt(d)
    w1[:, -1] *= c_scale
    weights = dict(w1=w1, b1=rng.standard_normal(H).astype(np.float32) * 0.2,
                   w2=rng.standard_normal((D, H)).astype(np.float32) / np.sqrt(H),
                   b2=rng.standard_normal(D).astype(np.float32) * 0.1,
                   mean=rng.standard_normal(D).astype(np.float32),
                   std=(rng.random(D) + 0.5).astype(np.float32))
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    return Decoder("mlp", D, d, C, H, weights=weights)


def write_test_container(path, *, seed=0, videos=("a", "b_2", "c"), kind="mlp", split=None, activities=None,
                         c_scale=4.0, K=4, vocab=None):
    """A small real ``.tasz`` (via the writer) for the decode, CLI and Dataset tests; returns the path."""
    rng = np.random.default_rng(seed)
    dec = mlp_decoder(rng, c_scale) if kind == "mlp" else Decoder("repeat", DEC_D, DEC_D, DEC_C)
    width = DEC_d if kind == "mlp" else DEC_D
    labels, lengths, instances, offsets = [], [], [], [0]
    for i, _ in enumerate(videos):
        S = 2 + 3 * i
        lengths.append(rng.integers(1, 30, S))
        labels.append(rng.integers(0, DEC_C, S))
        instances.append(np.minimum(lengths[-1], K))
        offsets.append(offsets[-1] + S)
    cat = np.concatenate
    instances = cat(instances).astype(np.int32)
    vocab = vocab or [f"action_{j}" if j else "background" for j in range(DEC_C)]
    content = Content(vocab=list(vocab), videos=list(videos),
                      video_segments=np.asarray(offsets, np.int64), seg_label=cat(labels).astype(np.int32),
                      seg_length=cat(lengths).astype(np.int64), seg_instances=instances, decoder=dec,
                      codes=rng.standard_normal((int(instances.sum()), width)).astype(np.float32),
                      background=["background"], activities=activities,
                      provenance={} if split is None else {"split": split})
    write_container(content, path)
    return path


# --- a small inversion problem ------------------------------------------------------------
INV_D, INV_C, INV_d, INV_H, INV_K = 32, 4, 8, 24, 4


def inversion_videos(seed=0, n=3):
    """Per video: ``(x (T, INV_D) float32, seg_label, seg_length)``; smooth class-dependent frames."""
    rng = np.random.default_rng(seed)
    proto, slope = rng.normal(size=(INV_C, INV_D)), rng.normal(size=(INV_C, INV_D))
    out = []
    for _ in range(n):
        lengths = rng.integers(1, 40, size=8).astype(np.int64)
        seg_label = rng.integers(0, INV_C, size=lengths.size).astype(np.int32)
        _, _, c = frame_layout(lengths, lengths)
        lab = np.repeat(seg_label, lengths)
        wob = np.sin(np.arange(lab.size)[:, None] * rng.uniform(0.05, 0.3, INV_D))
        x = proto[lab] + c[:, None] * slope[lab] + 0.3 * wob + 0.05 * rng.normal(size=(lab.size, INV_D))
        out.append((x.astype(np.float32), seg_label, lengths))
    return out


def inversion_problem(vids):
    """Concatenated ``x, row, row_label, c`` over videos (rows offset per video), as the pipeline builds."""
    xs, rows, labels, cs, off = [], [], [], [], 0
    for x, seg_label, lengths in vids:
        counts = instance_counts(lengths, INV_K)
        seg, row, c = frame_layout(lengths, counts)
        xs.append(x), rows.append(row + off), cs.append(c)
        labels.append(np.repeat(seg_label, counts))
        off += int(counts.sum())
    return np.concatenate(xs), np.concatenate(rows), np.concatenate(labels).astype(np.int64), np.concatenate(cs)


def linear_content(seed=0, *, fpc=3, videos=("a", "b", "c"), segs_per_video=(6, 1, 9), D=8, k=4, C=3) -> Content:
    """A ``linear``-decoder (pca) content: segments of 1-40 frames, ``ceil(l / fpc)`` knots each."""
    from tascodec.encoding import transform

    rng = np.random.default_rng(seed)
    dec = Decoder("linear", D, k, C, 0, activation="identity",
                  weights=transform.store_weights(rng.standard_normal((D, k)), rng.standard_normal(D), "float32"))
    S = int(sum(segs_per_video))
    lengths = rng.integers(1, 40, S).astype(np.int64)
    inst = transform.knot_counts(lengths, fpc)
    return Content(vocab=[f"c{i}" for i in range(C)], videos=list(videos),
                   video_segments=np.concatenate(([0], np.cumsum(segs_per_video))).astype(np.int64),
                   seg_label=rng.integers(0, C, S).astype(np.int32), seg_length=lengths, seg_instances=inst,
                   decoder=dec, codes=rng.standard_normal((int(inst.sum()), k)).astype(np.float32),
                   codes_dtype="float32", background=["c0"], provenance={"method": "pca", "settings": {}})
