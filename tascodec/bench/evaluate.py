"""The downstream benchmark behind ``tasz eval``: what a condensed dataset is worth.

Trains the reference backbone (MS-TCN) once on the original training videos and once on each
container's restored videos, tests every model on the ORIGINAL test features, and reports
storage, Acc / Edit / F1@{10,25,50} and the share of the original's scores each keeps.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .._format import human_bytes
from ..decode.container import Container
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
    split: int | str | None = None  # split number, or "mean" for the mean over splits
    seeds: list[int] = field(default_factory=list)  # the training seeds averaged in ``scores``
    per_seed: list[dict[str, float]] = field(default_factory=list)
    std: dict[str, float] = field(default_factory=dict)  # sample std over seeds (NaN with one seed)
    min: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)

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


def container_source(c: Container, *, cache_bytes: int = CACHE_BYTES, device=None,
                     smooth: int | str = "auto", noise: float | str = "auto") -> Sequence[tuple]:
    """``(restored features (T, D), labels (T,))`` per video; kept in memory when they fit.
    ``smooth`` and ``noise``: the restore a trainer gets by default (``TaszDataset``: smoothed
    across boundaries, ``tascodec.decode.smooth``, 1: exact; fresh noise on every access,
    ``tascodec.decode.noise``, 0: none)."""
    from ..decode.noise import NoisySource, noise_map, resolve_noise

    backend = "torch" if device not in (None, "cpu") else "numpy"

    def load(v):
        return c.decode(v, backend=backend, device=device, smooth=smooth), c.labels(v)

    source = [load(v) for v in c.videos] if c.raw_feature_bytes <= cache_bytes else LazySource(c.videos, load)
    m = noise_map(c, resolve_noise(noise, c))
    return source if m is None else NoisySource(source, m)


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


def available_splits(data_dir, labels=None) -> list[int]:
    """Split numbers N with both ``splits/train.splitN.bundle`` and ``splits/test.splitN.bundle``."""
    folder = Path(labels if labels is not None else data_dir) / "splits"
    found = []
    for p in folder.glob("train.split*.bundle"):
        n = p.name[len("train.split"):-len(".bundle")]
        if n.isdigit() and (folder / f"test.split{n}.bundle").is_file():
            found.append(int(n))
    return sorted(found)


def parse_split(split: int | str) -> int | str:
    """A split number (>= 1) or ``"all"``; anything else is a UsageError."""
    text = str(split).strip().lower()
    if text == "all":
        return "all"
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--split must be a split number (1, 2, ...) or 'all', got {split!r}")


def run_eval(data_dir, containers: Sequence[str | os.PathLike], *, labels=None, split: int | str = 1,
             sample_rate: int = 1, background: Sequence[str] = ("background",), epochs: int = 50,
             lr: float = 5e-4, batch_size: int = 1, seed: int = 0, seeds: int = 1, device: str = "cpu",
             include_original: bool = True, progress: bool = True,
             log: Callable[[str], None] | None = None, smooth: int | str = "auto", noise: float | str = "auto",
             **backbone) -> list[Row]:
    """Train and test the backbone on the original data and on each container; one Row each.

    ``seeds``: every model is trained ``seeds`` times (seeds ``seed``, ``seed + 1``, ...); a row's
    scores are the mean, with the sample std, min and max over seeds and each seed's scores.
    ``split``: a split number, or ``"all"``: every split the dataset has (train on its train
    part, test on its test part), one row per split and model, then one ``split="mean"`` row per
    model with the scores averaged over splits (per seed, then over seeds), as the community's
    evaluation scripts report. ``smooth``: how the containers are restored for training, as
    ``TaszDataset`` does by default (``"auto"``; 1: the exact decode); ``noise``: the noise filling
    ``TaszDataset`` adds by default (``"auto"``; 0: none). ``backbone`` passes MS-TCN
    sizes through (``num_stages``, ``num_layers``, ``num_f_maps``, ...).
    """
    from ..decode.noise import check_noise, resolve_noise
    from ..decode.smooth import check_width

    check_width(smooth)
    noise = check_noise(noise)
    split = parse_split(split)
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    splits = [split] if split != "all" else available_splits(data_dir, labels)
    if not splits:
        raise UsageError(f"{Path(labels if labels is not None else data_dir) / 'splits'}: no pair of "
                         "train.splitN.bundle and test.splitN.bundle files")
    opts = {"labels": labels, "sample_rate": sample_rate, "background": background}
    parts = [(read_dataset(data_dir, part="train", split=n, **opts),
              read_dataset(data_dir, part="test", split=n, **opts)) for n in splits]
    opened = [Container(p) for p in containers]
    try:
        for train, test in parts:
            for c in opened:
                check_compatible(c, train, test)
        for c in opened:
            resolve_noise(noise, c)  # a scale on a file without a residual level fails before any training
        fit = dict(epochs=epochs, lr=lr, batch_size=batch_size, device=device, progress=progress, **backbone)
        seed_list = [seed + i for i in range(seeds)]
        rows: list[Row] = []
        for n, (train, test) in zip(splits, parts):
            split_rows = _eval_split(train, test, opened, seed_list, include_original, fit, log,
                                     label=f"split {n}" if len(splits) > 1 else None, smooth=smooth, noise=noise)
            for r in split_rows:
                r.split = n
            rows.extend(split_rows)
        if len(splits) > 1:
            rows.extend(_mean_over_splits(rows, splits, include_original))
    finally:
        for c in opened:
            c.close()
    return rows


def _eval_split(train: TASDataset, test: TASDataset, opened: Sequence[Container], seed_list: Sequence[int],
                include_original: bool, fit: dict, log, label: str | None, smooth: int | str = "auto",
                noise: float | str = "auto") -> list[Row]:
    say = log or (lambda s: None)
    where = f" ({label})" if label else ""
    test_source = dataset_source(test)
    bg = train.background_ids
    C = len(train.vocab)
    device = fit["device"]

    def runs(source, name: str) -> tuple[list[dict[str, float]], list[int]]:
        scores, classes = [], []
        for s in seed_list:
            tag = f"MS-TCN {name}" + (f" seed {s}" if len(seed_list) > 1 else "") + (f" {label}" if label else "")
            model = train_model(source, C, seed=s, desc=tag, **fit)
            sc, k = score_model(model, test_source, bg)
            scores.append(sc)
            classes.append(k)
        return scores, classes

    rows: list[Row] = []
    original_bytes = raw_feature_bytes(train)
    why = None
    if include_original:
        say(f"training on the original {len(train)} videos ({train.total_frames} frames){where}")
        per_seed, classes = runs(dataset_source(train), "original")
        reasons = [(s, degenerate(sc, k)) for s, sc, k in zip(seed_list, per_seed, classes)]
        bad = [(s, r) for s, r in reasons if r]
        if bad:
            why = bad[0][1] + (f" with seed {', '.join(str(s) for s, _ in bad)}" if len(seed_list) > 1 else "")
            why += f" on {label}" if label else ""
        rows.append(_row("original", "original", len(train), train.total_frames, original_bytes, seed_list,
                         per_seed))
    for c in opened:
        say(f"training on {c.path.name}: {c.num_videos} restored videos ({c.total_frames} frames){where}")
        per_seed, _ = runs(container_source(c, device=device, smooth=smooth, noise=noise), c.path.name)
        size = c.path.stat().st_size
        rows.append(_row(c.path.name, method_of(c), c.num_videos, c.total_frames, size, seed_list, per_seed,
                         percent_of_original=100.0 * size / max(original_bytes, 1)))
    if include_original:
        set_retained(rows, rows[0], why)
    return rows


def _row(name, method, videos, frames, size, seed_list, per_seed: list[dict[str, float]], **kw) -> Row:
    """A row whose scores are the mean over seeds, with their spread."""
    table = np.array([[sc[m] for m in METRICS] for sc in per_seed], np.float64)
    std = table.std(0, ddof=1) if len(per_seed) > 1 else np.full(len(METRICS), np.nan)
    return Row(name, method, videos, frames, size, dict(zip(METRICS, table.mean(0).tolist())),
               seeds=list(seed_list), per_seed=[dict(sc) for sc in per_seed],
               std=dict(zip(METRICS, std.tolist())), min=dict(zip(METRICS, table.min(0).tolist())),
               max=dict(zip(METRICS, table.max(0).tolist())), **kw)


def _mean_over_splits(rows: Sequence[Row], splits: Sequence[int], include_original: bool) -> list[Row]:
    """One ``split="mean"`` row per model: each seed's scores averaged over the splits."""
    out = []
    for name in dict.fromkeys(r.name for r in rows):
        mine = [r for r in rows if r.name == name]
        per_seed = [{m: float(np.mean([r.per_seed[i][m] for r in mine])) for m in METRICS}
                    for i in range(len(mine[0].seeds))]
        row = _row(name, mine[0].method, round(np.mean([r.videos for r in mine])),
                   round(np.mean([r.frames for r in mine])), round(np.mean([r.bytes for r in mine])),
                   mine[0].seeds, per_seed,
                   percent_of_original=float(np.mean([r.percent_of_original for r in mine])))
        row.split = "mean"
        out.append(row)
    if include_original:
        bad = [str(r.split) for r in rows if r.warning]
        set_retained(out, out[0], f"on split {', '.join(bad)}" if bad else None)
    return out


def warnings_of(rows: Sequence[Row]) -> list[str]:
    """The rows' warnings, each once, in order (only the mean's, which names the splits, when there is one)."""
    means = [r for r in rows if r.split == "mean"]
    return list(dict.fromkeys(r.warning for r in (means or rows) if r.warning))


def format_table(rows: Sequence[Row]) -> str:
    """An aligned text table of the rows (with a split column when there are several splits)."""
    by_split = len({r.split for r in rows}) > 1
    several = any(len(r.seeds) > 1 for r in rows)
    head = ["name", "method", "videos", "storage", "% orig", "Acc", "Edit", "F1@10", "F1@25", "F1@50", "retained"]
    body = []
    for r in rows:
        cells = [f"{r.scores[m]:.1f}" + (f"±{r.std[m]:.1f}" if len(r.seeds) > 1 else "") for m in METRICS]
        body.append([r.name, r.method, str(r.videos), human_bytes(r.bytes), f"{r.percent_of_original:.2f}",
                     *cells, retained_text(r)])
    if by_split:
        head = ["split", *head]
        body = [[str(r.split), *line] for r, line in zip(rows, body)]
    left = 3 if by_split else 2
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) if i < left else h.rjust(w) for i, (h, w) in enumerate(zip(line, widths)))
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    if several:
        seeds = rows[0].seeds
        notes.append(f"scores: mean ± sample std over {len(seeds)} seeds ({', '.join(map(str, seeds))})")
    if by_split:
        notes.append("mean: each seed's scores averaged over the splits, then over seeds")
    return "\n".join(lines + notes + warnings_of(rows))


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

