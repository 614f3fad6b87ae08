"""Downstream value at equal bytes: MS-TCN trained on restored features, over several seeds.

Reads the JSON that ``benchmarks/rate.py --json`` wrote, takes at each budget the best (least
restored error) ``tasz pca`` file and the best generic-codec configuration that fit, restores the
train videos, trains MS-TCN (2 stages x 8 layers x 64 maps, Adam 5e-4, batch 1) on them with
``--seeds`` seeds and tests every model on the ORIGINAL test split. Prints mean (std) of Acc,
Edit, F1@{10,25,50} and the share of the original-features model's mean score kept ("n/a" when
the original model is degenerate: it predicts one class or scores 0).

``--smooth N`` adds, per restore, a model trained on it smoothed over N frames across action
boundaries (``tasz decode --smooth N``); its error column is that of the smoothed frames.

Run: ``python benchmarks/rate.py --datasets gtea --json r.json`` then
``python benchmarks/rate_downstream.py r.json --dataset gtea [--smooth 16]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rate  # noqa: E402

import tascodec  # noqa: E402
from tascodec.bench.runner import score_model, train_model  # noqa: E402
from tascodec.decode.smooth import smooth_frames  # noqa: E402

METRICS = ("acc", "edit", "f1@10", "f1@25", "f1@50")


def scores(train, test, num_classes, background, seeds, epochs):
    out = []
    for seed in range(seeds):
        model = train_model(train, num_classes, epochs=epochs, seed=seed, num_stages=2, num_layers=8,
                            progress=False)
        s, distinct = score_model(model, test, background)
        out.append({**s, "classes_predicted": distinct})
    return out


def rate_error(X, restored) -> float:
    num = sum(float(np.einsum("ij,ij->", x - r, x - r, dtype=np.float64)) for x, r in zip(X, restored))
    return num / sum(float(np.einsum("ij,ij->", x, x, dtype=np.float64)) for x in X)


def summary(runs):
    m = {k: float(np.mean([r[k] for r in runs])) for k in METRICS}
    sd = {k: float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0 for k in METRICS}
    return m, sd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--dataset", default="gtea")
    ap.add_argument("--budgets", default="0.001,0.005,0.02")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--work", default="/tmp/tasz-rate")
    ap.add_argument("--smooth", type=int, default=1,
                    help="also train on each restore smoothed over this many frames (tascodec.decode.smooth)")
    ap.add_argument("--methods", default="tasz pca,generic")
    ap.add_argument("--smoothed-only", action="store_true", help="with --smooth: skip the exact restores")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = json.loads(Path(args.json).read_text())[args.dataset]
    stride, n_train, n_test = rate.SHAPES[args.dataset]
    data = rate.build(args.dataset, Path(args.work) / "data", args.dim, stride, n_train, n_test)
    bg = rate.background_of(args.dataset)
    train_ds = tascodec.read_dataset(data, background=bg)
    test_ds = tascodec.read_dataset(data, part="test", background=bg)
    test = [(test_ds.features(v), test_ds.labels(v)) for v in test_ds.videos]
    labels = [train_ds.labels(v) for v in train_ds.videos]
    X = [train_ds.features(v) for v in train_ds.videos]
    C, bg_ids = len(train_ds.vocab), train_ds.background_ids
    raw = res["raw_bytes"]
    print(f"{args.dataset}-like: {len(X)} train / {len(test)} test videos, MS-TCN 2x8x64, {args.epochs} epochs, "
          f"{args.seeds} seeds, 1 thread; tested on the original test split", flush=True)
    t0 = time.time()
    rows = [("original features", raw, 0.0, scores(list(zip(X, labels)), test, C, bg_ids, args.seeds, args.epochs))]
    print(f"  original done ({time.time() - t0:.0f} s)", flush=True)
    for b in map(float, args.budgets.split(",")):
        for method in args.methods.split(","):
            p = rate.frontier(res["points"], method, raw * b)
            if p is None:
                rows.append((f"{method} @ {100 * b:g}%: nothing fits", 0, float("nan"), []))
                continue
            if method == "generic":
                q = p["params"]
                restored = rate.generic_restore(X, q["k"], q["s"], q["dt"], q["bdt"])
            else:
                with tascodec.open(p["path"]) as c:
                    restored = [c.decode(v) for v in train_ds.videos]
            variants = ([] if args.smoothed_only and args.smooth > 1 else [(1, restored)]) + \
                ([(args.smooth, [smooth_frames(r, args.smooth) for r in restored])] if args.smooth > 1 else [])
            for width, feats in variants:
                err = p["error"] if width == 1 else rate_error(X, feats)
                runs = scores(list(zip(feats, labels)), test, C, bg_ids, args.seeds, args.epochs)
                tag = "" if width == 1 else f", smoothed over {width} frames"
                rows.append((f"{method} @ {100 * b:g}% ({p['config']}{tag})", p["bytes"], err, runs))
                print(f"  {rows[-1][0]} done ({time.time() - t0:.0f} s)", flush=True)
    ref, _ = summary(rows[0][3])
    degenerate = min(r["classes_predicted"] for r in rows[0][3]) <= 1 or min(ref.values()) <= 0
    ref_mean = float(np.mean(list(ref.values())))
    print("\n| method | % of raw | error | " + " | ".join(m.capitalize() if m != "acc" else "Acc" for m in METRICS)
          + " | kept |\n|---|---:|---:|" + "---:|" * len(METRICS) + "---:|")
    for name, nbytes, err, runs in rows:
        if not runs:
            print(f"| {name} | | | " + " | " * len(METRICS) + " |")
            continue
        m, sd = summary(runs)
        kept = "n/a" if degenerate else f"{100 * np.mean(list(m.values())) / ref_mean:.0f}%"
        cells = " | ".join(f"{m[k]:.1f} ({sd[k]:.1f})" for k in METRICS)
        print(f"| {name} | {100 * nbytes / raw:.2f} | {err:.4f} | {cells} | {kept} |")
    if degenerate:
        print("\nwarning: the original-features model is degenerate (too few epochs?): shares kept are n/a")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
