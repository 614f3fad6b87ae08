"""One process against ``torchrun`` ranks (gloo, CPU) on the same data and settings.

    tasz synth bf120 --like breakfast --videos 120 --dim 512 --length-scale 0.1
    OMP_NUM_THREADS=1 python benchmarks/distributed.py bf120 [--ranks 2] [--train-steps 300] [--json OUT]

Runs the same encode (``tascodec.encoding.pipeline.encode``, inversion, background ``SIL``) once in
one process and once under ``torchrun --standalone --nproc-per-node N``, every process on one torch
thread, and prints for each run: the CPU seconds of every process by stage (``time.process_time``
around the statistics pass, training and inversion; ``total`` is the whole process from its
start, imports included), the wall seconds, the frames each process read per stage (provenance
``frames_read``) and the restored error (MSE of the decoded container against the source features,
per element). On a machine with fewer free cores than ranks the wall time shows no speed-up: the
CPU seconds per process are the figure that says what the ranks share.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RANK_SCRIPT = r"""
import json, os, resource, sys, time
import torch
torch.set_num_threads(1)
from tascodec.encoding import frames, pipeline
a = json.loads(sys.argv[1])
cpu = {}

def timed(name, fn):
    def run(*args, **kw):
        t = time.process_time()
        try:
            return fn(*args, **kw)
        finally:
            cpu[name] = cpu.get(name, 0.0) + time.process_time() - t
    return run

pipeline.feature_stats = timed("stats", frames.feature_stats)
pipeline._Job._train = timed("train", pipeline._Job._train)
pipeline._Job._codes = timed("invert", pipeline._Job._codes)
pipeline.encode(a["data"], a["out"], **a["settings"])
u = resource.getrusage(resource.RUSAGE_SELF)
cpu["total"] = u.ru_utime + u.ru_stime
with open(a["out"] + ".cpu%s.json" % os.environ.get("RANK", "0"), "w") as f:
    json.dump(cpu, f)
"""


def restored_error(path, ds) -> float:
    import tascodec

    c = tascodec.open(path)
    return sum(float(np.square(c.decode(v) - ds.features(v)).sum()) for v in ds.videos) / (
        ds.total_frames * ds.feature_dim)


def run(data: Path, out: Path, settings: dict, ranks: int) -> dict:
    script = out.parent / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.setdefault("OMP_NUM_THREADS", "1")
    args = [json.dumps({"data": str(data), "out": str(out), "settings": settings})]
    cmd = ([sys.executable, str(script)] if ranks == 1 else
           [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
            str(script)])
    t = time.monotonic()
    subprocess.run(cmd + args, env=env, check=True)
    wall = time.monotonic() - t
    cpu = [json.loads(Path(f"{out}.cpu{r}.json").read_text()) for r in range(ranks)]
    import tascodec

    prov = tascodec.open(out).metadata["provenance"]
    return {"ranks": ranks, "wall_s": round(wall, 1), "cpu_s": [{k: round(v, 1) for k, v in c.items()} for c in cpu],
            "frames_read": prov["frames_read"], "losses": prov["losses"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--iters", type=int, default=None, help="inversion iterations [the default]")
    ap.add_argument("--chunk-frames", type=int, default=8192)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    from tascodec.data.layout import read_dataset

    ds = read_dataset(a.data, background=["SIL"])
    settings = {"method": "inversion", "train_steps": a.train_steps, "chunk_frames": a.chunk_frames, "background": ["SIL"],
                "progress": False}
    if a.iters is not None:
        settings["iters"] = a.iters
    print(f"{a.data}: {len(ds)} train videos, {ds.total_frames:,} frames, {ds.feature_dim}-d; "
          f"settings {settings}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for ranks in (1, a.ranks):
            out = Path(tmp) / f"r{ranks}.tasz"
            r = run(a.data, out, settings, ranks)
            r["restored_error"] = restored_error(out, ds)
            results.append(r)
            print(json.dumps(r), flush=True)
    one, many = results
    total1 = one["cpu_s"][0]["total"]
    totals = [c["total"] for c in many["cpu_s"]]
    print(f"CPU s per process: 1 process {total1:.1f}; {a.ranks} ranks {', '.join(f'{t:.1f}' for t in totals)} "
          f"(sum {sum(totals):.1f}); restored error {one['restored_error']:.5f} vs {many['restored_error']:.5f} "
          f"({many['restored_error'] / one['restored_error']:.3f}x)")
    if a.json:
        a.json.write_text(json.dumps({"data": str(a.data), "frames": ds.total_frames, "settings": settings,
                                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
