"""Inversion speed: the paper's recipe (naive Adam, 10K iterations) vs tascodec's default, side by side.

    python benchmarks/encode.py            # GTEA scale: 28 synthetic videos, ~34K frames x 2048
    python benchmarks/encode.py --quick    # 6 videos, few epochs, reference truncated at 2000 iterations

On a busy shared machine prefix ``OMP_NUM_THREADS=1``: multithreaded BLAS spin-waits for cores that
other processes hold, and wall times become noise.

Steps, all in one run on one machine:
1. A synthetic GTEA-like dataset (``tascodec.data.synthetic``), standardised; a TCA trained with
   tascodec's defaults (time per epoch reported).
2. Cost per iteration of each exact reduction of the inversion loss (naive, factored, gram,
   analytic, closed), at full scale, with the loss each one computes (they must agree).
3. Reference recipe: Adam lr 1e-3, full batch, naive forward, ``--ref-iters`` iterations from the
   encoder means. Its wall time is the measured naive time per iteration over a prefix, times the
   iterations; its error curve is the same optimisation run with the exact ``closed`` loss (the
   trajectory is the same to float rounding; the prefix is checked against the naive run).
4. tascodec's default inversion (``invert`` defaults), timed for real.
Then: the reference's final error, the time tascodec takes to reach it, and the speed-up.

Measured while choosing the defaults (synthetic GTEA, 34,064 frames x 2048, 7,164 instances at K = 8;
one thread, process CPU seconds, because the shared machine made wall times noise):

- Inversion step, H = 512: naive 3.0 s, factored 2.8 s, gram 0.91 s, analytic 0.31 s, closed 0.19 s.
  H = 1024: naive 5.0 s, factored 4.8 s, gram 2.6 s, closed 0.40 s (0.58 s without the sparse update of
  G (F * w)). Only 0.12-0.15% of (instance, unit) pairs switch sign inside an instance.
- Training, CPU s per epoch (batch 256): H = 512 7.8, H = 1024 15.4, H = 2048 31.9; batch 1024 / 128 at
  H = 512 / 1024: 6.4 / 20.6. At ~315 CPU s the training loss is 331 (H = 512, 40 epochs), 289
  (H = 1024, 20), 287 (H = 2048, 10); batch 256 beats 128 and 1024 at equal CPU time.
- Inverted MSE (1,791 instances of 7 videos, Adam lr 0.3 cosine, 200 iterations) by epochs:
  H = 512: 5: 0.141, 20: 0.123, 40: 0.119. H = 1024: 5: 0.116, 10: 0.107, 20: 0.102, 30: 0.1001,
  40: 0.0993 (saturating: +0.8% from 30 to 40 epochs). H = 2048, 12 epochs: 0.0919 (but 2x decoder
  size and decode cost, ~3x inversion step).
- Step size (H = 1024, 40 epochs): lr 0.2 / 0.3 / 0.5 at 200 iterations: 0.0994 / 0.0993 / 0.0994;
  0.3 at 100 / 150 / 200 / 300 / 1000 iterations: 0.0998 / 0.0995 / 0.0993 / 0.0992 / 0.0991. The
  reference (Adam 1e-3, 10K iterations) ends at 0.0994; lr 0.3 cosine passes it after ~100 iterations.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time

import numpy as np
import torch

from tascodec.data.layout import read_dataset
from tascodec.data.segments import frame_layout, instance_counts
from tascodec.data.synthetic import synthesize
from tascodec.encoding.invert import (DEFAULT_ITERS, DEFAULT_LR, LOSS_METHODS, Problem, encoder_means,
                                    instance_losses, invert)
from tascodec.encoding.defaults import FAST
from tascodec.model.tca import DEFAULT_HIDDEN, TCA, train_tca

DEFAULT_EPOCHS, DEFAULT_BATCH = FAST["epochs"], FAST["batch_size"]  # the shipped preset

REF_LR = 1e-3
PAPER_EPOCHS = 7500


def load(path: str, K: int):
    """All videos (train and test parts) of split 1: standardised frames and inversion layout, and the
    frame and row offset where each video ends."""
    xs, rows, row_labels, cs, frame_labels, off, ends = [], [], [], [], [], 0, []
    vocab = None
    for part in ("train", "test"):
        ds = read_dataset(path, part=part)
        vocab = ds.vocab
        for v in ds.videos:
            seg_label, lengths = ds.segments(v)
            counts = instance_counts(lengths, K)
            _, row, c = frame_layout(lengths, counts)
            xs.append(ds.features(v)), rows.append(row + off), cs.append(c)
            row_labels.append(np.repeat(seg_label, counts)), frame_labels.append(np.repeat(seg_label, lengths))
            off += int(counts.sum())
            ends.append((sum(map(len, xs)), off))
    x = np.concatenate(xs)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = ((x - mean) / std).astype(np.float32)
    return (x, np.concatenate(rows), np.concatenate(row_labels).astype(np.int64), np.concatenate(cs),
            np.concatenate(frame_labels).astype(np.int64), len(vocab), ends)


def train(x, frame_labels, c, C, args):
    xt, lt, ct = torch.from_numpy(x), torch.from_numpy(frame_labels), torch.from_numpy(c)

    def batches(epoch):
        perm = torch.randperm(xt.shape[0], generator=torch.Generator().manual_seed(epoch))
        for s in range(0, perm.numel(), args.batch_size):
            i = perm[s:s + args.batch_size]
            yield xt[i], lt[i], ct[i]

    model = TCA(x.shape[1], C, hidden=args.hidden, seed=0)
    t0 = time.perf_counter()
    stats = train_tca(model, batches, epochs=args.epochs, seed=0, progress=False)
    return model, time.perf_counter() - t0, stats


def method_costs(model, x, row, row_label, c, z0, repeats: int):
    print("\nCost of one inversion step (loss + gradient) over all instances, per loss computation:")
    print(f"  {'method':10s} {'s/iter':>8s} {'vs naive':>9s} {'loss (sum)':>16s}")
    base = None
    for method in LOSS_METHODS:
        P = Problem(model, x, row, row_label, c, need_frames=method in ("naive", "factored"))
        losses, _ = instance_losses(P, z0, method, want_grad=True)         # warm-up (and precompute)
        best = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            instance_losses(P, z0, method, want_grad=True)
            best = min(best, time.perf_counter() - t)
        base = base or best
        print(f"  {method:10s} {best:8.3f} {base / best:8.1f}x {float(losses.sum()):16.6g}")
        del P
    return base


def at(history, it):
    """The history entry at iteration ``it`` (or the last before it)."""
    return max((h for h in history if h[0] <= it), key=lambda h: h[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run: 6 videos, 5 epochs, 2000 ref iterations")
    ap.add_argument("--data", help="an existing dataset folder (default: synthesize a GTEA-like one)")
    ap.add_argument("--videos", type=int, help="synthetic videos (default 28, quick 6)")
    ap.add_argument("--epochs", type=int, help=f"TCA epochs (default {DEFAULT_EPOCHS}, quick 5)")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    ap.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN)
    ap.add_argument("--K", type=int, default=8)
    ap.add_argument("--ref-iters", type=int, help="reference iterations (default 10000, quick 2000)")
    ap.add_argument("--ref-prefix", type=int, help="naive iterations actually timed (default 30, quick 10)")
    ap.add_argument("--ref-fraction", type=float, help="share of the videos whose instances trace both error "
                    "curves (instances are independent; default 0.25, quick 1)")
    ap.add_argument("--iters", type=int, default=DEFAULT_ITERS, help="tascodec iterations")
    ap.add_argument("--lr", type=float, default=DEFAULT_LR, help="tascodec peak step size")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = ap.parse_args()
    q = args.quick
    args.videos = args.videos or (6 if q else 28)
    args.epochs = args.epochs if args.epochs is not None else (5 if q else DEFAULT_EPOCHS)
    args.ref_iters = args.ref_iters or (2000 if q else 10000)
    args.ref_prefix = args.ref_prefix or (10 if q else 30)
    args.ref_fraction = args.ref_fraction or (1.0 if q else 0.25)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.data or str(synthesize(f"{tmp}/gtea", like="gtea", videos=args.videos, dim=2048, seed=0))
        x, row, row_label, c, frame_labels, C, ends = load(path, args.K)
    N, D = x.shape
    R = row_label.size
    print(f"data: {N} frames x {D}, {C} classes, {R} instances (K={args.K}); "
          f"torch threads {torch.get_num_threads()}")

    model, train_s, stats = train(x, frame_labels, c, C, args)
    epoch_s = train_s / max(args.epochs, 1)
    print(f"TCA H={args.hidden} d={model.latent_dim}: {args.epochs} epochs (batch {args.batch_size}) in "
          f"{train_s:.1f}s = {epoch_s:.2f} s/epoch; recon/D {stats['train_recon'] / D:.4f}, "
          f"kl {stats['train_kl']:.1f}; the paper's {PAPER_EPOCHS} epochs would take "
          f"{PAPER_EPOCHS * epoch_s / 3600:.1f} h")

    t = time.perf_counter()
    z0 = encoder_means(model, x, row, row_label, c, R)
    print(f"encoder means: {time.perf_counter() - t:.2f}s (same init for both recipes)")
    method_costs(model, x, row, row_label, c, z0, repeats=2 if q else 3)

    # (a) the reference recipe: naive steps timed for real over a prefix (all instances)
    ref_kw = dict(lr=REF_LR, schedule="constant", optimizer="adam", progress=False, keep_best=True)
    _, naive = invert(model, x, row, row_label, c, z0, iters=args.ref_prefix, method="naive",
                      record_every=1, **ref_kw)
    naive_it = (naive["history"][-1][1] - naive["history"][0][1]) / args.ref_prefix
    setup = naive["history"][0][1]
    ref_time = lambda it: setup + it * naive_it                                      # noqa: E731
    # (b) tascodec's default, timed for real (all instances)
    _, ours_full = invert(model, x, row, row_label, c, z0, iters=args.iters, lr=args.lr, progress=False,
                          record_every=1)
    # error curves of both on the instances of the first videos, the reference's with the exact fast loss
    nv = max(1, round(args.ref_fraction * len(ends)))
    n, r = ends[nv - 1]
    sub = (x[:n], row[:n], row_label[:r], c[:n], z0[:r])
    print(f"\nerror curves on the {r} instances of the first {nv} of {len(ends)} videos; "
          f"times from runs on all {R} instances")
    whole = nv == len(ends)
    _, ref = invert(model, *sub, iters=args.ref_iters, method="closed", record_every=1, **ref_kw)
    naive_sub = naive if whole else invert(model, *sub, iters=args.ref_prefix, method="naive",
                                           record_every=1, **ref_kw)[1]
    dev = max(abs(a[2] - b[2]) / b[2] for a, b in zip(ref["history"], naive_sub["history"]))
    ours_sub = ours_full if whole else invert(model, *sub, iters=args.iters, lr=args.lr, progress=False,
                                              record_every=1)[1]
    ours = {**ours_full, "history": [(h[0], f[1], h[2], h[3]) for h, f in zip(ours_sub["history"],
                                                                              ours_full["history"])]}
    ours["loss_final"] = ours_sub["loss_final"]

    target = ref["loss_final"]
    reach = next((h for h in ours["history"] if h[3] <= target), None)
    print(f"\nReconstruction error (MSE per standardised element) vs wall time; init {ref['loss_init']:.5f}")
    print(f"  {'recipe':34s} {'iters':>6s} {'seconds':>9s} {'mse(best)':>10s}")
    marks = sorted({0, 10, 100, 1000, args.ref_iters} & set(range(args.ref_iters + 1)))
    for it in marks:
        h = at(ref["history"], it)
        print(f"  {'reference (naive Adam 1e-3)':34s} {h[0]:6d} {ref_time(h[0]):9.1f} {h[3]:10.5f}"
              f"{'  (measured)' if h[0] <= args.ref_prefix else ''}")
    for it in sorted({0, 10, 30, 100, args.iters // 2, args.iters} & set(range(args.iters + 1))):
        h = at(ours["history"], it)
        print(f"  {'tascodec (' + ours['method'] + ')':34s} {h[0]:6d} {h[1]:9.1f} {h[3]:10.5f}")
    print(f"\nnaive step {naive_it:.3f}s (measured over {args.ref_prefix} iterations); reference curve via "
          f"'closed' deviates from the naive prefix by at most {dev:.1e} (relative)")
    print(f"reference: {args.ref_iters} iterations, {ref_time(args.ref_iters):.0f}s, final mse {target:.5f}")
    print(f"tascodec:  {args.iters} iterations in {ours['seconds']:.1f}s, final mse {ours['loss_final']:.5f}")
    if reach is None:
        print("tascodec never reached the reference's final error: goal NOT met")
    else:
        ratio = ref_time(args.ref_iters) / reach[1]
        print(f"tascodec reaches it at iteration {reach[0]} after {reach[1]:.1f}s: {ratio:.0f}x faster "
              f"(goal >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
    total = train_s + ours["seconds"]
    print(f"tascodec default end to end (training + inversion, excluding I/O): {total:.0f}s "
          f"({'within' if total <= 600 else 'over'} the 10-minute GTEA budget)")


if __name__ == "__main__":
    main()
