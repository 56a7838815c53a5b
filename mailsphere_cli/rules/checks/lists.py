"""Eval checks over the lists stage's decision (ctx.listed).

The lists stage adds these hits itself, because a whitelisted message skips the
rule stage; the checks give the rules a function to name and let the rule
stage report them again (deduplicated) when it does run.
"""
from __future__ import annotations

from typing import Any

from mailsphere_cli.rules.checks import check


@check("list_decision", needs="lists")
def list_decision(msg: Any, ctx: Any, rule: str) -> str:
    return str((ctx.listed.get("rule_evidence") or {}).get(rule, ""))
