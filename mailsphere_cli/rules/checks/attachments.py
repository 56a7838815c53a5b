"""Checks over what the attachments stage recorded in `ctx.attachments`.

The stage already adds a hit per finding (so malicious content keeps its
evidence even when scoring is skipped); these checks let every attachment
finding be an ordinary eval rule with its score beside its definition, and
they stay quiet when the stage's own hit is already there, so nothing counts twice.
"""
from __future__ import annotations

from typing import Any

from mailsphere_cli.rules.checks import batch, check

MAX_EVIDENCE_OBJECTS = 3


@check("attachment_finding", needs="attachments", requires="attachments")
def attachment_finding(msg: Any, ctx: Any, finding: str = "") -> str:
    """Evidence for `finding` (a rule id such as ATTACH_EXECUTABLE) from the records."""
    if not finding or any(h.rule == finding for h in ctx.hits):
        return ""
    prefix = f"{finding}: "
    evidence = []
    for record in ctx.attachments:
        for text in record.get("findings", ()):
            if text.startswith(prefix):
                evidence.append(f"{record.get('path')} (sha256 {record.get('sha256')}): "
                                f"{text[len(prefix):]}")
                break
        if len(evidence) >= MAX_EVIDENCE_OBJECTS:
            break
    return "; ".join(evidence)


@check("attachment_true_type", needs="attachments", requires="attachments")
def attachment_true_type(msg: Any, ctx: Any, types: list[str] | tuple[str, ...] = ()) -> str:
    """Fires when any object's true type is one of `types` (for site rules)."""
    wanted = {t.lower() for t in types}
    for record in ctx.attachments:
        if record.get("true_type") in wanted:
            return f"{record.get('path')} is {record.get('true_type')} (sha256 {record.get('sha256')})"
    return ""


@batch("attachment_finding")
def attachment_finding_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    # Most messages have no attachment records: then no rule of this kind can fire.
    if not ctx.attachments:
        return [""] * len(args_list)
    # Nor when no record has a finding (106 of the 136 corpus messages with records): the
    # evidence is made of findings only. Rules passing anything but `finding` still go
    # the plain way, which reports the bad argument.
    if _finding_only(args_list) and not any(record.get("findings") for record in ctx.attachments):
        return [""] * len(args_list)
    return [attachment_finding(msg, ctx, **args) for args in args_list]


_finding_only_seen: dict[int, tuple[list[dict], int, bool]] = {}


def _finding_only(args_list: list[dict]) -> bool:
    """Whether every rule passes `finding` and nothing else; remembered for the argument
    list object, as kinds_of does (the engine passes the same list every message)."""
    seen = _finding_only_seen.get(id(args_list))
    if seen is not None and seen[0] is args_list and seen[1] == len(args_list):
        return seen[2]
    answer = all(len(args) == 1 and "finding" in args for args in args_list)
    if len(_finding_only_seen) >= 512:
        _finding_only_seen.clear()
    _finding_only_seen[id(args_list)] = (args_list, len(args_list), answer)
    return answer
