"""Telling people: digests of quarantined mail, malicious-content notices, and the
two ways a message leaves Mailsphere (an SMTP relay, or .eml files in an outbox).

`transport_for(config, data_dir)` picks, for digests and notices, the outbox
folder when `[smtp] outbox` is set, else the relay when `[smtp] host` is set,
else `<data_dir>/outbox`, so it works out of the box. Releases go through the
relay only (`relay_for`): a released message belongs in a mailbox, not a folder.
Every message sent carries a `key`; the outbox names its file after it, so
re-sending after a crash overwrites nothing and adds nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class DeliveryError(Exception):
    """A message could not be handed over; the text says where and why."""


class Transport(Protocol):
    name: str

    def send(self, sender: str, recipients: list[str], data: bytes, key: str) -> str:
        """Hand the message over; return where it went. Raise DeliveryError on failure."""


def transport_for(config: Any, data_dir: Path) -> Transport:
    from mailsphere_cli.notify.outbox import OutboxTransport
    from mailsphere_cli.notify.smtp import SmtpTransport
    smtp = config.smtp
    if smtp.host and not smtp.outbox:
        return SmtpTransport(smtp)
    return OutboxTransport(Path(smtp.outbox) if smtp.outbox else Path(data_dir) / "outbox")


def relay_for(config: Any) -> Transport | None:
    from mailsphere_cli.notify.smtp import SmtpTransport
    return SmtpTransport(config.smtp) if config.smtp.host else None
