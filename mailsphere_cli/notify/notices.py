"""Malicious-content notices: the `notifications` rows the scan queued when it
destroyed a message's content (to the recipient, and/or the sender, as the
org's `notify_malicious` says).

A notice says what was stopped and why: date, sender, subject, the reason,
and each attachment's name, detected type, size and SHA-256, never any of
the destroyed content. Each row is sent then marked sent; a crash in between
re-sends it under the same key (one outbox file, one Message-ID).
"""
from __future__ import annotations

import email.policy
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from mailsphere_cli.notify import DeliveryError
from mailsphere_cli.store.db import Store, now_iso
from mailsphere_cli.store.lifecycle import _valid_address, crash_point

MAX_NOTICES = 1000
MAX_ATTACHMENTS = 20


@dataclass
class NoticeReport:
    due: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # qid, recipient, where
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # qid, recipient, error


def due_notices(store: Store, only_org: str | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT n.id, n.qid, n.recipient, n.created, q.org, q.sender, q.recipients, "
           "q.subject, q.reason, q.created AS held, q.meta_path FROM notifications n JOIN "
           "quarantine q ON q.qid = n.qid WHERE n.kind = 'malicious_notice' AND n.state = 'due'")
    params: tuple = ()
    if only_org:
        sql += " AND q.org = ?"
        params = (only_org,)
    return [dict(r) for r in store.query(sql + " ORDER BY n.id LIMIT ?",
                                         params + (MAX_NOTICES,))]


def _attachments(meta_path: str | None) -> list[dict[str, Any]]:
    if not meta_path:
        return []
    try:
        meta = json.loads(Path(meta_path).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return list((meta.get("verdict") or {}).get("attachments") or [])[:MAX_ATTACHMENTS]


def _flat(value: Any, limit: int = 160) -> str:
    return " ".join(str(value or "").split())[:limit]


def render_notice(notice: dict[str, Any], sender: str) -> EmailMessage:
    to_sender = notice["recipient"] == (notice.get("sender") or "").lower()
    recipients = json.loads(notice.get("recipients") or "[]")
    lines = [("A message you sent was stopped" if to_sender else
              "A message addressed to you was stopped") +
             " because it carried malicious content. Its content was destroyed; "
             "it cannot be released.", "",
             f"Held:     {_flat(notice.get('held'))}",
             f"From:     {_flat(notice.get('sender')) or '(none)'}",
             f"To:       {_flat(', '.join(map(str, recipients[:10])))}",
             f"Subject:  {_flat(notice.get('subject')) or '(no subject)'}",
             f"Reason:   {_flat(notice.get('reason'), 300)}",
             f"Reference: {notice['qid']}"]
    attachments = _attachments(notice.get("meta_path"))
    if attachments:
        lines += ["", "Attachments (names, types and fingerprints only):"]
        for record in attachments:
            findings = "; ".join(_flat(f, 100) for f in (record.get("findings") or [])[:3])
            lines.append(f"  - {_flat(record.get('name'), 100) or '(unnamed)'}: "
                         f"{_flat(record.get('true_type') or record.get('declared_type'), 60) or '?'}, "
                         f"{record.get('size', '?')} bytes, sha256 "
                         f"{_flat(record.get('sha256'), 64) or '?'}"
                         + (f" ({findings})" if findings else ""))
    lines += ["", "If you expected this message, ask the sender to send the file another "
                  "way, or contact your administrator with the reference above."]
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = notice["recipient"]
    message["Subject"] = ("Your message was not delivered: malicious content" if to_sender else
                          "Blocked: a message to you carried malicious content")
    try:
        when = datetime.fromisoformat(notice["created"])
        message["Date"] = format_datetime(when)
    except (ValueError, TypeError):
        pass
    domain = sender.rpartition("@")[2] or "mailsphere.invalid"
    message["Message-ID"] = f"<notice-{notice['id']}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines) + "\n", cte="quoted-printable")
    return message


def send_notices(store: Store, config: Any, transport: Any, *, only_org: str | None = None,
                 dry_run: bool = False) -> NoticeReport:
    report = NoticeReport(due=due_notices(store, only_org))
    if dry_run:
        return report
    sender = config.smtp.sender
    for notice in report.due:
        recipient = notice["recipient"]
        if not _valid_address(recipient):
            store.db.execute("UPDATE notifications SET state = 'skipped', error = ? WHERE id = ?",
                             ("not a deliverable address", notice["id"]))
            report.failed.append((notice["qid"], recipient, "not a deliverable address"))
            continue
        try:
            where = transport.send(sender, [recipient], render_notice(notice, sender).as_bytes(),
                                   f"notice-{notice['id']}")
        except DeliveryError as exc:
            store.db.execute("UPDATE notifications SET error = ? WHERE id = ?",
                             (str(exc)[:500], notice["id"]))
            report.failed.append((notice["qid"], recipient, str(exc)))
            continue
        crash_point("notice-sent")
        with store.transaction() as db:
            db.execute("UPDATE notifications SET state = 'sent', sent = ?, "
                       "error = NULL WHERE id = ?", (now_iso(), notice["id"]))
            db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES "
                       "(?, 'digest', 'notice-sent', ?, ?)",
                       (now_iso(), notice["qid"], f"malicious notice to {recipient} -> {where}"))
        report.sent.append((notice["qid"], recipient, where))
    return report
