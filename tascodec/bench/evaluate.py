"""The downstream benchmark behind ``tasz eval``: what a condensed dataset is worth.

Trains the reference backbone (MS-TCN) once on the original training videos and once on each
container's restored videos, tests every model on the ORIGINAL test features, and reports
storage, Acc / Edit / F1@{10,25,50} and the share of the original's scores each keeps.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..container.reader import Container, open_container
from ..container.summary import method_of
from ..data.layout import TASDataset, read_dataset
from ..errors import UsageError
from .runner import LazySource, dataset_source, score_model, train_model

METRICS = ("acc", "edit", "f1@10", "f1@25", "f1@50")
CACHE_BYTES = 4 << 30  # restored features kept in memory across epochs (float32) up to this


@dataclass
class Row:
    """One line of the result table."""

    name: str
    method: str
    videos: int
    frames: int
    bytes: int
    scores: dict[str, float]
    percent_of_original: float = 100.0
    retained: dict[str, float] = field(default_factory=dict)
    warning: str | None = None  # why ``retained`` is undefined (set on the reference row)

    @property
    def mean_retained(self) -> float:
        vals = [self.retained[m] for m in METRICS if np.isfinite(self.retained.get(m, np.nan))]
        return float(np.mean(vals)) if vals else float("nan")


def degenerate(scores: dict[str, float], classes: int) -> str | None:
    """Why a reference model's scores cannot serve as the 100% of a retained share, or None.

    A model that predicts one class for every test frame, or scores 0 Acc, Edit or F1@10, learnt
    nothing to compare against: any share of its scores (0 / 0, or majority class / majority
    class) would read as a success.
    """
    if classes <= 1:
        return "predicts a single class for every frame"
    zero = [name for name, m in (("Acc", "acc"), ("Edit", "edit"), ("F1@10", "f1@10")) if scores[m] <= 0]
    return f"scores {' and '.join(zero)} 0" if zero else None


def degenerate_warning(why: str) -> str:
    return (f"warning: the reference model (original features) did not learn ({why}; too few epochs?): "
            "retained shares are undefined (n/a)")


def set_retained(rows: Sequence[Row], reference: Row, why: str | None) -> None:
    """Fill each row's ``retained`` as a percentage of ``reference``'s scores (NaN where undefined)."""
    base = reference.scores
    reference.warning = degenerate_warning(why) if why else None
    for r in rows:
        r.retained = {m: (100.0 * r.scores[m] / base[m] if base[m] > 0 and not why else float("nan"))
                      for m in METRICS}


def raw_feature_bytes(ds: TASDataset) -> int:
    """Bytes of the float32 features of ``ds``'s videos (what a container replaces)."""
    return 4 * (ds.feature_dim or 0) * ds.total_frames


def container_source(c: Container, *, cache_bytes: int = CACHE_BYTES, device=None) -> Sequence[tuple]:
    """``(restored features (T, D), labels (T,))`` per video; kept in memory when they fit."""
    backend = "torch" if device not in (None, "cpu") else "numpy"

    def load(v):
        return c.decode(v, backend=backend, device=device), c.labels(v)

    if c.raw_feature_bytes <= cache_bytes:
        return [load(v) for v in c.videos]
    return LazySource(c.videos, load)


def check_compatible(c: Container, train: TASDataset, test: TASDataset) -> None:
    """A container must share the dataset's vocabulary and feature dim, and hold no test video."""
    name = c.path.name
    if list(c.vocab) != list(train.vocab):
        raise UsageError(f"{name}: its vocabulary differs from {train.labels_dir / 'mapping.txt'}")
    if c.decoder.feature_dim != train.feature_dim:
        raise UsageError(f"{name}: restores {c.decoder.feature_dim}-d features, the dataset has {train.feature_dim}-d")
    leaked = sorted(set(c.videos) & set(test.videos))
    if leaked:
        raise UsageError(f"{name}: holds {len(leaked)} video(s) of the test split {test.split} "
                         f"(e.g. {leaked[0]}); evaluate it on a split it was not built from")


def run_eval(data_dir, containers: Sequence[str | os.PathLike], *, labels=None, split: int = 1,
             sample_rate: int = 1, background: Sequence[str] = ("background",), epochs: int = 50,
             lr: float = 5e-4, batch_size: int = 1, seed: int = 0, device: str = "cpu",
             include_original: bool = True, progress: bool = True,
             log: Callable[[str], None] | None = None, **backbone) -> list[Row]:
    """Train and test the backbone on the original data and on each container; one Row each.

    ``backbone`` passes MS-TCN sizes through (``num_stages``, ``num_layers``, ``num_f_maps``, ...).
    """
    opts = {"labels": labels, "split": split, "sample_rate": sample_rate, "background": background}
    train = read_dataset(data_dir, part="train", **opts)
    test = read_dataset(data_dir, part="test", **opts)
    opened = [open_container(p) for p in containers]
    for c in opened:
        check_compatible(c, train, test)
    say = log or (lambda s: None)
    test_source = dataset_source(test)
    bg = train.background_ids
    C = len(train.vocab)
    fit = dict(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device,
               progress=progress, **backbone)

    rows: list[Row] = []
    original_bytes = raw_feature_bytes(train)
    why = None
    if include_original:
        say(f"training on the original {len(train)} videos ({train.total_frames} frames)")
        model = train_model(dataset_source(train), C, desc="MS-TCN original", **fit)
        scores, classes = score_model(model, test_source, bg)
        why = degenerate(scores, classes)
        rows.append(Row("original", "original", len(train), train.total_frames, original_bytes, scores))
    for c in opened:
        say(f"training on {c.path.name}: {c.num_videos} restored videos ({c.total_frames} frames)")
        model = train_model(container_source(c, device=device), C, desc=f"MS-TCN {c.path.name}", **fit)
        scores, _ = score_model(model, test_source, bg)
        size = c.path.stat().st_size
        rows.append(Row(c.path.name, method_of(c), c.num_videos, c.total_frames, size, scores,
                        percent_of_original=100.0 * size / max(original_bytes, 1)))
        c.close()
    if include_original:
        set_retained(rows, rows[0], why)
    return rows


def warnings_of(rows: Sequence[Row]) -> list[str]:
    """The rows' warnings, each once, in order."""
    return list(dict.fromkeys(r.warning for r in rows if r.warning))


def format_table(rows: Sequence[Row]) -> str:
    """An aligned text table of the rows."""
    head = ["name", "method", "videos", "storage", "% orig", "Acc", "Edit", "F1@10", "F1@25", "F1@50", "retained"]
    body = []
    for r in rows:
        body.append([r.name, r.method, str(r.videos), human_bytes(r.bytes), f"{r.percent_of_original:.2f}",
                     *(f"{r.scores[m]:.1f}" for m in METRICS),
                     retained_text(r)])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(line, widths)))
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + warnings_of(rows))


def retained_text(r: Row) -> str:
    """``97.3%``; ``n/a`` when the share is undefined; ``-`` without a reference."""
    if np.isfinite(r.mean_retained):
        return f"{r.mean_retained:.1f}%"
    return "n/a" if r.retained else "-"


def rows_to_json(rows: Sequence[Row]) -> list[dict]:
    """Plain dicts (undefined ratios, e.g. retained of a zero score, become ``None``)."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return None if isinstance(v, float) and not np.isfinite(v) else v

    return [clean({**asdict(r), "mean_retained": r.mean_retained}) for r in rows]


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    raise AssertionError("unreachable")

