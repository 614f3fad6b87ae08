"""MS-TCN and its runner: learning on a toy task, determinism, padding invariance, loss masking."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tascodec.bench.mstcn import MSTCN, mstcn_loss
from tascodec.bench.runner import LazySource, collate, dataset_source, evaluate_model, predict, train_model

DIM, CLASSES = 16, 3
SMALL = dict(num_stages=2, num_layers=3, num_f_maps=16, progress=False)


def toy_source(num_videos: int, seed: int = 0, noise: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Videos of 3-6 segments; class c shows as +3 on feature c (separable frame by frame)."""
    rng = np.random.default_rng(seed)
    videos = []
    for _ in range(num_videos):
        runs = [np.full(rng.integers(5, 15), rng.integers(CLASSES)) for _ in range(rng.integers(3, 7))]
        labels = np.concatenate(runs)
        feats = rng.normal(0, noise, (labels.size, DIM)).astype(np.float32)
        feats[np.arange(labels.size), labels] += 3.0
        videos.append((feats, labels.astype(np.int64)))
    return videos


def test_shapes_and_stage_count():
    model = MSTCN(DIM, CLASSES, num_stages=3, num_layers=2, num_f_maps=8)
    out = model(torch.randn(2, DIM, 11))
    assert out.shape == (3, 2, CLASSES, 11)


def test_learns_a_separable_toy_task():
    model = train_model(toy_source(8), CLASSES, epochs=15, lr=5e-3, seed=0, **SMALL)
    scores = evaluate_model(model, toy_source(4, seed=1))
    assert scores["acc"] > 90.0
    assert set(scores) == {"acc", "edit", "f1@10", "f1@25", "f1@50"}


def test_same_seed_same_model():
    source = toy_source(5)
    runs = [train_model(source, CLASSES, epochs=2, batch_size=2, seed=3, **SMALL) for _ in range(2)]
    for a, b in zip(runs[0].state_dict().values(), runs[1].state_dict().values()):
        assert torch.equal(a, b)
    feats = [f for f, _ in toy_source(3, seed=2)]
    for pa, pb in zip(predict(runs[0], feats), predict(runs[1], feats)):
        np.testing.assert_array_equal(pa, pb)
    other = train_model(source, CLASSES, epochs=2, batch_size=2, seed=4, **SMALL)
    assert not torch.equal(next(iter(other.state_dict().values())), next(iter(runs[0].state_dict().values())))


def test_training_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_model(toy_source(2), CLASSES, epochs=1, **SMALL)
    assert torch.equal(torch.rand(3), expected)


def test_padding_does_not_change_predictions():
    torch.manual_seed(0)
    model = MSTCN(DIM, CLASSES, num_stages=2, num_layers=4, num_f_maps=8).eval()
    videos = [f for f, _ in toy_source(5, seed=5)] + [np.zeros((0, DIM), np.float32)]
    alone = predict(model, videos, batch_size=1)
    batched = predict(model, videos, batch_size=4)
    for a, b in zip(alone, batched):
        np.testing.assert_array_equal(a, b)
    assert alone[-1].shape == (0,)
    # Logits too, whatever sits in the padded positions of the shorter video.
    short, long = sorted(videos[:2], key=len)
    x, _, mask = collate([(long, np.zeros(len(long), np.int64)), (short, np.zeros(len(short), np.int64))])
    n = len(short)
    assert n < x.shape[2]
    with torch.no_grad():
        single = model(x[1:, :, :n])
        garbage = x.clone()
        garbage[mask.expand_as(garbage) == 0] = 1e3
        padded = model(garbage, mask)
    torch.testing.assert_close(padded[:, 1:, :, :n], single, rtol=1e-5, atol=1e-5)


def test_loss_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, CLASSES, 9)
    targets = torch.randint(CLASSES, (2, 9))
    mask = torch.ones(2, 1, 9)
    targets[1, 6:] = -100
    mask[1, :, 6:] = 0
    base = mstcn_loss(logits, targets, mask)
    logits2 = logits.clone()
    logits2[:, 1, :, 6:] = 50 * torch.randn(2, CLASSES, 3)
    torch.testing.assert_close(mstcn_loss(logits2, targets, mask), base)
    # Without padding it is CE + 0.15 * clamped T-MSE per stage, as in MS-TCN.
    one = logits[:, :1]
    ref = 0.0
    for p in one:
        ref += torch.nn.functional.cross_entropy(p[0].T, targets[0])
        lp = torch.log_softmax(p, 1)
        ref += 0.15 * ((lp[:, :, 1:] - lp[:, :, :-1]) ** 2).clamp(0, 16).mean()
    torch.testing.assert_close(mstcn_loss(one, targets[:1], mask[:1]), ref)


def test_dataset_source_reads_features_and_labels_per_access():
    data = dict(zip(["a", "b"], toy_source(2)))

    class FakeDataset:  # the TASDataset calls dataset_source relies on
        videos = ["a", "b"]

        def features(self, v):
            return data[v][0]

        def labels(self, v):
            return data[v][1]

    source = dataset_source(FakeDataset())
    assert len(source) == 2 and source[1][0] is data["b"][0] and len(source[1:]) == 1


def test_lazy_source_and_input_errors():
    data = toy_source(3)
    loads = []
    source = LazySource(range(3), lambda i: loads.append(i) or data[i])
    assert len(source) == 3 and loads == []
    train_model(source, CLASSES, epochs=1, **SMALL)
    assert sorted(loads[-3:]) == [0, 1, 2]
    feats, labels = data[0]
    with pytest.raises(ValueError, match="labels must lie"):
        train_model([(feats, labels + CLASSES)], CLASSES, epochs=1, **SMALL)
    with pytest.raises(ValueError, match="frames"):
        train_model([(feats, labels[:-1])], CLASSES, epochs=1, **SMALL)
    with pytest.raises(ValueError, match="feature dim"):
        train_model([data[0], (feats[:, :-1], labels)], CLASSES, epochs=1, **SMALL)
    with pytest.raises(ValueError, match="input dim"):
        predict(MSTCN(DIM, CLASSES, num_stages=1, num_layers=1, num_f_maps=4), [feats[:, :-1]])
    with pytest.raises(ValueError, match="no training videos"):
        train_model([], CLASSES, **SMALL)
