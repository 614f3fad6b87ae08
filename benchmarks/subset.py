"""Speed of diverse selection (farthest-point over normalized Levenshtein).

    python benchmarks/subset.py [--cores 2] [--n 100000] [--ratios 0.5 0.1] [--breakfast DIR]

1. Breakfast's real label sequences (all 1,712 videos, SIL dropped), when the labels are
   present (default /work/shared/data/breakfast). Goal: under 1 s.
2. ``--n`` synthetic sequences shaped like TAS transcripts: 10 scripted activities over 48
   classes, each video its activity's script with dropped, inserted and swapped steps, 5-30
   actions long. Goal: 100K in under 60 s on 2 cores.

Prints one line per run: videos, distinct sequences, kept, seconds (wall and CPU), and the mean
normalized distance of the kept set vs a random set of the same size. Selection is single-threaded:
goals are judged on CPU time, which equals wall time unless other processes share the cores (the
load average is printed first).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tascodec.subsetting import mean_distance, select, sequences_of  # noqa: E402


def synthetic(n: int, seed: int = 0, classes: int = 48, activities: int = 10) -> list[list[int]]:
    """``n`` scripted action sequences, 5-30 long (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pools = [rng.choice(classes, 14, replace=False) for _ in range(activities)]
    scripts = [rng.choice(p, rng.integers(8, 25)).tolist() for p in pools]
    out = []
    for a in rng.integers(0, activities, n).tolist():
        s = []
        for x in scripts[a]:
            if rng.random() < 0.15:
                continue
            s.append(x)
            if rng.random() < 0.1:
                s.append(int(rng.choice(pools[a])))
        for j in range(len(s) - 1):
            if rng.random() < 0.1:
                s[j], s[j + 1] = s[j + 1], s[j]
        while len(s) < 5:
            s.append(int(rng.choice(pools[a])))
        out.append(s[:30])
    return out


def breakfast(path: Path) -> list[list[int]] | None:
    if not (path / "groundTruth").is_dir():
        return None
    from tascodec.data.layout import read_dataset

    ds = read_dataset(path, part="all", split=None, background=("SIL", "background"), require_features=False)
    return sequences_of((ds.segments(v)[0] for v in ds.videos), ds.background_ids)


def bench(name: str, seqs: list[list[int]], ratio: float, goal: float | None) -> None:
    t, c = time.perf_counter(), time.process_time()
    kept = select(seqs, ratio=ratio)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    rand = select(seqs, ratio=ratio, strategy="random")
    distinct = len(set(map(tuple, seqs)))
    # selection runs on one core, so its CPU time is its wall time on an otherwise idle machine
    verdict = "" if goal is None else f"  goal < {goal:g} s (cpu): {'met' if cpu < goal else 'MISSED'}"
    print(f"{name:<22} n={len(seqs):>7,} distinct={distinct:>7,} ratio={ratio:<4g} kept={len(kept):>6,} "
          f"wall={wall:7.2f} s cpu={cpu:7.2f} s  mean distance kept {mean_distance(seqs, kept):.3f} "
          f"vs random {mean_distance(seqs, rand):.3f}{verdict}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2, help="pin the process to this many CPUs (0: leave as is)")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.1])
    ap.add_argument("--breakfast", type=Path, default=Path("/work/shared/data/breakfast"))
    args = ap.parse_args()
    if args.cores and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)
    print(f"CPUs: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    bf = breakfast(args.breakfast)
    if bf is None:
        print(f"breakfast: no labels at {args.breakfast}, skipped")
    else:
        for r in args.ratios:
            bench("breakfast (real)", bf, r, 1.0)
    seqs = synthetic(args.n)
    for r in args.ratios:
        bench("synthetic", seqs, r, 60.0 if args.n >= 100_000 else None)


if __name__ == "__main__":
    main()
