"""py7zr's side of 7z expansion: writers that keep what the limits allow.

Its own module so that py7zr (and the ciphers it loads: 0.15 s of start-up) is
imported only when a scan first meets a 7z archive."""
from __future__ import annotations

from typing import TYPE_CHECKING

import py7zr

from mailsphere_cli.attachments.archives import Member, _LimitStop

if TYPE_CHECKING:
    from mailsphere_cli.attachments.archives import Expansion


class _BoundedWriter(py7zr.Py7zIO):
    def __init__(self, owner: "BoundedWriterFactory", name: str) -> None:
        self.owner = owner
        self.name = name
        self.kept = bytearray()
        self.total = 0
        self.truncated = False

    def write(self, chunk: bytes | bytearray) -> int:
        self.owner.accept(self, chunk)
        return len(chunk)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.total


class BoundedWriterFactory(py7zr.WriterFactory):
    """Receives 7z output and applies the same limits as `Expansion._read`.
    The ratio is judged for the archive as a whole (7z blocks are solid)."""

    def __init__(self, expansion: Expansion) -> None:
        self.expansion = expansion
        self.writers: list[_BoundedWriter] = []
        self.names: set[str] = set()
        self.written = 0
        limits = expansion.budget.limits
        self.ratio_cap = max(limits.ratio_floor, int(len(expansion.data) * limits.max_ratio))

    def create(self, filename: str) -> _BoundedWriter:
        writer = _BoundedWriter(self, filename)
        self.writers.append(writer)
        return writer

    def accept(self, writer: _BoundedWriter, chunk: bytes | bytearray) -> None:
        expansion = self.expansion
        limits = expansion.budget.limits
        writer.total += len(chunk)
        self.written += len(chunk)
        room = limits.max_object - len(writer.kept)
        if room > 0:
            writer.kept += chunk[:room]
        elif not writer.truncated:
            writer.truncated = True
            expansion._note("ATTACH_ARCHIVE_OBJECT_TOO_LARGE",
                            f"{writer.name!r} is larger than {limits.max_object} bytes; "
                            "only its start was scanned")
        if self.written > self.ratio_cap:
            writer.truncated = True
            expansion._note("ATTACH_ARCHIVE_BOMB_RATIO",
                            f"7z expands past {self.ratio_cap} bytes from {len(expansion.data)} "
                            f"(over {limits.max_ratio:g}:1)")
            raise _LimitStop()
        if expansion.budget.expanded + self.written > limits.max_expanded:
            writer.truncated = True
            expansion.budget.expanded_exhausted = True
            expansion._note("ATTACH_ARCHIVE_TOO_LARGE",
                            f"archives expand past {limits.max_expanded} bytes at {writer.name!r}")
            raise _LimitStop()

    def members(self) -> list[Member]:
        self.expansion.budget.expanded += self.written
        return [Member(w.name, bytes(w.kept), w.truncated) for w in self.writers]
