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
