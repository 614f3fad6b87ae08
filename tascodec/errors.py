"""One error hierarchy for everything tascodec raises on purpose.

``TaszError`` is the root: the CLI turns any of them into one line on stderr and
a non-zero exit, never a traceback. Library users catch the class they care about.
"""
from __future__ import annotations


class TaszError(Exception):
    """Base class of every error tascodec raises deliberately."""


class DatasetError(TaszError):
    """A TAS dataset on disk (features, labels, mapping, splits) is missing or malformed."""


class UsageError(TaszError):
    """The caller asked for something impossible (bad option value, output exists, ...)."""


class OutputExistsError(UsageError):
    """The output path exists and overwriting was not requested."""


class TaszFormatError(TaszError):
    """A ``.tasz`` file is not a valid container. Subclasses name the kind of problem."""


class NotATaszFile(TaszFormatError):
    """Not a zip archive, or a zip archive without the tasz magic."""


class UnsupportedVersion(TaszFormatError):
    """The container declares a major format version this reader does not know."""


class CorruptData(TaszFormatError):
    """A checksum failed or a chunk could not be decompressed."""


class InvalidStructure(TaszFormatError):
    """Arrays or metadata are missing, mis-shaped, out of range or inconsistent."""


class LimitExceeded(TaszFormatError):
    """A declared size exceeds the reader's safety caps (metadata, entries, frames)."""
