"""The quarantine digest, run by cron: `mailsphere digest`.

Each run finds the organisations whose `digest_schedule` (cron syntax, read
with croniter) came due since their last run, and for each recipient of such
an org the held mail they have not yet been told about. One digest per
recipient, text and HTML, listing date, sender, subject, score, main reason and
how to release each item (the exact command; a portal link when the org has a
`portal_url`).

Crash safety, per recipient: (1) one transaction records the digest as
`pending` with its items and claims those items for the recipient; (2) the
digest is handed over; (3) it is marked `sent`. A later run first re-sends
pending digests (same content, same key and Message-ID; the outbox keeps one
file per key), and claimed items are never listed again. The org's last run
moves forward only when every digest of the run went out, so a failed relay
leaves the digest due.

Schedules are read in the time zone of the clock: local time for the real
clock, the given offset for `--now 2026-12-01T08:00:00+00:00`.
"""
from __future__ import annotations

import email.policy
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from mailsphere_cli.notify import DeliveryError
from mailsphere_cli.store.db import Store
from mailsphere_cli.store.lifecycle import _valid_address, crash_point

MAX_ITEMS_SHOWN = 200
MAX_HELD_SCANNED = 100_000


@dataclass
class PlannedDigest:
    org: str
    recipient: str
    items: list[dict[str, Any]]
    digest_id: int | None = None  # known when resuming a pending digest
    created: str = ""
    resumed: bool = False


@dataclass
class OrgPlan:
    org: str
    due: bool
    why: str
    last_run: str | None
    next_run: str
    digests: list[PlannedDigest] = field(default_factory=list)


@dataclass
class SentDigest:
    org: str
    recipient: str
    items: int
    where: str
    digest_id: int
    resumed: bool


@dataclass
class DigestReport:
    orgs: list[OrgPlan] = field(default_factory=list)
    sent: list[SentDigest] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # org, recipient, error


@dataclass(frozen=True)
class ReleaseHint:
    """How a digest tells people to release an item."""

    command_suffix: str = ""  # e.g. " --config /etc/mailsphere.toml"

    def command(self, qid: str) -> str:
        return f"mailsphere quarantine release {qid}{self.command_suffix}"


def portal_link(portal_url: str, qid: str) -> str:
    if not portal_url:
        return ""
    if "{qid}" in portal_url:
        return portal_url.replace("{qid}", qid)
    return portal_url.rstrip("/") + "/quarantine/" + qid


# -- schedule ------------------------------------------------------------------
def clock(now: datetime | None) -> datetime:
    """`now` made time-zone aware (naive means local time)."""
    if now is None:
        return datetime.now(timezone.utc).astimezone()
    return now if now.tzinfo else now.astimezone()


def schedule_state(schedule: str, last_run: str | None, now: datetime) -> tuple[bool, str, str]:
    """(due, why, next run) for a cron schedule, given the last run (ISO) and now."""
    from croniter import croniter
    # One second ahead, so a run at exactly 08:00:00 counts the 08:00 slot.
    previous = croniter(schedule, now + timedelta(seconds=1)).get_prev(datetime)
    following = croniter(schedule, now).get_next(datetime).isoformat(timespec="minutes")
    if last_run is None:
        return True, f"first run (slot {previous.isoformat(timespec='minutes')})", following
    last = datetime.fromisoformat(last_run)
    if last < previous:
        return True, f"slot {previous.isoformat(timespec='minutes')} came due", following
    return False, f"not due until {following}", following


# -- planning ---------------------------------------------------------------------
def _last_runs(store: Store) -> dict[str, str]:
    return {r["org"]: r["last_run"] for r in store.query("SELECT org, last_run FROM digest_runs")}


def _pending(store: Store, org: str) -> list[PlannedDigest]:
    return [PlannedDigest(org, r["recipient"], json.loads(r["items"]), r["id"], r["created"],
                          resumed=True)
            for r in store.query("SELECT * FROM digests WHERE org = ? AND state = 'pending' "
                                 "ORDER BY id", (org,))]


def _new_items(store: Store, org: Any, skip: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Recipient -> held items of `org` not yet claimed by a digest to that recipient."""
    claimed: set[tuple[str, str]] = {(r["recipient"], r["qid"]) for r in store.query(
        "SELECT recipient, qid FROM digest_items")}
    by_recipient: dict[str, list[dict[str, Any]]] = {}
    rows = store.query("SELECT qid, created, sender, subject, score, reason, recipients FROM "
                       "quarantine WHERE org = ? AND state = 'held' AND content_destroyed = 0 "
                       "ORDER BY created, qid LIMIT ?", (org.name, MAX_HELD_SCANNED))
    for row in rows:
        for recipient in json.loads(row["recipients"] or "[]")[:100]:
            recipient = str(recipient).lower()
            if recipient in skip or not _valid_address(recipient) or \
                    not org.owns(recipient.rpartition("@")[2]) or \
                    (recipient, row["qid"]) in claimed:
                continue
            by_recipient.setdefault(recipient, []).append(
                {"qid": row["qid"], "created": row["created"], "sender": row["sender"] or "",
                 "subject": row["subject"] or "", "score": row["score"] or 0.0,
                 "reason": row["reason"] or ""})
    return by_recipient


def plan(store: Store, config: Any, now: datetime, only_org: str | None = None) -> list[OrgPlan]:
    """What a run at `now` would send (reads only)."""
    last_runs = _last_runs(store)
    plans = []
    for name, org in sorted(config.orgs.items()):
        if only_org and name != only_org:
            continue
        due, why, following = schedule_state(org.digest_schedule, last_runs.get(name), now)
        if only_org:
            due, why = True, "forced with --org"
        org_plan = OrgPlan(name, due, why, last_runs.get(name), following)
        if due:
            org_plan.digests = _pending(store, name)
            waiting = {d.recipient for d in org_plan.digests}
            for recipient, items in sorted(_new_items(store, org, waiting).items()):
                org_plan.digests.append(PlannedDigest(name, recipient, items))
        plans.append(org_plan)
    return plans


# -- sending ------------------------------------------------------------------------
def run_digests(store: Store, config: Any, transport: Any, now: datetime, *,
                only_org: str | None = None, dry_run: bool = False,
                hint: ReleaseHint = ReleaseHint()) -> DigestReport:
    now = clock(now)
    report = DigestReport(orgs=plan(store, config, now, only_org))
    if dry_run:
        return report
    stamp = now.isoformat(timespec="seconds")
    for org_plan in report.orgs:
        if not org_plan.due:
            continue
        org = config.orgs[org_plan.org]
        failures = 0
        for planned in org_plan.digests:
            if planned.digest_id is None:
                with store.transaction() as db:
                    cursor = db.execute(
                        "INSERT INTO digests (org, recipient, created, items) VALUES (?,?,?,?)",
                        (org.name, planned.recipient, stamp, json.dumps(planned.items)))
                    planned.digest_id = int(cursor.lastrowid)
                    planned.created = stamp
                    db.executemany("INSERT OR IGNORE INTO digest_items VALUES (?,?,?)",
                                   [(planned.recipient, item["qid"], planned.digest_id)
                                    for item in planned.items])
                crash_point("digest-claimed")
            message = render_digest(org, planned, config.smtp.sender, hint)
            try:
                where = transport.send(config.smtp.sender, [planned.recipient],
                                       message.as_bytes(), f"digest-{planned.digest_id}")
            except DeliveryError as exc:
                failures += 1
                store.db.execute("UPDATE digests SET error = ? WHERE id = ?",
                                 (str(exc)[:500], planned.digest_id))
                report.failed.append((org.name, planned.recipient, str(exc)))
                continue
            crash_point("digest-sent")
            with store.transaction() as db:
                db.execute("UPDATE digests SET state = 'sent', sent = ?, via = ?, error = NULL "
                           "WHERE id = ?", (stamp, where[:500], planned.digest_id))
                db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES "
                           "(?, 'digest', 'digest-sent', NULL, ?)",
                           (stamp, f"{org.name}: {planned.recipient}, {len(planned.items)} "
                                   f"item(s) -> {where}"))
            report.sent.append(SentDigest(org.name, planned.recipient, len(planned.items),
                                          where, planned.digest_id, planned.resumed))
            crash_point("digest-recorded")
        if failures == 0:
            store.db.execute("INSERT OR REPLACE INTO digest_runs VALUES (?, ?)",
                             (org.name, stamp))
    return report


# -- the message -----------------------------------------------------------------
def _when(created: str) -> str:
    try:
        return datetime.fromisoformat(created).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created[:16]


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render_digest(org: Any, planned: PlannedDigest, sender: str,
                  hint: ReleaseHint = ReleaseHint()) -> EmailMessage:
    items = planned.items
    shown = items[:MAX_ITEMS_SHOWN]
    more = len(items) - len(shown)
    count = f"{len(items)} message{'s' if len(items) != 1 else ''}"
    lines = [f"Mailsphere quarantine digest for {planned.recipient} ({org.name})", "",
             f"{count} addressed to you {'were' if len(items) != 1 else 'was'} held as spam "
             f"since your last digest. If one of them is mail you want, release it:", ""]
    rows_html = []
    for item in shown:
        link = portal_link(org.portal_url, item["qid"])
        lines += [f"* {_when(item['created'])}  from {_one_line(item['sender'], 80) or '(none)'}",
                  f"  Subject: {_one_line(item['subject']) or '(no subject)'}",
                  f"  Score {item['score']:.1f}, main reason: {_one_line(item['reason'], 80)}",
                  f"  Release: {hint.command(item['qid'])}"]
        if link:
            lines.append(f"  Or open: {link}")
        lines.append("")
        release = f"<code>{html.escape(hint.command(item['qid']))}</code>"
        if link:
            release += f'<br><a href="{html.escape(link, quote=True)}">release in the portal</a>'
        rows_html.append(
            "<tr>" + "".join(f"<td>{cell}</td>" for cell in (
                html.escape(_when(item["created"])), html.escape(_one_line(item["sender"], 80)),
                html.escape(_one_line(item["subject"])), f"{item['score']:.1f}",
                html.escape(_one_line(item["reason"], 80)), release)) + "</tr>")
    if more:
        lines.append(f"... and {more} more: mailsphere quarantine list --recipient "
                     f"{planned.recipient}")
    lines += ["", "Held mail is deleted after the organisation's retention period "
                  f"({org.retention_days} days)."]
    table = ("<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>Date</th>"
             "<th>From</th><th>Subject</th><th>Score</th><th>Main reason</th><th>Release</th>"
             "</tr>\n" + "\n".join(rows_html) + "\n</table>")
    more_html = (f"<p>... and {more} more: <code>mailsphere quarantine list --recipient "
                 f"{html.escape(planned.recipient)}</code></p>" if more else "")
    body_html = (f"<html><body><h2>Quarantine digest for {html.escape(planned.recipient)}</h2>"
                 f"<p>{count} addressed to you held as spam since your last digest "
                 f"({html.escape(org.name)}).</p>{table}{more_html}"
                 f"<p>Held mail is deleted after {org.retention_days} days.</p></body></html>")
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = planned.recipient
    message["Subject"] = f"Quarantine digest: {count} held for you"
    message["Date"] = format_datetime(datetime.fromisoformat(planned.created)
                                      if planned.created else datetime.now(timezone.utc))
    domain = sender.rpartition("@")[2] or "mailsphere.invalid"
    tag = re.sub(r"[^A-Za-z0-9-]+", "-", org.name)[:40] or "org"
    message["Message-ID"] = f"<digest-{planned.digest_id}.{tag}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Mailsphere-Digest"] = f"{org.name}; {len(items)} item(s)"
    # Quoted-printable keeps every line short: relays refuse lines over 998 bytes.
    message.set_content("\n".join(lines) + "\n", cte="quoted-printable")
    message.add_alternative(body_html, subtype="html", cte="quoted-printable")
    return message
