"""``tasz demo``: the whole product in one run on a synthetic GTEA-like dataset, offline.

synthesize -> encode (the defaults: method pca, rate control at 0.5% of the raw features) -> diverse
subset (gamma = 0.5) -> decode and compare with the original features -> train the reference
backbone on original and restored data (restored as ``TaszDataset`` gives them) -> summary.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ._io import atomic_dir, output_kind


@dataclass(frozen=True)
class DemoSize:
    """Knobs that set the demo's cost (goal: 3 minutes on 2 cores); the reference model of ``DEFAULT``
    learns (Edit 67.6 on seed 0 in the clean-clone CI run of 2 Dec 2026)."""

    dim: int = 2048
    length_scale: float = 0.25
    eval_epochs: int = 15
    eval_lr: float = 5e-4  # MS-TCN's Adam learning rate
    stages: int = 2
    layers: int = 8


DEFAULT = DemoSize()
# a reference that learns (2 epochs at lr 5e-4 predicted the majority class: nothing to retain)
QUICK = DemoSize(dim=64, length_scale=0.05, eval_epochs=10, eval_lr=5e-3, stages=2, layers=3)


def ratio(raw_bytes: int, path: Path) -> str:
    """How much smaller (or larger) the file at ``path`` is than ``raw_bytes``."""
    size = path.stat().st_size
    return f"{raw_bytes / size:.1f}x smaller" if raw_bytes >= size else f"{size / raw_bytes:.1f}x larger"


def restoration_error(data_dir: Path, container_path: Path) -> dict[str, float]:
    """Relative L2 error and mean cosine similarity of restored vs original frames (train split)."""
    from . import open as open_container
    from .data.layout import read_dataset

    ds = read_dataset(data_dir)
    num = den = 0.0
    cos_sum, frames = 0.0, 0
    with open_container(container_path) as c:
        for v in c.videos:
            x, y = ds.features(v).astype(np.float64), c.decode(v).astype(np.float64)
            num += float(((x - y) ** 2).sum())
            den += float((x**2).sum())
            nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
            cos_sum += float(((x * y).sum(1) / np.maximum(nx * ny, 1e-12)).sum())
            frames += x.shape[0]
    return {"relative_error": (num / max(den, 1e-30)) ** 0.5, "cosine": cos_sum / max(frames, 1)}


def run_demo(out_dir: str | Path = "tasz-demo", *, size: DemoSize = DEFAULT, force: bool = False,
             seed: int = 0, progress: bool = True, echo: Callable[[str], None] = print) -> dict:
    """Run every stage, echo progress lines and a summary; return the figures.

    The folder is built beside ``out_dir`` and appears when the demo is done (``tascodec._io``'s
    folder rule): a folder an earlier demo made is replaced, another one tascodec wrote only with
    ``force``, and one tascodec did not write never.
    """
    t0 = time.monotonic()
    out = Path(out_dir)
    with atomic_dir(out, "demo", force or output_kind(out) == "demo") as work, _one_torch_thread():
        result = _stages(work, out=out, t0=t0, size=size, seed=seed, progress=progress, echo=echo)
    echo(f"files left in {out}/ (dataset, containers); finished in {time.monotonic() - t0:.0f} s")
    return result


@contextlib.contextmanager
def _one_torch_thread():
    """The demo's models are small: one torch thread does the work in the least CPU time, and on a
    busy machine extra threads spin (a one-epoch MS-TCN run measured 26.5 CPU-s on 2 threads under
    load against 0.8 s on one). Kept as the caller set it when ``OMP_NUM_THREADS`` says otherwise."""
    import torch

    before = torch.get_num_threads()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stages(work: Path, *, out: Path, t0: float, size: DemoSize, seed: int, progress: bool,
            echo: Callable[[str], None]) -> dict:
    """The demo's stages, writing into ``work`` (which becomes ``out`` when they are done)."""
    from ._format import human_bytes
    from .bench.evaluate import format_table, raw_feature_bytes, retained_text, run_eval
    from .data.layout import read_dataset
    from .data.synthetic import synthesize
    from .encoding.pipeline import encode
    from .subsetting import subset_file

    def step(msg: str) -> None:
        echo(f"[{time.monotonic() - t0:5.1f}s] {msg}")

    step(f"1/5 synthesizing a GTEA-like dataset ({size.dim}-d features) in {out / 'gtea'}")
    data = synthesize(work / "gtea", like="gtea", dim=size.dim, length_scale=size.length_scale, seed=seed)
    train = read_dataset(data)
    raw = raw_feature_bytes(train)
    step(f"    {len(train)} training videos, {train.total_frames} frames, {human_bytes(raw)} of float32 features")

    step("2/5 encoding with the defaults: method pca, rate control at 0.5% of the raw features")
    full = encode(data, work / "gtea.tasz", seed=seed, progress=progress)
    step(f"    {full.name}: {human_bytes(full.stat().st_size)} ({ratio(raw, full)})")

    step("3/5 keeping the most diverse half of the videos (farthest-point sampling on action orders)")
    report = subset_file(full, work / "gtea-half.tasz", ratio=0.5, seed=seed)
    half = report.output
    step(f"    {half.name}: {len(report.kept)} of {report.total} videos, {human_bytes(half.stat().st_size)} "
         f"({ratio(raw, half)}); mean action-order distance {report.mean_distance_kept:.2f} kept vs "
         f"{report.mean_distance_all:.2f} all")

    step("4/5 decoding and comparing restored features with the originals")
    err = restoration_error(data, full)
    step(f"    relative L2 error {err['relative_error']:.3f}, mean cosine similarity {err['cosine']:.3f}")

    step(f"5/5 training MS-TCN ({size.eval_epochs} epochs) on original and restored data, testing on original")
    rows = run_eval(data, [full, half], epochs=size.eval_epochs, lr=size.eval_lr, seed=seed, progress=progress,
                    num_stages=size.stages, num_layers=size.layers)
    echo("")
    echo(format_table(rows))
    echo("")
    best = rows[1]
    echo(f"original features {human_bytes(raw)} -> {full.name} {human_bytes(full.stat().st_size)} "
         f"({ratio(raw, full)}), restored-feature error {err['relative_error']:.3f}, "
         f"scores retained {retained_text(best)}")
    return {"raw_bytes": raw, "container_bytes": full.stat().st_size, "subset_bytes": half.stat().st_size,
            **err, "rows": rows}
