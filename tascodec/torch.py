"""PyTorch access to a ``.tasz`` file: a map-style ``TaszDataset`` and a padding ``collate``.

::

    from torch.utils.data import DataLoader
    from tascodec.torch import TaszDataset, collate

    ds = TaszDataset("breakfast.tasz", cache=True, layout="DT")
    for batch in DataLoader(ds, batch_size=4, shuffle=True, collate_fn=ds.collate, num_workers=2,
                            persistent_workers=True):
        x = batch["features"]                     # (B, D, T_max), the layout MS-TCN's models take
        y, mask = batch["labels"], batch["mask"]  # (B, T_max) labels padded with -100, mask 1/0

An item (``ds[i]`` or ``ds["video_name"]``) is a dict:

- ``features``: ``(T, D) float32``, or ``(D, T)`` with ``layout="DT"`` (what MS-TCN's models take,
  so a loop needs no transposes; ``collate`` then gives ``(B, D, T_max)``);
- ``labels``: ``(T,) int64`` class ids (names: ``ds.vocab[id]``, or ``ds.label_names(video)``);
- ``video``: its name; with ``return_activity=True``, ``activity`` (``str`` or ``None``);
- whatever ``transform(item)`` returns instead, when a transform is given.

T is the number of stored frames: a container encoded with ``--sample-rate n`` holds every n-th
source frame, and items hold exactly those (``tasz decode`` can repeat them back to the source rate).

The file is opened lazily, once per process: the dataset pickles as its path and options, never
an open handle, so ``DataLoader`` workers work under both ``fork`` and ``spawn``.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .decode.container import Container
from .decode.noise import AUTO as NOISE_AUTO, add_noise, check_noise, noise_map, resolve_noise
from .decode.smooth import AUTO, check_width, resolve_width, smooth_frames
from .decode.torch_backend import decode_segments_torch, resolve_device
from .errors import UnknownVideo, UsageError

__all__ = ["TaszDataset", "collate", "IGNORE_INDEX", "LAYOUTS"]

IGNORE_INDEX = -100  # the label of padded frames (CrossEntropyLoss's default ignore_index)
LAYOUTS = ("TD", "DT")  # features (T, D) per item, or (D, T) as MS-TCN's models take them


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
        transform: called on each item dict; its result is the item (with ``num_workers > 0`` under
            ``spawn`` it must pickle: a module-level function, not a lambda).
        layout: ``"TD"`` (default): ``features (T, D)``; ``"DT"``: ``features (D, T)``.
        smooth: smooth the restore across action boundaries over this many frames
            (``tascodec.decode.smooth``): ``"auto"`` (default) two knot spacings for a ``pca``
            file (small budgets train better so), the exact restore for other files; 1: exact.
        noise: noise filling (``tascodec.decode.noise``): each access adds fresh noise at the level
            the file stores of what its codes miss. ``"auto"`` (default): at that level (scale 1)
            for a file that stores it (a 1.2 ``pca`` file), none for others; a number scales it;
            0: none, items are then the same every epoch. Drawn from torch's RNG (``torch.manual_seed``).

    Attributes: ``videos`` (names), ``vocab`` (class names by id), ``activities`` (per video, or
    None), ``num_frames`` (per video), ``feature_dim``, ``noise_scale`` (the noise drawn at; 0: none).
    """

    def __init__(self, path: str | os.PathLike, *, videos: Sequence[str] | None = None, device=None,
                 cache: bool = False, cache_dtype: torch.dtype | None = None, return_activity: bool = False,
                 transform: Callable[[dict[str, Any]], Any] | None = None, layout: str = "TD", smooth: int | str = AUTO,
                 noise: float | str = NOISE_AUTO):
        if layout not in LAYOUTS:
            raise UsageError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        if transform is not None and not callable(transform):
            raise UsageError(f"transform must be callable, not {type(transform).__name__}")
        self.path = Path(path)
        self.device = None if device is None else resolve_device(device)
        self.cache = bool(cache)
        self.cache_dtype = cache_dtype
        self.return_activity = bool(return_activity)
        self.transform = transform
        self.layout = layout
        self.smooth = check_width(smooth)
        self.noise = check_noise(noise)
        with Container(self.path) as c:
            if videos is None:
                videos = c.videos
            elif any(not isinstance(v, str) for v in videos):
                raise UsageError("videos must be a list of names (str)")
            self.videos = [c.videos[c.index(v)] for v in videos]  # unknown names: UsageError
            self.vocab: list[str] = list(c.vocab)
            self.feature_dim: int = c.decoder.feature_dim
            self.num_frames: list[int] = [c.num_frames(v) for v in self.videos]
            self.activities: list[str | None] = [c.activity(v) for v in self.videos]
            self.noise_scale: float = resolve_noise(self.noise, c)
            self._noise_map = noise_map(c, self.noise_scale)
        self._index = {v: i for i, v in enumerate(self.videos)}
        self._container: Container | None = None
        self._pid: int | None = None
        self._cached: dict[int, torch.Tensor] = {}
        self._noise_maps: dict = {}

    def __len__(self) -> int:
        return len(self.videos)

    def index(self, video: str | int) -> int:
        """Position of a video given by name (or position); ``UnknownVideo`` (a ``KeyError``) if absent."""
        if isinstance(video, str):
            i = self._index.get(video)
            if i is None:
                close = difflib.get_close_matches(video, self.videos, n=3)
                hint = f"; close matches: {', '.join(close)}" if close else f" ({len(self)} videos)"
                raise UnknownVideo(f"{self.path}: no video {video!r} in this dataset{hint}")
            return i
        if isinstance(video, bool) or not isinstance(video, (int, np.integer)):
            raise TypeError(f"a video is a name (str) or a position (int), not {type(video).__name__}")
        if not -len(self) <= video < len(self):
            raise IndexError(f"index {video} out of range for {len(self)} videos")
        return int(video) % len(self)

    def activity(self, video: str | int) -> str | None:
        """The activity of a video (by name or position), or None when the file has none."""
        return self.activities[self.index(video)]

    def label_names(self, video: str | int) -> list[str]:
        """Per-frame class names of a video, as its groundTruth file lists them."""
        i = self.index(video)
        return [self.vocab[a] for a in self._open().labels(self.videos[i]).tolist()]

    def collate(self, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """``collate`` for this dataset's layout (``collate_fn=ds.collate``)."""
        return collate(batch, layout=self.layout)

    def __getitem__(self, key: int | str) -> dict[str, Any]:
        i = self.index(key)
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
        if self._noise_map is not None:
            features = add_noise(features, self._noise_tensor(features.device), layout=self.layout)
        item = {"features": features, "labels": torch.from_numpy(c.labels(video)).to(features.device),
                "video": video}
        if self.return_activity:
            item["activity"] = self.activities[i]
        return item if self.transform is None else self.transform(item)

    def _decode(self, c: Container, video: str) -> torch.Tensor:
        if self.device is None or self.device.type == "cpu":  # numpy is the fastest CPU decoder
            x = torch.from_numpy(c.decode(video, smooth=self.smooth))
        else:
            labels, lengths, rows = c.segments(video)
            x = decode_segments_torch(c.decoder, c.codes(video), labels, lengths, rows, device=self.device)
            width = resolve_width(self.smooth, c, video)
            if width > 1:
                x = torch.from_numpy(smooth_frames(x.cpu().numpy(), width, lengths)).to(self.device)
        return x.T.contiguous() if self.layout == "DT" else x

    def _noise_tensor(self, device) -> torch.Tensor:
        t = self._noise_maps.get(device)
        if t is None:
            t = self._noise_maps[device] = torch.from_numpy(self._noise_map).to(device)
        return t

    def _open(self) -> Container:
        """The container, opened once per process (a forked worker reopens its own)."""
        if self._container is None or self._pid != os.getpid():
            self._container = Container(self.path)
            self._pid = os.getpid()
            if torch.utils.data.get_worker_info() is not None:
                worker_init()
        return self._container

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_container"] = None  # never ship an open handle to another process
        state["_pid"] = None
        state["_cached"] = {}  # each process builds its own cache
        state["_noise_maps"] = {}
        return state

    def __repr__(self) -> str:
        return f"TaszDataset({str(self.path)!r}, {len(self)} videos)"


def worker_init(worker_id: int | None = None) -> None:
    """One BLAS thread (torch's and numpy's) in this process: ``num_workers`` decoding workers then use
    ``num_workers`` cores instead of spin-waiting for more. ``TaszDataset`` runs it in each of its
    ``DataLoader`` workers; usable as ``worker_init_fn`` elsewhere."""
    from .decode.numpy_backend import set_blas_threads

    torch.set_num_threads(1)
    set_blas_threads(1)


def collate(batch: Sequence[dict[str, Any]], layout: str | None = None) -> dict[str, Any]:
    """Pad a list of items to the longest video, as MS-TCN's batch generator does.

    Returns ``features (B, T_max, D) float32`` (``(B, D, T_max)`` for ``"DT"`` items; zero-padded),
    ``labels (B, T_max) int64`` (padded with ``IGNORE_INDEX``), ``mask (B, T_max) float32`` (1 on
    real frames; MS-TCN's models take ``mask[:, None]``), ``lengths (B,) int64``, ``videos``
    (names) and, when the items have it, ``activities``. ``layout`` (``"TD"`` or ``"DT"``)
    defaults to what the items' shapes show (``"TD"`` if both fit); ``TaszDataset.collate`` passes
    the dataset's.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    lengths = [int(b["labels"].shape[0]) for b in batch]
    if layout is None:
        td = all(b["features"].shape[0] == n for b, n in zip(batch, lengths))
        layout = "TD" if td or not all(b["features"].shape[1] == n for b, n in zip(batch, lengths)) else "DT"
    elif layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    dt = layout == "DT"
    B, T, D = len(batch), max(lengths), int(batch[0]["features"].shape[0 if dt else 1])
    dev = batch[0]["features"].device
    features = torch.zeros((B, D, T) if dt else (B, T, D), dtype=torch.float32, device=dev)
    labels = torch.full((B, T), IGNORE_INDEX, dtype=torch.long, device=dev)
    mask = torch.zeros(B, T, dtype=torch.float32, device=dev)
    for j, (b, n) in enumerate(zip(batch, lengths)):
        if dt:
            features[j, :, :n] = b["features"]
        else:
            features[j, :n] = b["features"]
        labels[j, :n] = b["labels"]
        mask[j, :n] = 1
    out = {"features": features, "labels": labels, "mask": mask,
           "lengths": torch.tensor(lengths, dtype=torch.long), "videos": [b["video"] for b in batch]}
    if "activity" in batch[0]:
        out["activities"] = [b["activity"] for b in batch]
    return out
