"""Option types shared by several commands."""
from __future__ import annotations

import click


class SmoothWidth(click.ParamType):
    """``--smooth N|auto``: a width in frames >= 1, or ``auto`` (``tascodec.decode.smooth``)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        if isinstance(value, str) and value.isdigit() and int(value) >= 1:
            return int(value)
        self.fail(f"must be a whole number of frames >= 1 or 'auto', got {value!r}", param, ctx)


SMOOTH = SmoothWidth()
