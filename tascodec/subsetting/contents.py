"""Container operations on in-memory ``Content``, without re-encoding: subset, merge, split by activity.

Tables are re-indexed, code rows copied, the decoder left untouched, and each operation records
itself in ``provenance["operations"]``. A kept video decodes exactly as before: its segments,
instance rows, codes (random codes are keyed by video name) and decoder are the same. Reading and
writing files is ``files.py``'s job.
"""
from __future__ import annotations

import copy
import os
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..container.content import Content
from ..container.summary import sample_rate_of
from ..data.activity import activity_of, compile_activity_pattern
from ..errors import DuplicateVideos, MissingActivities, UsageError
from .selection import sequences_of

__all__ = ["subset_content", "merge_contents", "split_by_activity", "activities_of", "content_sequences",
           "require_activities"]


def _nested_provenance(prov: dict[str, Any]) -> dict[str, Any]:
    """A copy of an input's provenance for a merge record (5 levels deeper than a provenance), or a
    note where that nesting would pass the metadata depth limit (spec section 6)."""
    from ..container.meta import PROVENANCE_DEPTH, check_json_tree
    from ..errors import TaszFormatError

    try:
        check_json_tree(prov, "provenance", depth=PROVENANCE_DEPTH + 5, strings=False)
    except TaszFormatError:
        return {"omitted": "nested too deep to record in a merge"}
    return copy.deepcopy(prov)


def _with_operation(provenance: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    prov = copy.deepcopy(provenance)
    prov["operations"] = list(prov.get("operations") or []) + [entry]
    return prov


def subset_content(content: Content, keep: Sequence[int], *, operation: dict[str, Any] | None = None) -> Content:
    """The videos ``keep`` (indices, in that order) of ``content`` as a new ``Content``.

    ``operation`` (the parameters worth recording; an ``"op"`` key replaces ``"subset"``) is
    appended to ``provenance["operations"]`` with ``videos`` (kept) and ``source_videos``.
    """
    V = len(content.videos)
    keep = [int(i) for i in keep]
    bad = [i for i in keep if not 0 <= i < V]
    if bad:
        raise UsageError(f"video index {bad[0]} out of range 0..{V - 1}")
    if len(set(keep)) != len(keep):
        raise UsageError("a video is kept twice")
    vs = np.asarray(content.video_segments, np.int64)
    starts, stops = vs[keep], vs[[i + 1 for i in keep]]
    nseg = stops - starts
    segs = _ranges(starts, nseg)
    roff = content.row_offsets()
    rows = _ranges(roff[segs], np.asarray(content.seg_instances, np.int64)[segs])
    entry = {"op": "subset", **(operation or {}), "videos": len(keep), "source_videos": V}
    return replace(
        content,
        videos=[content.videos[i] for i in keep],
        video_segments=np.concatenate(([0], np.cumsum(nseg))).astype(np.int64),
        seg_label=np.asarray(content.seg_label)[segs].copy(),
        seg_length=np.asarray(content.seg_length)[segs].copy(),
        seg_instances=np.asarray(content.seg_instances)[segs].copy(),
        codes=None if content.codes is None else content.codes[rows].copy(),
        code_scale=None if content.code_scale is None else content.code_scale[rows].copy(),
        decoder=content.decoder,
        vocab=list(content.vocab),
        background=list(content.background),
        activities=None if content.activities is None else [content.activities[i] for i in keep],
        provenance=_with_operation(content.provenance, entry),
    )


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for each pair, as int64."""
    starts, counts = np.asarray(starts, np.int64), np.asarray(counts, np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)


def _differs(what: str, a: Sequence, b: Sequence) -> str:
    if len(a) != len(b):
        return f"{what} has {len(b)} entries, not {len(a)}"
    i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    return f"{what}[{i}] is {b[i]!r}, not {a[i]!r}"


def _decoder_difference(a, b) -> str:
    fields = ("kind", "feature_dim", "latent_dim", "num_classes", "hidden", "activation", "weights_dtype")
    diff = [f"{f} {getattr(b, f)!r}, not {getattr(a, f)!r}" for f in fields if getattr(a, f) != getattr(b, f)]
    what = "; ".join(diff) if diff else "same architecture, different weights"
    return f"a different decoder ({what}; sha256 {b.sha256()[:12]}, not {a.sha256()[:12]})"


def merge_contents(contents: Sequence[Content], names: Sequence[str] | None = None, *,
                   skip_duplicates: bool = False) -> Content:
    """Concatenate containers' videos (in input order) under their shared decoder.

    The inputs must agree on the decoder (sha256), the vocabulary, the background classes, the
    sample rate and the codes: all stored with the same dtype (no requantization), or all random
    with the same seed. Video names must be distinct, unless ``skip_duplicates``: then a video
    keeps its first occurrence and later ones are left out (counted in the operation's
    ``skipped_duplicates``). ``names`` label the inputs in errors (default ``input 1``, ...).
    Provenance: keys on which every input agrees, plus a ``merge`` operation listing each input's
    videos, frames and own provenance.
    """
    if not contents:
        raise UsageError("nothing to merge")
    names = list(names) if names is not None else [f"input {i + 1}" for i in range(len(contents))]
    base, bname = contents[0], names[0]
    sha = base.decoder.sha256()
    for c, name in zip(contents[1:], names[1:]):
        why = None
        if c.decoder.sha256() != sha:
            why = _decoder_difference(base.decoder, c.decoder)
        elif list(c.vocab) != list(base.vocab):
            why = "a different vocabulary: " + _differs("vocab", base.vocab, c.vocab)
        elif list(c.background) != list(base.background):
            why = f"different background classes {c.background}, not {base.background}"
        elif sample_rate_of(c.provenance) != sample_rate_of(base.provenance):
            why = f"sample rate {sample_rate_of(c.provenance)}, not {sample_rate_of(base.provenance)}"
        elif (c.codes is None) != (base.codes is None):
            why = "random codes where the first has stored ones" if c.codes is None else \
                "stored codes where the first has random ones"
        elif c.codes is None and c.random_seed != base.random_seed:
            why = f"random codes with seed {c.random_seed}, not {base.random_seed}"
        elif c.codes is not None and c.codes_dtype != base.codes_dtype:
            why = (f"{c.codes_dtype} codes, not {base.codes_dtype} (merge does not requantize; "
                   "encode both with the same latent dtype)")
        if why:
            raise UsageError(f"cannot merge {name} with {bname}: it has {why}")
    seen: dict[str, str] = {}
    dups = []
    for c, name in zip(contents, names):
        for v in c.videos:
            if v in seen:
                dups.append(f"{v!r} ({seen[v]} and {name})")
            seen.setdefault(v, name)
    skipped = 0
    if dups and skip_duplicates:
        contents, skipped = _without_repeats(contents), len(dups)
    elif dups:
        more = f" and {len(dups) - 3} more" if len(dups) > 3 else ""
        raise DuplicateVideos(f"cannot merge: video names repeat: {', '.join(dups[:3])}{more}")

    nseg = np.concatenate([np.diff(np.asarray(c.video_segments, np.int64)) for c in contents])
    has_acts = any(c.activities is not None for c in contents)
    entry = {"op": "merge", "inputs": [
        {"name": os.path.basename(str(n)), "videos": len(c.videos), "frames": int(c.num_frames().sum()),
         "provenance": _nested_provenance(c.provenance)} for c, n in zip(contents, names)]}
    if skip_duplicates:
        entry["skipped_duplicates"] = skipped
    common = {k: copy.deepcopy(v) for k, v in base.provenance.items()
              if k != "operations" and all(k in c.provenance and c.provenance[k] == v for c in contents[1:])}
    stored = base.codes is not None
    return Content(
        vocab=list(base.vocab),
        videos=[v for c in contents for v in c.videos],
        video_segments=np.concatenate(([0], np.cumsum(nseg))).astype(np.int64),
        seg_label=np.concatenate([np.asarray(c.seg_label) for c in contents]).astype(np.int32),
        seg_length=np.concatenate([np.asarray(c.seg_length) for c in contents]).astype(np.int64),
        seg_instances=np.concatenate([np.asarray(c.seg_instances) for c in contents]).astype(np.int32),
        decoder=base.decoder,
        codes=np.concatenate([c.codes for c in contents]) if stored else None,
        code_scale=np.concatenate([c.code_scale for c in contents]) if base.code_scale is not None else None,
        residual_sd=_pooled_residual(contents),
        codes_dtype=base.codes_dtype,
        random_seed=base.random_seed,
        background=list(base.background),
        activities=[a for c in contents for a in (c.activities or [None] * len(c.videos))] if has_acts else None,
        provenance={**common, "operations": [entry]},
    )


def _pooled_residual(contents: Sequence[Content]) -> np.ndarray | None:
    """The merged file's ``residual_sd``: the inputs' RMS pooled over their frames, or None unless
    every input has one."""
    if any(c.residual_sd is None for c in contents):
        return None
    frames = np.array([c.num_frames().sum() for c in contents], np.float64)
    var = np.stack([np.asarray(c.residual_sd, np.float64) ** 2 for c in contents])
    pooled = (frames @ var) / frames.sum() if frames.sum() else var.mean(0)
    return np.sqrt(pooled).astype(np.float16)


def _without_repeats(contents: Sequence[Content]) -> list[Content]:
    """Each content without the videos an earlier one (or an earlier video of its own) has."""
    seen: set[str] = set()
    out = []
    for c in contents:
        keep = [i for i, v in enumerate(c.videos) if not (v in seen or seen.add(v))]
        out.append(c if len(keep) == len(c.videos) else
                   replace(subset_content(c, keep), provenance=c.provenance))
    return out


def activities_of(content: Content, pattern: str | None = None) -> list[str | None]:
    """Each video's activity: the first group (or the match) of ``pattern`` searched in its
    name when a pattern is given, else the container's activity field (None where unknown)."""
    if pattern is None:
        return list(content.activities) if content.activities is not None else [None] * len(content.videos)
    rx = compile_activity_pattern(pattern)
    return [activity_of(rx, v) for v in content.videos]


def require_activities(videos: Sequence[str], acts: Sequence[str | None], pattern: str | None) -> None:
    missing = [v for v, a in zip(videos, acts) if a is None]
    if missing:
        how = f"the activity pattern {pattern!r} does not match" if pattern else "no activity is stored for"
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise (UsageError if pattern else MissingActivities)(f"{how} {len(missing)} video(s): "
                                                              f"{', '.join(missing[:5])}{more}")


def split_by_activity(content: Content, *, pattern: str | None = None) -> dict[str, Content]:
    """One ``Content`` per activity (in order of first appearance); every video needs one."""
    acts = activities_of(content, pattern)
    require_activities(content.videos, acts, pattern)
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(acts):
        groups.setdefault(a, []).append(i)
    out = {}
    for a, idx in groups.items():
        out[a] = subset_content(content, idx, operation={"op": "split", "by": "activity", "activity": a,
                                                         "activity_pattern": pattern})
    return out


def content_sequences(content: Content, *, keep_background: bool = False) -> list[list[int]]:
    """Each video's action sequence from the segment table (container background dropped)."""
    vs = np.asarray(content.video_segments, np.int64)
    bg = [] if keep_background else [content.vocab.index(b) for b in content.background]
    lab = np.asarray(content.seg_label)
    return sequences_of((lab[vs[v]:vs[v + 1]] for v in range(len(content.videos))), bg)
