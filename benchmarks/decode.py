"""Restore speed and memory: naive decoders vs tascodec's (numpy, torch) vs np.load of raw features.

    python benchmarks/decode.py [--videos 12] [--mean-frames 3000] [--hidden 512 1024]

On a busy shared machine prefix ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``: multithreaded BLAS
spin-waits for cores that other processes hold, and the figures become noise.

A realistic decoder (D = 2048, d = 256, PyTorch-default initialisation, the normalisation folded
into the output) over Breakfast-like videos (segment lengths ~ exponential, mean 150 frames, K = 8).
All figures are restored frames per second, best of ``--repeats`` (the machine may be shared),
measured in one run on the same machine. Then the peak memory (tracemalloc, which sees numpy's
buffers) of decoding a 100K-frame video whole vs with ``iter_decode_segments``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tascodec.container.content import Decoder
from tascodec.decode import decode_segments, iter_decode_segments
from tascodec.decode.reference import reference_decode

D, LATENT, K, MEAN_SEGMENT = 2048, 256, 8, 150


def make_decoder(rng: np.random.Generator, hidden: int, classes: int, c_scale: float = 1.0) -> Decoder:
    """PyTorch ``nn.Linear`` default init (U(+-1/sqrt(fan_in))); ``c_scale`` grows the c column."""
    def lin(out, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return (rng.uniform(-bound, bound, (out, fan_in)).astype(np.float32),
                rng.uniform(-bound, bound, out).astype(np.float32))

    w1, b1 = lin(hidden, LATENT + classes + 1)
    w1[:, -1] *= c_scale
    w2, b2 = lin(D, hidden)
    weights = dict(w1=w1, b1=b1, w2=w2, b2=b2, mean=rng.standard_normal(D).astype(np.float32),
                   std=rng.uniform(0.5, 2.0, D).astype(np.float32))
    return Decoder("mlp", D, LATENT, classes, hidden, weights=weights)


def make_video(rng: np.random.Generator, frames: int, classes: int):
    lengths = []
    while sum(lengths) < frames:
        lengths.append(max(1, int(rng.exponential(MEAN_SEGMENT))))
    lengths[-1] -= sum(lengths) - frames
    if lengths[-1] < 1:
        lengths.pop()
        lengths[-1] += frames - sum(lengths)
    lengths = np.asarray(lengths, np.int64)
    instances = np.minimum(lengths, K).astype(np.int32)
    labels = rng.integers(0, classes, lengths.size).astype(np.int32)
    codes = rng.standard_normal((int(instances.sum()), LATENT)).astype(np.float32)
    return codes, labels, lengths, instances


def naive_batched(decoder: Decoder, codes, labels, lengths, instances, block: int = 4096) -> np.ndarray:
    """The plain batched MLP: ``X = [z | onehot | c]`` per frame, ``relu(X W1^T + b1) W2^T + b2``, denormalise."""
    from tascodec.data.segments import frame_layout

    w = decoder.float32_weights()
    seg, row, c = frame_layout(lengths, instances)
    T, C = seg.size, decoder.num_classes
    out = np.empty((T, D), np.float32)
    for s in range(0, T, block):
        e = min(T, s + block)
        x = np.zeros((e - s, LATENT + C + 1), np.float32)
        x[:, :LATENT] = codes[row[s:e]]
        x[np.arange(e - s), LATENT + labels[seg[s:e]]] = 1
        x[:, -1] = c[s:e]
        h = np.maximum(x @ w["w1"].T + w["b1"], 0)
        out[s:e] = (h @ w["w2"].T + w["b2"]) * w["std"] + w["mean"]
    return out


def best_rate(fn, frames: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return frames / best


def switching_stats(decoder: Decoder, video) -> tuple[float, float]:
    """(frames per instance, switching hidden units per instance) over one video."""
    from tascodec.decode import VideoTables, prepared
    from tascodec.decode.plan import plan_mlp

    prep = prepared(decoder)
    v = VideoTables(prep, *video)
    plan = plan_mlp(prep, v.codes, v.seg_label, v.span(0, v.num_frames))
    return v.num_frames / plan.num_groups, plan.ev_unit.size / plan.num_groups


def speed(hidden: int, classes: int, args, tmp: Path) -> None:
    import torch

    from tascodec.decode.torch_backend import decode_segments_torch

    rng = np.random.default_rng(hidden + classes)
    dec = make_decoder(rng, hidden, classes, args.c_scale)
    videos = [make_video(rng, max(100, int(rng.normal(args.mean_frames, args.mean_frames / 3))), classes)
              for _ in range(args.videos)]
    frames = sum(int(v[2].sum()) for v in videos)
    fpi, sw = switching_stats(dec, videos[0])
    print(f"\nhidden {hidden}, {classes} classes: {len(videos)} videos, {frames:,} frames, "
          f"{fpi:.1f} frames and {sw:.2f} switching units per instance")

    ref_frames = min(args.reference_frames, int(videos[0][2].sum()))
    first = videos[0]
    cut = int(np.searchsorted(np.cumsum(first[2]), ref_frames)) + 1
    small = (first[0][:int(first[3][:cut].sum())], first[1][:cut], first[2][:cut], first[3][:cut])
    small_frames = int(small[2].sum())
    rates = {"naive per-frame MLP (reference_decode)": best_rate(lambda: reference_decode(dec, *small),
                                                                small_frames, 1)}
    rates["naive batched MLP (numpy)"] = best_rate(lambda: [naive_batched(dec, *v) for v in videos], frames, 1)
    rates["tascodec decode, numpy"] = best_rate(lambda: [decode_segments(dec, *v) for v in videos], frames,
                                                args.repeats)
    rates["tascodec decode, torch cpu"] = best_rate(
        lambda: [decode_segments_torch(dec, *v, device="cpu") for v in videos], frames, args.repeats)
    if torch.cuda.is_available():
        def cuda():
            [decode_segments_torch(dec, *v, device="cuda") for v in videos]
            torch.cuda.synchronize()
        rates["tascodec decode, torch cuda (on device)"] = best_rate(cuda, frames, args.repeats)

    # raw features of the same videos, as MS-TCN stores them: (D, T) float32 .npy, from the page cache
    paths = []
    for i, v in enumerate(videos):
        p = tmp / f"v{i}.npy"
        np.save(p, np.ascontiguousarray(decode_segments(dec, *v).T))
        paths.append(p)
    rates["np.load of raw (D, T) .npy"] = best_rate(lambda: [np.load(p) for p in paths], frames, args.repeats)
    for p in paths:
        p.unlink()

    naive = rates["naive batched MLP (numpy)"]
    for name, r in rates.items():
        print(f"  {name:<42} {r:>12,.0f} frames/s  {r / naive:6.2f}x naive batched")


def memory() -> None:
    """Peak traced allocations (numpy's included) while decoding a 100K-frame video whole vs streamed."""
    import tracemalloc

    rng = np.random.default_rng(0)
    dec = make_decoder(rng, 512, 48)
    video = make_video(rng, 100_000, 48)
    print("\npeak memory decoding a 100,000-frame video (D = 2048, hidden 512; the output alone is "
          f"{100_000 * D * 4 / 2**20:,.0f} MiB), tracemalloc")
    tracemalloc.start()
    for chunk in (None, 4096, 16384):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        if chunk is None:
            x = decode_segments(dec, *video)
            n = x.shape[0]
            del x
            label = "decode_segments (whole)"
        else:
            n = sum(b.shape[0] for b in iter_decode_segments(dec, *video, chunk_frames=chunk))
            label = f"iter_decode_segments(chunk_frames={chunk})"
        peak = tracemalloc.get_traced_memory()[1] - before
        print(f"  {label:<42} {peak / 2**20:>8,.0f} MiB  ({n:,} frames)")
    tracemalloc.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--mean-frames", type=int, default=3000, help="mean frames per video")
    ap.add_argument("--hidden", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--classes", type=int, nargs="+", default=[48, 11], help="one per --hidden")
    ap.add_argument("--c-scale", type=float, default=1.0, help="scale of the c weights (more switching units)")
    ap.add_argument("--reference-frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    import torch

    print(f"cpus {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for hidden, classes in zip(args.hidden, args.classes):
            speed(hidden, classes, args, Path(tmp))
    if not args.no_memory:
        memory()


if __name__ == "__main__":
    main()
