"""The container type users meet: a validated ``.tasz`` file that also restores its frames.

``tascodec.open(path)`` returns a ``Container``. Reading (tables, labels, codes, content, verify)
is ``tascodec.container.reader.ContainerReader``'s; this subclass adds ``decode`` and
``iter_decode`` on top of ``decode_video`` / ``iter_decode_video``, so the container layer never
imports the decoders. Numpy only unless ``backend="torch"`` is asked for.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..container.reader import ContainerReader
from ..errors import LimitExceeded
from . import decode_video, iter_decode_video
from .smooth import resolve_width, smooth_blocks, smooth_frames

__all__ = ["Container"]


class Container(ContainerReader):
    """A validated, read-only ``.tasz`` file that decodes its videos. Videos are named by string or by index."""

    def decode(self, video: str | int, *, backend: str = "numpy", device=None, smooth: int | str = 1) -> np.ndarray:
        """Restored features ``(T, D) float32``: exactly spec section 4's by default; ``smooth``
        (a width in frames, or ``"auto"``): then smoothed across its action boundaries
        (``tascodec.decode.smooth``, the restore ``TaszDataset`` and ``tasz decode`` give by default)."""
        width = resolve_width(smooth, self, video)
        try:
            x = decode_video(self, video, backend=backend, device=device)
            return x if width == 1 else smooth_frames(x, width, self.segments(video)[1])
        except MemoryError:
            raise LimitExceeded(f"{self.path}: not enough memory to decode {video!r} "
                                f"({self.num_frames(video)} frames); use iter_decode") from None

    def iter_decode(self, video: str | int, chunk_frames: int = 65536, *,
                    smooth: int | str = 1) -> Iterator[np.ndarray]:
        """Consecutive ``(<= chunk_frames, D) float32`` blocks whose concatenation is ``decode(video)``
        (with ``smooth``: ``decode(video, smooth=...)`` within float32 rounding)."""
        width = resolve_width(smooth, self, video)
        blocks = iter_decode_video(self, video, chunk_frames=chunk_frames)
        return blocks if width == 1 else smooth_blocks(blocks, self.segments(video)[1], width)

