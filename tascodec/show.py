"""A picture of one video of a container: segment timeline with instance boundaries, and
heat maps of the restored features (and, when the originals are given, their heat map, the
difference and the per-frame restored-error curve with its mean).

Needs matplotlib (``pip install tascodec[plot]``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._io import atomic_path
from .errors import DatasetError, UsageError

PLOT_HINT = "plotting needs matplotlib: pip install 'tascodec[plot]'"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError(PLOT_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frame_errors(original: np.ndarray, restored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame relative error ``||x - y|| / ||x||`` and cosine similarity of ``(T, D)`` arrays."""
    x, y = np.asarray(original, np.float64), np.asarray(restored, np.float64)
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    err = np.linalg.norm(x - y, axis=1) / np.maximum(nx, 1e-12)
    cos = (x * y).sum(1) / np.maximum(nx * ny, 1e-12)
    return err, cos


def render_video(container_path: str | os.PathLike, video: str, out: str | os.PathLike, *,
                 data_dir: str | os.PathLike | None = None, max_dims: int = 256, force: bool = False,
                 dpi: int = 110) -> Path:
    """Write a PNG of ``video`` to ``out`` (atomically) and return its path.

    ``max_dims``: feature dimensions shown in the heat maps (the first ones; all when smaller).
    """
    return render(container_path, video, out, data_dir=data_dir, max_dims=max_dims, force=force, dpi=dpi)[0]


def render(container_path, video: str, out, *, data_dir=None, max_dims: int = 256, force: bool = False,
           dpi: int = 110) -> tuple[Path, dict[str, float]]:
    """:func:`render_video`, also returning :func:`build_figure`'s figures (mean error, cosine)."""
    plt = _pyplot()
    fig, stats = build_figure(container_path, video, data_dir=data_dir, max_dims=max_dims)
    try:
        with atomic_path(out, force) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return Path(out), stats


def build_figure(container_path, video: str, *, data_dir=None, max_dims: int = 256):
    """The figure of ``video`` and, with ``data_dir``, the means of its per-frame restored error
    and cosine (``{"relative_error", "cosine"}``; empty without the original features).

    Panels: the label timeline (white: instance boundaries, black: segment boundaries), heat maps
    of the features (cyan: segment boundaries) and, with the originals, the per-frame relative
    error curve with its mean.
    """
    plt = _pyplot()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    from . import open as open_container
    from .data.segments import frame_layout

    with open_container(container_path) as c:
        i = c.index(video)
        name = c.videos[i]
        labels = c.labels(i)
        seg_label, seg_length, seg_inst = c.segments(i)
        restored = c.decode(i)
        vocab = list(c.vocab)
    original = None
    if data_dir is not None:
        from .data.layout import read_dataset

        ds = read_dataset(data_dir, part="all", background=())  # labels only: no background needed
        if name not in ds:
            raise DatasetError(f"{data_dir}: has no video named {name!r}")
        original = ds.features(name)
        if original.shape != restored.shape:
            raise DatasetError(f"{ds.feature_path(name)}: shape {original.shape[::-1]} differs from the "
                               f"restored {restored.shape[::-1]}")

    _, row, _ = frame_layout(seg_length, seg_inst)
    inst_edges = np.flatnonzero(np.diff(row)) + 0.5
    seg_edges = np.cumsum(seg_length)[:-1] - 0.5
    shown = slice(0, min(max_dims, restored.shape[1]))
    panels = [("restored features", restored[:, shown].T)]
    stats: dict[str, float] = {}
    if original is not None:
        diff = np.abs(original - restored)[:, shown].T
        panels = [("original features", original[:, shown].T), panels[0], ("|original - restored|", diff)]
        err, cos = frame_errors(original, restored)
        stats = {"relative_error": float(err.mean()), "cosine": float(cos.mean())}

    heights = [0.5] + [2] * len(panels) + ([1.2] if stats else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, 1.2 + 2.2 * len(panels) + (1.3 if stats else 0)),
                             sharex=True, gridspec_kw={"height_ratios": heights})
    C = len(vocab)
    cmap = ListedColormap(plt.get_cmap("tab20" if C <= 20 else "gist_ncar")(np.linspace(0, 1, max(C, 2)))[:C]
                          if C > 20 else plt.get_cmap("tab20").colors[:max(C, 1)])
    norm = BoundaryNorm(np.arange(C + 1) - 0.5, cmap.N)
    ax = axes[0]
    ax.imshow(labels[None, :], aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
    ax.vlines(inst_edges, -0.5, 0.5, colors="white", linewidth=0.4, alpha=0.8)
    ax.vlines(seg_edges, -0.5, 0.5, colors="black", linewidth=0.8)
    ax.set_yticks([])
    ax.set_title(f"{name}: {labels.size} frames, {seg_label.size} segments, {int(seg_inst.sum())} instances "
                 "(white: instance boundaries, black: segment boundaries)", fontsize=9)
    present = sorted(set(seg_label.tolist()))
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(norm(k))) for k in present]
    ax.legend(handles, [vocab[k] for k in present], loc="upper left", bbox_to_anchor=(1.0, 1.6),
              fontsize=7, frameon=False)
    vmax = float(np.percentile(np.concatenate([p[1].ravel() for p in panels[:2]]), 99)) or 1.0
    for ax, (title, img) in zip(axes[1:], panels):
        scale = dict(vmin=0, vmax=float(np.percentile(img, 99)) or 1.0) if title.startswith("|") else \
            dict(vmin=min(0.0, float(np.percentile(img, 1))), vmax=vmax)
        im = ax.imshow(img, aspect="auto", interpolation="nearest", cmap="magma", **scale)
        ax.vlines(seg_edges, -0.5, img.shape[0] - 0.5, colors="cyan", linewidth=0.5, alpha=0.6)
        ax.set_ylabel(f"dim (first {img.shape[0]})", fontsize=8)
        ax.set_title(f"{title} (cyan: segment boundaries)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    if stats:
        ax = axes[-1]
        ax.plot(np.arange(err.size), err, color="tab:red", linewidth=0.8)
        ax.axhline(stats["relative_error"], color="gray", linewidth=0.6, linestyle="--")
        ax.set_xlim(-0.5, err.size - 0.5)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("rel. error", fontsize=8)
        ax.set_title(f"per-frame restored error ||x - x'|| / ||x||: mean {stats['relative_error']:.3f} "
                     f"(dashed); mean cosine similarity {stats['cosine']:.3f}", fontsize=9)
        spacer = fig.colorbar(ScalarMappable(), ax=ax, fraction=0.02, pad=0.01)  # align with the heat maps
        spacer.ax.set_visible(False)
    axes[-1].set_xlabel("frame")
    fig.tight_layout()
    return fig, stats
