"""The ``.tasz`` container (spec/tasz-v1.md): in-memory content, writer, validating reader
(decoding is ``tascodec.decode``'s: ``tascodec.open`` returns ``tascodec.decode.container.Container``)."""
from __future__ import annotations

from .content import Content, Decoder
from .reader import ContainerReader, open_container, verify_file
from .writer import write_container

__all__ = ["Content", "Decoder", "ContainerReader", "open_container", "verify_file", "write_container"]
