"""The decisions stage: apply the decision tables of the rule pack.

Every row sees the same picture: the hits of all earlier stages and the score
they add up to. Rows that fire are recorded on the verdict; their score
changes add up; the strongest forced action wins; removals (hits a row
consumed) are applied after all rows were evaluated.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from mailsphere_cli.pipeline import current_score
from mailsphere_cli.rules import expr
from mailsphere_cli.rules.engine import environment

if TYPE_CHECKING:
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage


def run(msg: "ParsedMessage", ctx: "Context") -> None:
    pack = ctx.services["rules"].pack
    if not pack.decisions:
        ctx.skip("decisions", "the rule pack has no decision tables")
        return
    env = environment(ctx, pack, score=current_score(ctx, pack))
    removals: set[str] = set()
    for row in pack.decisions:
        if not expr.evaluate(row.node, env):
            continue
        ctx.decisions.append(row.as_dict())
        ctx.score_adjust += row.add
        if row.action is not None:
            ctx.force(row.action, "decisions", f"{row.id}: {row.description}")
        removals.update(row.remove)
    for ref in removals:
        if ref.startswith("group:"):
            group = ref[6:]
            ctx.removed.update(h.rule for h in ctx.hits
                               if (r := pack.rules.get(h.rule)) and r.group == group)
        else:
            ctx.removed.add(ref)
