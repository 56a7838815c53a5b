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

from mailsphere_cli.store.db import Store, now_iso
from mailsphere_cli.verdict import Action, Verdict, VerdictView, clean_text, to_json


def durable_write(path: Path, data: bytes) -> None:
    durable_write_many([(path, data)])


def durable_write_many(items: list[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary name, flush them to disk, then rename them all.

    A batch of many files is flushed with one sync() instead of one fsync() per
    file (fsync costs milliseconds whatever the size on virtual disks); each
    file still appears under its name only once its bytes are on disk.
    """
    staged: list[tuple[int, str, Path]] = []
    try:
        for path, data in items:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            staged.append((fd, tmp, path))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        if len(staged) > 2:
            os.sync()
        else:
            for fd, _, _ in staged:
                os.fsync(fd)
        for fd, tmp, path in staged:
            os.close(fd)
            os.replace(tmp, path)
        staged = []
    finally:
        for fd, tmp, _ in staged:
            try:
                os.close(fd)
            except OSError:
                pass
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    for directory in {path.parent for path, _ in items}:
        fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main_reason(verdict: Verdict | VerdictView) -> str:
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

    def qid_for(self, verdict: Verdict | VerdictView) -> str:
        return self.qid_for_id(verdict.id)

    def hold(self, verdict: Verdict | VerdictView, raw: bytes,
             notify: tuple[str, ...] = ("recipient",)) -> str:
        return self.hold_many([(verdict, raw, notify)])[0]

    def hold_many(self, items: list[tuple[Verdict | VerdictView, bytes, tuple[str, ...]]],
                  texts: list[str] | None = None) -> list[str]:
        """Keep each message (or, if malicious, only its metadata); return the quarantine ids.

        Files first, durable, then the index rows in one transaction: a crash in between
        leaves files without rows, which the next hold of the same message reuses.
        """
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        folder = self.root / day
        writes: list[tuple[Path, bytes]] = []
        rows = []
        qids = []
        for index, (verdict, raw, notify) in enumerate(items):
            qid = self.qid_for(verdict)
            qids.append(qid)
            if qid in {r[0] for r in rows} or self.store.db.execute(
                    "SELECT 1 FROM quarantine WHERE qid = ?", (qid,)).fetchone():
                continue
            destroyed = verdict.action is Action.MALICIOUS
            # The verdict is spliced in already serialised: encoding it again was a
            # large share of the scan's parent-process time.
            verdict_text = texts[index] if texts else to_json(verdict.as_dict())
            meta = json.dumps({"qid": qid, "headers": _headers_only(raw),
                               "content_destroyed": destroyed})
            meta = meta[:-1] + ', "verdict": ' + verdict_text + "}"
            message_path = None if destroyed else folder / f"{qid}.eml"
            if message_path:
                writes.append((message_path, raw))
            meta_path = folder / f"{qid}.json"
            writes.append((meta_path, meta.encode()))
            rows.append((qid, verdict, notify, message_path, meta_path, destroyed))
        if writes:
            durable_write_many(writes)
        if rows:
            with self.store.transaction() as db:
                for qid, verdict, notify, message_path, meta_path, destroyed in rows:
                    self._index(db, qid, verdict, notify, message_path, meta_path, destroyed)
        return qids

    def _index(self, db, qid, verdict, notify, message_path, meta_path, destroyed) -> None:
        reason = clean_text(main_reason(verdict))
        db.execute(
            "INSERT INTO quarantine (qid, message_id, created, org, sender, recipients, "
            "subject, score, action, reason, path, meta_path, content_destroyed, state, source, "
            "size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (qid, verdict.id, now_iso(), verdict.org, clean_text(verdict.sender),
             json.dumps(list(verdict.recipients)), clean_text(verdict.subject), verdict.score,
             verdict.action.value, reason, str(message_path) if message_path else None,
             str(meta_path), int(destroyed), "destroyed" if destroyed else "held",
             clean_text(verdict.source), verdict.size))
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
                           (qid, clean_text(address), now_iso()))
