"""Restore speed of ``pca`` containers (the linear decoder) against ``np.load`` of the raw features.

    python benchmarks/decode_linear.py [--work /tmp/tasz-rate]

Uses the datasets ``benchmarks/rate.py`` builds (real label sequences, 2048-d synthetic features)
and encodes each with ``tasz encode --method pca`` at the shipped defaults (128 components, one code
per 4 frames, int8). Frames/s per CPU-second of this process, best of ``--repeats``, one thread:
the frame-first form (before: every frame's code through ``W``), ``Container.decode`` (numpy:
knots first) and the torch backend on the CPU, next to ``np.load`` of the same
videos' ``(D, T)`` ``.npy`` files (page cache) and the max relative error against the spec's
frame-by-frame reference decode on the first video.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rate  # noqa: E402

import tascodec  # noqa: E402
from tascodec.decode import decode_video  # noqa: E402
from tascodec.decode import VideoTables, linear, prepared  # noqa: E402
from tascodec.decode.reference import reference_decode  # noqa: E402


def frame_first(c, v) -> np.ndarray:
    """The linear decode as it was before (every frame's interpolated code through ``W``), for the
    before/after columns: ``run_linear(..., knots_first=False)`` over the whole video in 4096-frame blocks."""
    prep = prepared(c.decoder)
    t = VideoTables(prep, c.codes(v), *c.segments(v))
    out = np.empty((t.num_frames, prep.feature_dim), np.float32)
    for s in range(0, t.num_frames, 4096):
        e = min(t.num_frames, s + 4096)
        linear.run_linear(prep.w2t, prep.b2, t.codes, *t.knots(s, e), out[s:e], knots_first=False)
    return out


def best(fn, repeats):
    out = None
    cpu = []
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        cpu.append(time.process_time() - t)
    return min(cpu), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/tasz-rate")
    ap.add_argument("--datasets", default="gtea,breakfast")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print(f"1 thread (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}), frames per CPU-second, best of "
          f"{args.repeats}\n")
    print("| data | container | k | frames/code | before (frame-first) | numpy decode | torch CPU | np.load | "
          "numpy / np.load | max rel. err |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in args.datasets.split(","):
        stride, n_train, n_test = rate.SHAPES[kind]
        data = rate.build(kind, Path(args.work) / "data", 2048, stride, n_train, n_test)
        outdir = Path(args.work) / "out" / data.name
        out = outdir / "pca-shipped-defaults.tasz"
        if not out.exists():
            tascodec.encode(data, out, method="pca", background=rate.background_of(kind), progress=False)
        # and what rate control wrote for benchmarks/rate.py, where present
        for path in [out] + [outdir / f"rate-{b:g}.tasz" for b in (0.001, 0.01) if (outdir / f"rate-{b:g}.tasz").exists()]:
            with tascodec.open(path) as c:
                videos = list(c.videos)
                T = sum(c.num_frames(v) for v in videos)
                cpu_old, _ = best(lambda: [frame_first(c, v) for v in videos], args.repeats)
                cpu_np, _ = best(lambda: [c.decode(v) for v in videos], args.repeats)
                cpu_t, _ = best(lambda: [decode_video(c, v, backend="torch") for v in videos], args.repeats)
                files = [data / "features" / f"{v}.npy" for v in videos]
                cpu_load, _ = best(lambda: [np.load(f) for f in files], args.repeats)
                v = videos[0]
                ref = reference_decode(c.decoder, c.codes(v), *c.segments(v))
                err = float(np.abs(c.decode(v) - ref).max() / np.abs(ref).max())
                fpc, k = T / c.num_rows, c.decoder.latent_dim
            name = "shipped --method pca" if path == out else f"--target-ratio {path.stem[5:]}"
            print(f"| {kind}-like | {name} | {k} | {fpc:.1f} | {T / cpu_old / 1e3:.0f}K | {T / cpu_np / 1e3:.0f}K | "
                  f"{T / cpu_t / 1e3:.0f}K | {T / cpu_load / 1e3:.0f}K | {cpu_load / cpu_np:.2f}x | {err:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
