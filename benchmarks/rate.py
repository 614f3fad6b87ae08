"""Rate–quality: whole-file bytes against restored error, tascodec vs a generic codec, equal bytes.

Datasets are built from the REAL label files of GTEA, 50Salads and Breakfast (split 1, in
``../shared/data``: real action orders and segment lengths) with synthetic 2048-d features from
``tascodec.data.synthetic`` (a low-rank latent trajectory through a softplus: see that module).
50Salads and Breakfast take a frame stride and a subset of videos to fit a 2-core machine; the
output says which.

Per dataset and budget (a share of the raw float32 train features), the best configuration
that fits, for:

- ``generic``: PCA of the frames (k components) + every s-th frame kept and linearly
  interpolated over the whole video + float16 or int8 (one scale per component) + zstd level 19;
  its bytes count the basis, the mean, the coefficients and the labels (run-length, zstd).
- ``tasz pca``: what ``tasz encode DATA --target-ratio B`` writes for each budget ``B`` (rate
  control: method ``pca``, decoder kind ``linear``, the configuration it measures best on a
  sample): whole-file bytes, restored by ``tascodec.open(...).decode``; once as ``tasz encode DATA``
  writes it (``default``: rate control at 0.5% of raw) and once at the fixed shape a given shape
  fills from (128 components, one code per 4 frames, int8). ``--pca-grid`` adds real files over a fixed grid of configurations
  (components fitted once at the largest k; PCA is nested) to check that rate control lands on
  the grid's frontier.
- ``mean K=1`` and ``coreset K=1``: the paper's baselines (one frame per segment), real files.
- ``inversion`` (optional, ``--inversion``): the paper's method at the shipped defaults.

Error: relative squared error ``sum |x - x^|^2 / sum |x|^2`` over the stored (train) frames.
Downstream value (MS-TCN trained on these restores over several seeds): ``rate_downstream.py``,
which reads the ``--json`` this script writes.

Run: ``python benchmarks/rate.py [--datasets gtea,50salads,breakfast] [--budgets 0.001,0.02] [--quick]``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numcodecs  # noqa: E402
import numpy as np  # noqa: E402

import tascodec  # noqa: E402
from tascodec.container.content import Content  # noqa: E402
from tascodec.container.writer import write_container  # noqa: E402
from tascodec.data import synthetic as syn  # noqa: E402
from tascodec.encoding import transform  # noqa: E402
from tascodec.encoding.pipeline import encode  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BUDGETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)  # shares of the raw float32 train features
ZSTD = numcodecs.Zstd(level=19)
# (stride, max train videos, max test videos) per dataset kind: what fits 2 cores
SHAPES = {"gtea": (1, None, None), "50salads": (2, 20, 10), "breakfast": (4, 160, 40)}


# --- data ------------------------------------------------------------------------------------
def _spec(kind: str, name: str) -> syn.VideoSpec:
    if kind == "gtea":
        s, a, c = name.split("_")
        return syn.VideoSpec(name, s, c, a, 0)
    if kind == "50salads":
        return syn.VideoSpec(name, name.split("-")[1], "rgb", "salad", 0)
    p, cam, _, a = name.split("_")
    return syn.VideoSpec(name, p, cam, a, 0)


def build(kind: str, root: Path, dim: int, stride: int, max_train, max_test, seed: int = 0) -> Path:
    """MS-TCN-layout dataset with the real labels of split 1 (strided) and synthetic features."""
    out = root / f"{kind}-d{dim}-s{stride}-n{max_train}-{max_test}-seed{seed}"
    if (out / "mapping.txt").exists():
        return out
    src = SHARED / kind
    bench = syn.BENCHMARKS[kind]
    model = syn._Model(bench, dim, seed)
    tmp = out.with_name(out.name + ".tmp")
    for sub in ("features", "groundTruth", "splits"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    for part, cap in (("train", max_train), ("test", max_test)):
        names = [ln.strip() for ln in open(src / "splits" / f"{part}.split1.bundle") if ln.strip()][:cap]
        for entry in names:
            v = entry[:-4]
            labels = [ln.strip() for ln in open(src / "groundTruth" / entry) if ln.strip()][::stride]
            seg_names, lengths = [], []
            for n in labels:
                if seg_names and seg_names[-1] == n:
                    lengths[-1] += 1
                else:
                    seg_names.append(n)
                    lengths.append(1)
            rng = np.random.default_rng([seed, 5, syn._key(kind, v)])
            x = model.features(_spec(kind, v), seg_names, np.asarray(lengths, np.int64), rng)
            np.save(tmp / "features" / f"{v}.npy", x)
            (tmp / "groundTruth" / entry).write_text("".join(f"{n}\n" for n in labels))
        (tmp / "splits" / f"{part}.split1.bundle").write_text("".join(f"{n}\n" for n in names))
    (tmp / "mapping.txt").write_text((src / "mapping.txt").read_text())
    os.replace(tmp, out)
    return out


def background_of(kind: str) -> list[str]:
    return {"gtea": ["background"], "50salads": ["action_start", "action_end"], "breakfast": ["SIL"]}[kind]


# --- the generic codec -----------------------------------------------------------------------
def zsize(a: np.ndarray) -> int:
    return len(ZSTD.encode(np.ascontiguousarray(a).tobytes()))


def pca(X: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float, float]:
    """``(mean (D,), eigenvectors (D, D) by decreasing variance, centred energy, total energy)``."""
    Xa = np.concatenate(X)
    tot = float(np.einsum("ij,ij->", Xa, Xa, dtype=np.float64))
    mu = Xa.mean(0, dtype=np.float64)
    cov = np.zeros((Xa.shape[1],) * 2)
    for i in range(0, len(Xa), 4096):
        c = (Xa[i:i + 4096] - mu).astype(np.float32)
        cov += c.T @ c
    _, evecs = np.linalg.eigh(cov)
    return mu, evecs[:, ::-1], float(np.trace(cov)), tot


def generic_basis(evecs: np.ndarray, k: int, bdt: str) -> tuple[np.ndarray, int]:
    """The stored basis as float32 and its compressed bytes (float16, or int8 per component)."""
    if bdt == "float16":
        B = evecs[:, :k].astype(np.float16)
        return B.astype(np.float32), zsize(B)
    sc = np.abs(evecs[:, :k]).max(0) / 127  # int8 with a scale per component, as tascodec's int8 weights
    B = np.rint(evecs[:, :k] / sc).astype(np.int8)
    return (B * sc).astype(np.float32), zsize(B) + 4 * k


def generic_coefficients(y: np.ndarray, s: int, dt: str) -> tuple[np.ndarray, int]:
    """One video's coefficients ``y (T, k)`` kept every ``s``-th frame (and the last), stored in
    ``dt``, interpolated back: ``(restored (T, k), compressed bytes)``."""
    T, k = y.shape
    idx = np.unique(np.r_[np.arange(0, T, s), T - 1])
    ys = y[idx]
    if dt == "float16":
        q = ys.astype(np.float16)
        yd, nbytes = q.astype(np.float32), zsize(q)
    else:
        sc = np.maximum(np.abs(ys).max(0), 1e-12) / 127
        q = np.rint(ys / sc).astype(np.int8)
        yd, nbytes = q * sc, zsize(q) + 4 * k
    t = np.arange(T)
    j = np.clip(np.searchsorted(idx, t, side="right") - 1, 0, len(idx) - 1)
    j2 = np.minimum(j + 1, len(idx) - 1)
    span = np.maximum(idx[j2] - idx[j], 1)
    w = np.where(j2 > j, (t - idx[j]) / span, 0.0).astype(np.float32)[:, None]
    return yd[j] + w * (yd[j2] - yd[j]), nbytes


def generic_restore(X: list[np.ndarray], k: int, s: int, dt: str, bdt: str) -> list[np.ndarray]:
    """The generic codec's restored frames of every video (for downstream training)."""
    mu, evecs, _, _ = pca(X)
    Bf, _ = generic_basis(evecs, k, bdt)
    mu16 = mu.astype(np.float16).astype(np.float32)
    return [generic_coefficients((x - mu.astype(np.float32)) @ Bf, s, dt)[0] @ Bf.T + mu16 for x in X]


def generic_points(X: list[np.ndarray], labels_bytes: int, ks, strides) -> list[dict]:
    """Every (k, stride, dtype, basis dtype) of the generic codec: bytes and relative squared error."""
    mu, evecs, centred_energy, tot = pca(X)
    points = []
    for k, bdt in itertools.product(ks, ("float16", "int8")):
        Bf, head = generic_basis(evecs, k, bdt)
        Y = [(x - mu.astype(np.float32)) @ Bf for x in X]
        captured = float(sum(np.einsum("ij,ij->", y, y, dtype=np.float64) for y in Y))
        floor = centred_energy - captured  # energy outside the (rounded, near-orthonormal) basis
        head += zsize(mu.astype(np.float16)) + labels_bytes
        for s, dt in itertools.product(strides, ("float16", "int8")):
            err, body = floor, 0
            for y in Y:
                yh, nbytes = generic_coefficients(y, s, dt)
                body += nbytes
                err += float(np.einsum("ij,ij->", y - yh, y - yh, dtype=np.float64))
            points.append({"method": "generic", "config": f"k={k} every {s} {dt}, {bdt} basis",
                           "params": {"k": k, "s": s, "dt": dt, "bdt": bdt},
                           "bytes": head + body, "error": err / tot})
    return points


def labels_blob(ds) -> int:
    """Bytes a generic file needs for the labels: per video the (label, length) runs, zstd."""
    runs = [np.stack(ds.segments(v)).astype(np.int32) for v in ds.videos]
    return zsize(np.concatenate([r.ravel() for r in runs])) + len(ZSTD.encode("\n".join(ds.videos).encode()))


# --- tascodec ----------------------------------------------------------------------------------
def restored_error(path: Path, ds) -> float:
    err = tot = 0.0
    with tascodec.open(path) as c:
        for v in c.videos:
            x = ds.features(v)
            y = c.decode(v)
            err += float(np.einsum("ij,ij->", x - y, x - y, dtype=np.float64))
            tot += float(np.einsum("ij,ij->", x, x, dtype=np.float64))
    return err / tot


def pca_points(ds, out: Path, ks, fpcs, levels, background, wdtypes) -> list[dict]:
    """Real ``pca`` containers over the grid (components fitted once, at max(ks))."""
    frames = [ds.num_frames(v) for v in ds.videos]
    feats = {v: ds.features(v) for v in ds.videos}
    segs = {v: ds.segments(v) for v in ds.videos}
    n_seg = np.array([segs[v][0].size for v in ds.videos])
    tables = dict(video_segments=np.concatenate(([0], np.cumsum(n_seg))).astype(np.int64),
                  seg_label=np.concatenate([segs[v][0] for v in ds.videos]).astype(np.int32),
                  seg_length=np.concatenate([segs[v][1] for v in ds.videos]).astype(np.int64))
    points = []
    comp = transform.fit_components(feats.__getitem__, ds.videos, frames, max(ks))  # PCA is nested: once
    for wdt in wdtypes:
        for k, fpc in itertools.product(ks, fpcs):
            basis = comp.basis(k, wdt)
            proj = basis.projector()
            counts = {v: transform.knot_counts(segs[v][1], fpc) for v in ds.videos}
            z = np.concatenate([transform.video_codes(feats[v], segs[v][1], counts[v], proj) for v in ds.videos])
            for lv in levels:
                path = out / f"pca-k{k}-f{fpc}-l{lv}-{wdt}.tasz"
                q, scale = transform.quantize_codes(z, "int8", lv)
                content = Content(
                    vocab=list(ds.vocab), videos=list(ds.videos), **tables,
                    seg_instances=np.concatenate([counts[v] for v in ds.videos]).astype(np.int32),
                    decoder=basis.decoder(len(ds.vocab)), codes=q, code_scale=scale, codes_dtype="int8",
                    background=list(background),
                    provenance={"method": "pca", "settings": {"latent_dim": k, "frames_per_code": fpc,
                                                              "levels": lv, "weights_dtype": wdt}})
                write_container(content, path, force=True, created="2026-01-01T00:00:00Z")
                points.append({"method": "tasz pca", "config": f"k={k} fpc={fpc} levels={lv} w={wdt}",
                               "bytes": path.stat().st_size, "error": restored_error(path, ds),
                               "path": str(path)})
    return points


def rate_points(data: Path, out: Path, background, raw: int, budgets=BUDGETS) -> list[dict]:
    """``tasz encode --target-ratio B`` for every budget ``B``: the shipped rate control."""
    points = []
    for b in budgets:
        p = encode_point(data, out, f"rate-{b:g}", background, method="pca", target_ratio=b)
        with tascodec.open(p["path"]) as c:
            chosen = c.metadata["provenance"]["settings"]["target"]["chosen"]
        p.update(method="tasz pca", config=chosen.split(" (~")[0].replace("pca with ", ""), budget=b)
        assert p["bytes"] <= b * raw, (p, b * raw)
        points.append(p)
    return points


def encode_point(data: Path, out: Path, name: str, background, **settings) -> dict:
    path = out / f"{name}.tasz"
    t0 = time.process_time()
    encode(data, path, background=background, force=True, progress=False, **settings)
    cpu = time.process_time() - t0
    ds = tascodec.read_dataset(data, background=background)
    return {"method": name, "config": ", ".join(f"{k}={v}" for k, v in settings.items()),
            "bytes": path.stat().st_size, "error": restored_error(path, ds), "path": str(path), "cpu_s": cpu}


# --- report ------------------------------------------------------------------------------------
def frontier(points: list[dict], method: str, budget: float) -> dict | None:
    ok = [p for p in points if p["method"] == method and p["bytes"] <= budget]
    return min(ok, key=lambda p: p["error"]) if ok else None


def table(points: list[dict], raw: int, budgets=BUDGETS) -> str:
    methods = ["generic", "tasz pca"]
    grid = any(p["method"] == "tasz pca grid" for p in points)
    lines = ["| budget (% of raw) | bytes | generic: error (config) | tasz pca: error (config) | tasz / generic |"
             + (" grid frontier |" if grid else ""),
             "|---:|---:|---|---|---:|" + ("---:|" if grid else "")]
    for b in budgets:
        budget = raw * b
        best = {m: frontier(points, m, budget) for m in methods}
        cells = [f"{p['error']:.4f} ({p['config']}, {p['bytes']:,} B)" if p else "nothing fits" for p in best.values()]
        g, t = best["generic"], best["tasz pca"]
        ratio = f"{t['error'] / g['error']:.2f}x" if g and t else "n/a"
        line = f"| {100 * b:g}% | {int(budget):,} | {cells[0]} | {cells[1]} | {ratio} |"
        if grid:
            f = frontier(points, "tasz pca grid", budget)
            line += f" {f['error']:.4f} |" if f else " n/a |"
        lines.append(line)
    others = [p for p in points if p["method"] not in methods + ["tasz pca grid"]]
    for p in others:
        lines.append(f"| {100 * p['bytes'] / raw:.2f}% | {p['bytes']:,} | | {p['method']} ({p['config']}): "
                     f"{p['error']:.4f} | |")
    return "\n".join(lines)


def panels(n: int):
    """``(figure, axes)``: ``n`` panels side by side, drawn off screen (this and ``rate_downstream.py``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
    return fig, axes[0]


def finish_panel(ax, ylabel: str, title: str) -> None:
    """Whole-file bytes (% of raw) on a log x axis, the labels, a grid and the legend."""
    ax.set_xscale("log")
    ax.set_xlabel("whole-file bytes, % of raw float32")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot(results: dict, path: Path) -> None:
    fig, axes = panels(len(results))
    for ax, (kind, r) in zip(axes, results.items()):
        raw = r["raw_bytes"]
        for m, style in (("generic", "o-"), ("tasz pca", "s-")):
            pts = sorted((p for p in r["points"] if p["method"] == m), key=lambda p: p["bytes"])
            xs, ys, best = [], [], np.inf
            for p in pts:  # lower convex hull of what fits: the best error at each size
                if p["error"] < best:
                    best = p["error"]
                    xs.append(100 * p["bytes"] / raw)
                    ys.append(best)
            ax.plot(xs, ys, style, label=m, ms=3)
        for p in r["points"]:
            if p["method"] not in ("generic", "tasz pca"):
                ax.plot(100 * p["bytes"] / raw, p["error"], "^", label=p["method"])
        ax.set_yscale("log")
        finish_panel(ax, "relative squared error (train frames)",
                     f"{kind}-like: {r['frames']:,} frames, {r['videos']} videos")
    save(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="gtea,50salads,breakfast")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--work", default="/tmp/tasz-rate", help="where datasets and containers are cached")
    ap.add_argument("--quick", action="store_true", help="a smaller grid")
    ap.add_argument("--pca-grid", action="store_true", help="also tasz pca files over a fixed grid")
    ap.add_argument("--inversion", action="store_true", help="also the paper's method at the shipped defaults")
    ap.add_argument("--png", default="benchmarks/rate.png")
    ap.add_argument("--json", default=None)
    ap.add_argument("--budgets", default=",".join(f"{b:g}" for b in BUDGETS),
                    help="shares of raw for the rate-control files and the table")
    args = ap.parse_args(argv)
    budgets = tuple(map(float, args.budgets.split(",")))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ks = (16, 32, 64, 128, 256) if args.quick else (16, 32, 64, 128, 256, 384, 512)
    strides = (2, 4, 8, 16) if args.quick else (1, 2, 4, 8, 16, 32)
    fpcs = (2, 4, 8, 16) if args.quick else (1, 2, 4, 8, 16, 32)
    levels = (127, 31)
    wdtypes = ("int8", "float16")
    print(f"rate benchmark: dim {args.dim}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"{os.cpu_count()} CPUs; error = sum|x - x^|^2 / sum|x|^2 over the train frames", flush=True)
    results = {}
    for kind in args.datasets.split(","):
        t0 = time.time()
        stride, n_train, n_test = SHAPES[kind]
        data = build(kind, work / "data", args.dim, stride, n_train, n_test)
        bg = background_of(kind)
        ds = tascodec.read_dataset(data, background=bg)
        raw = ds.total_frames * ds.feature_dim * 4
        out = work / "out" / data.name
        out.mkdir(parents=True, exist_ok=True)
        X = [ds.features(v) for v in ds.videos]
        points = generic_points(X, labels_blob(ds), ks, strides)
        del X
        points += rate_points(data, out, bg, raw, budgets)
        if args.pca_grid:
            grid = pca_points(ds, out, ks, fpcs, levels, bg, wdtypes)
            points += [dict(p, method="tasz pca grid") for p in grid]
        points.append(encode_point(data, out, "default", bg))  # what `tasz encode DATA` writes
        points.append(encode_point(data, out, "pca fixed shape", bg, method="pca", frames_per_code=4))
        for m in ("mean", "coreset"):
            points.append(encode_point(data, out, f"{m} K=1", bg, method=m, K=1))
        if args.inversion:
            points.append(encode_point(data, out, "inversion default", bg, method="inversion"))
        results[kind] = {"raw_bytes": raw, "frames": ds.total_frames, "videos": len(ds), "stride": stride,
                         "points": points, "seconds": time.time() - t0}
        print(f"\n## {kind}-like: real split-1 labels, {len(ds)} train videos"
              f"{' (first ' + str(n_train) + ')' if n_train else ''}, frame stride {stride}, "
              f"{ds.total_frames:,} frames, {args.dim}-d, raw {raw / 1e6:.1f} MB "
              f"({time.time() - t0:.0f} s)\n", flush=True)
        print(table(points, raw, budgets), flush=True)
        if args.json:  # after each dataset: a long run can be read (rate_downstream.py) while it goes on
            Path(args.json).write_text(json.dumps(results, indent=1))
    if args.png:
        plot(results, Path(args.png))
        print(f"\ncurves: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
