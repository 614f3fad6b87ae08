"""tascodec: condense temporal-action-segmentation feature datasets into ``.tasz`` files.

The root API is a few verbs, the container type and the errors; ``import tascodec`` imports
neither numpy nor torch, and only ``encode`` needs torch (``pip install 'tascodec[encode]'``):

- ``open(path) -> Container``: a validated, read-only ``.tasz`` file (decode videos, read labels).
- ``verify(path) -> list[str]``: read every chunk and check every invariant; ``[]`` when sound.
- ``encode(data_dir, out, config=None, **settings) -> Path``: turn a TAS dataset into a ``.tasz`` file.
- ``subset(src, out, ratio=..., ...)``, ``merge(inputs, out)``, ``split(src, out_dir)``: new
  containers from existing ones, without re-encoding.
- ``read_dataset(data_dir, ...)``: a lazy, validating reader over an MS-TCN-layout dataset.

Errors derive from ``TaszError`` and from the builtin a caller would catch: ``UnknownVideo`` is a
``KeyError``, ``MissingFileError`` a ``FileNotFoundError``, ``UsageError`` (bad argument values,
``OutputExistsError``) a ``ValueError``; ``TaszFormatError`` means the file is not a valid container.
"""
from __future__ import annotations


from .errors import (DatasetError, MissingFileError, OutputExistsError, TaszError, TaszFormatError, UnknownVideo,
                     UsageError)

__version__ = "0.1.0"

__all__ = ["open", "verify", "encode", "subset", "merge", "split", "read_dataset", "Container",
           "TaszError", "UsageError", "OutputExistsError", "UnknownVideo", "MissingFileError", "DatasetError",
           "TaszFormatError", "__version__"]


def open(path, *, check: str = "full"):  # noqa: A001 - the name mirrors the builtin on purpose, like zarr.open
    """Open and validate a ``.tasz`` container read-only (numpy only); use it with ``with``.

    ``check="full"`` reads every entry and code chunk before returning (a file ``verify`` rejects
    never opens; ~10 ms per MB); ``check="metadata"`` skips the code chunks until they are read.

    Raises ``MissingFileError`` if ``path`` does not exist, ``TaszFormatError`` if it is not a
    valid container. ``c.decode(video)`` gives ``(T, D) float32`` features, ``c.labels(video)``
    the per-frame class ids; an unknown video raises ``UnknownVideo`` (a ``KeyError``).
    """
    from .decode.container import Container

    return Container(path, check=check)


def verify(path) -> list[str]:
    """Read every entry and code chunk of the container at ``path``; one line per problem, ``[]`` when sound."""
    from .container.reader import verify_file

    return verify_file(path)


def encode(data_dir, out, **settings):
    """Encode the TAS dataset at ``data_dir`` into the container ``out`` (needs torch); returns ``out``.

    Settings (``K``, ``method``, ``ratio``, ``latent_dtype``, ``preset``, ``device``, ``force``, ...)
    are the fields of ``tascodec.encoding.config.EncodeConfig``; given as keywords they override
    ``config`` (default: the preset's, ``FAST``). See ``tascodec.encoding.pipeline.encode``.
    """
    try:
        from .encoding.pipeline import encode as _encode
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "torch":
            raise
        raise ModuleNotFoundError("tascodec.encode needs PyTorch: pip install 'tascodec[encode]'",
                                  name="torch") from None
    return _encode(data_dir, out, **settings)


def subset(src, out, **options):
    """Write the most diverse share of the container ``src``'s videos to ``out``; returns a ``SubsetReport``.

    Options: ``ratio`` or ``count``, ``strategy`` ("diverse" or "random"), ``seed``,
    ``per_activity``, ``activity_pattern``, ``keep_background``, ``force``. Kept videos decode
    exactly as before. (``tascodec.subsetting.subset_dataset`` makes the same choice on a raw dataset.)
    """
    from .subsetting import subset_file

    return subset_file(src, out, **options)


def merge(inputs, out, *, force: bool = False):
    """Concatenate the containers ``inputs`` (same decoder, vocabulary and codes) into ``out``; returns its path."""
    from .subsetting import merge_files

    return merge_files(inputs, out, force=force)


def split(src, out_dir, *, by: str = "activity", activity_pattern: str | None = None, force: bool = False):
    """Write one container per activity of ``src`` as ``out_dir/<activity>.tasz``; returns activity -> path."""
    from .subsetting import split_file

    return split_file(src, out_dir, by=by, activity_pattern=activity_pattern, force=force)


def read_dataset(data_dir, **options):
    """A lazy, validating reader over an MS-TCN-layout dataset; see ``tascodec.data.layout``."""
    from .data.layout import read_dataset as _read

    return _read(data_dir, **options)


def __getattr__(name: str):
    if name == "Container":  # imported on first use: it pulls in numpy
        from .decode.container import Container

        return Container
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

