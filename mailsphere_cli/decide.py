"""The decisions stage: apply the decision tables of the rule pack.

Every row sees the same picture: the hits of all earlier stages and the score
they add up to. Rows that fire are recorded on the verdict; their score
changes add up; the strongest forced action wins; removals (hits a row
consumed) are applied after all rows were evaluated.
"""
from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage


def score_so_far(ctx: "Context", rules: dict, present: set[str] | None = None) -> float:
    """The verdict's score as it stands (what the verdict will sum, without building
    the scored hits): each rule once, removed ones at 0, summed in the verdict's
    order (largest weight first) so the float result is the same to the last bit."""
    removed = ctx.removed
    weights = []
    for rule_id in (present if present is not None else {h.rule for h in ctx.hits}):
        rule = rules.get(rule_id)
        weight = rule.score if rule and rule_id not in removed else 0.0
        weights.append((-abs(weight), rule_id, weight))
    weights.sort()
    return sum(w for _, _, w in weights) + ctx.score_adjust


def run(msg: "ParsedMessage", ctx: "Context") -> None:
    compiled = ctx.services["rules"]
    pack = compiled.pack
    if not pack.decisions:
        ctx.skip("decisions", "the rule pack has no decision tables")
        return
    present = {h.rule for h in ctx.hits}
    env = compiled.environment(ctx, 0.0, present)
    present, groups, tags, auth = env.hits, env.group_counts, env.tag_counts, ctx.auth
    known: list[float] = []

    def score() -> float:
        """The score before any row, worked out the first time a row reads it (the
        rows see it as a function: most messages never reach a `score` comparison)."""
        if not known:
            known.append(score_so_far(ctx, pack.rules, present))
        return known[0]

    removals: set[str] = set()
    # every row reads the picture before any row's effect is applied (score included)
    fired, error = compiled.fire_decisions(present, groups, tags, auth, score)
    for index in fired:
        row = compiled.decisions[index]
        ctx.decisions.append(row.as_dict())
        ctx.score_adjust += row.add
        if row.action is not None:
            ctx.force(row.action, "decisions", f"{row.id}: {row.description}")
        removals.update(row.remove)
    if error is not None:
        raise error
    for ref in removals:
        if ref.startswith("group:"):
            group = ref[6:]
            ctx.removed.update(h.rule for h in ctx.hits
                               if (r := pack.rules.get(h.rule)) and r.group == group)
        else:
            ctx.removed.add(ref)
