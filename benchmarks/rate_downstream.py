"""Downstream value at equal bytes: MS-TCN trained on restored features, over several seeds.

Reads the JSON that ``benchmarks/rate.py --json`` wrote, takes at each budget the best (least
restored error) ``tasz pca`` file and the best generic-codec configuration that fit, restores the
train videos, trains MS-TCN (2 stages x 8 layers x 64 maps, Adam 5e-4, batch 1) on them with
``--seeds`` seeds and tests every model on the ORIGINAL test split. Prints mean (std) of Acc,
Edit, F1@{10,25,50} and the share of the original-features model's mean score kept ("n/a" when
the original model is degenerate: it predicts one class or scores 0).

``--rows`` names what is trained on, per budget: ``tasz pca`` (the exact restore, spec section 4),
``tasz pca+smooth`` (the restore ``tasz decode`` gives by default: smoothed across action
boundaries, ``--smooth auto`` = two knot spacings per video, ``auto_width``), ``tasz pca+smooth+noise``
(what ``TaszDataset`` and ``tasz eval`` train on by default: that smoothed restore plus fresh noise
filling on every pass, at the level the file stores, ``tascodec.decode.noise``),
``generic`` and ``generic+smooth`` (over as many kept-frame strides, or ``--smooth N`` frames for
both); a smoothed row's error column is that of the smoothed frames.

Run: ``python benchmarks/rate.py --datasets gtea --json r.json`` then
``python benchmarks/rate_downstream.py r.json --dataset gtea [--rows "tasz pca+smooth,generic"] --out d.json``;
``--out`` is rewritten after every trained row (``"complete": false`` until the run ends), so a
run that is stopped keeps the rows it finished; ``--table d.json [e.json ...]`` prints the shares
kept of several runs as one table (per dataset kind and budget, the default restore's lead over
the better generic row, with its standard error over the seeds where the files hold each seed's
scores: that of the per-seed differences where both rows were trained on the same seeds against
the same original model, since a seed's initialisation and batch order move both rows alike),
``--plot OUT.png d.json ...`` draws them.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rate  # noqa: E402

import tascodec  # noqa: E402
from tascodec._io import atomic_path  # noqa: E402
from tascodec.bench.runner import score_model, train_model  # noqa: E402
from tascodec.data.segments import runs as segment_runs  # noqa: E402
from tascodec.decode.noise import NoisySource, noise_map  # noqa: E402
from tascodec.decode.smooth import AUTO_SPACINGS, auto_width, smooth_frames  # noqa: E402

METRICS = ("acc", "edit", "f1@10", "f1@25", "f1@50")
LABELS = {"tasz pca": "tasz pca, exact restore", "tasz pca+smooth": "tasz pca, smoothed",
          "tasz pca+smooth+noise": "tasz pca, default restore (smoothed + noise)",
          "generic": "generic", "generic+smooth": "generic, smoothed"}
KINDS = {"gtea": "GTEA", "50salads": "50Salads", "breakfast": "Breakfast"}  # as the papers spell them


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


def reference(runs) -> tuple[bool, float]:
    """Whether the original-features models are degenerate (one class predicted, or a zero score),
    and their mean score over the metrics: what a share kept is taken of."""
    ref, _ = summary(runs)
    return min(r["classes_predicted"] for r in runs) <= 1 or min(ref.values()) <= 0, float(np.mean(list(ref.values())))


def share(runs, ref_mean: float) -> float:
    """A row's share kept: its mean score over the seeds and metrics, as a share of the reference."""
    return float(np.mean([r[k] for r in runs for k in METRICS]) / ref_mean)


def kept_se(runs, ref_mean: float) -> float | None:
    """The standard error of a row's share kept: the spread over its seeds of each seed's mean
    score (over the metrics) as a share of the reference, over sqrt(seeds); None below 2 seeds."""
    if len(runs) < 2:
        return None
    return float(np.std(seed_shares(runs, ref_mean), ddof=1) / np.sqrt(len(runs)))


def seed_shares(runs, ref_mean: float) -> np.ndarray:
    """Each seed's mean score over the metrics, as a share of the reference."""
    return np.array([np.mean([r[k] for k in METRICS]) / ref_mean for r in runs])


def per_seed(row: dict) -> np.ndarray | None:
    """A row's share kept per seed (each seed's mean score over the metrics, as a share of its run's
    original-features model), or None where the file holds no per-seed scores."""
    if not row.get("runs") or row.get("ref_mean") is None:
        return None
    return seed_shares(row["runs"], row["ref_mean"])


def lead_se(a: dict, b: dict) -> tuple[float, bool] | None:
    """The standard error of row a's share kept minus row b's, and whether it is paired. Rows
    trained on the same seeds against the same original-features models (the same run, or runs
    whose original models scored identically seed by seed) share each seed's initialisation and
    batch order, so the error is that of the per-seed differences; otherwise the two rows' errors
    combined. None where either row lacks its seeds' scores or has fewer than two."""
    x, y = per_seed(a), per_seed(b)
    if x is None or y is None or len(x) < 2 or len(y) < 2:
        return None
    if len(x) == len(y) and a["ref_runs"] == b["ref_runs"]:
        d = x - y
        return float(np.std(d, ddof=1) / np.sqrt(len(d))), True
    return float(np.hypot(np.std(x, ddof=1) / np.sqrt(len(x)), np.std(y, ddof=1) / np.sqrt(len(y)))), False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--dataset", default="gtea")
    ap.add_argument("--budgets", default="0.001,0.005,0.02")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--work", default="/tmp/tasz-rate")
    ap.add_argument("--smooth", default="auto", help="the smoothed rows' width: auto, or frames")
    ap.add_argument("--rows", default="tasz pca,tasz pca+smooth,tasz pca+smooth+noise,generic,generic+smooth")
    ap.add_argument("--out", default=None, help="write the rows as JSON here (for --plot)")
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
    lengths = [segment_runs(y)[1] for y in labels]  # segment lengths per video
    wanted = args.rows.split(",")
    methods = list(dict.fromkeys(r.split("+")[0] for r in wanted))
    C, bg_ids = len(train_ds.vocab), train_ds.background_ids
    raw = res["raw_bytes"]
    print(f"{args.dataset}-like: {len(X)} train / {len(test)} test videos, MS-TCN 2x8x64, {args.epochs} epochs, "
          f"{args.seeds} seeds, 1 thread; tested on the original test split", flush=True)
    t0 = time.time()
    kinds = ["original"]
    rows = [("original features", raw, 0.0, scores(list(zip(X, labels)), test, C, bg_ids, args.seeds, args.epochs))]
    print(f"  original done ({time.time() - t0:.0f} s)", flush=True)

    def save(done=True):
        if args.out:
            write_rows(Path(args.out), args.dataset, args.epochs, args.seeds, time.time() - t0, kinds, rows, done)

    save(False)
    for b in map(float, args.budgets.split(",")):
        for method in methods:
            p = rate.frontier(res["points"], method, raw * b)
            if p is None:
                rows.append((f"{method} @ {100 * b:g}%: nothing fits", 0, float("nan"), []))
                kinds.append(method)
                continue
            noise = None
            if method == "generic":
                q = p["params"]
                restored = rate.generic_restore(X, q["k"], q["s"], q["dt"], q["bdt"])
                widths = [AUTO_SPACINGS * q["s"]] * len(X)
            else:
                with tascodec.open(p["path"]) as c:
                    restored = [c.decode(v) for v in train_ds.videos]
                    widths = [auto_width(c, v) for v in train_ds.videos]
                    if c.residual_sd is not None:
                        noise = noise_map(c, 1.0)
            if args.smooth != "auto":
                widths = [int(args.smooth)] * len(X)
            variants = []
            if method in wanted:
                variants.append(("", restored))
            smoothed = None
            for suffix in ("+smooth", "+smooth+noise"):
                if f"{method}{suffix}" in wanted:
                    if suffix == "+smooth+noise" and noise is None:
                        sys.exit(f"{p['path']}: stores no noise level (codes/residual_sd): encode it with this tascodec")
                    if smoothed is None:
                        smoothed = [smooth_frames(r, w, n) for r, w, n in zip(restored, widths, lengths)]
                    variants.append((suffix, smoothed))
            for suffix, feats in variants:
                err = rate_error(X, feats) if suffix else p["error"]
                source = list(zip(feats, labels))
                if suffix.endswith("+noise"):
                    source = NoisySource(source, noise)
                runs = scores(source, test, C, bg_ids, args.seeds, args.epochs)
                span = f"{min(widths)}-{max(widths)}" if min(widths) != max(widths) else f"{widths[0]}"
                tag = f", smoothed across boundaries over {span} frames" if suffix else ""
                tag += ", fresh noise filling per pass" if suffix.endswith("+noise") else ""
                rows.append((f"{method} @ {100 * b:g}% ({p['config']}{tag})", p["bytes"], err, runs))
                kinds.append(method + suffix)
                print(f"  {rows[-1][0]} done ({time.time() - t0:.0f} s)", flush=True)
                save(False)
    degenerate, ref_mean = reference(rows[0][3])
    print("\n| method | % of raw | error | " + " | ".join(m.capitalize() if m != "acc" else "Acc" for m in METRICS)
          + " | kept |\n|---|---:|---:|" + "---:|" * len(METRICS) + "---:|")
    for name, nbytes, err, runs in rows:
        if not runs:
            print(f"| {name} | | | " + " | " * len(METRICS) + " |")
            continue
        m, sd = summary(runs)
        kept = "n/a" if degenerate else f"{100 * share(runs, ref_mean):.0f}%"
        cells = " | ".join(f"{m[k]:.1f} ({sd[k]:.1f})" for k in METRICS)
        print(f"| {name} | {100 * nbytes / raw:.2f} | {err:.4f} | {cells} | {kept} |")
    if degenerate:
        print("\nwarning: the original-features model is degenerate (too few epochs?): shares kept are n/a")
    print(f"\n{time.time() - t0:.0f} s")
    save()
    return 0


def write_rows(path: Path, dataset: str, epochs: int, seeds: int, seconds: float, kinds, rows, done=True) -> None:
    """The rows so far as the ``--out`` JSON (``complete`` false while the run goes on), each kept
    share against the original-features model (row 0); written beside it and renamed
    (``tascodec._io.atomic_path``), so a killed run leaves the rows it finished, never half a file."""
    degenerate, ref_mean = reference(rows[0][3])
    raw = rows[0][1]  # the original features' row holds the raw bytes
    out = []
    for kind, (name, nbytes, err, runs) in zip(kinds, rows):
        m, sd = summary(runs) if runs else (None, None)
        out.append({"row": name, "kind": kind, "bytes": nbytes, "raw_bytes": raw, "error": err, "mean": m, "std": sd,
                    "kept": None if degenerate or not runs else share(runs, ref_mean),
                    "kept_se": None if degenerate else kept_se(runs, ref_mean), "runs": runs})
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps({"dataset": dataset, "epochs": epochs, "seeds": seeds, "seconds": seconds,
                                   "complete": done, "rows": out}, indent=1))


def load(files: list[Path]) -> list[dict]:
    """The rows of several ``--out`` files, gathered per dataset kind (in the files' order)."""
    runs: dict[str, dict] = {}
    for f in files:
        r = json.loads(Path(f).read_text())
        original = r["rows"][0]  # each row is kept with its own run's original-features model
        _, ref_mean = reference(original["runs"]) if original.get("runs") else (None, None)
        into = runs.setdefault(r["dataset"], dict(r, rows=[]))
        into["rows"] += [dict(row, ref_runs=original.get("runs"), ref_mean=ref_mean) for row in r["rows"]]
    return list(runs.values())


def budget_of(row: dict) -> float | None:
    """The budget (% of raw) a row was trained at, from its name (``tasz pca @ 0.5% (...)``)."""
    m = re.search(r" @ ([0-9.]+)%", row["row"])
    return float(m.group(1)) if m else None


def _share(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}%"


def table(files: list[Path]) -> str:
    """The retained shares of several ``--out`` files as one markdown table: per dataset kind and
    budget the exact restore, the smoothed one, the default restore (smoothed + noise filling) and
    the better of the generic codec's two rows, and the default restore's lead over it in points
    (of the unrounded shares, to a tenth),
    with the standard error of that difference where both rows hold their seeds' scores (``lead_se``:
    of the per-seed differences where the rows share their seeds and original model, marked
    "paired"; else the two rows' errors combined). A later file's row of the same kind and budget
    replaces an earlier one's; "–" is a row not measured."""
    lines = ["| dataset kind | budget | tasz exact | tasz smoothed | tasz default restore (smoothed + noise) "
             "| generic (best of exact / smoothed) | lead |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in load(files):
        kept: dict[tuple[float, str], float] = {}
        rows: dict[tuple[float, str], dict] = {}
        for row in r["rows"]:
            b = budget_of(row)
            if b is not None and row["kept"] is not None:
                kept[(b, row["kind"])] = 100 * row["kept"]
                rows[(b, row["kind"])] = row
        for b in sorted({b for b, _ in kept}):
            exact, smooth, default = (kept.get((b, k)) for k in ("tasz pca", "tasz pca+smooth", "tasz pca+smooth+noise"))
            generic = [(kept[(b, k)], k) for k in ("generic", "generic+smooth") if (b, k) in kept]
            best, best_kind = max(generic) if generic else (None, None)
            lead = "–"
            if default is not None and best is not None:
                lead = f"{default - best:+.1f}"  # of the unrounded shares: 98.7 against 98.5 is +0.2, not +1
                err = lead_se(rows[(b, "tasz pca+smooth+noise")], rows[(b, best_kind)])
                if err is not None:
                    lead += f" (± {100 * err[0]:.1f}{', paired' if err[1] else ''})"
            lines.append(f"| {KINDS.get(r['dataset'], r['dataset'])}-like | {b:g}% | {_share(exact)} | {_share(smooth)} "
                         f"| {_share(default)} | {_share(best)} | {lead} |")
    return "\n".join(lines)


def plot(files: list[Path], path: Path) -> None:
    """Retained score against whole-file bytes (log axis), one panel per dataset kind (the rows of
    several ``--out`` files of one kind are drawn together, each kept share against its own run's
    original-features model), with a bar of one standard error where the file holds the seeds' scores."""
    runs = load(files)
    fig, axes = rate.panels(len(runs))
    styles = {"tasz pca": "s--", "tasz pca+smooth": "s:", "tasz pca+smooth+noise": "s-", "generic": "o--",
              "generic+smooth": "o:"}
    for ax, r in zip(axes, runs):
        for kind, style in styles.items():
            pts = sorted((p for p in r["rows"] if p["kind"] == kind and p["kept"] is not None), key=lambda p: p["bytes"])
            if pts:
                se = [100 * (p.get("kept_se") or 0.0) for p in pts]  # bars where the run kept its seeds' scores
                ax.errorbar([100 * p["bytes"] / p["raw_bytes"] for p in pts], [100 * p["kept"] for p in pts],
                            yerr=se if any(se) else None, fmt=style, label=LABELS[kind], ms=4, capsize=2)
        ax.axhline(100, color="grey", lw=0.8)
        rate.finish_panel(ax, "MS-TCN mean score kept, % of original features",
                          f"{KINDS.get(r['dataset'], r['dataset'])}-like: {r['seeds']} seeds, {r['epochs']} epochs")
    rate.save(fig, path)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plot"]:  # rate_downstream.py --plot OUT.png A.json [B.json ...] (--out files)
        plot([Path(f) for f in sys.argv[3:]], Path(sys.argv[2]))
        sys.exit(0)
    if sys.argv[1:2] == ["--table"]:  # rate_downstream.py --table A.json [B.json ...] (--out files)
        print(table([Path(f) for f in sys.argv[2:]]))
        sys.exit(0)
    sys.exit(main())
