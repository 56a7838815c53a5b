"""Eval checks over the lists stage's decision (ctx.listed).

The lists stage adds these hits itself, because a whitelisted message skips the
rule stage; the checks give the rules a function to name and let the rule
stage report them again (deduplicated) when it does run.
"""
from __future__ import annotations

from typing import Any

from mailsphere_cli.rules.checks import batch, check


@check("list_decision", needs="lists")
def list_decision(msg: Any, ctx: Any, rule: str) -> str:
    return str((ctx.listed.get("rule_evidence") or {}).get(rule, ""))


@batch("list_decision")
def list_decision_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    if not ctx.listed.get("rule_evidence"):
        return [""] * len(args_list)
    return [list_decision(msg, ctx, **args) for args in args_list]
