"""The outbox: when no relay is configured, messages become .eml files in a folder.

Each file is named after the message's key and written atomically, so a
message written twice (a resumed run) is still one file.
"""
from __future__ import annotations

import re
from pathlib import Path

from mailsphere_cli.notify import DeliveryError
from mailsphere_cli.store.quarantine import durable_write

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(key: str) -> str:
    return _UNSAFE.sub("_", key)[:150] or "message"


class OutboxTransport:
    name = "outbox"

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path_for(self, key: str) -> Path:
        return self.directory / f"{safe_name(key)}.eml"

    def send(self, sender: str, recipients: list[str], data: bytes, key: str) -> str:
        path = self.path_for(key)
        if path.exists():
            return str(path)  # written by an earlier, interrupted attempt
        try:
            durable_write(path, data)
        except OSError as exc:
            raise DeliveryError(f"outbox {self.directory}: {exc.strerror or exc}") from None
        return str(path)
