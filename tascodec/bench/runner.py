"""Train the reference MS-TCN on a source of videos, predict, and score with the TAS metrics.

A *source* is any sequence (``len`` and indexing) of ``(features, labels)`` pairs, one per video:
``features (T, D)`` float32 numpy array or torch tensor, ``labels (T,)`` int64. Items are read
when needed (every epoch), so a lazy sequence such as :func:`dataset_source` keeps only one batch
in memory. Batches are zero-padded to their longest video and masked, like MS-TCN's batch
generator; the video order is reshuffled every epoch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from tascodec.progress import tqdm

from tascodec.bench.mstcn import MSTCN, mstcn_loss
from tascodec.metrics import evaluate
from tascodec.torch import collate as pad_items


class LazySource(Sequence):
    """A source whose item ``i`` is ``load(keys[i])``, computed on each access."""

    def __init__(self, keys: Sequence, load: Callable[[Any], tuple]):
        self.keys = list(keys)
        self.load = load

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return LazySource(self.keys[i], self.load)
        return self.load(self.keys[i])


def dataset_source(ds) -> LazySource:
    """The raw videos of a TASDataset as a lazy source: ``(ds.features(v), ds.labels(v))``."""
    return LazySource(ds.videos, lambda v: (ds.features(v), ds.labels(v)))


def _features_tensor(features) -> torch.Tensor:
    x = torch.as_tensor(features, dtype=torch.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be (T, D), got shape {tuple(x.shape)}")
    return x


def collate(
    pairs: Sequence[tuple], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad videos into ``x (B, D, Tmax)``, ``targets (B, Tmax)`` (-100 on padding), ``mask (B, 1, Tmax)``:
    ``tascodec.torch.collate``'s padding, in MS-TCN's channels-first layout."""
    feats = [_features_tensor(f) for f, _ in pairs]
    labels = [torch.as_tensor(np.asarray(y), dtype=torch.int64) for _, y in pairs]
    dims = {f.shape[1] for f in feats}
    if len(dims) != 1:
        raise ValueError(f"videos in one batch have different feature dims {sorted(dims)}")
    for f, y in zip(feats, labels):
        if y.shape != (f.shape[0],):
            raise ValueError(f"{f.shape[0]} feature frames but labels of shape {tuple(y.shape)}")
    b = pad_items([{"features": f, "labels": y, "video": str(i)} for i, (f, y) in enumerate(zip(feats, labels))])
    x = b["features"].transpose(1, 2).contiguous()  # MS-TCN takes channels first
    return x.to(device), b["labels"].to(device), b["mask"].unsqueeze(1).to(device)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed torch's RNGs and use deterministic kernels inside, restoring the caller's state after."""
    accelerator = device.type != "cpu"
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices, device_type = ([device], device.type) if accelerator else ([], None)
    with torch.random.fork_rng(devices=devices, device_type=device_type):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def train_model(
    train_source: Sequence[tuple],
    num_classes: int,
    *,
    epochs: int = 50,
    lr: float = 5e-4,
    batch_size: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "MS-TCN",
    num_stages: int = 4,
    num_layers: int = 10,
    num_f_maps: int = 64,
    dropout: float = 0.5,
    smooth_weight: float = 0.15,
    tau: float = 4.0,
) -> MSTCN:
    """Train an MS-TCN with Adam on ``train_source``; returns the model in eval mode on ``device``.

    The input dim is read from the first video. With the same seed, source and device the result
    is identical run to run (on CPU; on GPU as far as its kernels allow); the caller's RNG state
    is left untouched. The progress bar (titled ``desc``) shows the epoch, the mean loss per
    batch and the training frame accuracy of the last stage.
    """
    if len(train_source) == 0:
        raise ValueError("no training videos")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    device = torch.device(device)
    dim = _features_tensor(train_source[0][0]).shape[1]
    with _seeded(seed, device):
        model = MSTCN(dim, num_classes, num_stages, num_layers, num_f_maps, dropout).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        order_rng = torch.Generator().manual_seed(seed)
        model.train()
        bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
        for _ in bar:
            total_loss, batches, correct, frames = 0.0, 0, 0, 0
            order = torch.randperm(len(train_source), generator=order_rng).tolist()
            for start in range(0, len(order), batch_size):
                x, targets, mask = collate([train_source[i] for i in order[start : start + batch_size]], device)
                if x.shape[2] == 0:
                    continue
                if x.shape[1] != dim:
                    raise ValueError(f"feature dim {x.shape[1]} differs from the first video's {dim}")
                real = targets[mask[:, 0] > 0]
                if int(real.min()) < 0 or int(real.max()) >= num_classes:
                    raise ValueError(f"labels must lie in [0, {num_classes})")
                optimizer.zero_grad(set_to_none=True)
                logits = model(x, mask)
                loss = mstcn_loss(logits, targets, mask, smooth_weight, tau)
                loss.backward()
                optimizer.step()
                total_loss += loss.item()
                batches += 1
                correct += int((logits[-1].argmax(1) == targets).sum())
                frames += int(mask.sum())
            bar.set_postfix(loss=f"{total_loss / max(batches, 1):.4f}", acc=f"{correct / max(frames, 1):.3f}")
    model.eval()
    return model


@torch.inference_mode()
def predict(model: MSTCN, features_iter: Iterable, *, batch_size: int = 1) -> list[np.ndarray]:
    """Per-video predicted labels (int64 ``(T,)``) of the last stage, for ``(T, D)`` feature arrays.

    Runs on the model's device in eval mode; batching does not change the result (padding is masked).
    """
    model.eval()
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    batch: list = []

    def flush() -> None:
        lengths = [f.shape[0] for f in batch]
        if max(lengths) == 0:
            out.extend(np.zeros(0, np.int64) for _ in batch)
        else:
            x, _, mask = collate([(f, np.zeros(f.shape[0], np.int64)) for f in batch], device)
            labels = model(x, mask)[-1].argmax(1).cpu().numpy()
            out.extend(labels[i, :n].astype(np.int64) for i, n in enumerate(lengths))
        batch.clear()

    for features in features_iter:
        batch.append(_features_tensor(features))
        if batch[-1].shape[1] != model.dim:
            raise ValueError(f"features of dim {batch[-1].shape[1]} for a model of input dim {model.dim}")
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return out


def evaluate_model(
    model: MSTCN, test_source: Sequence[tuple], background_ids: Iterable[int] = (), *, batch_size: int = 1
) -> dict[str, float]:
    """Predict every test video and score it: ``{"acc", "edit", "f1@10", "f1@25", "f1@50"}`` in percent."""
    return score_model(model, test_source, background_ids, batch_size=batch_size)[0]


def score_model(
    model: MSTCN, test_source: Sequence[tuple], background_ids: Iterable[int] = (), *, batch_size: int = 1
) -> tuple[dict[str, float], int]:
    """:func:`evaluate_model`'s scores and the number of distinct classes the model predicted."""
    targets: list[np.ndarray] = []

    def features() -> Iterator:
        for i in range(len(test_source)):
            feats, labels = test_source[i]
            targets.append(np.asarray(labels, np.int64))
            yield feats

    predictions = predict(model, features(), batch_size=batch_size)
    classes = len(np.unique(np.concatenate(predictions))) if predictions else 0
    return evaluate(predictions, targets, background=tuple(background_ids)), classes
