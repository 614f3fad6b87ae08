"""The ``.tasz`` container (spec/tasz-v1.md): in-memory content, writer, validating reader."""
from __future__ import annotations

from .content import Content, Decoder
from .reader import Container, open_container, verify_file
from .writer import write_container

__all__ = ["Content", "Decoder", "Container", "open_container", "verify_file", "write_container"]
