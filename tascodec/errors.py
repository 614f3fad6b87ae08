"""One error hierarchy for everything tascodec raises on purpose.

``TaszError`` is the root: the CLI turns any of them into one line on stderr and
a non-zero exit, never a traceback. As zarr's errors do, each also derives from the builtin
a Python user would catch for that case: an unknown video is a ``KeyError``, a missing file a
``FileNotFoundError``, a bad argument value a ``ValueError``. Messages state the problem and
name the file; hints about command-line flags are added by the CLI, not here.
"""
from __future__ import annotations


class TaszError(Exception):
    """Base class of every error tascodec raises deliberately."""


class UsageError(TaszError, ValueError):
    """The caller asked for something impossible (bad option or argument value, output exists, ...)."""


class OutputExistsError(UsageError):
    """The output path exists and overwriting (``force``) was not requested."""


class OutputWriteError(TaszError, OSError):
    """Writing an output failed (disk full, file too large, no permission, ...); nothing was replaced.

    ``path`` is the output (not its temporary); ``errno``/``strerror`` are the cause's.
    """

    def __init__(self, path, cause: OSError, inner: str | None = None):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path, self.inner = str(path), inner

    def __str__(self) -> str:
        where = f" {self.inner}" if self.inner else ""
        return f"{self.path}: cannot write{where}: {self.strerror}"

    def __reduce__(self):
        return OSError, (self.errno, str(self), self.path)


class DuplicateVideos(UsageError):
    """Inputs to be merged share video names (``skip_duplicates`` keeps the first of each)."""


class UnknownVideo(TaszError, KeyError):
    """A container or dataset has no such video (by name, or index out of range)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingFileError(TaszError, FileNotFoundError):
    """An input file or folder does not exist."""


class DatasetError(TaszError):
    """A TAS dataset on disk (features, labels, mapping, splits) is missing or malformed."""


class MissingDatasetFile(DatasetError, MissingFileError):
    """A file or folder of a TAS dataset does not exist."""


class MissingFeatures(MissingDatasetFile):
    """A dataset folder has no features folder (they may live apart from the labels)."""


class MissingActivities(UsageError):
    """Videos have no activity (none stored, no pattern given) where an operation needs one per video."""


class FrameCountMismatch(DatasetError):
    """A video's features and labels have different lengths (``trim`` truncates to the shorter)."""


class TaszWarning(UserWarning):
    """Base class of the warnings tascodec issues (the CLI prints each once, as one line)."""


class DatasetWarning(TaszWarning):
    """Valid dataset input that tascodec adapts, e.g. float64 features converted to float32."""


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
