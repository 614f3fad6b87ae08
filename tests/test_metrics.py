"""Metrics: hand-computed cases and a cross-check against a naive implementation of eval.py."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tascodec.metrics import edit_score, evaluate, f1_counts, segments_of

KEYS = ("acc", "edit", "f1@10", "f1@25", "f1@50")


def approx(d: dict) -> dict:
    return {k: pytest.approx(v) for k, v in d.items()}


def test_segments_of_drops_background_runs_but_keeps_them_as_separators():
    labels, starts, ends = segments_of([0, 0, 1, 1, 0, 1, 2, 2, 0], background=(0,))
    assert labels.tolist() == [1, 1, 2]
    assert starts.tolist() == [2, 5, 6]
    assert ends.tolist() == [4, 6, 8]
    assert [a.size for a in segments_of([])] == [0, 0, 0]


def test_perfect_prediction_scores_100():
    videos = [np.array([0, 0, 1, 1, 1, 2]), np.array([3]), np.array([2, 2, 0, 0, 1])]
    result = evaluate(videos, videos)
    assert list(result) == list(KEYS)
    assert result == approx(dict.fromkeys(KEYS, 100.0))
    assert evaluate(videos, videos, background=(0,)) == approx(dict.fromkeys(KEYS, 100.0))


def test_worked_example():
    # Ground truth: 1[0,6) 2[6,10).  Prediction: 1[0,2) 2[2,4) 1[4,6) 2[6,10).
    # p0: best g0, IoU 2/6.  p1: label 2 vs g1 disjoint (IoU -2/8), best is g0 at 0 -> FP.
    # p2: best g0 (IoU 2/6) already taken at 0.1/0.25 -> FP.  p3: g1, IoU 1 -> TP.
    # @10, @25: TP 2, FP 2, FN 0 -> 4/6.  @50: TP 1 (p3), FP 3, FN 1 -> 2/6.
    target = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([1, 1, 2, 2, 1, 1, 2, 2, 2, 2])
    assert f1_counts(pred, target).tolist() == [[2, 2, 0], [2, 2, 0], [1, 3, 1]]
    assert edit_score(pred, target) == pytest.approx(50.0)  # lev([1,2,1,2], [1,2]) = 2 of 4
    assert evaluate([pred], [target]) == approx(
        {"acc": 80.0, "edit": 50.0, "f1@10": 200 / 3, "f1@25": 200 / 3, "f1@50": 100 / 3}
    )


def test_background_is_left_out_of_edit_and_f1_only():
    target = np.array([0, 0, 1, 1, 1, 0, 2, 2, 0, 0])
    pred = np.array([0, 1, 1, 1, 1, 1, 2, 2, 2, 0])
    # Without background: 1[1,6) vs 1[2,5) IoU 3/5, 2[6,9) vs 2[6,8) IoU 2/3 -> all TP.
    assert evaluate([pred], [target], background=(0,)) == approx(
        {"acc": 70.0, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 100.0}
    )
    # With class 0 as a class: Y = 0 1 0 2 0, P = 0 1 2 0 -> lev 1 of 5; 4 TP (IoUs 1/2, 3/5,
    # 2/3, 1/2), FN 1 (the middle 0 of Y) -> F1 = 8/9.
    assert evaluate([pred], [target]) == approx(
        {"acc": 70.0, "edit": 80.0, "f1@10": 800 / 9, "f1@25": 800 / 9, "f1@50": 800 / 9}
    )


def test_over_segmentation():
    target = np.ones(10, np.int64)
    pred = np.array([1, 1, 1, 1, 1, 2, 1, 1, 1, 1])
    # P = 1[0,5) 2[5,6) 1[6,10): p0 TP (IoU 0.5), p1 FP (no label-2 truth), p2 FP (g0 taken).
    assert f1_counts(pred, target).tolist() == [[1, 2, 0]] * 3
    assert evaluate([pred], [target]) == approx(
        {"acc": 90.0, "edit": 100 / 3, "f1@10": 50.0, "f1@25": 50.0, "f1@50": 50.0}
    )


def test_single_segment_videos():
    assert evaluate([np.full(5, 4)], [np.full(5, 3)]) == approx(dict.fromkeys(KEYS, 0.0))
    # A segment that overlaps its truth by 2/5 counts at 10% and 25% only.
    result = evaluate([np.array([0, 0, 0, 3, 3])], [np.full(5, 3)], background=(0,))
    assert result == approx({"acc": 40.0, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 0.0})


def test_empty_and_all_background_videos():
    empty = np.zeros(0, np.int64)
    assert evaluate([empty], [empty]) == approx(dict.fromkeys(KEYS, 100.0))
    # An empty video adds no frame and a perfect edit; it does not change F1 counts.
    result = evaluate([empty, np.array([1, 1, 2])], [empty, np.array([1, 2, 2])])
    assert result["acc"] == pytest.approx(200 / 3)
    assert result["edit"] == pytest.approx(100.0)
    # A spurious segment in an all-background video: edit 0 for it, one FP, nothing else.
    result = evaluate([np.array([0, 1, 0])], [np.zeros(3, np.int64)], background=(0,))
    assert result == approx({"acc": 200 / 3, "edit": 0.0, "f1@10": 0.0, "f1@25": 0.0, "f1@50": 0.0})
    assert evaluate([np.zeros(3, int)], [np.zeros(3, int)], background=(0,)) == approx(
        dict.fromkeys(KEYS, 100.0)
    )


def test_counts_are_summed_over_videos_before_f1():
    a_pred, a_tgt = np.array([1, 1, 2, 2]), np.array([1, 1, 2, 2])  # TP 2
    b_pred, b_tgt = np.array([3, 3, 3, 3]), np.array([1, 1, 1, 1])  # FP 1, FN 1
    # Per-video F1 averaged would be (100 + 0) / 2 = 50; summed counts give 4 / 6.
    assert evaluate([a_pred, b_pred], [a_tgt, b_tgt])["f1@50"] == pytest.approx(200 / 3)
    assert evaluate([a_pred, b_pred], [a_tgt, b_tgt])["edit"] == pytest.approx(50.0)


def test_custom_overlaps_and_errors():
    assert list(evaluate([[1]], [[1]], overlaps=(0.75,))) == ["acc", "edit", "f1@75"]
    with pytest.raises(ValueError, match="frames"):
        evaluate([np.array([1, 2])], [np.array([1, 2, 2])])
    with pytest.raises(ValueError, match="predictions"):
        evaluate([np.array([1])], [])
    with pytest.raises(ValueError, match="no videos"):
        evaluate([], [])
    with pytest.raises(ValueError, match="integer"):
        evaluate([np.array([1.0])], [np.array([1])])


# ---- independent, deliberately naive implementation of eval.py's definitions ----

def naive_segments(seq, bg):
    runs = []  # [label, start, end): maximal runs of the raw labels, then background dropped
    for t, lab in enumerate(seq):
        if t > 0 and seq[t - 1] == lab:
            runs[-1][2] = t + 1
        else:
            runs.append([lab, t, t + 1])
    return [r for r in runs if r[0] not in bg]


def naive_lev(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[-1]


def naive_evaluate(preds, tgts, bg, overlaps=(0.1, 0.25, 0.5)):
    frames = sum(len(t) for t in tgts)
    correct = sum(int(p == y) for pv, tv in zip(preds, tgts) for p, y in zip(pv, tv))
    edits = []
    tp = [0] * len(overlaps)
    fp = [0] * len(overlaps)
    fn = [0] * len(overlaps)
    for pv, tv in zip(preds, tgts):
        ps, ys = naive_segments(list(pv), bg), naive_segments(list(tv), bg)
        n = max(len(ps), len(ys))
        edits.append(100.0 if n == 0 else 100.0 * (1 - naive_lev([s[0] for s in ps], [s[0] for s in ys]) / n))
        for k, o in enumerate(overlaps):
            used = [False] * len(ys)
            for lab, s, e in ps:
                best, best_iou = None, None
                for g, (glab, gs, ge) in enumerate(ys):
                    score = (min(e, ge) - max(s, gs)) / (max(e, ge) - min(s, gs)) if glab == lab else 0.0
                    if best is None or score > best_iou:
                        best, best_iou = g, score
                if best is not None and best_iou >= o and not used[best]:
                    used[best] = True
                    tp[k] += 1
                else:
                    fp[k] += 1
            fn[k] += used.count(False)
    out = {"acc": 100.0 * correct / frames if frames else 100.0, "edit": sum(edits) / len(edits)}
    for k, o in enumerate(overlaps):
        denom = 2 * tp[k] + fp[k] + fn[k]
        out[f"f1@{round(o * 100)}"] = 100.0 if denom == 0 else 200.0 * tp[k] / denom
    return out


@st.composite
def video_pair(draw):
    def labels(length):
        if draw(st.booleans()):  # frame-wise noise: many short segments
            return draw(st.lists(st.integers(0, 3), min_size=length, max_size=length))
        runs = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=1, max_size=8))
        seq = [lab for lab, n in runs for _ in range(n)]
        return (seq * (length // len(seq) + 1))[:length]

    length = draw(st.integers(0, 30))
    return np.array(labels(length), np.int64), np.array(labels(length), np.int64)


@settings(max_examples=150, deadline=None)
@given(videos=st.lists(video_pair(), min_size=1, max_size=4), bg=st.sampled_from([(), (0,), (0, 3)]))
def test_matches_naive_implementation(videos, bg):
    preds = [p for p, _ in videos]
    tgts = [t for _, t in videos]
    assert evaluate(preds, tgts, background=bg) == approx(naive_evaluate(preds, tgts, bg))
