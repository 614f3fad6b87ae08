"""tascodec: condense temporal-action-segmentation feature datasets into ``.tasz`` files.

Public API (three verbs and the errors):

- ``tascodec.open(path)``: a read-only ``.tasz`` container (decode videos, read labels).
- ``tascodec.encode(data_dir, out, **settings)``: turn a TAS dataset into a ``.tasz`` file.
- ``tascodec.read_dataset(data_dir, ...)``: a lazy reader over an MS-TCN-layout dataset.
"""
from __future__ import annotations

from .errors import DatasetError, TaszError, TaszFormatError

__version__ = "0.1.0"

__all__ = ["open", "encode", "read_dataset", "TaszError", "TaszFormatError", "DatasetError", "__version__"]


def open(path):  # noqa: A001 - the name mirrors the builtin on purpose, like zarr.open
    """Open a ``.tasz`` container read-only (validates it; works without torch)."""
    from .container.reader import open_container

    return open_container(path)


def encode(data_dir, out, **settings):
    """Encode the TAS dataset at ``data_dir`` into the container ``out``; see ``tascodec.encode.pipeline``."""
    from .encode.pipeline import encode as _encode

    return _encode(data_dir, out, **settings)


def read_dataset(data_dir, **options):
    """A lazy, validating reader over an MS-TCN-layout dataset; see ``tascodec.data.layout``."""
    from .data.layout import read_dataset as _read

    return _read(data_dir, **options)
