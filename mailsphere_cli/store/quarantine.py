"""The quarantine: a directory store of held mail, indexed in the database.

Spam is kept whole (`<qid>.eml`) beside its verdict (`<qid>.json`). Malicious
mail keeps only metadata (headers, verdict, attachment names, types, sizes,
hashes, matched rules): its content is destroyed and can never be released.
Every file is written atomically (temp file, fsync, rename, fsync of the
directory), so a crash leaves either the old state or the new one.
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mailsphere_cli.store.db import Store, now_iso
from mailsphere_cli.verdict import Action, Verdict


def durable_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main_reason(verdict: Verdict) -> str:
    positive = [h for h in verdict.hits if h.score > 0]
    if verdict.action is Action.MALICIOUS and verdict.attachments:
        for record in verdict.attachments:
            if record.get("findings"):
                return f"{record.get('name') or 'attachment'}: {record['findings'][0]}"
    if positive:
        top = max(positive, key=lambda h: h.score)
        return top.rule
    return verdict.decided_by


def _headers_only(raw: bytes) -> str:
    end = raw.find(b"\n\n")
    end2 = raw.find(b"\r\n\r\n")
    cut = min(x for x in (end, end2, len(raw)) if x >= 0)
    return raw[: min(cut, 256 * 1024)].decode("utf-8", "replace")


class Quarantine:
    def __init__(self, store: Store):
        self.store = store
        self.root = store.data_dir / "quarantine"

    @staticmethod
    def qid_for_id(message_id: str) -> str:
        return message_id[:20]

    def qid_for(self, verdict: Verdict) -> str:
        return self.qid_for_id(verdict.id)

    def hold(self, verdict: Verdict, raw: bytes, notify: tuple[str, ...] = ("recipient",)) -> str:
        """Keep the message (or, if malicious, only its metadata); return its quarantine id."""
        qid = self.qid_for(verdict)
        existing = self.store.db.execute("SELECT state FROM quarantine WHERE qid = ?",
                                         (qid,)).fetchone()
        if existing:
            return qid
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        folder = self.root / day
        destroyed = verdict.action is Action.MALICIOUS
        meta: dict[str, Any] = {"qid": qid, "verdict": verdict.as_dict(),
                                "headers": _headers_only(raw), "content_destroyed": destroyed}
        message_path = None
        if not destroyed:
            message_path = folder / f"{qid}.eml"
            durable_write(message_path, raw)
        meta_path = folder / f"{qid}.json"
        durable_write(meta_path, json.dumps(meta, indent=1).encode())
        reason = main_reason(verdict)
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO quarantine (qid, message_id, created, org, sender, recipients, "
                "subject, score, action, reason, path, meta_path, content_destroyed, state, source, "
                "size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (qid, verdict.id, now_iso(), verdict.org, verdict.sender,
                 json.dumps(list(verdict.recipients)), verdict.subject, verdict.score,
                 verdict.action.value, reason, str(message_path) if message_path else None,
                 str(meta_path), int(destroyed), "destroyed" if destroyed else "held",
                 verdict.source, verdict.size))
            db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES (?,?,?,?,?)",
                       (now_iso(), "scan", "quarantined", qid,
                        f"{verdict.action.value}: {reason}" + ("; content destroyed" if destroyed
                                                               else "")))
            if destroyed:
                targets = []
                if "recipient" in notify:
                    targets += list(verdict.recipients)
                if "sender" in notify and verdict.sender:
                    targets.append(verdict.sender)
                for address in targets:
                    db.execute("INSERT OR IGNORE INTO notifications (qid, kind, recipient, "
                               "created) VALUES (?, 'malicious_notice', ?, ?)",
                               (qid, address, now_iso()))
        return qid
