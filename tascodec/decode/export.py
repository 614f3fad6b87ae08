"""Restoring to files: one video as an MS-TCN ``.npy``, or a whole container as an MS-TCN dataset.

Feature files are ``(D, T) float32`` C-order ``.npy`` (what ``np.save`` writes for such an array),
streamed block by block so that memory does not grow with a video's length. Outputs appear
atomically: a single file through ``atomic_path``, a dataset folder built beside its destination
and renamed into place, never half-written.

Dataset layout (``tascodec.data.layout`` reads it back)::

    DIR/features/<video>.npy    DIR/groundTruth/<video>.txt    DIR/mapping.txt
    DIR/splits/train.split<N>.bundle        (N: the container's provenance split, default 1)
    DIR/splits/test.split<N>.bundle         (with ``with_test``: the original test videos)

Restore for trainers: ``with_test=DATA_DIR`` adds the original dataset's test split (features and
ground truth hard-linked where the filesystem allows, copied otherwise), so training code written
for the MS-TCN layout (MS-TCN, ASFormer, DiffAct ``main.py``) trains and tests on the folder with
only its data path changed.

Sample rate: a container encoded with ``--sample-rate n`` (``provenance["sample_rate"]``) stores
every n-th source frame. By default (``rate="source"``) each restored frame and its label are
repeated n times, back to the source frame rate: the restored train videos are then at the rate of
the original test videos, and a loader that subsamples with ``[:, ::n]`` (MS-TCN's 50Salads rate 2)
reads exactly the stored frames. ``rate="stored"`` writes the stored frames as they are.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from .._io import AtomicDir, atomic_path, check_dir
from ..container.names import name_problem
from ..container.summary import sample_rate_of
from ..errors import UsageError
from . import iter_decode_video
from .smooth import AUTO, check_width, resolve_width, smooth_blocks

WRITE_BLOCK_FRAMES = 4096  # frames decoded and written to a .npy at once
RATES = ("source", "stored")


def check_video_name(name: str) -> str:
    """Refuse a video name that could leave its folder as a file name (``/``, ``\\``, ``..``, NUL, ...)."""
    why = name_problem(name, path_safe=True)
    if why:
        raise UsageError(f"video name {name!r} {why}")
    return name


def write_labels(f, vocab: list[str], seg_label: np.ndarray, seg_length: np.ndarray, repeat: int = 1) -> None:
    """Write one class name per frame (each segment's ``length * repeat`` lines) to the text file ``f``,
    about 1 MiB at a time: memory does not grow with a video's length."""
    for a, n in zip(np.asarray(seg_label).tolist(), np.asarray(seg_length).tolist()):
        line = f"{vocab[a]}\n"
        n *= repeat
        block = max(1, (1 << 20) // len(line))
        while n > 0:
            k = min(n, block)
            f.write(line * k)
            n -= k


def write_features(blocks: Iterable[np.ndarray], num_frames: int, dim: int, path: str | os.PathLike) -> None:
    """Write ``(T, D)`` frame blocks as the ``(D, T) float32`` C-order ``.npy`` that ``np.save`` makes.

    Each block's columns go to their place in every row, so only one block is in memory.
    """
    header = {"descr": np.dtype("<f4").str, "fortran_order": False, "shape": (dim, num_frames)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        offset = f.tell()
        f.truncate(offset + 4 * dim * num_frames)
        fd, t = f.fileno(), 0
        for block in blocks:
            n = block.shape[0]
            rows = np.ascontiguousarray(block.T, dtype="<f4")  # (D, n)
            for j in range(dim):
                os.pwrite(fd, rows[j].data, offset + 4 * (j * num_frames + t))
            t += n
        if t != num_frames:
            raise UsageError(f"got {t} frames, expected {num_frames}")


def restore_repeat(container, rate: str = "source") -> int:
    """How many times each stored frame is written: the container's sample rate for ``rate="source"``, else 1."""
    if rate not in RATES:
        raise UsageError(f"rate must be one of {', '.join(RATES)}, not {rate!r}")
    return sample_rate_of(container.metadata["provenance"]) if rate == "source" else 1


def export_video(container, video: str, out: str | os.PathLike | None = None, *, force: bool = False,
                 device=None, rate: str = "source", smooth: int | str = AUTO) -> Path:
    """Restore ``video`` to ``out`` (default ``<video>.npy`` in the working folder); returns the path.

    Like ``np.save``, ``.npy`` is appended to an ``out`` that does not end with it. ``smooth``:
    across action boundaries, over this many stored frames (``"auto"``: the container's width, 1:
    the exact restore; ``tascodec.decode.smooth``).
    """
    video = container.videos[container.index(video)]
    check_width(smooth)
    repeat = restore_repeat(container, rate)
    if out is None:
        out = Path(f"{check_video_name(video)}.npy")
    elif not os.fspath(out).endswith(".npy"):  # as np.save does: out2 -> out2.npy
        out = Path(f"{os.fspath(out)}.npy")
    blocks = _repeated(_blocks(container, video, device, smooth), repeat)
    with atomic_path(out, force) as tmp:
        write_features(blocks, repeat * container.num_frames(video), container.decoder.feature_dim, tmp)
    return Path(out)


def export_dataset(container, out_dir: str | os.PathLike, *, force: bool = False, device=None,
                   progress: bool = False, with_test: str | os.PathLike | None = None,
                   rate: str = "source", smooth: int | str = AUTO) -> Path:
    """Restore every video of ``container`` as an MS-TCN dataset folder ``out_dir``; returns it.

    ``with_test``: an original dataset folder (MS-TCN layout) whose test split of the container's
    split number joins the restored train videos. ``rate``: ``"source"`` (repeat frames back to
    the source frame rate) or ``"stored"`` (see the module notes). ``smooth``: as ``export_video``.
    """
    check_width(smooth)
    out_dir = Path(out_dir)
    repeat = restore_repeat(container, rate)
    check_dir(out_dir, force)
    names = [check_video_name(v) for v in container.videos]
    vocab = container.vocab
    spaced = [a for a in vocab if len(a.split()) != 1]
    if spaced:
        raise UsageError(f"class name {spaced[0]!r} has white space, which mapping.txt cannot hold")
    split = int(container.metadata.get("provenance", {}).get("split", 1) or 1)
    test = None if with_test is None else _test_part(container, with_test, split, repeat)
    bar = None
    staging = AtomicDir(out_dir, "restored-dataset", force)  # tascodec._io: the one folder rule
    tmp = staging.path
    try:
        for sub in ("features", "groundTruth", "splits"):
            (tmp / sub).mkdir()
        (tmp / "mapping.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(vocab)), encoding="utf-8")
        (tmp / "splits" / f"train.split{split}.bundle").write_text(
            "".join(f"{v}.txt\n" for v in names), encoding="utf-8")
        bar = _progress(container, names, progress)
        for v in names:
            feat, gt = tmp / "features" / f"{v}.npy", tmp / "groundTruth" / f"{v}.txt"
            _check_inside(tmp, feat)
            _check_inside(tmp, gt)
            seg_label, seg_length, _ = container.segments(v)
            with open(gt, "w", encoding="utf-8") as f:
                write_labels(f, vocab, seg_label, seg_length, repeat)
            write_features(_repeated(_counted(_blocks(container, v, device, smooth), bar), repeat), repeat * container.num_frames(v),
                           container.decoder.feature_dim, feat)
        if bar is not None:
            bar.close()
        if test is not None:
            _write_test_part(tmp, test, split)
        staging.commit()
    except OSError as e:
        raise staging.error(e) from None  # a full disk: one line naming the output
    finally:
        if bar is not None:
            bar.close()  # an error then starts on its own line
        staging.discard()
    return out_dir


def _test_part(container, data_dir, split: int, repeat: int):
    """The original dataset's test split, checked against the container before anything is written."""
    from ..data.layout import read_dataset

    rate = sample_rate_of(container.metadata["provenance"])
    if rate != 1 and repeat == 1:
        raise UsageError(f"the container keeps one frame in {rate} while the test videos of {data_dir} are at "
                         "the source rate: restore at the source rate to mix them (not rate 'stored')")
    ds = read_dataset(data_dir, split=split, part="test", trim=True, background=())
    mapping = Path(data_dir) / "mapping.txt"
    if ds.vocab != list(container.vocab):
        raise UsageError(f"{mapping}: its classes differ from the container's "
                         f"({len(ds.vocab)} vs {len(container.vocab)}; first difference at id "
                         f"{next((i for i, (a, b) in enumerate(zip(ds.vocab, container.vocab)) if a != b), 0)})")
    if ds.feature_dim != container.decoder.feature_dim:
        raise UsageError(f"{ds.features_dir}: {ds.feature_dim}-d features, the container restores "
                         f"{container.decoder.feature_dim}-d ones")
    both = [v for v in ds.videos if v in container]
    if both:
        raise UsageError(f"{data_dir}: test video {both[0]!r} of split {split} is also a training video of the "
                         f"container{f' ({len(both)} in all)' if len(both) > 1 else ''}")
    names = [check_video_name(v) for v in ds.videos]
    return ds, names


def _write_test_part(tmp: Path, test, split: int) -> None:
    """Link (or copy) the original test features and ground truth into ``tmp``; write the test bundle."""
    ds, names = test
    for v in names:
        for src, dst in ((ds.feature_path(v), tmp / "features" / f"{v}.npy"),
                         (ds.labels_dir / "groundTruth" / f"{v}.txt", tmp / "groundTruth" / f"{v}.txt")):
            _check_inside(tmp, dst)
            link_or_copy(src, dst)
    (tmp / "splits" / f"test.split{split}.bundle").write_text("".join(f"{v}.txt\n" for v in names),
                                                               encoding="utf-8")


def link_or_copy(src: Path, dst: Path) -> bool:
    """Hard-link ``src`` to ``dst`` where the filesystem allows (True), else copy it (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        shutil.copyfile(src, dst)
        return False


def _repeated(blocks, repeat: int):
    for b in blocks:
        yield b if repeat == 1 else np.repeat(b, repeat, axis=0)


def _blocks(container, video: str, device, smooth: int | str = AUTO):
    backend = "numpy" if device in (None, "cpu") else "torch"
    blocks = iter_decode_video(container, video, chunk_frames=WRITE_BLOCK_FRAMES, backend=backend, device=device)
    return smooth_blocks(blocks, container.segments(video)[1], resolve_width(smooth, container, video))


def _check_inside(root: Path, path: Path) -> None:
    if os.path.dirname(os.path.dirname(os.path.abspath(path))) != os.path.abspath(root):
        raise UsageError(f"{path}: would be written outside {root}")


def _progress(container, names: list[str], enabled: bool):
    if not enabled:
        return None
    from tascodec.progress import tqdm

    return tqdm(total=sum(container.num_frames(v) for v in names), unit="frame", unit_scale=True,
                desc="decode", dynamic_ncols=True)


def _counted(blocks, bar):
    for b in blocks:
        yield b
        if bar is not None:
            bar.update(b.shape[0])
