"""Temporal action segmentation metrics: frame accuracy, Edit and F1@k, as MS-TCN's eval.py.

Definitions (Farha & Gall 2019, reference ``eval.py``; labels are integer class ids):

- *Accuracy*: correct frames over all frames of all videos, in percent. Background counts.
- *Segments*: maximal runs of equal labels; runs of a background class are dropped (they still
  separate their neighbours, so ``a a bg a`` holds two ``a`` segments).
- *Edit*: per video ``(1 - lev(P, Y) / max(|P|, |Y|)) * 100`` over the segment label sequences,
  averaged over videos.
- *F1@o*: each predicted segment (in temporal order) takes the ground-truth segment of highest
  IoU among those with its label, matched or not (the first one on ties). It is a true positive
  when that IoU is at least ``o`` and that ground truth is not yet matched (which it then
  becomes), otherwise a false positive. Unmatched ground truth segments are false negatives.
  TP, FP, FN are summed over videos, then ``F1 = 2 TP / (2 TP + FP + FN) * 100``.

Conventions where eval.py is undefined (it crashes or divides by zero): an empty video has no
segments; Edit of two empty segment sequences is 100; F1 with no segments anywhere (TP = FP =
FN = 0) is 100; accuracy with no frames at all is 100. With at least one segment, F1 equals
eval.py's (its NaN-to-0 case is ``TP = 0``, which gives 0 here too).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein

from tascodec.data.segments import runs

DEFAULT_OVERLAPS = (0.1, 0.25, 0.5)


def _labels_1d(labels) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"per-video labels must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def segments_of(labels, background: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of per-frame labels ``(T,)`` without background runs.

    Returns ``(seg_labels int64 (S,), starts int64 (S,), ends int64 (S,))``; ``ends`` exclusive.
    """
    arr = _labels_1d(labels)
    seg_labels, lengths = runs(arr)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    keep = ~np.isin(seg_labels, np.fromiter(background, np.int64))
    return seg_labels[keep].astype(np.int64), starts[keep], ends[keep]


def edit_score(prediction, target, background: Iterable[int] = ()) -> float:
    """Segmental Edit score of one video in percent (100 when both have no segments)."""
    background = tuple(background)
    p = segments_of(prediction, background)[0].tolist()
    y = segments_of(target, background)[0].tolist()
    longest = max(len(p), len(y))
    if longest == 0:
        return 100.0
    return (1.0 - Levenshtein.distance(p, y) / longest) * 100.0


def f1_counts(
    prediction, target, overlaps: Sequence[float] = DEFAULT_OVERLAPS, background: Iterable[int] = ()
) -> np.ndarray:
    """``(TP, FP, FN)`` of one video for each IoU threshold: int64 ``(len(overlaps), 3)``."""
    background = tuple(background)
    p_lab, p_start, p_end = segments_of(prediction, background)
    y_lab, y_start, y_end = segments_of(target, background)
    counts = np.zeros((len(overlaps), 3), np.int64)
    if len(y_lab) == 0:
        counts[:, 1] = len(p_lab)
        return counts
    # (P, G) IoU against every ground truth, zeroed for other labels, exactly as eval.py:
    # for disjoint segments this "IoU" is <= 0, which never reaches a positive threshold.
    inter = np.minimum(p_end[:, None], y_end[None, :]) - np.maximum(p_start[:, None], y_start[None, :])
    union = np.maximum(p_end[:, None], y_end[None, :]) - np.minimum(p_start[:, None], y_start[None, :])
    iou = inter / union * (p_lab[:, None] == y_lab[None, :])
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(p_lab)), best]
    for k, overlap in enumerate(overlaps):
        # The first qualifying prediction of each ground truth matches it; the later ones are FP.
        tp = len(np.unique(best[best_iou >= overlap]))
        counts[k] = (tp, len(p_lab) - tp, len(y_lab) - tp)
    return counts


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """F1 in percent from summed counts (100 when there are no segments at all)."""
    if tp + fp + fn == 0:
        return 100.0
    return 200.0 * tp / (2 * tp + fp + fn)


def evaluate(
    predictions: Sequence,
    targets: Sequence,
    background: Iterable[int] = (),
    overlaps: Sequence[float] = DEFAULT_OVERLAPS,
) -> dict[str, float]:
    """Acc, Edit and F1@k over videos, in percent.

    Args:
        predictions, targets: equally long sequences of per-video integer label arrays ``(T_v,)``,
            pairwise of equal length.
        background: class ids left out of Edit and F1 (not of accuracy).
        overlaps: IoU thresholds; key ``f1@{round(100 * o)}`` each.

    Returns:
        ``{"acc", "edit", "f1@10", "f1@25", "f1@50"}`` (with the default overlaps) as floats.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} target videos")
    if len(targets) == 0:
        raise ValueError("no videos to evaluate")
    background = tuple(int(b) for b in background)
    correct = total = 0
    edit = 0.0
    counts = np.zeros((len(overlaps), 3), np.int64)
    for i, (pred, tgt) in enumerate(zip(predictions, targets)):
        pred, tgt = _labels_1d(pred), _labels_1d(tgt)
        if pred.shape != tgt.shape:
            raise ValueError(f"video {i}: prediction has {pred.size} frames, target {tgt.size}")
        correct += int(np.count_nonzero(pred == tgt))
        total += tgt.size
        edit += edit_score(pred, tgt, background)
        counts += f1_counts(pred, tgt, overlaps, background)
    result = {"acc": 100.0 * correct / total if total else 100.0, "edit": edit / len(targets)}
    for overlap, (tp, fp, fn) in zip(overlaps, counts):
        result[f"f1@{round(100 * overlap)}"] = f1_from_counts(int(tp), int(fp), int(fn))
    return result
