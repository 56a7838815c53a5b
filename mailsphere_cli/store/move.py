"""`--move`: take quarantined mail out of the user's mailbox, safely.

The source copy is removed only after the quarantine copy is durable, and only
if the bytes at the source are still the bytes that were scanned (same
SHA-256). A Maildir or .eml file is unlinked. An mbox is rewritten once at the
end of the run, under both an flock and a `.lock` dotfile, into a temporary
file in the same directory that replaces the original by rename.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mailsphere_cli.sources import RawMessage
from mailsphere_cli.store.db import Store
from mailsphere_cli.store.quarantine import fsync_dir

_QUOTED_FROM = re.compile(rb"^>+From ")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mbox_entry_digest(entry: bytes) -> str:
    """Re-frame one mbox entry (From_ line to next From_) the way the reader does."""
    lines = entry.splitlines(keepends=True)[1:]
    body = b"".join(line[1:] if _QUOTED_FROM.match(line) else line for line in lines)
    if lines and lines[-1] in (b"\n", b"\r\n"):
        body = body[: len(body) - len(lines[-1])]
    return hashlib.sha256(body).hexdigest()


@dataclass
class _Pending:
    offset: int
    length: int
    message_id: str
    qid: str


@dataclass
class MoveLog:
    mbox: dict[str, list[_Pending]] = field(default_factory=dict)

    def move(self, raw: RawMessage, qid: str, store: Store) -> str | None:
        """Remove (or schedule removal of) the source copy; the error text, or None."""
        location = raw.location
        if location.kind in ("maildir", "eml"):
            path = Path(location.path)
            try:
                if _file_digest(path) != raw.id:
                    return "changed since it was scanned, left in place"
                os.unlink(path)
                fsync_dir(path.parent)
            except FileNotFoundError:
                return "vanished before it could be moved"
            except OSError as exc:
                return f"could not be removed: {exc.strerror}"
            store.event("moved", qid, f"removed {path} after quarantine", actor="scan")
            return None
        if location.kind == "mbox":
            self.mbox.setdefault(location.path, []).append(
                _Pending(location.offset, location.length, raw.id, qid))
            return None
        return "stdin cannot be moved"

    def apply_mbox(self, store: Store) -> tuple[int, list[str]]:
        moved, failures = 0, []
        for path, pending in self.mbox.items():
            try:
                moved += _rewrite_mbox(Path(path), pending, store)
            except OSError as exc:
                failures.append(f"{path}: mbox not rewritten ({exc}); every message left in place")
        self.mbox.clear()
        return moved, failures


def _dotlock(path: Path, timeout: float = 10.0) -> Path:
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return lock
        except FileExistsError:
            if time.monotonic() > deadline:
                raise OSError(errno.EWOULDBLOCK, f"{lock} is held by another program") from None
            time.sleep(0.1)


def _rewrite_mbox(path: Path, pending: list[_Pending], store: Store) -> int:
    lock = _dotlock(path)
    try:
        with open(path, "rb") as source:
            fcntl.flock(source.fileno(), fcntl.LOCK_EX)
            remove = []
            for item in sorted(pending, key=lambda p: p.offset):
                source.seek(item.offset)
                entry = source.read(item.length)
                if entry.startswith(b"From ") and _mbox_entry_digest(entry) == item.message_id:
                    remove.append(item)
            if not remove:
                return 0
            mode = os.stat(path).st_mode & 0o7777
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    position = 0
                    source.seek(0)
                    for item in remove:
                        _copy(source, out, item.offset - position)
                        source.seek(item.offset + item.length)
                        position = item.offset + item.length
                    _copy(source, out, -1)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, mode)
                os.replace(tmp, path)
                fsync_dir(path.parent)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        for item in remove:
            store.event("moved", item.qid, f"removed from {path} at offset {item.offset}",
                        actor="scan")
        return len(remove)
    finally:
        lock.unlink(missing_ok=True)


def _copy(source, out, count: int) -> None:
    while count != 0:
        chunk = source.read(1 << 20 if count < 0 else min(count, 1 << 20))
        if not chunk:
            return
        out.write(chunk)
        if count > 0:
            count -= len(chunk)
