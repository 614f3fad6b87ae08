"""Restore speed on trained decoders: tascodec (numpy, torch) vs the old path, the naive MLP and np.load.

    python benchmarks/decode.py [--cache /tmp/tascodec-bench-decode] [--epochs 8] [--repeats 3]

Data: two ``tasz synth`` datasets, D = 2048, each encoded once by ``tasz encode --part all`` (the
default decoder: hidden 1024, d = 256, K = 8, inversion, float16 codes and weights; ``--epochs``
training epochs), made on the first run and cached under ``--cache`` (several CPU-minutes; never in
the repository):

- GTEA-like: 28 videos, short segments, ~4.8 frames per instance;
- Breakfast-like: 20 videos, mean segment ~300 frames, ~38 frames per instance.

For each dataset, each thread setting (1 thread, then all cores; each in its own process, since
BLAS fixes its thread count at start) restores every video with:

- the naive batched MLP (``[z | onehot | c]`` per frame through both layers): the reference that
  every other row's max relative error is measured against;
- ``before``: the decode path before issue 15 (one ``X @ W`` product per instance, alpha/beta for
  every instance), kept here so before/after are side by side;
- tascodec numpy (``decode_segments``) and torch on the CPU (and CUDA when present);
- ``np.load`` of the same videos' raw ``(D, T)`` ``.npy`` files (from the page cache).

Figures are frames/s, best of ``--repeats``: wall-clock and per CPU-second of this process (on a
shared machine the CPU-time figure is the steadier one at 1 thread). The ``floor`` row is the
plan's unavoidable multiply-adds (``plan_fmas``) at this machine's measured float32 GEMM rate:
no exact decode through the hidden layer runs faster, whatever its kernels. Frames per instance and
switching hidden units per instance are printed next to each figure. Then the peak memory
(tracemalloc) of decoding a 100K-frame video whole vs with ``iter_decode_segments``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATASETS = {  # name -> (tasz synth --like, --videos)
    "GTEA-like": ("gtea", 28),
    "Breakfast-like": ("breakfast", 20),
}
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ---------------------------------------------------------------------------------------------
# data: synth + encode once, cached outside the repository


def _tasz(*args: str) -> None:
    cmd = [sys.executable, "-m", "tascodec.cli.main", *args]
    print("  $ tasz " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def ensure_data(cache: Path, epochs: int, names=tuple(DATASETS)) -> dict[str, tuple[Path, Path]]:
    """``{dataset: (container, raw dataset folder)}``, made with ``tasz synth`` + ``tasz encode`` when absent."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        like, videos = DATASETS[name]
        data = cache / like
        tasz = cache / f"{like}-e{epochs}.tasz"
        if not (data / "mapping.txt").exists():
            _tasz("synth", str(data), "--like", like, "--videos", str(videos), "--seed", "0", "-f")
        if not tasz.exists():
            _tasz("encode", str(data), "-o", str(tasz), "--method", "inversion", "--part", "all", "--epochs", str(epochs),
                  "-q", "-f")
        out[name] = (tasz, data)
    return out


# ---------------------------------------------------------------------------------------------
# the decoders under test


def naive_batched(decoder, codes, labels, lengths, instances, block: int = 4096) -> np.ndarray:
    """The plain batched MLP: ``X = [z | onehot | c]`` per frame, ``relu(X W1^T + b1) W2^T + b2``, denormalise."""
    from tascodec.data.segments import frame_layout

    w = decoder.float32_weights()
    seg, row, c = frame_layout(lengths, instances)
    T, C, d = seg.size, decoder.num_classes, decoder.latent_dim
    out = np.empty((T, decoder.feature_dim), np.float32)
    for s in range(0, T, block):
        e = min(T, s + block)
        x = np.zeros((e - s, d + C + 1), np.float32)
        x[:, :d] = codes[row[s:e]]
        x[np.arange(e - s), d + labels[seg[s:e]]] = 1
        x[:, -1] = c[s:e]
        h = np.maximum(x @ w["w1"].T + w["b1"], 0)
        out[s:e] = (h @ w["w2"].T + w["b2"]) * w["std"] + w["mean"]
    return out


def before_decode(decoder, codes, labels, lengths, instances) -> np.ndarray:
    """The numpy decode as it was before issue 15 (commit 3f414bd): alpha/beta for every instance,
    then one small ``X_k @ W_k`` product per instance. Kept verbatim for the before/after rows."""
    from tascodec.decode import VideoTables, prepared
    from tascodec.decode.plan import ragged_arange

    prep = prepared(decoder)
    v = VideoTables(prep, codes, labels, lengths, instances)
    out = np.empty((v.num_frames, prep.feature_dim), np.float32)
    for s in range(0, v.num_frames, 4096):
        e = min(v.num_frames, s + 4096)
        span = v.span(s, e)
        block = out[s:e]
        # plan_mlp
        T = span.row.size
        row, c = span.row, span.c
        first = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1])))
        frame_off = np.append(first, T).astype(np.int64)
        n = np.diff(frame_off)
        N = first.size
        u = v.codes[row[first]] @ prep.w1z.T
        u += prep.w1a[np.asarray(v.seg_label)[span.seg[first]]]
        u += prep.b1
        on_first = (u + c[first, None] * prep.wc) > 0
        on_last = (u + c[frame_off[1:] - 1, None] * prep.wc) > 0
        steady = on_first & on_last
        hidden = np.empty((N, 2, u.shape[1]), np.float32)
        np.multiply(u, steady, out=hidden[:, 0])
        np.multiply(prep.wc, steady, out=hidden[:, 1])
        k, su = np.nonzero(on_first != on_last)
        ev_off = np.concatenate(([0], np.cumsum(np.bincount(k, minlength=N)))).astype(np.int64)
        pair_event = np.repeat(np.arange(k.size, dtype=np.int64), n[k])
        pair_frame = frame_off[k][pair_event] + ragged_arange(n[k])
        pair_value = np.maximum(u[k, su][pair_event] + c[pair_frame] * prep.wc[su][pair_event], np.float32(0))
        hidden = hidden.reshape(2 * N, -1)
        # run_mlp
        width = 2 + np.diff(ev_off)
        table_off = np.concatenate(([0], np.cumsum(width)))
        x_off = np.concatenate(([0], np.cumsum(n * width)))
        ab = (hidden @ prep.w2t).reshape(N, 2, -1)
        ab[:, 0] += prep.b2
        table = np.empty((int(table_off[-1]), prep.feature_dim), np.float32)
        table[table_off[:-1]] = ab[:, 0]
        table[table_off[:-1] + 1] = ab[:, 1]
        group_of_event = np.repeat(np.arange(N), width - 2)
        event_rank = np.arange(su.size) - ev_off[group_of_event]
        table[table_off[group_of_event] + 2 + event_rank] = prep.w2t[su]
        g = np.repeat(np.arange(N), n)
        base = x_off[g] + ragged_arange(n) * width[g]
        x = np.empty(int(x_off[-1]), np.float32)
        x[base] = 1
        x[base + 1] = c
        x[base[pair_frame] + 2 + event_rank[pair_event]] = pair_value
        f, t, xo = frame_off.tolist(), table_off.tolist(), x_off.tolist()
        for j in range(N):
            rows = f[j + 1] - f[j]
            np.matmul(x[xo[j]:xo[j + 1]].reshape(rows, -1), table[t[j]:t[j + 1]], out=block[f[j]:f[j + 1]])
    return out


def instance_stats(decoder, videos):
    """Per video, ``(n, E)``: each instance's frames and switching hidden units (a unit switches in
    an instance when its pre-activation has different signs at the instance's first and last frame)."""
    from tascodec.data.segments import frame_layout
    from tascodec.decode import prepared

    prep = prepared(decoder)
    for codes, labels, lengths, instances in videos:
        seg, row, c = frame_layout(lengths, instances)
        if not row.size:
            continue
        first = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1])))
        last = np.append(first[1:], row.size) - 1
        u = codes[row[first]] @ prep.w1z.T + prep.w1a[labels[seg[first]]] + prep.b1
        E = np.count_nonzero(((u + c[first, None] * prep.wc) > 0) != ((u + c[last, None] * prep.wc) > 0), axis=1)
        yield last - first + 1, E


def switching_stats(decoder, videos) -> tuple[int, int, int]:
    """(frames, instances, switching hidden units) over ``videos``."""
    frames = rows = switching = 0
    for n, E in instance_stats(decoder, videos):
        frames, rows, switching = frames + int(n.sum()), rows + n.size, switching + int(E.sum())
    return frames, rows, switching


def plan_fmas(decoder, videos) -> float:
    """Multiply-adds of the D-wide work the plan (``tascodec.decode.plan``) cannot avoid: per instance
    of ``n`` frames with ``E`` switching units the cheaper of ``n H`` (direct) and ``2 H + n (2 + E)``
    (alpha, beta and the per-frame product), times ``D``. An exact decode that goes through the
    hidden layer needs at least this; at the machine's GEMM rate it bounds the frames/s."""
    H, D = decoder.hidden, decoder.feature_dim
    return sum(float(np.minimum(n * H, 2 * H + n * (2 + E)).sum()) * D
               for n, E in ((n.astype(np.float64), E) for n, E in instance_stats(decoder, videos)))


def gemm_rate(H: int, D: int, repeats: int = 5) -> float:
    """Multiply-adds per second of float32 ``(256, H+1) @ (H+1, D)`` products here, at the threads set."""
    a = np.random.default_rng(0).standard_normal((256, H + 1), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((H + 1, D), dtype=np.float32)
    out = np.empty((256, D), np.float32)
    np.matmul(a, b, out=out)
    wall, _, _ = timed(lambda: [np.matmul(a, b, out=out) for _ in range(10)], repeats)
    return 10 * 256 * (H + 1) * D / wall


# ---------------------------------------------------------------------------------------------
# one thread setting (a child process)


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall and best process-CPU seconds over ``repeats`` calls, and the last result."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeats):
        result = None
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu, result


def rel_err(outs, refs) -> float:
    return max(float(np.abs(np.asarray(o) - r).max() / max(np.abs(r).max(), 1e-30)) for o, r in zip(outs, refs)
               if r.size)


def child(args) -> None:
    import torch

    import tascodec
    from tascodec.decode import decode_segments
    from tascodec.decode.torch_backend import decode_segments_torch

    rows = []
    for name, (tasz, data) in ensure_data(Path(args.cache), args.epochs, args.datasets).items():
        with tascodec.open(tasz) as c:
            dec = c.decoder
            videos = [(c.codes(v), *c.segments(v)) for v in c.videos]
            paths = [data / "features" / f"{v}.npy" for v in c.videos]
        frames, instances, switching = switching_stats(dec, videos)
        info = dict(dataset=name, videos=len(videos), frames=frames, fpi=frames / instances,
                    spi=switching / instances, hidden=dec.hidden, threads=args.child,
                    torch_threads=torch.get_num_threads())
        floor = plan_fmas(dec, videos) / gemm_rate(dec.hidden, dec.feature_dim)
        rows.append(dict(info, method="floor: plan's FMAs at sgemm peak", wall=floor, cpu=floor * args.child,
                         err=None))
        wall, cpu, refs = timed(lambda: [naive_batched(dec, *v) for v in videos], 1)
        rows.append(dict(info, method="naive batched MLP (reference)", wall=wall, cpu=cpu, err=0.0))
        methods = {
            "before (per-instance alpha/beta)": lambda v: before_decode(dec, *v),
            "tascodec numpy": lambda v: decode_segments(dec, *v),
            "tascodec torch cpu": lambda v: decode_segments_torch(dec, *v, device="cpu").numpy(),
        }
        if torch.cuda.is_available():
            def cuda(v):
                x = decode_segments_torch(dec, *v, device="cuda")
                torch.cuda.synchronize()
                return x

            methods["tascodec torch cuda (on device)"] = cuda
        for label, fn in methods.items():
            wall, cpu, outs = timed(lambda: [fn(v) for v in videos], args.repeats)
            if label.startswith("tascodec torch cuda"):
                outs = [o.cpu().numpy() for o in outs]
            rows.append(dict(info, method=label, wall=wall, cpu=cpu, err=rel_err(outs, refs)))
            del outs
        [np.load(p) for p in paths]  # into the page cache
        wall, cpu, _ = timed(lambda: [np.load(p) for p in paths], args.repeats)
        rows.append(dict(info, method="np.load of raw (D, T) .npy", wall=wall, cpu=cpu, err=None))
        del refs
    print("JSON " + json.dumps(rows), flush=True)


# ---------------------------------------------------------------------------------------------
# the parent: run each thread setting, print one table


def run_child(threads: int, args) -> list[dict]:
    env = dict(os.environ, **{k: str(threads) for k in THREAD_ENV})
    cmd = [sys.executable, __file__, "--child", str(threads), "--cache", args.cache, "--epochs", str(args.epochs),
           "--repeats", str(args.repeats), "--datasets", *args.datasets]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(next(line[5:] for line in out.splitlines() if line.startswith("JSON ")))


def report(rows: list[dict]) -> None:
    key = lambda r: (r["dataset"], r["threads"])  # noqa: E731
    load = {key(r): r for r in rows if r["method"].startswith("np.load")}
    print(f"\n{'dataset':<15} {'thr':>3} {'fr/inst':>7} {'sw/inst':>7}  {'method':<34} {'frames/s':>10} "
          f"{'x np.load':>9} {'frames/CPU-s':>12} {'x np.load':>9} {'max rel err':>11}")
    last = None
    for r in rows:
        if last is not None and key(r) != last:
            print()
        last = key(r)
        ref = load[key(r)]
        fps, cps = r["frames"] / r["wall"], r["frames"] / r["cpu"]
        err = "" if r["err"] is None else f"{r['err']:.1e}"
        print(f"{r['dataset']:<15} {r['threads']:>3} {r['fpi']:>7.1f} {r['spi']:>7.1f}  {r['method']:<34} "
              f"{fps:>10,.0f} {fps * ref['wall'] / r['frames']:>9.3f} {cps:>12,.0f} "
              f"{cps * ref['cpu'] / r['frames']:>9.3f} {err:>11}")


def memory(args) -> None:
    """Peak traced allocations (numpy's included) while decoding a 100K-frame video whole vs streamed."""
    import tracemalloc

    import tascodec
    from tascodec.decode import decode_segments, iter_decode_segments

    tasz = ensure_data(Path(args.cache), args.epochs, ["Breakfast-like"])["Breakfast-like"][0]
    with tascodec.open(tasz) as c:
        dec = c.decoder
        videos = [(c.codes(v), *c.segments(v)) for v in c.videos]
    parts = [np.concatenate(p) for p in zip(*videos)]
    reps = -(-100_000 // int(parts[2].sum()))
    video = [np.concatenate([p] * reps) for p in parts]
    frames = int(video[2].sum())
    print(f"\npeak memory decoding a {frames:,}-frame video (the Breakfast-like videos end to end; the output "
          f"alone is {frames * dec.feature_dim * 4 / 2**20:,.0f} MiB), tracemalloc")
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
    ap.add_argument("--cache", default="/tmp/tascodec-bench-decode", help="where the datasets and containers live")
    ap.add_argument("--epochs", type=int, default=8, help="TCA training epochs of the cached encodes")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args)
        return
    print(f"cpus {os.cpu_count()}, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ensure_data(Path(args.cache), args.epochs, args.datasets)
    rows = []
    for threads in dict.fromkeys(args.threads):
        rows += run_child(threads, args)
    report(rows)
    print(f"\nload average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not args.no_memory:
        memory(args)


if __name__ == "__main__":
    main()
