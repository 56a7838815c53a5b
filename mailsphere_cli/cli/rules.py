"""`mailsphere rules ...`: the rule pack as data."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, fail
from mailsphere_cli.rules.decisions import DecisionError, rows_using
from mailsphere_cli.rules.loader import RuleError, RulePack, load_rules

app = typer.Typer(help="List, show and check the rule pack.", no_args_is_help=True)

RulesOption = typer.Option([], "--rules", help="Rule pack directory (default: built-in rules/).")


def _pack(dirs: list[Path]) -> RulePack:
    try:
        return load_rules([str(d) for d in dirs] or None)
    except (RuleError, DecisionError) as exc:
        fail(str(exc))


@app.command("list")
def list_(
    group: Optional[str] = typer.Option(None, "--group", help="Only this group."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    rules_dir: list[Path] = RulesOption,
) -> None:
    """Every rule: id, kind, group, score, description."""
    if fmt not in ("table", "json"):
        fail(f"--format {fmt!r}: use table or json")
    pack = _pack(rules_dir)
    rules = sorted((r for r in pack.rules.values() if group is None or r.group == group),
                   key=lambda r: (r.group, r.id))
    if group is not None and not rules:
        groups = sorted({r.group for r in pack.rules.values()})
        fail(f"no rules in group {group!r}; groups are {', '.join(groups)}")
    if fmt == "json":
        sys.stdout.write(json.dumps([{"id": r.id, "kind": r.kind, "group": r.group,
                                      "score": r.score, "description": r.description,
                                      "tags": list(r.tags)} for r in rules], indent=1) + "\n")
        return
    table = Table(title=f"{len(rules)} rules (pack {pack.version})")
    for column in ("id", "kind", "group", "score", "description"):
        table.add_column(column, overflow="fold")
    for r in rules:
        table.add_row(r.id, r.kind, r.group, f"{r.score:+g}", r.description)
    ENV.stdout.print(table)


@app.command("show")
def show(rule_id: str = typer.Argument(..., help="Rule id."),
         rules_dir: list[Path] = RulesOption) -> None:
    """One rule: its definition, score, description and the decision rows that use it."""
    pack = _pack(rules_dir)
    rule = pack.rules.get(rule_id.upper())
    if rule is None:
        fail(f"no rule {rule_id!r} (see `mailsphere rules list`)")
    out = ENV.stdout
    out.print(f"[bold]{rule.id}[/]  ({rule.kind}, group {rule.group}, file {rule.file})")
    out.print(f"score: {rule.score:+g}")
    out.print(f"description: {rule.description}", highlight=False)
    out.print(f"definition: {rule.definition()}", highlight=False, markup=False)
    if rule.tags:
        out.print(f"tags: {', '.join(rule.tags)}")
    metas = [m.id for m in pack.meta_order if rule.id in m.expr]
    if metas:
        out.print(f"used by meta rules: {', '.join(metas)}")
    rows = rows_using(pack.decisions, rule.id)
    out.print("used by decision rows: " + (", ".join(r.id for r in rows) if rows else "none"))


@app.command("lint")
def lint(rules_dir: list[Path] = RulesOption) -> None:
    """Load and check every rule; exit 2 with the first problem found."""
    pack = _pack(rules_dir)
    ENV.stdout.print(f"ok: {len(pack.rules)} rules and {len(pack.decisions)} decision rows in "
                     f"{len(pack.files)} files (pack {pack.version})")


@app.command("test")
def test(
    ham: list[Path] = typer.Option([], "--ham", help="Folder or mailbox of ham (repeatable)."),
    spam: list[Path] = typer.Option([], "--spam", help="Folder or mailbox of spam (repeatable)."),
    skip: list[str] = typer.Option([], "--skip", help="Skip a stage (repeatable), e.g. classifier."),
    offline: bool = typer.Option(False, "--offline", help="No DNS: network checks are skipped."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1,
                                       help="Worker processes (default: CPU count)."),
    misses: int = typer.Option(0, "--misses", min=0,
                               help="List up to N misclassified messages per folder."),
    all_rules: bool = typer.Option(False, "--all", help="Also list rules that hit nothing."),
    config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="Config file."),
    rules_dir: list[Path] = RulesOption,
) -> None:
    """Rule QA: per-rule spam%/ham%/S-O over labelled mail, recall and false positives."""
    from mailsphere_cli.config import Config
    from mailsphere_cli.pipeline import STAGE_NAMES
    from mailsphere_cli.rules.quality import evaluate
    from mailsphere_cli.workers import Settings

    if fmt not in ("table", "csv", "json"):
        fail(f"--format {fmt!r}: use table, csv or json")
    if not ham and not spam:
        fail("give at least one --ham or --spam folder")
    for path in [*ham, *spam]:
        if not path.exists():
            fail(f"{path}: no such file or directory")
    for name in skip:
        if name not in STAGE_NAMES:
            fail(f"--skip {name!r}: stages are {', '.join(STAGE_NAMES)}")
    _pack(rules_dir)  # a broken pack fails here with one clear line
    config = Config()
    if config_path is not None:
        from mailsphere_cli.config import load_config
        config = load_config(config_path)
    settings = Settings(config=config, rules_dirs=tuple(str(d) for d in rules_dir),
                        offline=offline, skip=tuple(skip))
    result = evaluate([str(p) for p in ham], [str(p) for p in spam], settings, jobs, misses)
    rules = [r for r in result.rules if all_rules or r.spam_hits or r.ham_hits]
    if fmt == "csv":
        sys.stdout.write(result.to_csv())
        return
    if fmt == "json":
        sys.stdout.write(json.dumps({
            "folders": [{"label": f.label, "path": f.path, "total": f.total,
                         "flagged": f.flagged, "errors": f.errors, "rate": round(f.rate, 3)}
                        for f in result.folders],
            "recall": round(result.recall, 3), "false_positive_rate":
                round(result.false_positive_rate, 3), "rule_ms": round(result.rule_ms, 4),
            "rules": [{"id": r.id, "group": r.group, "score": r.score,
                       "spam_pct": round(r.spam_pct, 3), "ham_pct": round(r.ham_pct, 3),
                       "s_o": round(r.s_o, 3)} for r in rules],
            "misses": result.misses}, indent=1) + "\n")
        return
    table = Table(title=f"{len(rules)} rules that hit")
    for column in ("rule", "group", "score", "spam %", "ham %", "S/O"):
        table.add_column(column, overflow="fold")
    for r in rules:
        table.add_row(r.id, r.group, f"{r.score:+g}", f"{r.spam_pct:.2f}", f"{r.ham_pct:.2f}",
                      f"{r.s_o:.2f}")
    out = ENV.stdout
    out.print(table)
    for f in result.folders:
        what = "caught" if f.label == "spam" else "flagged (false positives)"
        out.print(f"{f.label:4} {f.path}: {f.flagged}/{f.total} {what} = {f.rate:.2f}%"
                  + (f", {f.errors} errors" if f.errors else ""), highlight=False)
        for origin in result.misses.get(f.path, []):
            out.print(f"     miss: {origin}", highlight=False)
    out.print(f"spam recall {result.recall:.2f}%, ham false positives "
              f"{result.false_positive_rate:.2f}%, rule stage {result.rule_ms:.3f} ms/message",
              highlight=False)
