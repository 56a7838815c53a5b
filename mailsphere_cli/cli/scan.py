"""`mailsphere scan PATH...`

No `from __future__ import annotations` here: typer reads the scan function's annotations,
and as strings it had them evaluated again one by one (91 `compile` and 44 `eval` calls at
every start)."""

import contextlib
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, ExitStatus, fail
from mailsphere_cli.config import ConfigError, load_config
from mailsphere_cli.pipeline import STAGE_NAMES
from mailsphere_cli.rules.decisions import DecisionError
from mailsphere_cli.rules.loader import RuleError
from mailsphere_cli.scan import ScanOptions, ScanSummary, run_scan, write_output
from mailsphere_cli.sources import FORMATS, SourceError, check_paths
from mailsphere_cli.verdict import clean_record, clean_text
from mailsphere_cli.workers import Settings

LIST_LIMIT = 100


def _total_bytes(paths: list[str]) -> int:
    import os
    total = 0
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            for directory, _, files in os.walk(path):
                for name in files:
                    try:
                        total += os.stat(os.path.join(directory, name)).st_size
                    except OSError:
                        pass
    return total


def scan(
    paths: list[str] = typer.Argument(..., help="Maildir, mbox, .eml files, folders of them, "
                                                "or - for one message on stdin."),
    fmt: str = typer.Option("auto", "--format", help=f"Source format: {', '.join(FORMATS)}."),
    json_out: bool = typer.Option(False, "--json", help="One JSON verdict per message on stdout."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Also write verdicts to FILE.jsonl or FILE.csv."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1,
                                          help="Worker processes (default: all cores)."),
    offline: bool = typer.Option(False, "--offline", help="No DNS at all: network checks are "
                                                          "listed as skipped."),
    dns_server: list[str] = typer.Option([], "--dns-server",
                                         help="DNS server HOST[:PORT] (repeatable)."),
    skip: list[str] = typer.Option([], "--skip", help="Skip a stage (repeatable): "
                                                      + ", ".join(STAGE_NAMES[1:-1]) + "."),
    yara: list[Path] = typer.Option([], "--yara", help="Extra directory of YARA rules."),
    rules_dir: list[Path] = typer.Option([], "--rules", help="Rule pack directory instead of "
                                                             "the built-in rules/ (repeatable)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Classifier model file."),
    move: bool = typer.Option(False, "--move", help="Remove spam and malicious mail from the "
                                                    "source once the quarantine copy is durable."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last interrupted run of "
                                                        "the same paths."),
    rescan: bool = typer.Option(False, "--rescan", help="Analyse again messages already recorded "
                                                        "for this rule pack."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 if any message is "
                                                                  "spam (or worse) / malicious."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1,
                                            help="Per-message time budget in seconds "
                                                 "(default 30)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME",
                                            help="Data directory (default ./.mailsphere)."),
    config_path: Optional[Path] = typer.Option(None, "--config", "-c",
                                               help="TOML config (default ./mailsphere.toml if "
                                                    "present, else built-in defaults)."),
) -> None:
    """Analyse every message in PATHS and record a verdict for each."""
    if fail_on not in (None, "spam", "malicious"):
        fail(f"--fail-on {fail_on!r}: use spam or malicious")
    for name in skip:
        if name not in STAGE_NAMES[1:-1]:
            fail(f"--skip {name!r}: not a stage; stages are {', '.join(STAGE_NAMES[1:-1])}")
    if move and "-" in paths:
        fail("--move cannot move a message read from stdin")
    try:
        config = load_config(config_path)
        check_paths(paths, fmt)
    except (ConfigError, SourceError) as exc:
        fail(str(exc))
    for directory in yara:
        if not directory.is_dir():
            fail(f"--yara {directory}: not a directory")
    settings = Settings(
        config=config,
        rules_dirs=tuple(str(d) for d in rules_dir) or tuple(config.rules_dirs),
        offline=offline or config.dns.offline,
        dns_servers=tuple(dns_server) or tuple(config.dns.servers),
        skip=tuple(skip),
        yara_dirs=tuple(str(d) for d in yara),
        model=str(model) if model else None,
        message_timeout=timeout or config.scan.message_timeout,
        data_dir=str(ENV.data_dir(data_dir)),
    )
    options = ScanOptions(paths=list(paths), data_dir=ENV.data_dir(data_dir), fmt=fmt,
                          workers=1 if paths == ["-"] else workers, rescan=rescan, resume=resume,
                          move=move)
    sinks = []
    listed: list[dict] = []
    if json_out:
        def to_stdout(record: dict, text: str) -> None:
            sys.stdout.write(text + "\n")
        sinks.append(to_stdout)
    else:
        def remember(record: dict, text: str) -> None:
            if len(listed) <= LIST_LIMIT:
                listed.append(clean_record(record))
        sinks.append(remember)
    close_output = None
    if output is not None:
        try:
            sink, close_output = write_output(output)
        except OSError as exc:
            fail(f"--output {output}: {exc.strerror}")
        sinks.append(sink)

    def on_verdict(record: dict, text: str) -> None:
        for sink in sinks:
            sink(record, text)

    shown = ENV.stderr.is_terminal
    progress: Any = contextlib.nullcontext()
    if shown:  # rich.progress imported only for a bar (11 ms of CPU at start-up)
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        total = _total_bytes(paths)  # a walk over every file, for the bar alone
        progress = Progress(TextColumn("[bold]scanning"), BarColumn(),
                            TextColumn("{task.fields[count]} msgs · {task.fields[rate]} msgs/s"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=ENV.stderr, transient=True)
        task = progress.add_task("scan", total=total or None, count=0, rate="-")
    import time
    began = time.perf_counter()

    def on_progress(count: int, done_bytes: int) -> None:
        elapsed = max(time.perf_counter() - began, 1e-6)
        progress.update(task, completed=done_bytes, count=count, rate=f"{count / elapsed:.0f}")

    try:
        with progress:
            summary = run_scan(options, settings, on_verdict=on_verdict,
                               on_progress=on_progress if shown else None)
    except (RuleError, DecisionError) as exc:
        fail(f"rule pack: {exc}")
    except (ConfigError, SourceError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or options.data_dir}: {exc.strerror}", ExitStatus.FAILED)
    finally:
        if close_output:
            close_output()
    for warning in summary.warnings:
        ENV.stderr.print(f"[yellow]mailsphere: warning:[/] {warning}", highlight=False)
    console = ENV.stderr if json_out else ENV.stdout
    if not json_out and summary.messages <= LIST_LIMIT:
        _print_verdicts(console, listed)
    _print_summary(console, summary)
    if summary.interrupted:
        raise typer.Exit(int(ExitStatus.FAILED))
    if fail_on:
        bad = ("spam", "malicious", "reject") if fail_on == "spam" else ("malicious",)
        if any(summary.actions.get(a) for a in bad):
            raise typer.Exit(int(ExitStatus.FAILED))


_STYLE = {"deliver": "green", "spam": "yellow", "malicious": "bold red", "reject": "red",
          "error": "magenta"}


def _print_verdicts(console, records: list[dict]) -> None:
    if not records:
        return
    table = Table(title="Verdicts", show_lines=False, expand=False)
    table.add_column("source", overflow="fold", max_width=44)
    table.add_column("action")
    table.add_column("score", justify="right")
    table.add_column("decided by")
    table.add_column("main reasons", overflow="fold", max_width=60)
    for record in records:
        hits = sorted(record.get("hits", []), key=lambda h: -h["score"])
        reasons = ", ".join(f"{h['rule']} ({h['score']:+g})" for h in hits[:3] if h["score"] > 0)
        if record.get("errors") and record["action"] == "error":
            reasons = record["errors"][0]
        action = record["action"]
        table.add_row(record["source"], f"[{_STYLE.get(action, '')}]{action}[/]",
                      f"{record['score']:.1f}", record.get("decided_by", ""), reasons or "-")
    console.print(table)


def _print_summary(console, summary: ScanSummary) -> None:
    table = Table(title="Scan summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for action in ("deliver", "spam", "malicious", "reject", "error"):
        table.add_row(f"[{_STYLE[action]}]{action}[/]", str(summary.actions.get(action, 0)))
    table.add_row("messages analysed", str(summary.scanned))
    if summary.already_recorded:
        table.add_row("already recorded (same rule pack)", str(summary.already_recorded))
    skipped = [p for p in summary.problems if p[1] == "skipped"]
    unreadable = [p for p in summary.problems if p[1] == "error"]
    table.add_row("files skipped (not mail)", str(len(skipped)))
    table.add_row("files unreadable", str(len(unreadable)))
    table.add_row("quarantined", str(summary.quarantined))
    if summary.moved or summary.move_failures:
        table.add_row("moved out of the source", str(summary.moved))
    table.add_row("elapsed", f"{summary.elapsed:.2f} s (start-up {summary.startup:.2f} s)")
    table.add_row("messages/s (after start-up)", f"{summary.rate:.0f}")
    table.add_row("rule pack", summary.rulepack)
    console.print(table)
    if summary.rules:
        top = Table(title="Top rules hit")
        top.add_column("rule")
        top.add_column("messages", justify="right")
        for rule, count in summary.rules.most_common(10):
            top.add_row(rule, str(count))
        console.print(top)
    for origin, kind, reason in (unreadable + skipped)[:20]:
        console.print(f"[dim]{kind}: {clean_text(origin)}: {clean_text(reason)}[/]",
                      highlight=False)
    for origin, error in summary.errors[:20]:
        console.print(f"[magenta]error[/]: {clean_text(origin)}: {clean_text(error)}",
                      highlight=False)
    for failure in summary.move_failures[:20]:
        console.print(f"[red]not moved[/]: {clean_text(failure)}", highlight=False)
    if summary.interrupted:
        console.print("[yellow]interrupted: everything finished so far is recorded; "
                      "run again with --resume to continue[/]")
