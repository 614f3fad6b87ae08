"""Figures for people: the one byte formatter of every message, table and report."""
from __future__ import annotations


def human_bytes(n: float) -> str:
    """``n`` bytes in decimal units, as file managers show sizes: ``"999 B"``, ``"1.0 KB"``, ``"13.0 MB"``."""
    if abs(n) < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000.0
        if abs(n) < 999.95:  # would round to 1000.0: say it in the next unit
            return f"{n:.1f} {unit}"
    return f"{n / 1000.0:.1f} TB"
