"""Seconds per MS-TCN training epoch on synthetic data (default: 28 videos x 1100 frames x 2048).

    python benchmarks/mstcn_speed.py [--videos 28] [--frames 1100] [--dim 2048] [--epochs 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tascodec.bench.runner import predict, train_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=28)
    ap.add_argument("--frames", type=int, default=1100)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    source = [
        (rng.standard_normal((args.frames, args.dim), dtype=np.float32),
         np.repeat(rng.integers(args.classes, size=10), -(-args.frames // 10))[: args.frames].astype(np.int64))
        for _ in range(args.videos)
    ]
    frames = args.videos * args.frames
    print(f"{args.videos} videos x {args.frames} frames ({frames} frames), dim {args.dim}, "
          f"batch {args.batch_size}, device {args.device}, torch threads {torch.get_num_threads()}")
    start, cpu = time.perf_counter(), time.process_time()
    model = train_model(source, args.classes, epochs=args.epochs, batch_size=args.batch_size,
                        device=args.device, progress=False)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    per_epoch = (time.perf_counter() - start) / args.epochs
    cpu_per_epoch = (time.process_time() - cpu) / args.epochs
    start = time.perf_counter()
    predict(model, (f for f, _ in source))
    inference = time.perf_counter() - start
    print(f"train: {per_epoch:.2f} s/epoch wall, {cpu_per_epoch:.2f} s/epoch CPU "
          f"({frames / per_epoch:,.0f} frames/s); "
          f"predict all: {inference:.2f} s; 50 epochs ~ {50 * per_epoch / 60:.1f} min")


if __name__ == "__main__":
    main()
