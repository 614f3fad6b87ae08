"""PyTorch access to a ``.tasz`` file: a map-style ``TaszDataset`` and a padding ``collate``.

::

    from torch.utils.data import DataLoader
    from tascodec.torch import TaszDataset, collate

    ds = TaszDataset("breakfast.tasz", cache=True)
    for batch in DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate, num_workers=2,
                            persistent_workers=True):
        x = batch["features"].transpose(1, 2)   # (B, D, T_max), the layout MS-TCN's models take
        y, mask = batch["labels"], batch["mask"]  # (B, T_max) labels padded with -100, mask 1/0

An item is a dict: ``features (T, D) float32``, ``labels (T,) int64``, ``video`` (its name) and,
with ``return_activity=True``, ``activity`` (``str`` or ``None``).

The file is opened lazily, once per process: the dataset pickles as its path and options, never
an open handle, so ``DataLoader`` workers work under both ``fork`` and ``spawn``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch

from .container.reader import Container, open_container
from .decode.torch_backend import decode_segments_torch, resolve_device
from .errors import UsageError

__all__ = ["TaszDataset", "collate", "IGNORE_INDEX"]

IGNORE_INDEX = -100  # the label of padded frames (CrossEntropyLoss's default ignore_index)


class TaszDataset(torch.utils.data.Dataset):
    """The videos of a ``.tasz`` container, restored on access.

    Args:
        path: the ``.tasz`` file.
        videos: restrict to (and order by) these names; default all videos in storage order.
        device: decode on this GPU (e.g. ``"cuda"``) with the torch backend; items are then on it.
            Default (or ``"cpu"``): the numpy backend, the fastest on a CPU. Use a GPU with ``num_workers=0``.
        cache: keep restored features in memory across epochs (per process: with ``num_workers > 0``
            pass ``persistent_workers=True`` so the workers' caches survive between epochs). Items then
            share the cached tensor: do not modify ``features`` in place.
        cache_dtype: store cached features in this dtype (e.g. ``torch.float16`` halves the memory);
            items are always float32.
        return_activity: add the video's activity to each item.
    """

    def __init__(self, path: str | os.PathLike, *, videos: Sequence[str] | None = None, device=None,
                 cache: bool = False, cache_dtype: torch.dtype | None = None, return_activity: bool = False):
        self.path = Path(path)
        self.device = None if device is None else resolve_device(device)
        self.cache = bool(cache)
        self.cache_dtype = cache_dtype
        self.return_activity = bool(return_activity)
        with open_container(self.path) as c:
            if videos is None:
                videos = c.videos
            elif any(not isinstance(v, str) for v in videos):
                raise UsageError("videos must be a list of names (str)")
            self.videos = [c.videos[c.index(v)] for v in videos]  # unknown names: UsageError
            self.vocab: list[str] = list(c.vocab)
            self.feature_dim: int = c.decoder.feature_dim
            self.num_frames: list[int] = [c.num_frames(v) for v in self.videos]
        self._container: Container | None = None
        self._pid: int | None = None
        self._cached: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} videos")
        i %= len(self)
        c = self._open()
        video = self.videos[i]
        features = self._cached.get(i)
        if features is None:
            features = self._decode(c, video)
            if self.cache:
                stored = features if self.cache_dtype is None else features.to(self.cache_dtype)
                self._cached[i] = stored
                features = stored
        if features.dtype != torch.float32:
            features = features.float()
        item = {"features": features, "labels": torch.from_numpy(c.labels(video)).to(features.device),
                "video": video}
        if self.return_activity:
            item["activity"] = c.activity(video)
        return item

    def _decode(self, c: Container, video: str) -> torch.Tensor:
        if self.device is None or self.device.type == "cpu":  # numpy is the fastest CPU decoder
            return torch.from_numpy(c.decode(video))
        return decode_segments_torch(c.decoder, c.codes(video), *c.segments(video), device=self.device)

    def _open(self) -> Container:
        """The container, opened once per process (a forked worker reopens its own)."""
        if self._container is None or self._pid != os.getpid():
            self._container = open_container(self.path)
            self._pid = os.getpid()
        return self._container

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_container"] = None  # never ship an open handle to another process
        state["_pid"] = None
        state["_cached"] = {}  # each process builds its own cache
        return state

    def __repr__(self) -> str:
        return f"TaszDataset({str(self.path)!r}, {len(self)} videos)"


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of items to the longest video, as MS-TCN's batch generator does.

    Returns ``features (B, T_max, D) float32`` (zero-padded), ``labels (B, T_max) int64`` (padded
    with ``IGNORE_INDEX``), ``mask (B, T_max) float32`` (1 on real frames), ``lengths (B,) int64``,
    ``videos`` (names) and, when the items have it, ``activities``.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    lengths = [int(b["labels"].shape[0]) for b in batch]
    B, T, D = len(batch), max(lengths), int(batch[0]["features"].shape[1])
    dev = batch[0]["features"].device
    features = torch.zeros(B, T, D, dtype=torch.float32, device=dev)
    labels = torch.full((B, T), IGNORE_INDEX, dtype=torch.long, device=dev)
    mask = torch.zeros(B, T, dtype=torch.float32, device=dev)
    for j, (b, n) in enumerate(zip(batch, lengths)):
        features[j, :n] = b["features"]
        labels[j, :n] = b["labels"]
        mask[j, :n] = 1
    out = {"features": features, "labels": labels, "mask": mask,
           "lengths": torch.tensor(lengths, dtype=torch.long), "videos": [b["video"] for b in batch]}
    if "activity" in batch[0]:
        out["activities"] = [b["activity"] for b in batch]
    return out
