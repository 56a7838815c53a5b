"""`mailsphere explain ID|FILE`: why a message got its verdict."""
from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, fail
from mailsphere_cli.store.db import stored_verdict
from mailsphere_cli.verdict import clean_record, clean_text, to_json


def _lookup(db_path: Path, key: str) -> dict | None:
    path = Path(key)
    if path.is_file():
        key = hashlib.sha256(path.read_bytes()).hexdigest()
    if len(key) < 6:
        fail("give at least 6 characters of a message id (see `mailsphere scan --json`)")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        skipset = "skipset" if "skipset" in columns else "NULL"  # schema 1 has none
        rows = db.execute(f"SELECT id, verdict, {skipset} FROM messages WHERE id LIKE ? "
                          "ORDER BY scanned_at DESC", (key.lower() + "%",)).fetchall()
        ids = {r[0] for r in rows}
        if len(ids) > 1:
            fail(f"{key!r} matches {len(ids)} messages: give more characters of the id")
        return stored_verdict(db, rows[0][1], rows[0][2]) if rows else None
    finally:
        db.close()


def _message_bytes(db_path: Path, verdict: dict, given: str) -> bytes | None:
    """The message itself, if still at hand: the file given, the quarantine copy or the source."""
    candidates = [Path(given)]
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT path FROM quarantine WHERE message_id = ?",
                         (verdict["id"],)).fetchone()
    finally:
        db.close()
    if row and row[0]:
        candidates.append(Path(row[0]))
    if "#" not in verdict["source"] and verdict["source"] != "-":
        candidates.append(Path(verdict["source"]))
    for path in candidates:
        try:
            data = path.read_bytes() if path.is_file() else None
        except OSError:
            continue
        if data is not None and hashlib.sha256(data).hexdigest() == verdict["id"]:
            return data
    return None


def explain(
    message: str = typer.Argument(..., help="Message id (or its first characters) or a file."),
    json_out: bool = typer.Option(False, "--json", help="The stored verdict as JSON."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME"),
) -> None:
    """Show a recorded verdict: score, every hit with its evidence, skipped checks, timings."""
    db = ENV.data_dir(data_dir) / "mailsphere.db"
    if not db.is_file():
        fail(f"no scan record in {db.parent} (run `mailsphere scan` first)")
    verdict = _lookup(db, message)
    if verdict is None:
        fail(f"no recorded message matches {message!r}")
    if json_out:
        sys.stdout.write(to_json(verdict, indent=2) + "\n")
        return
    verdict = clean_record(verdict)
    out = ENV.stdout
    out.print(f"[bold]{verdict['source']}[/]  id {verdict['id'][:16]}")
    out.print(f"from {verdict['from'] or '-'} to {', '.join(verdict['to']) or '-'}")
    out.print(f"subject: {verdict['subject']}", highlight=False)
    out.print(f"[bold]{verdict['action']}[/] (decided by {verdict['decided_by']}), score "
              f"{verdict['score']:.2f} against threshold {verdict['threshold']:g}")
    auth = verdict.get("auth") or {}
    if auth:
        out.print("connection: " + ", ".join(f"{k}={v}" for k, v in auth.items()
                                             if k in ("connecting_ip", "rdns", "helo", "env_from")))
        for key in ("spf", "dmarc"):
            if auth.get(key):
                out.print(f"{key}: {auth[key]}", highlight=False)
        for signature in auth.get("dkim") or []:
            out.print(f"dkim: {signature}", highlight=False)
    raw = _message_bytes(db, verdict, message)
    if raw is not None:
        from mailsphere_cli.message import ParsedMessage
        from mailsphere_cli.perimeter.received import format_chain, relay_chain
        relays = relay_chain(ParsedMessage(raw))
        if relays:
            out.print("relay chain (newest first, => marks the handover to our side):")
            for line in format_chain(relays, auth.get("handover")):
                out.print("  " + clean_text(line), highlight=False, markup=False)
    table = Table(title="Hits")
    for column in ("rule", "score", "group", "evidence"):
        table.add_column(column, overflow="fold")
    for hit in verdict["hits"]:
        table.add_row(hit["rule"], f"{hit['score']:+g}", hit["group"], hit["evidence"])
    out.print(table)
    for row in verdict.get("decisions", []):
        out.print(f"decision {row['row']}: {row['description']}", highlight=False)
    for attachment in verdict.get("attachments", []):
        out.print(f"attachment {attachment.get('path') or attachment.get('name')}: "
                  f"{attachment.get('true_type')} {', '.join(attachment.get('findings', []))}",
                  highlight=False)
    if verdict.get("skipped"):
        out.print("[dim]not run: " + "; ".join(f"{s['name']} ({s['reason']})"
                                               for s in verdict["skipped"][:12]) + "[/]")
    for error in verdict.get("errors", []):
        out.print(f"[magenta]error[/]: {error}", highlight=False)
