"""Storage vs downstream quality of every method, like Table 1 of Ding, Chen & Yao (CVPR 2025).

One run: synthesize a GTEA-like dataset (or use --data), encode it with every method and setting,
train MS-TCN on the original and on each restored training set, test on the original test split,
and print one table (storage, Acc, Edit, F1@{10,25,50}, retained % of the original's scores).

    python benchmarks/quality.py                 # synthetic GTEA-like, 2048-d, full recipe
    python benchmarks/quality.py --quick         # small and fast (a smoke run)
    python benchmarks/quality.py --data gtea/    # a real dataset in the MS-TCN layout

Rows: Original; Mean and Coreset (one frame per segment, K = 1); TCA (random codes); Encoded
(encoder means, K = 8); inversion with K = 1 and K = 8, codes as float32 / float16 / int8; and
inversion K = 8 on the diverse half of the videos (gamma = 0.5). The TCA prior is trained once
and reused (``model=``) wherever the method allows, so rows differ only in what they store.
Goals: inversion ahead of every baseline at equal or lower bytes; int8 within 1 Acc point of float32.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tascodec.bench.evaluate import METRICS, format_table, rows_to_json, run_eval
from tascodec.data.synthetic import synthesize
from tascodec.encoding.pipeline import encode
from tascodec.subsetting import subset_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="dataset folder (default: synthesize a GTEA-like one)")
    ap.add_argument("--work", help="folder for the containers (default: a temporary one)")
    ap.add_argument("--quick", action="store_true", help="small dims, few epochs: a smoke run")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--length-scale", type=float, default=0.5, help="synthetic segment length scale")
    ap.add_argument("--encode-epochs", type=int, default=None, help="TCA epochs (default: the fast preset)")
    ap.add_argument("--eval-epochs", type=int, default=30)
    ap.add_argument("--stages", type=int, default=4)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--reuse", action="store_true", help="keep containers already in --work (resume a run)")
    args = ap.parse_args()
    if args.quick:
        args.dim, args.length_scale, args.eval_epochs, args.stages, args.layers = 64, 0.1, 3, 2, 4
        args.encode_epochs = args.encode_epochs or 3

    work = Path(args.work or tempfile.mkdtemp(prefix="tasz-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    data = Path(args.data) if args.data else (work / "gtea") if args.reuse and (work / "gtea").is_dir() else synthesize(
        work / "gtea", like="gtea", dim=args.dim, length_scale=args.length_scale, seed=args.seed, force=True)
    common = dict(seed=args.seed, progress=False, force=True)
    if args.encode_epochs:
        common["epochs"] = args.encode_epochs
    if args.quick:
        common["iters"] = 30

    def enc(name: str, **kw) -> Path:
        if args.reuse and (work / f"{name}.tasz").exists():
            return work / f"{name}.tasz"
        t = time.monotonic()
        kw.setdefault("method", "inversion")  # the paper's method unless a baseline is named
        out = encode(data, work / f"{name}.tasz", **common, **kw)
        print(f"encoded {name:<24} {out.stat().st_size:>12,d} bytes  {time.monotonic() - t:6.1f} s", flush=True)
        return out

    prior = enc("inversion-K8-f16", K=8, latent_dtype="float16")
    reuse = {k: v for k, v in common.items() if k != "epochs"}

    def enc_reuse(name: str, **kw) -> Path:
        if args.reuse and (work / f"{name}.tasz").exists():
            return work / f"{name}.tasz"
        t = time.monotonic()
        kw.setdefault("method", "inversion")
        out = encode(data, work / f"{name}.tasz", model=prior, init="random", **reuse, **kw)
        print(f"encoded {name:<24} {out.stat().st_size:>12,d} bytes  {time.monotonic() - t:6.1f} s", flush=True)
        return out

    containers = [
        enc("mean-K1", method="mean", K=1),
        enc("coreset-K1", method="coreset", K=1),
        enc_reuse("tca-K8", method="tca", K=8),
        enc("encoded-K8", method="encoded", K=8),
        enc_reuse("inversion-K1-f16", K=1, latent_dtype="float16"),
        enc_reuse("inversion-K8-f32", K=8, latent_dtype="float32"),
        prior,
        enc_reuse("inversion-K8-int8", K=8, latent_dtype="int8"),
        subset_file(prior, work / "inversion-K8-f16-half.tasz", ratio=0.5, seed=args.seed, force=True).output,
    ]
    print(f"encoding done in {time.monotonic() - t0:.0f} s; training MS-TCN {len(containers) + 1} times", flush=True)
    rows = run_eval(data, containers, epochs=args.eval_epochs, seed=args.seed, progress=False,
                    num_stages=args.stages, num_layers=args.layers,
                    log=lambda s: print(s, flush=True))
    print()
    print(format_table(rows))
    by = {r.name: r for r in rows}
    inv = by["inversion-K8-f16.tasz"]
    base = [by[n] for n in ("mean-K1.tasz", "coreset-K1.tasz", "tca-K8.tasz", "encoded-K8.tasz")]
    ahead = all(inv.scores["acc"] >= b.scores["acc"] for b in base)
    gap = by["inversion-K8-f32.tasz"].scores["acc"] - by["inversion-K8-int8.tasz"].scores["acc"]
    print(f"\ninversion K=8 ahead of every baseline on Acc: {'yes' if ahead else 'NO'}; "
          f"int8 vs float32 Acc gap {gap:+.1f} points ({'within' if abs(gap) <= 1 else 'OUTSIDE'} 1 point)")
    print(f"mean retained (over {', '.join(METRICS)}): " +
          ", ".join(f"{r.name.removesuffix('.tasz')} {r.mean_retained:.0f}%" for r in rows[1:]))
    print(f"total {time.monotonic() - t0:.0f} s; containers in {work}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows_to_json(rows), indent=2))


if __name__ == "__main__":
    main()
