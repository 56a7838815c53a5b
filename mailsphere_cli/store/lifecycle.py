"""What happens to quarantined mail afterwards: show, release, delete, purge, and
the list entries people manage by hand.

Every state change is one database transaction that also writes an `events`
row (who, when, what). States of a quarantined item:

    held -> releasing -> released        destroyed (malicious: never releasable)
    held | released | destroyed -> deleted | purged

A release is two-phase so that a crash neither loses the message nor delivers
it twice: phase one marks the item `releasing` and records one `deliveries`
row per target (qid + recipient, or qid + Maildir); phase two hands each
pending target over and marks it sent. Running the release again finishes the
pending targets only. Maildir delivery is idempotent by itself (the file name
is fixed by qid and target); an SMTP hand-over interrupted after the relay
accepted it but before it was recorded is the one window that can repeat, and
the repeat carries the same Message-ID, which receiving systems deduplicate.
The quarantined copy stays until delete or purge, so nothing is lost.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mailsphere_cli.store.db import Store, now_iso, who
from mailsphere_cli.store.quarantine import fsync_dir, headers_only

CRASH_ENV = "MAILSPHERE_CRASH_AT"
MAX_RECIPIENTS = 100


def crash_point(name: str) -> None:
    """Fault injection for tests: die on the spot (no cleanup) when asked to."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(86)


class LifecycleError(Exception):
    """A request that cannot be carried out; the text says why and what to do."""


def _stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(
        timespec="seconds")


def _valid_address(address: str) -> bool:
    return (0 < len(address) <= 254 and address.count("@") == 1 and not any(
        c.isspace() or c in "<>,;\"" for c in address) and all(address.split("@")))


# -- list entries (database level) ---------------------------------------------
@dataclass(frozen=True)
class ListEntry:
    org: str
    user: str  # '' for org level
    kind: str
    entry: str
    source: str  # "config" or "database"
    added: str = ""
    who: str = ""


def add_entry(store: Store, org: str, user: str, kind: str, text: str,
              actor: str | None = None, why: str = "lists add") -> tuple[str, bool]:
    """Store an entry; returns (canonical entry, whether it was new)."""
    from mailsphere_cli.lists import validate_entry
    entry = validate_entry(text, kind)
    user = user.lower()
    with store.transaction() as db:
        cursor = db.execute("INSERT OR IGNORE INTO list_entries VALUES (?,?,?,?,?,?)",
                            (org, user, kind, entry, now_iso(), actor or who()))
        if cursor.rowcount:
            db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES (?,?,?,?,?)",
                       (now_iso(), actor or who(), f"{kind}-add", None,
                        f"{org}/{user or '(org)'}: {entry} ({why})"))
    return entry, bool(cursor.rowcount)


def remove_entry(store: Store, org: str, user: str, kind: str, text: str,
                 actor: str | None = None) -> tuple[str, bool]:
    from mailsphere_cli.lists import normalise_entry
    entry = normalise_entry(text)
    user = user.lower()
    with store.transaction() as db:
        cursor = db.execute("DELETE FROM list_entries WHERE org=? AND user=? AND kind=? AND "
                            "entry=?", (org, user, kind, entry))
        if cursor.rowcount:
            db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES (?,?,?,?,?)",
                       (now_iso(), actor or who(), f"{kind}-remove", None,
                        f"{org}/{user or '(org)'}: {entry}"))
    return entry, bool(cursor.rowcount)


def list_entries(store: Store | None, org: Any, user: str | None = None) -> list[ListEntry]:
    """Config and database entries of `org` (an OrgConfig), optionally one user's only."""
    out: list[ListEntry] = []
    users = {user.lower(): org.users.get(user.lower())} if user else dict(org.users)
    if user is None:
        for kind in ("whitelist", "blacklist"):
            out += [ListEntry(org.name, "", kind, e, "config") for e in getattr(org, kind)]
    for address, lists in users.items():
        for kind in ("whitelist", "blacklist"):
            out += [ListEntry(org.name, address, kind, e, "config")
                    for e in (getattr(lists, kind, ()) if lists else ())]
    if store is not None:
        sql, params = "SELECT * FROM list_entries WHERE org = ?", [org.name]
        if user is not None:
            sql += " AND user = ?"
            params.append(user.lower())
        for row in store.query(sql + " ORDER BY user, kind, entry", tuple(params)):
            out.append(ListEntry(row["org"], row["user"], row["kind"], row["entry"], "database",
                                 row["added"], row["who"]))
    return out


# -- quarantined items -----------------------------------------------------------
@dataclass
class ReleaseResult:
    qid: str
    delivered: list[str] = field(default_factory=list)  # targets handed over now
    already: list[str] = field(default_factory=list)  # targets done by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)
    whitelisted: list[str] = field(default_factory=list)
    resumed: bool = False

    @property
    def complete(self) -> bool:
        return not self.failed


class Lifecycle:
    def __init__(self, store: Store, config: Any, actor: str | None = None):
        self.store = store
        self.config = config
        self.actor = actor or who()

    # -- lookup ----------------------------------------------------------------
    def get(self, qid: str) -> dict[str, Any]:
        """The item with this id (or unique id prefix of 6+ characters)."""
        qid = qid.strip().lower()
        rows = self.store.db.execute("SELECT * FROM quarantine WHERE qid = ?", (qid,)).fetchall()
        if not rows and len(qid) >= 6 and qid.isalnum():
            rows = self.store.db.execute("SELECT * FROM quarantine WHERE qid LIKE ? LIMIT 2",
                                         (qid + "%",)).fetchall()
        if not rows:
            raise LifecycleError(f"{qid}: no such quarantined message (see `mailsphere "
                                 f"quarantine list`)")
        if len(rows) > 1:
            raise LifecycleError(f"{qid}: more than one quarantined message starts with this; "
                                 f"give more of the id")
        item = dict(rows[0])
        item["recipients"] = json.loads(item.get("recipients") or "[]")
        item["content_destroyed"] = bool(item["content_destroyed"])
        return item

    def details(self, qid: str) -> dict[str, Any]:
        item = self.get(qid)
        meta: dict[str, Any] = {}
        if item.get("meta_path"):  # malicious mail, and spam held before schema 4
            try:
                meta = json.loads(Path(item["meta_path"]).read_text("utf-8"))
            except (OSError, ValueError):
                meta = {}
        elif item.get("path"):  # spam: the headers are the .eml's own
            try:
                with open(item["path"], "rb") as handle:
                    meta["headers"] = headers_only(handle.read(256 * 1024))
            except OSError:
                pass
        if "verdict" not in meta:
            row = self.store.db.execute("SELECT verdict FROM held_verdicts WHERE qid = ?",
                                        (item["qid"],)).fetchone()
            try:
                meta["verdict"] = json.loads(row["verdict"]) if row else {}
            except ValueError:
                meta["verdict"] = {}
        item["headers"] = meta.get("headers", "")
        item["verdict"] = meta.get("verdict", {})
        item["events"] = [dict(r) for r in self.store.query(
            "SELECT at, who, what, detail FROM events WHERE qid = ? ORDER BY id", (item["qid"],))]
        item["deliveries"] = [dict(r) for r in self.store.query(
            "SELECT target, state, sent, attempts, detail FROM deliveries WHERE qid = ? "
            "ORDER BY target", (item["qid"],))]
        item["releasable"] = not item["content_destroyed"] and item["state"] in ("held",
                                                                                 "releasing")
        return item

    def _event(self, db: Any, what: str, qid: str | None, detail: str = "") -> None:
        db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES (?,?,?,?,?)",
                   (now_iso(), self.actor, what, qid, detail))

    # -- release -----------------------------------------------------------------
    def release_recipients(self, item: dict[str, Any]) -> list[str]:
        """The original recipients the organisation owns (all of them if it owns none)."""
        valid = [r for r in item["recipients"][:MAX_RECIPIENTS] if _valid_address(r)]
        org = (getattr(self.config, "orgs", None) or {}).get(item.get("org") or "")
        owned = [r for r in valid if org and org.owns(r.rpartition("@")[2])]
        return owned or valid

    def release(self, qid: str, *, to_maildir: Path | None = None, transport: Any = None,
                whitelist_sender: bool = False) -> ReleaseResult:
        item = self.get(qid)
        qid = item["qid"]
        if item["content_destroyed"]:
            raise LifecycleError(f"{qid}: malicious content was destroyed; it cannot be released")
        if item["state"] == "released":
            raise LifecycleError(f"{qid}: already released (never twice; see `mailsphere "
                                 f"quarantine show {qid}`)")
        if item["state"] not in ("held", "releasing"):
            raise LifecycleError(f"{qid}: {item['state']}; only held mail can be released")
        if not item.get("path") or not Path(item["path"]).is_file():
            raise LifecycleError(f"{qid}: the quarantined copy {item.get('path')} is missing")
        if whitelist_sender and not _valid_address((item.get("sender") or "").lower()):
            raise LifecycleError(f"{qid}: sender {item.get('sender')!r} is not an address that "
                                 f"can be whitelisted; release without --whitelist-sender")
        result = ReleaseResult(qid, resumed=item["state"] == "releasing")
        if not result.resumed:
            targets = self._targets(item, to_maildir, transport)
            with self.store.transaction() as db:
                state = db.execute("SELECT state FROM quarantine WHERE qid = ?",
                                   (qid,)).fetchone()["state"]
                if state != "held":  # someone else got there first
                    raise LifecycleError(f"{qid}: {state} by another command meanwhile")
                db.execute("UPDATE quarantine SET state = 'releasing' WHERE qid = ?", (qid,))
                for target in targets:
                    db.execute("INSERT OR IGNORE INTO deliveries (qid, target, created) "
                               "VALUES (?,?,?)", (qid, target, now_iso()))
                self._event(db, "release-started", qid, "to " + ", ".join(targets))
            crash_point("release-marked")
        if whitelist_sender:
            result.whitelisted = self.whitelist_sender(item)
        self._deliver_pending(item, transport, result)
        if result.complete:
            with self.store.transaction() as db:
                db.execute("UPDATE quarantine SET state = 'released' WHERE qid = ? AND "
                           "state = 'releasing'", (qid,))
                self._event(db, "released", qid, f"{len(result.delivered)} delivered now, "
                                                 f"{len(result.already)} earlier")
        return result

    def _targets(self, item: dict[str, Any], to_maildir: Path | None,
                 transport: Any) -> list[str]:
        if to_maildir is not None:
            return [f"maildir:{Path(to_maildir).resolve()}"]
        if transport is None or getattr(transport, "name", "") != "smtp":
            raise LifecycleError("no [smtp] relay is configured to deliver the release: set "
                                 "[smtp] host in the config, or pass --to-maildir PATH")
        recipients = self.release_recipients(item)
        if not recipients:
            raise LifecycleError(f"{item['qid']}: no valid recipient address to release to; "
                                 f"pass --to-maildir PATH")
        return [f"smtp:{r}" for r in recipients]

    def _deliver_pending(self, item: dict[str, Any], transport: Any,
                         result: ReleaseResult) -> None:
        qid = item["qid"]
        rows = [dict(r) for r in self.store.query(
            "SELECT target, state, attempts FROM deliveries WHERE qid = ? ORDER BY target",
            (qid,))]
        data = None
        for row in rows:
            target = row["target"]
            if row["state"] == "sent":
                result.already.append(target)
                continue
            if data is None:
                data = self._release_bytes(item)
            interrupted = row["state"] == "sending"
            self.store.db.execute("UPDATE deliveries SET state = 'sending', attempts = attempts "
                                  "+ 1 WHERE qid = ? AND target = ?", (qid, target))
            try:
                where = self._hand_over(qid, target, data, transport)
            except Exception as exc:  # noqa: BLE001 - recorded, reported, retried next time
                text = str(exc) or type(exc).__name__
                self.store.db.execute("UPDATE deliveries SET state = 'pending', detail = ? "
                                      "WHERE qid = ? AND target = ?", (text[:500], qid, target))
                result.failed.append((target, text))
                continue
            crash_point("release-delivered")
            with self.store.transaction() as db:
                db.execute("UPDATE deliveries SET state = 'sent', sent = ?, detail = ? WHERE "
                           "qid = ? AND target = ?", (now_iso(), where[:500], qid, target))
                self._event(db, "delivered", qid, f"{target} -> {where}" + (
                    " (resent: an earlier attempt was interrupted mid-transfer)"
                    if interrupted and target.startswith("smtp:") else ""))
            result.delivered.append(target)
            crash_point("release-recorded")

    def _release_bytes(self, item: dict[str, Any]) -> bytes:
        raw = Path(item["path"]).read_bytes()
        stamp = f"X-Mailsphere-Released: {item['qid']}; by {self.actor}; {now_iso()}\r\n"
        return stamp.encode("ascii", "replace") + raw

    def _hand_over(self, qid: str, target: str, data: bytes, transport: Any) -> str:
        kind, _, where = target.partition(":")
        if kind == "maildir":
            return deliver_to_maildir(Path(where), data, f"mailsphere-release-{qid}")
        if transport is None or getattr(transport, "name", "") != "smtp":
            raise LifecycleError(f"{target}: needs the [smtp] relay, which is not configured")
        sender = (getattr(self.config.smtp, "sender", "") or "mailsphere@localhost")
        return transport.send(sender, [where], data, f"release-{qid}-{where}")

    def whitelist_sender(self, item: dict[str, Any]) -> list[str]:
        """Add the sender to each released-to recipient's own whitelist."""
        sender = (item.get("sender") or "").lower()
        if not _valid_address(sender):
            raise LifecycleError(f"{item['qid']}: sender {sender!r} is not an address that can "
                                 f"be whitelisted")
        added = []
        for recipient in self.release_recipients(item):
            org = self.config.org_for(recipient)
            if org is None:
                continue
            entry, _ = add_entry(self.store, org.name, recipient, "whitelist", sender,
                                 self.actor, why=f"release {item['qid']}")
            added.append(f"{org.name}/{recipient}: {entry}")
        return added

    # -- delete and purge ---------------------------------------------------------------
    def delete(self, qid: str, what: str = "deleted", detail: str = "") -> str:
        item = self.get(qid)
        qid = item["qid"]
        if item["state"] == "releasing":
            raise LifecycleError(f"{qid}: a release is in progress; finish it with `mailsphere "
                                 f"quarantine release {qid}` first")
        if item["state"] in ("deleted", "purged"):
            self._remove_files(item)  # a crash may have left them behind
            return item["state"]
        # The state goes first: a crash before the unlink leaves files that purge sweeps,
        # never an index entry pointing at nothing.
        with self.store.transaction() as db:
            db.execute("UPDATE quarantine SET state = ? WHERE qid = ?", (what, qid))
            # the verdict's evidence quotes the content: it goes with the files
            db.execute("DELETE FROM held_verdicts WHERE qid = ?", (qid,))
            self._event(db, what, qid, detail or f"was {item['state']}")
        self._remove_files(item)
        return what

    @staticmethod
    def _remove_files(item: dict[str, Any]) -> None:
        for key in ("path", "meta_path"):
            if item.get(key):
                try:
                    os.unlink(item[key])
                except FileNotFoundError:
                    pass

    def purge(self, older_than: timedelta | None = None,
              now: datetime | None = None) -> list[str]:
        """Remove items older than `older_than`, or than their org's retention_days."""
        now = now or datetime.now(timezone.utc)
        purged = []
        rows = self.store.db.execute(
            "SELECT qid, org, created, state FROM quarantine WHERE state NOT IN "
            "('releasing', 'purged') ORDER BY created").fetchall()
        for row in rows:
            if older_than is not None:
                keep = older_than
                why = f"older than {_days(older_than)}"
            else:
                org = (getattr(self.config, "orgs", None) or {}).get(row["org"] or "")
                keep = timedelta(days=org.retention_days if org else 30)
                why = f"past retention ({_days(keep)}{', org ' + row['org'] if org else ''})"
            try:
                created = datetime.fromisoformat(row["created"])
            except ValueError:
                continue
            if created.tzinfo is None:
                created = created.replace(tzinfo=timezone.utc)
            if now - created > keep:
                self.delete(row["qid"], "purged", why)
                purged.append(row["qid"])
        return purged


def _days(delta: timedelta) -> str:
    if delta.total_seconds() % 86400 == 0:
        return f"{int(delta.total_seconds() // 86400)}d"
    return f"{int(delta.total_seconds() // 3600)}h"


# -- Maildir -------------------------------------------------------------------------------
def deliver_to_maildir(maildir: Path, data: bytes, key: str) -> str:
    """Deliver into `maildir` (created if missing) under a name fixed by `key`, so a
    second delivery of the same key finds the first and writes nothing."""
    maildir = Path(maildir)
    if maildir.exists() and not (maildir / "new").is_dir():
        if any(maildir.iterdir()):
            raise LifecycleError(f"{maildir}: not a Maildir (no new/ folder)")
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    name = f"{key}.{hashlib.sha256(str(maildir).encode()).hexdigest()[:8]}.{_host()}"
    final = maildir / "new" / name
    if final.exists() or any((maildir / "cur").glob(name + ":*")) or \
            (maildir / "cur" / name).exists():
        return str(final)
    tmp = maildir / "tmp" / name
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return str(final)


def _host() -> str:
    return (socket.gethostname() or "localhost").replace("/", "_").replace(":", "_")[:64]
