"""Lazy, validating reader for TAS datasets in the MS-TCN layout.

::

    DATA/features/<video>.npy          float32 (D, T) (C or Fortran order; float16/float64 are converted)
    DATA/groundTruth/<video>.txt       one action name per frame
    DATA/mapping.txt                   "id name" per line
    DATA/splits/{train,test}.split<N>.bundle   "<video>.txt" per line

Labels (small) are read and checked when the dataset is opened; feature files are checked by
their ``.npy`` header only (shape, dtype) and read one video at a time when asked for, so a pass
over Breakfast never holds more than one video in memory. Every problem raises ``DatasetError``
naming the file.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..container.layout import MAX_FRAMES
from ..container.meta import MAX_SAMPLE_RATE, MAX_SPLIT  # the container's ranges (spec section 2)
from ..container.names import name_problem
from ..errors import (DatasetError, DatasetWarning, FrameCountMismatch, MissingDatasetFile, MissingFeatures,
                      UnknownVideo)
from .activity import activity_of, compile_activity_pattern
from .segments import runs

PARTS = ("train", "test", "all")


@dataclass(frozen=True)
class _Video:
    name: str
    labels: np.ndarray  # int64 (T,), after sample rate and trim
    feature_frames: int | None  # frames in the feature file after sample rate (None: no features)
    dropped: int  # frames dropped by --trim


@dataclass
class TASDataset:
    """A split of a TAS dataset. Iterating yields video names; data is read on demand."""

    name: str
    root: Path
    labels_dir: Path
    features_dir: Path | None
    vocab: list[str]
    background: list[str]
    split: int | None
    part: str
    sample_rate: int
    feature_dim: int | None
    activity_pattern: str | None
    _videos: dict[str, _Video] = field(repr=False)

    # --- listing ---------------------------------------------------------------------------
    @property
    def videos(self) -> list[str]:
        return list(self._videos)

    def __len__(self) -> int:
        return len(self._videos)

    def __iter__(self) -> Iterator[str]:
        return iter(self._videos)

    def __contains__(self, video: object) -> bool:
        return video in self._videos

    @property
    def background_ids(self) -> list[int]:
        return [self.vocab.index(b) for b in self.background if b in self.vocab]

    @property
    def total_frames(self) -> int:
        return sum(v.labels.size for v in self._videos.values())

    @property
    def dropped_frames(self) -> dict[str, int]:
        """Frames dropped per video by ``trim=True`` (only videos that lost frames)."""
        return {k: v.dropped for k, v in self._videos.items() if v.dropped}

    def subset(self, videos: Sequence[str]) -> "TASDataset":
        """The same dataset restricted to ``videos`` (in the given order)."""
        missing = [v for v in videos if v not in self._videos]
        if missing:
            raise DatasetError(f"{self.root}: unknown video(s) {', '.join(missing[:5])}")
        return replace(self, _videos={v: self._videos[v] for v in videos})

    # --- per video -------------------------------------------------------------------------
    def _get(self, video: str) -> _Video:
        try:
            return self._videos[video]
        except KeyError:
            raise UnknownVideo(f"{self.root}: no video named {video!r} in this split") from None

    def num_frames(self, video: str) -> int:
        return int(self._get(video).labels.size)

    def labels(self, video: str) -> np.ndarray:
        """Per-frame class ids, ``int64 (T,)``."""
        return self._get(video).labels

    def segments(self, video: str) -> tuple[np.ndarray, np.ndarray]:
        """``(seg_labels int32 (S,), seg_lengths int64 (S,))``."""
        return runs(self._get(video).labels)

    def activity(self, video: str) -> str | None:
        """The activity id derived from the video name with ``activity_pattern`` (first group)."""
        return activity_of(self.activity_pattern, video)

    def feature_path(self, video: str) -> Path:
        if self.features_dir is None:
            raise DatasetError(f"{self.root}: this dataset has no features folder")
        return self.features_dir / f"{video}.npy"

    def features(self, video: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frame features, ``(T, D)`` float32, after sample rate and trim (frames ``start:stop``
        only, if given: only those are read from the file).

        Always a fresh C-contiguous array the caller owns (may modify in place), whatever the
        file's order (C or Fortran), dtype (float16/32/64) or permissions.
        """
        v = self._get(video)
        path = self.feature_path(video)
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path}: cannot read features ({_short(e)})") from None
        if arr.ndim != 2 or arr.shape[0] != self.feature_dim:
            raise DatasetError(f"{path}: expected shape ({self.feature_dim}, T), found {arr.shape}")
        _check_dtype(path, arr.dtype)
        view = arr[:, :: self.sample_rate][:, : v.labels.size].T[start:stop]
        with np.errstate(over="ignore"):  # float64 beyond float32's range: reported below
            x = np.array(view, dtype=np.float32, order="C")  # a copy: never the read-only memmap itself
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            value = view[bad[0], bad[1]]
            if np.isfinite(value):
                raise DatasetError(f"{path}: value {float(value):.6g} is outside the float32 range at frame "
                                   f"{start + bad[0]}, dim {bad[1]}")
            raise DatasetError(f"{path}: non-finite value (NaN or Inf) at frame {start + bad[0]}, dim {bad[1]}")
        return x

    def iter_videos(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(name, features (T, D), labels (T,))`` one video at a time."""
        for name in self._videos:
            yield name, self.features(name), self.labels(name)

    def labels_hash(self) -> str:
        """sha256 over the video names and label sequences (identifies the source labels)."""
        h = hashlib.sha256()
        h.update("\n".join(self.vocab).encode())
        for name, v in self._videos.items():
            h.update(b"\0" + name.encode() + b"\0")
            h.update(v.labels.astype("<i8").tobytes())
        return h.hexdigest()


# --- opening ------------------------------------------------------------------------------
def read_dataset(path, *, labels=None, split: int | None = 1, part: str = "train",
                 sample_rate: int = 1, background: Sequence[str] = ("background",),
                 activity_pattern: str | None = None, trim: bool = False,
                 require_features: bool = True) -> TASDataset:
    """Open a dataset and validate its labels and feature headers.

    Args:
        path: the dataset folder (with ``features/``), or a features folder when ``labels`` is given.
        labels: folder holding ``groundTruth/``, ``mapping.txt`` and ``splits/`` when they live apart.
        split, part: which bundle to read (``part`` in train|test|all; ``all`` lists groundTruth/).
        sample_rate: keep every n-th frame of features and labels (50Salads is used at 2).
        background: class names treated as background (ignored where absent from the mapping).
        activity_pattern: regex whose first group extracts the activity from a video name.
        trim: on a frame-count mismatch, truncate to the shorter instead of failing.
        require_features: when False, a missing features folder is allowed (label-only use).
    """
    root = Path(path)
    if not root.is_dir():
        raise MissingDatasetFile(f"{root}: no such dataset folder")
    if part not in PARTS:
        raise DatasetError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    if not 1 <= sample_rate <= MAX_SAMPLE_RATE:
        raise DatasetError(f"sample rate must be in 1..{MAX_SAMPLE_RATE}, got {sample_rate}")
    if split is not None and not 0 <= split <= MAX_SPLIT:
        raise DatasetError(f"split must be in 0..{MAX_SPLIT}, got {split}")
    compile_activity_pattern(activity_pattern)  # a bad regex fails before anything is read

    label_root = Path(labels) if labels is not None else root
    if labels is not None:
        features_dir = root / "features" if (root / "features").is_dir() else root
    else:
        features_dir = root / "features"
    if not features_dir.is_dir() or (labels is not None and not any(features_dir.glob("*.npy"))):
        if require_features:
            raise MissingFeatures(f"{features_dir}: no features folder")
        features_dir = None

    gt_dir = label_root / "groundTruth"
    if not gt_dir.is_dir():
        raise MissingDatasetFile(f"{gt_dir}: missing groundTruth folder")
    vocab = _read_mapping(label_root / "mapping.txt")
    index = {name: i for i, name in enumerate(vocab)}
    _warn_unknown_background(label_root / "mapping.txt", background, vocab)
    names, listed_in = _video_names(label_root, gt_dir, split, part)
    if activity_pattern:  # activities become names in the container: the same rule, checked now
        for name in names:
            act = activity_of(activity_pattern, name)
            why = None if act is None else name_problem(act, path_safe=True)
            if why:
                raise DatasetError(f"{listed_in}: video {name!r}: its activity {act!r} (from the activity "
                                   f"pattern {activity_pattern!r}) {why}")

    videos: dict[str, _Video] = {}
    dim = None
    converted: set[str] = set()  # dtypes other than float32 seen (said once, after the loop)
    for name in names:
        lab = _read_labels(gt_dir / f"{name}.txt", index)[::sample_rate]
        if lab.size > MAX_FRAMES:  # the container writer's limit, checked before any training
            raise DatasetError(f"{gt_dir / (name + '.txt')}: {lab.size} frames exceed the {MAX_FRAMES}-frame limit "
                               "of a video in a .tasz container (use --sample-rate or split the video)")
        ff = None
        dropped = 0
        if features_dir is not None:
            fpath = features_dir / f"{name}.npy"
            shape, dtype = _npy_shape(fpath)
            if dtype != np.float32:
                converted.add(str(dtype))
            if (-(-shape[1] // sample_rate) != lab.size and -(-shape[0] // sample_rate) == lab.size
                    and not (dim is not None and shape[0] == dim)):
                raise DatasetError(f"{fpath}: features look transposed: shape {shape} is (T, D), expected "
                                   f"(D, T) (its first axis matches the {lab.size} labels of "
                                   f"{gt_dir / (name + '.txt')}; save x.T)")
            if dim is None:
                dim = shape[0]
            elif shape[0] != dim:
                raise DatasetError(f"{fpath}: feature dimension {shape[0]} differs from {dim} of the other videos")
            ff = -(-shape[1] // sample_rate)
            if ff != lab.size:
                if not trim:
                    raise FrameCountMismatch(f"{fpath}: {ff} feature frames but {lab.size} labels in "
                                               f"{gt_dir / (name + '.txt')}")
                n = min(ff, lab.size)
                dropped = max(ff, lab.size) - n
                lab = lab[:n]
                if n == 0:
                    raise DatasetError(f"{fpath}: empty video after trimming")
        videos[name] = _Video(name, lab, ff, dropped)
    if converted:
        warnings.warn(f"{features_dir}: features stored as {', '.join(sorted(converted))} are converted to "
                      "float32 when read", DatasetWarning, stacklevel=2)

    return TASDataset(
        name=root.resolve().name if labels is None else label_root.resolve().name,
        root=root, labels_dir=label_root, features_dir=features_dir, vocab=vocab,
        background=[b for b in background if b in index], split=split if part != "all" else None,
        part=part, sample_rate=sample_rate, feature_dim=dim, activity_pattern=activity_pattern,
        _videos=videos,
    )


def _short(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingDatasetFile(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({_short(e)})") from None


def _read_mapping(path: Path) -> list[str]:
    entries: dict[int, str] = {}
    for n, line in enumerate(_read_text(path).split("\n"), 1):  # not splitlines: U+2028 is no line break
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(f"{path}:{n}: expected 'id name', found {line.strip()!r}")
        i, name = int(parts[0]), parts[1]
        why = name_problem(name, path_safe=False)  # the container writer's rule for class names
        if why:
            raise DatasetError(f"{path}:{n}: class name {name!r} {why}")
        if i in entries or name in entries.values():
            raise DatasetError(f"{path}:{n}: duplicate class {line.strip()!r}")
        entries[i] = name
    if not entries:
        raise DatasetError(f"{path}: no classes")
    if sorted(entries) != list(range(len(entries))):
        raise DatasetError(f"{path}: class ids must be 0..{len(entries) - 1} without gaps")
    return [entries[i] for i in range(len(entries))]


def _warn_unknown_background(mapping: Path, background: Sequence[str], vocab: list[str]) -> None:
    """A background name the mapping lacks matches nothing: say so (Breakfast's is ``SIL``)."""
    for b in background:
        if b not in vocab:
            shown = ", ".join(vocab[:5]) + (f", ... ({len(vocab)} classes)" if len(vocab) > 5 else "")
            warnings.warn(DatasetWarning(f"{mapping}: background class {b!r} is not in it and is ignored "
                                         f"(its classes: {shown})"), stacklevel=3)


def _video_names(label_root: Path, gt_dir: Path, split: int | None, part: str) -> tuple[list[str], Path]:
    """The part's video names, each one a name the container writer accepts, and where they are listed."""
    if part == "all":
        names = sorted(p.stem for p in gt_dir.glob("*.txt"))
        if not names:
            raise DatasetError(f"{gt_dir}: no label files")
        for name in names:
            why = name_problem(name, path_safe=True)
            if why:
                raise DatasetError(f"{gt_dir}: label file {name + '.txt'!r} gives the video name {name!r}, "
                                   f"which {why}")
        return names, gt_dir
    bundle = label_root / "splits" / f"{part}.split{split}.bundle"
    names = []
    for n, line in enumerate(_read_text(bundle).split("\n"), 1):  # not splitlines: U+0085 is no line break
        entry = line.strip()
        if not entry:
            continue
        entry = entry.replace("\\", "/").rsplit("/", 1)[-1]
        name = entry[:-4] if entry.endswith(".txt") else entry
        why = name_problem(name, path_safe=True)
        if why:
            raise DatasetError(f"{bundle}:{n}: video name {name!r} {why}")
        names.append(name)
    if not names:
        raise DatasetError(f"{bundle}: lists no videos")
    if len(set(names)) != len(names):
        raise DatasetError(f"{bundle}: lists a video twice")
    return names, bundle


def _read_labels(path: Path, index: dict[str, int]) -> np.ndarray:
    lines = _read_text(path).split()
    if not lines:
        raise DatasetError(f"{path}: empty video (no labels)")
    try:
        return np.fromiter((index[w] for w in lines), dtype=np.int64, count=len(lines))
    except KeyError as e:
        raise DatasetError(f"{path}: label {e.args[0]!r} is not in mapping.txt") from None


def _check_dtype(path: Path, dtype: np.dtype) -> None:
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise DatasetError(f"{path}: features must be float16, float32 or float64, found {dtype}")


def _npy_shape(path: Path) -> tuple[tuple[int, int], np.dtype]:
    """``((D, T), dtype)`` from the ``.npy`` header alone."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _fortran, dtype = read_header(fh, max_header_size=1 << 16)  # header only
    except FileNotFoundError:
        raise MissingDatasetFile(f"{path}: feature file not found") from None
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a valid .npy file ({_short(e)})") from None
    _check_dtype(path, dtype)
    if len(shape) != 2:
        raise DatasetError(f"{path}: features must be 2-D (D, T), found shape {shape}")
    if shape[1] == 0:
        raise DatasetError(f"{path}: empty video (0 frames)")
    return (int(shape[0]), int(shape[1])), dtype
