"""`mailsphere report`"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, fail, parse_since
from mailsphere_cli.report import build_report, report_json


def report(
    since: Optional[str] = typer.Option(None, "--since", help="Only messages scanned since: "
                                                              "7d, 12h, 2w or a date."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    top: int = typer.Option(10, "--top", min=1, help="How many rules and senders to list."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME",
                                            help="Data directory (default ./.mailsphere)."),
) -> None:
    """Counts by action, top rules and top senders from the scan record."""
    if fmt not in ("table", "csv", "json"):
        fail(f"--format {fmt!r}: use table, csv or json")
    moment = parse_since(since)
    db = ENV.data_dir(data_dir) / "mailsphere.db"
    if not db.is_file():
        fail(f"no scan record in {db.parent} (run `mailsphere scan PATH` first, or pass "
             f"--data-dir)")
    result = build_report(db, moment, top)
    if fmt == "json":
        sys.stdout.write(report_json(result) + "\n")
        return
    if fmt == "csv":
        out = sys.stdout
        out.write("section,key,messages,extra\n")
        for row in result.actions.itertuples():
            out.write(f"action,{row.action},{row.messages},{row._3}\n")
        for row in result.rules.itertuples():
            out.write(f"rule,{row.rule},{row.messages},{row.score}\n")
        for row in result.senders.itertuples():
            out.write(f"sender,{row.sender},{row.messages},{row.flagged}\n")
        return
    title = f"since {result.since:%Y-%m-%d %H:%M} UTC" if result.since else "all time"
    ENV.stdout.print(f"[bold]{result.messages}[/] messages ({title})")
    for name, frame in (("Actions", result.actions), ("Top rules", result.rules),
                        ("Top senders", result.senders)):
        table = Table(title=name)
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        ENV.stdout.print(table)
