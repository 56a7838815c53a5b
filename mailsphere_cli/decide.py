"""The decisions stage: apply the decision tables of the rule pack.

Every row sees the same picture: the hits of all earlier stages and the score
they add up to. Rows that fire are recorded on the verdict; their score
changes add up; the strongest forced action wins; removals (hits a row
consumed) are applied after all rows were evaluated.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from mailsphere_cli.rules import expr


if TYPE_CHECKING:
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage


def score_so_far(ctx: "Context", rules: dict, present: set[str] | None = None,
                 adjust: float | None = None) -> float:
    """The verdict's score as it stands (what the verdict will sum, without building
    the scored hits): each rule once, removed ones at 0, summed in the verdict's
    order (largest weight first) so the float result is the same to the last bit.
    `adjust` stands for ctx.score_adjust as it was before the rows added to it."""
    removed = ctx.removed
    weights = []
    for rule_id in (present if present is not None else {h.rule for h in ctx.hits}):
        rule = rules.get(rule_id)
        weight = rule.score if rule and rule_id not in removed else 0.0
        weights.append((-abs(weight), rule_id, weight))
    weights.sort()
    return sum(w for _, _, w in weights) + (ctx.score_adjust if adjust is None else adjust)


# The rows of a compiled rule pack as one function (rows, fires): fires(H, G, T, A, S)
# -> (indexes of the rows that fire, in order; the error a row raised, or None). One
# call per message instead of one per row; a row that raises stops the rows after it,
# as the loop over the row functions did. Kept per CompiledRules object.
_COMBINED: dict[int, tuple[Any, list[Any], Callable[..., tuple[list[int], Exception | None]]]] = {}


def _combined(compiled: Any) -> tuple[list[Any], Callable[..., tuple[list[int], Exception | None]]]:
    known = _COMBINED.get(id(compiled))
    if known is not None and known[0] is compiled:
        return known[1], known[2]
    rows = [row for row, _ in compiled.decisions]
    lines = ["def fires(H, G, T, A, S):", "    out = []", "    try:"]
    for index, row in enumerate(rows):
        node = row.node
        code = expr._bool_code(node, "S()") if node.op in expr._BOOLEAN else expr._value_code(node, "S()")
        lines.append(f"        if {code}:")
        lines.append(f"            out.append({index})")
    lines += ["    except Exception as exc:", "        return out, exc", "    return out, None"]
    namespace = {"_auth_value": expr._auth_value, "_compare": expr._compare,
                 "_number": expr._number, "_truthy": expr._truthy}
    exec(compile("\n".join(lines), "<decision rows>", "exec"), namespace)  # noqa: S102 - our own code
    if len(_COMBINED) > 8:
        _COMBINED.clear()
    _COMBINED[id(compiled)] = (compiled, rows, namespace["fires"])
    return rows, namespace["fires"]


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
    adjust = ctx.score_adjust  # rows add to it as they fire; they all see it from before

    def score() -> float:
        """The score before any row, worked out the first time a row reads it (the
        rows see it as a function: most messages never reach a `score` comparison)."""
        if not known:
            known.append(score_so_far(ctx, pack.rules, present, adjust))
        return known[0]

    removals: set[str] = set()
    rows, fires = _combined(compiled)
    fired, error = fires(present, groups, tags, auth, score)
    for index in fired:
        row = rows[index]
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
