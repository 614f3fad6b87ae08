"""Option types and phrases shared by several commands."""
from __future__ import annotations

from typing import Iterable

import click


class SmoothWidth(click.ParamType):
    """``--smooth N|auto``: a width in frames >= 1, or ``auto`` (checked by
    ``tascodec.decode.smooth.check_width``)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        from tascodec.decode.smooth import check_width
        from tascodec.errors import UsageError

        if isinstance(value, str) and value.isdigit():
            value = int(value)
        try:
            return check_width(value)
        except UsageError:
            self.fail(f"must be a whole number of frames >= 1 or 'auto', got {value!r}", param, ctx)


SMOOTH = SmoothWidth()


class NoiseScale(click.ParamType):
    """``--noise X|auto``: a scale >= 0 of the stored noise level, or ``auto`` (checked by
    ``tascodec.decode.noise.check_noise``)."""

    name = "X|auto"

    def convert(self, value, param, ctx):
        from tascodec.decode.noise import check_noise
        from tascodec.errors import UsageError

        try:
            return check_noise(value)
        except UsageError:
            self.fail(f"must be a number >= 0 or 'auto', got {value!r}", param, ctx)


NOISE = NoiseScale()


def smoothed(widths: Iterable[int]) -> str:
    """``"smoothed across action boundaries over 4 frames"`` (or ``4-9``) for these widths; ``""``
    when every width is 1 (the exact restore)."""
    widths = sorted(set(widths)) or [1]
    if widths[-1] <= 1:
        return ""
    span = f"{widths[0]}" if len(widths) == 1 else f"{widths[0]}-{widths[-1]}"
    return f"smoothed across action boundaries over {span} frames"
