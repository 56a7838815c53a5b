"""`mailsphere digest`: the cron job. Sends due malicious-content notices, then the
quarantine digests of every organisation whose schedule came due."""
from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, ExitStatus, fail
from mailsphere_cli.config import ConfigError, load_config
from mailsphere_cli.notify import transport_for
from mailsphere_cli.notify.digest import ReleaseHint, clock, run_digests
from mailsphere_cli.notify.notices import send_notices
from mailsphere_cli.store.db import Store


def release_hint(config_path: Optional[Path], data_dir: Optional[Path]) -> ReleaseHint:
    """The options the release command in a digest needs to find the same data and relay."""
    suffix = ""
    if config_path is not None:
        suffix += f" --config {shlex.quote(str(Path(config_path).resolve()))}"
    if data_dir is not None:
        suffix += f" --data-dir {shlex.quote(str(Path(data_dir).resolve()))}"
    return ReleaseHint(suffix)


def digest(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send and "
                                                          "record nothing."),
    org: Optional[str] = typer.Option(None, "--org", help="Only this organisation, due or not."),
    now: Optional[str] = typer.Option(None, "--now", help="The clock, as an ISO date-time "
                                                          "(default: now, local time)."),
    notices: bool = typer.Option(True, "--notices/--no-notices",
                                 help="Also send due malicious-content notices (default)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME",
                                            help="Data directory (default ./.mailsphere)."),
    config_path: Optional[Path] = typer.Option(None, "--config", "-c",
                                               help="TOML config (default ./mailsphere.toml)."),
) -> None:
    """Send quarantine digests whose schedule came due (run it from cron every few minutes)."""
    if fmt not in ("table", "json"):
        fail(f"--format {fmt!r}: use table or json")
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
    if org is not None and org not in config.orgs:
        fail(f"--org {org!r}: no such organisation in the config (known: "
             f"{', '.join(sorted(config.orgs)) or 'none'})")
    moment = None
    if now:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            fail(f"--now {now!r}: use an ISO date-time such as 2026-12-01T08:00:00+00:00")
    directory = ENV.data_dir(data_dir)
    store = Store(directory)
    transport = transport_for(config, directory)
    config_for_hint = config_path if config_path is not None else (
        Path(config.path) if config.path else None)
    try:
        notice_report = send_notices(store, config, transport, only_org=org, dry_run=dry_run) \
            if notices else None
        report = run_digests(store, config, transport, clock(moment), only_org=org,
                             dry_run=dry_run, hint=release_hint(config_for_hint, data_dir))
    finally:
        store.close()
    failed = bool(report.failed or (notice_report and notice_report.failed))
    if fmt == "json":
        out = {"dry_run": dry_run, "via": transport.name, "orgs": [
            {"org": p.org, "due": p.due, "why": p.why, "last_run": p.last_run,
             "next_run": p.next_run,
             "digests": [{"recipient": d.recipient, "items": [i["qid"] for i in d.items],
                          "resumed": d.resumed} for d in p.digests]} for p in report.orgs],
            "sent": [s.__dict__ for s in report.sent],
            "failed": [{"org": o, "recipient": r, "error": e} for o, r, e in report.failed],
            "notices": {"due": len(notice_report.due) if notice_report else 0,
                        "sent": [list(s) for s in notice_report.sent] if notice_report else [],
                        "failed": [list(f) for f in notice_report.failed] if notice_report
                        else []}}
        sys.stdout.write(json.dumps(out, indent=1, default=str) + "\n")
    else:
        _print(report, notice_report, dry_run, transport.name)
    if failed:
        raise typer.Exit(int(ExitStatus.FAILED))


def _print(report, notice_report, dry_run: bool, via: str) -> None:
    out = ENV.stdout
    if not report.orgs:
        out.print("no organisations configured: digests need [orgs.NAME] with domains in the "
                  "config")
    table = Table(title="Digest schedules" + (" (dry run: nothing sent)" if dry_run else ""))
    for column in ("org", "due", "why", "digests", "next run"):
        table.add_column(column)
    for p in report.orgs:
        table.add_row(p.org, "yes" if p.due else "no", p.why, str(len(p.digests)), p.next_run)
    out.print(table)
    if dry_run:
        for p in report.orgs:
            for d in p.digests:
                out.print(f"would send to {d.recipient} ({p.org}): {len(d.items)} item(s)"
                          + (" [resuming an interrupted digest]" if d.resumed else ""),
                          highlight=False, markup=False)
        if notice_report:
            for n in notice_report.due:
                out.print(f"would send malicious notice to {n['recipient']} about {n['qid']}",
                          highlight=False, markup=False)
        return
    for s in report.sent:
        out.print(f"sent digest to {s.recipient} ({s.org}): {s.items} item(s) via {s.where}"
                  + (" [resumed]" if s.resumed else ""), highlight=False, markup=False)
    if notice_report:
        for qid, recipient, where in notice_report.sent:
            out.print(f"sent malicious notice to {recipient} about {qid} via {where}",
                      highlight=False, markup=False)
        for qid, recipient, error in notice_report.failed:
            ENV.stderr.print(f"notice to {recipient} about {qid} not sent: {error}",
                             highlight=False, markup=False)
    for org, recipient, error in report.failed:
        ENV.stderr.print(f"digest to {recipient} ({org}) not sent, still due: {error}",
                         highlight=False, markup=False)
    if not report.sent and not (notice_report and notice_report.sent) and not report.failed:
        out.print(f"nothing to send (via {via})")
