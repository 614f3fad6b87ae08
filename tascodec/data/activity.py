"""A video's activity from its name: the one rule behind every ``activity_pattern``.

The pattern is searched in the name (``re.search``); the activity is its first group, or the whole
match when it has no group. No match, or an empty one, means no activity (``None``).
"""
from __future__ import annotations

import re

from ..errors import UsageError


def compile_activity_pattern(pattern: str | None) -> re.Pattern | None:
    """``pattern`` compiled (``None`` for no pattern); ``UsageError`` naming it when it is not a valid regex."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"activity pattern {pattern!r} is not a valid regex: {e}") from None


def activity_of(pattern: str | re.Pattern | None, video: str) -> str | None:
    """The activity ``pattern`` finds in the name ``video`` (``None`` without a pattern or a match)."""
    rx = compile_activity_pattern(pattern) if isinstance(pattern, str) else pattern
    m = rx.search(video) if rx is not None else None
    if m is None:
        return None
    return (m.group(1) if m.groups() else m.group(0)) or None
