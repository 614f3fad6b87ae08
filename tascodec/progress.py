"""Progress bars: the one place every tascodec bar is made.

A bar is drawn only when asked for and when stderr is a terminal (or a notebook shows it as a
widget). Off a terminal, in a log file or a pipe, tqdm's redraws would leave carriage returns and
``ESC[A`` cursor moves of nested bars in the text, so the bar is disabled there: the object still
counts and accepts ``set_postfix``/``update``, it just prints nothing.
"""
from __future__ import annotations

import sys

__all__ = ["shown", "tqdm"]


def shown() -> bool:
    """Whether a bar would be drawn now: stderr is a terminal, or tqdm draws notebook widgets."""
    from tqdm.auto import tqdm

    if tqdm.__module__.startswith("tqdm.notebook"):
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


def tqdm(*args, disable: bool = False, **kw):
    """``tqdm.auto.tqdm(*args, **kw)``, also disabled when :func:`shown` is False.

    A drop-in for ``from tqdm.auto import tqdm``: every bar of tascodec is made here.
    """
    from tqdm.auto import tqdm as _tqdm

    return _tqdm(*args, disable=bool(disable) or not shown(), **kw)
