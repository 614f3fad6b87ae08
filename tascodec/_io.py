"""Atomic output: build a file next to its destination, then rename it into place.

A crash, a kill or an exception never leaves a half-written file at the output path.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError, UsageError


def check_writable(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; refuse a missing parent folder."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p}: already exists (use -f/--force to replace it)")
    if p.is_dir():
        raise UsageError(f"{p}: is a directory, expected a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{p}: parent folder {parent} does not exist")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    p = check_writable(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    tmp_p = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_p, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp_p
        with open(tmp_p, "rb+") as fh:
            os.fsync(fh.fileno())
        if p.exists() and not force:  # appeared while we were writing
            raise OutputExistsError(f"{p}: already exists (use -f/--force to replace it)")
        os.replace(tmp_p, p)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_p.unlink()
