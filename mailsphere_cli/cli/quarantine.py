"""`mailsphere quarantine ...`"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, fail, parse_since
from mailsphere_cli.store.db import Store

app = typer.Typer(help="What the quarantine holds, and what to do with it.", no_args_is_help=True)

_COLUMNS = ("qid", "created", "org", "sender", "recipients", "subject", "score", "action",
            "reason", "state", "content_destroyed")


def _store(data_dir: Optional[Path]) -> Store:
    directory = ENV.data_dir(data_dir)
    if not (directory / "mailsphere.db").is_file():
        fail(f"no quarantine in {directory} (run `mailsphere scan` first, or pass --data-dir)")
    return Store(directory)


@app.command("list")
def list_(
    org: Optional[str] = typer.Option(None, "--org"),
    recipient: Optional[str] = typer.Option(None, "--recipient"),
    since: Optional[str] = typer.Option(None, "--since", help="7d, 12h, 2w or a date."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Main reason contains this."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME"),
) -> None:
    """List quarantined messages, newest first."""
    if fmt not in ("table", "csv", "json"):
        fail(f"--format {fmt!r}: use table, csv or json")
    moment = parse_since(since)
    store = _store(data_dir)
    sql, params = "SELECT * FROM quarantine WHERE 1=1", []
    if org:
        sql += " AND org = ?"
        params.append(org)
    if recipient:
        sql += " AND recipients LIKE ?"
        params.append(f'%"{recipient.lower()}"%')
    if moment:
        sql += " AND created >= ?"
        params.append(moment.isoformat(timespec="seconds"))
    if reason:
        sql += " AND reason LIKE ?"
        params.append(f"%{reason}%")
    rows = [dict(r) for r in store.query(sql + " ORDER BY created DESC, qid", tuple(params))]
    store.close()
    for row in rows:
        row["recipients"] = json.loads(row["recipients"] or "[]")
        row["content_destroyed"] = bool(row["content_destroyed"])
    if fmt == "json":
        sys.stdout.write(json.dumps([{k: r[k] for k in _COLUMNS} for r in rows], indent=1) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(_COLUMNS)
        for r in rows:
            writer.writerow([";".join(r[k]) if k == "recipients" else r[k] for k in _COLUMNS])
        return
    table = Table(title=f"Quarantine ({len(rows)})")
    for column in ("qid", "created", "recipients", "sender", "subject", "score", "action",
                   "reason", "state"):
        table.add_column(column, overflow="fold", max_width=40)
    for r in rows:
        state = r["state"] + (" (content destroyed)" if r["content_destroyed"] else "")
        table.add_row(r["qid"], r["created"], ", ".join(r["recipients"]), r["sender"] or "",
                      r["subject"] or "", f"{r['score']:.1f}", r["action"], r["reason"] or "",
                      state)
    ENV.stdout.print(table)


# -- the lifecycle: show, release, delete, purge ----------------------------------
def _config(config_path: Optional[Path]):
    from mailsphere_cli.config import ConfigError, load_config
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))


def _lifecycle(data_dir: Optional[Path], config_path: Optional[Path]):
    from mailsphere_cli.store.lifecycle import Lifecycle
    return Lifecycle(_store(data_dir), _config(config_path))


_CONFIG_OPTION = typer.Option(None, "--config", "-c", help="TOML config (default "
                                                           "./mailsphere.toml if present).")
_DATA_OPTION = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME")


@app.command()
def show(
    qid: str = typer.Argument(..., help="Quarantine id (or a unique prefix of 6+ characters)."),
    as_json: bool = typer.Option(False, "--json", help="Everything as one JSON object."),
    data_dir: Optional[Path] = _DATA_OPTION,
    config_path: Optional[Path] = _CONFIG_OPTION,
) -> None:
    """Headers, verdict, hits with evidence, attachments and history of one item."""
    from rich.markup import escape

    from mailsphere_cli.store.lifecycle import LifecycleError
    life = _lifecycle(data_dir, config_path)
    try:
        item = life.details(qid)
    except LifecycleError as exc:
        fail(str(exc))
    finally:
        life.store.close()
    if as_json:
        sys.stdout.write(json.dumps(item, indent=1, default=str) + "\n")
        return
    out = ENV.stdout
    verdict = item["verdict"]
    out.print(f"[bold]{item['qid']}[/]  {item['action']}  score {item['score']:.1f}  "
              f"state {item['state']}", highlight=False)
    if item["content_destroyed"]:
        out.print("[bold red]content destroyed (malicious): only metadata is kept; it cannot "
                  "be released[/]")
    for label, value in (("held", item["created"]), ("org", item["org"] or "-"),
                         ("from", item["sender"] or ""), ("to", ", ".join(item["recipients"])),
                         ("subject", item["subject"] or ""), ("main reason", item["reason"]),
                         ("decided by", verdict.get("decided_by", "")),
                         ("source", item["source"] or "")):
        out.print(f"{label:>12}: {escape(str(value))}", highlight=False)
    out.print("\n[bold]Headers[/]")
    out.print(escape(item["headers"][:20_000]), highlight=False)
    hits = verdict.get("hits", [])
    if hits:
        table = Table(title="Hits")
        for column in ("rule", "score", "group", "evidence"):
            table.add_column(column, overflow="fold")
        for h in hits:
            table.add_row(h["rule"], f"{h['score']:+g}", h.get("group", ""),
                          escape(h.get("evidence", "")[:300]))
        out.print(table)
    attachments = verdict.get("attachments", [])
    if attachments:
        table = Table(title="Attachments")
        for column in ("name", "type", "size", "sha256", "findings"):
            table.add_column(column, overflow="fold")
        for a in attachments[:100]:
            table.add_row(escape(str(a.get("name", ""))), str(a.get("true_type", "")),
                          str(a.get("size", "")), str(a.get("sha256", ""))[:16] + "...",
                          escape("; ".join(map(str, a.get("findings", [])))[:300]))
        out.print(table)
    if item["deliveries"]:
        out.print("\n[bold]Deliveries[/]")
        for d in item["deliveries"]:
            out.print(f"  {escape(d['target'])}: {d['state']} {d['sent'] or ''} "
                      f"{escape(d['detail'] or '')}", highlight=False)
    out.print("\n[bold]History[/]")
    for e in item["events"]:
        out.print(f"  {e['at']}  {e['who']}  {e['what']}  {escape(e['detail'] or '')}",
                  highlight=False)
    if item["releasable"]:
        out.print(f"\nrelease with: mailsphere quarantine release {item['qid']}")


@app.command()
def release(
    qids: list[str] = typer.Argument(None, help="Quarantine ids to release."),
    to_maildir: Optional[Path] = typer.Option(None, "--to-maildir",
                                              help="Deliver into this Maildir instead of "
                                                   "through the [smtp] relay."),
    whitelist_sender: bool = typer.Option(False, "--whitelist-sender",
                                          help="Also add the sender to each recipient's own "
                                               "whitelist."),
    resume: bool = typer.Option(False, "--resume", help="Finish every release that was "
                                                        "interrupted."),
    data_dir: Optional[Path] = _DATA_OPTION,
    config_path: Optional[Path] = _CONFIG_OPTION,
) -> None:
    """Deliver held mail to its original recipients (once: a second release is refused)."""
    from mailsphere_cli.cli.common import ExitStatus
    from mailsphere_cli.notify import relay_for
    from mailsphere_cli.store.lifecycle import LifecycleError
    life = _lifecycle(data_dir, config_path)
    ids = list(qids or [])
    if resume:
        ids += [r["qid"] for r in life.store.query(
            "SELECT qid FROM quarantine WHERE state = 'releasing' ORDER BY created")]
    if not ids:
        life.store.close()
        fail("give one or more quarantine ids (or --resume)")
    transport = relay_for(life.config)
    problems = 0
    try:
        for qid in dict.fromkeys(ids):
            try:
                result = life.release(qid, to_maildir=to_maildir, transport=transport,
                                      whitelist_sender=whitelist_sender)
            except LifecycleError as exc:
                problems += 1
                ENV.stderr.print(f"mailsphere: {exc}", highlight=False, markup=False)
                continue
            for target in result.delivered:
                ENV.stdout.print(f"{result.qid}: delivered to {target}", highlight=False,
                                 markup=False)
            for target in result.already:
                ENV.stdout.print(f"{result.qid}: {target} already done by an earlier run",
                                 highlight=False, markup=False)
            for entry in result.whitelisted:
                ENV.stdout.print(f"{result.qid}: whitelisted {entry}", highlight=False,
                                 markup=False)
            for target, error in result.failed:
                problems += 1
                ENV.stderr.print(f"mailsphere: {result.qid}: {target} not delivered: {error} "
                                 f"(run the release again to retry)", highlight=False,
                                 markup=False)
            if result.complete:
                ENV.stdout.print(f"{result.qid}: released", highlight=False, markup=False)
    finally:
        life.store.close()
    if problems:
        raise typer.Exit(int(ExitStatus.FAILED))


@app.command()
def delete(
    qids: list[str] = typer.Argument(..., help="Quarantine ids to delete."),
    data_dir: Optional[Path] = _DATA_OPTION,
    config_path: Optional[Path] = _CONFIG_OPTION,
) -> None:
    """Delete held mail for good (the record of what happened stays)."""
    from mailsphere_cli.cli.common import ExitStatus
    from mailsphere_cli.store.lifecycle import LifecycleError
    life = _lifecycle(data_dir, config_path)
    problems = 0
    try:
        for qid in dict.fromkeys(qids):
            try:
                state = life.delete(qid)
            except LifecycleError as exc:
                problems += 1
                ENV.stderr.print(f"mailsphere: {exc}", highlight=False, markup=False)
                continue
            ENV.stdout.print(f"{qid}: {state}", highlight=False, markup=False)
    finally:
        life.store.close()
    if problems:
        raise typer.Exit(int(ExitStatus.FAILED))


@app.command()
def purge(
    older_than: Optional[str] = typer.Option(None, "--older-than",
                                             help="30d, 12h, 2w... (default: each org's "
                                                  "retention_days, 30 without an org)."),
    data_dir: Optional[Path] = _DATA_OPTION,
    config_path: Optional[Path] = _CONFIG_OPTION,
) -> None:
    """Remove quarantined mail older than the retention period."""
    from datetime import datetime, timezone
    moment = parse_since(older_than, "--older-than")
    life = _lifecycle(data_dir, config_path)
    try:
        delta = datetime.now(timezone.utc) - moment if moment else None
        purged = life.purge(delta)
    finally:
        life.store.close()
    ENV.stdout.print(f"purged {len(purged)} item(s)" + (": " + ", ".join(purged[:50])
                                                          if purged else ""), highlight=False)
