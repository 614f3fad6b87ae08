"""Which strings may name a video, class or activity, and how to print any string from a file.

The one place for the name rule of spec/tasz-v1.md, section 2 (the container reader and writer,
the dataset reader and the restore all use it), for the rules on the lists of names the metadata
holds (``check_names``, ``check_activities``), and for ``safe_text``: what a command prints
from a file never reaches the terminal as a control sequence.

Unsafe characters (refused in names, escaped when printed): general categories Cc (C0 controls,
DEL, C1 controls), Zl and Zp (U+2028, U+2029: line breaks to ``str.splitlines``), the
Bidi_Control characters (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), and lone
surrogates (not Unicode: they cannot be written as UTF-8).
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidStructure

# 255 is the file-name limit of common file systems; a restore writes <name>.npy, <name>.txt,
# <name>.png and temporaries such as .<name>.npy.XXXXXXXX.tmp beside them, so leave room.
MAX_NAME_BYTES = 200

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def name_problem(s: Any, path_safe: bool = True) -> str | None:
    """Why ``s`` is not an acceptable video/class/activity name, or None.

    ``path_safe``: the name becomes a file name (videos, activities): no ``/``, ``\\``, ``.``, ``..``.
    """
    if not isinstance(s, str):
        return "is not a string"
    if not s:
        return "is empty"
    m = UNSAFE.search(s)
    if m:
        ch = m.group()
        if "\ud800" <= ch <= "\udfff":
            return "is not valid Unicode (a lone surrogate)"
        return f"contains the control or bidirectional-formatting character U+{ord(ch):04X}"
    if len(s.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} UTF-8 bytes"
    if path_safe and ("/" in s or "\\" in s or s in (".", "..")):
        return "is not a safe file name (contains / or \\, or is . or ..)"
    return None


def check_names(kind: str, names: Any, *, path_safe: bool, unique: bool) -> list[str]:
    """``names`` if it is a list of acceptable (and, with ``unique``, distinct) names, else ``InvalidStructure``."""
    if not isinstance(names, list):
        raise InvalidStructure(f"{kind} is not a list")
    for i, s in enumerate(names):
        why = name_problem(s, path_safe)
        if why:
            raise InvalidStructure(f"{kind}[{i}] {s!r} {why}")
    if unique:
        seen: set[str] = set()
        for s in names:
            if s in seen:
                raise InvalidStructure(f"{kind} has a duplicate name {s!r}")
            seen.add(s)
    return names


def check_activities(activities: Any, num_videos: int) -> None:
    """``None``, or a list with one activity name (file-name safe) or ``None`` per video."""
    if activities is None:
        return
    if not isinstance(activities, list) or len(activities) != num_videos:
        n = f"{len(activities)} entries" if isinstance(activities, list) else type(activities).__name__
        raise InvalidStructure(f"activities must be a list with one entry per video ({num_videos}), got {n}")
    for i, a in enumerate(activities):
        why = None if a is None else name_problem(a, path_safe=True)
        if why:
            raise InvalidStructure(f"activities[{i}] {a!r} {why}")


def _py(m: re.Match) -> str:
    o = ord(m.group())
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def _json(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def safe_text(s: str, *, keep_newlines: bool = False, style: str = "py") -> str:
    """``s`` with every unsafe character escaped, so printing it cannot drive a terminal.

    ``style="py"``: ``\\x1b`` / ``\\u202e`` escapes (for tables and messages); ``style="json"``:
    ``\\u001b`` escapes, for JSON text (unsafe characters only occur inside its strings, so the
    result parses to the same value). ``keep_newlines``: leave ``\\n`` as is (multi-line output).
    """
    s = str(s)
    if UNSAFE.search(s) is None:
        return s
    sub = _json if style == "json" else _py
    if keep_newlines:
        return "\n".join(UNSAFE.sub(sub, part) for part in s.split("\n"))
    return UNSAFE.sub(sub, s)
