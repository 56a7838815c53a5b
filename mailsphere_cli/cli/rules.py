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
