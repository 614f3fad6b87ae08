"""Container operations on files: subset, merge and split ``.tasz`` files, subset a raw dataset.

Each reads its inputs (closing them), runs the matching ``contents.py`` operation and writes its
output atomically (``tascodec._io``); an output that would replace its own input is refused.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .._io import atomic_dir, atomic_path, check_writable
from ..container.content import Content
from ..errors import UsageError
from .contents import (activities_of, content_sequences, merge_contents, require_activities, split_by_activity,
                       subset_content)
from .selection import mean_distance, select, sequences_of

__all__ = ["SubsetReport", "subset_file", "merge_files", "split_file", "subset_dataset", "safe_file_name"]


@dataclass
class SubsetReport:
    """What a subset kept: indices (pick order), names, and the diversity of kept vs all."""

    kept: list[int]
    videos: list[str]
    total: int
    distinct_kept: int
    distinct_total: int
    mean_distance_kept: float
    mean_distance_all: float
    output: Path

    def summary(self) -> str:
        return (f"{self.output}: kept {len(self.kept)} of {self.total} videos "
                f"({len(self.kept) / max(self.total, 1):.1%}), {self.distinct_kept} of {self.distinct_total} "
                f"distinct action orders; mean normalized distance {self.mean_distance_kept:.3f} kept vs "
                f"{self.mean_distance_all:.3f} all")


def _selection(seqs, acts, *, ratio, count, strategy, seed, per_activity, pattern, names) -> list[int]:
    groups = None
    if per_activity:
        require_activities(names, acts, pattern)
        groups = acts
    return select(seqs, ratio=ratio, count=count, strategy=strategy, seed=seed, groups=groups)


def _report(seqs, keep, names, out) -> SubsetReport:
    return SubsetReport(kept=list(keep), videos=[names[i] for i in keep], total=len(seqs),
                        distinct_kept=len({tuple(seqs[i]) for i in keep}), distinct_total=len(set(map(tuple, seqs))),
                        mean_distance_kept=mean_distance(seqs, keep), mean_distance_all=mean_distance(seqs),
                        output=Path(out))


def subset_file(src: str | os.PathLike, out: str | os.PathLike, *, ratio: float | None = None,
                count: int | None = None, strategy: str = "diverse", seed: int = 0, per_activity: bool = False,
                activity_pattern: str | None = None, keep_background: bool = False,
                force: bool = False) -> SubsetReport:
    """Write the selected videos of the container ``src`` to ``out`` (in their original order)."""
    from ..container.writer import write_container

    check_writable(out, force)
    _refuse_same_file(src, out)
    content = _read_content(src)
    seqs = content_sequences(content, keep_background=keep_background)
    acts = activities_of(content, activity_pattern)
    keep = _selection(seqs, acts, ratio=ratio, count=count, strategy=strategy, seed=seed,
                      per_activity=per_activity, pattern=activity_pattern, names=content.videos)
    op = {"strategy": strategy, "ratio": ratio, "count": count, "seed": seed, "per_activity": per_activity,
          "activity_pattern": activity_pattern, "keep_background": keep_background,
          "source": os.path.basename(str(src)), "source_decoder_sha256": content.decoder.sha256()}
    write_container(subset_content(content, sorted(keep), operation=op), out, force=force)
    return _report(seqs, keep, content.videos, out)


def _read_content(path: str | os.PathLike) -> Content:
    """Everything in the container at ``path``, the file closed again."""
    from ..container.reader import open_container

    with open_container(path) as c:
        return c.content()


def _refuse_same_file(src, out) -> None:
    if Path(out).exists() and Path(src).exists() and os.path.samefile(src, out):
        raise UsageError(f"{out}: the output would replace its own input")


def merge_files(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, *, force: bool = False,
                skip_duplicates: bool = False) -> Path:
    """Merge containers into ``out`` (see ``merge_contents``)."""
    from ..container.writer import write_container

    check_writable(out, force)
    for src in inputs:
        _refuse_same_file(src, out)
    contents = [_read_content(p) for p in inputs]
    merged = merge_contents(contents, [str(p) for p in inputs], skip_duplicates=skip_duplicates)
    return write_container(merged, out, force=force)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str) -> str:
    """``name`` with runs of characters outside ``[A-Za-z0-9._-]`` replaced by ``_``; never hidden or empty."""
    s = _UNSAFE.sub("_", name).lstrip(".")
    return s or "_"


def split_file(src: str | os.PathLike, out_dir: str | os.PathLike, *, by: str = "activity",
               activity_pattern: str | None = None, force: bool = False) -> dict[str, Path]:
    """Write one container per activity, ``out_dir/<activity>.tasz``; returns activity -> path.

    ``out_dir`` appears complete or not at all (built beside it, then renamed); an existing one is
    used if empty and replaced (``force``) only if tascodec wrote it (``tascodec._io.atomic_dir``).
    """
    from ..container.writer import write_container

    if by != "activity":
        raise UsageError(f"can only split by activity, not {by!r}")
    content = _read_content(src)
    if not content.videos:
        raise UsageError(f"{src}: no videos to split")
    parts = split_by_activity(content, pattern=activity_pattern)
    files: dict[str, str] = {}
    for a in parts:
        fname = safe_file_name(a) + ".tasz"
        clash = [b for b, f in files.items() if f.lower() == fname.lower()]
        if clash:
            raise UsageError(f"activities {clash[0]!r} and {a!r} would both be written to {fname}")
        files[a] = fname
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, "split", force) as tmp:  # tascodec._io: the one folder rule
        for a, part in parts.items():
            write_container(part, tmp / files[a])
    return {a: out_dir / f for a, f in files.items()}


def subset_dataset(data_dir: str | os.PathLike, bundle: str | os.PathLike, *, labels=None, split: int = 1,
                   part: str = "train", background: Sequence[str] = ("background",),
                   ratio: float | None = None, count: int | None = None, strategy: str = "diverse", seed: int = 0,
                   per_activity: bool = False, activity_pattern: str | None = None,
                   keep_background: bool = False, force: bool = False) -> SubsetReport:
    """Select on a raw dataset's labels (features not needed) and write a split bundle.

    ``bundle`` gets one ``<video>.txt`` per line, kept videos in the split's order, so the
    original features can be trained on the same subset.
    """
    from ..data.layout import read_dataset

    check_writable(bundle, force)
    ds = read_dataset(data_dir, labels=labels, split=split, part=part, background=background,
                      activity_pattern=activity_pattern, require_features=False)
    names = ds.videos
    bg = [] if keep_background else ds.background_ids
    seqs = sequences_of((ds.segments(v)[0] for v in names), bg)
    acts = [ds.activity(v) for v in names]
    keep = _selection(seqs, acts, ratio=ratio, count=count, strategy=strategy, seed=seed,
                      per_activity=per_activity, pattern=activity_pattern, names=names)
    text = "".join(f"{names[i]}.txt\n" for i in sorted(keep))
    with atomic_path(bundle, force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return _report(seqs, keep, names, bundle)
