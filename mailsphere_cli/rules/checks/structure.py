"""Checks on the shape of the message: parser limits, defects, missing headers."""
from __future__ import annotations

from mailsphere_cli.rules.checks import batch, check


@check("parse_limit")
def parse_limit(msg, ctx, limit: str) -> str | None:
    """A limit the parser hit (size, MIME depth, part count, header count/length)."""
    msg.parts  # walking the tree is what finds depth and part-count limits
    for hit in msg.limit_hits:
        if hit.rule == limit:
            return hit.evidence
    return None


@check("header_missing")
def header_missing(msg, ctx, name: str) -> str | None:
    return None if msg.has_header(name) else f"no {name} header"


@batch("header_missing")
def header_missing_batch(msg, ctx, args_list: list[dict]) -> list[str | None]:
    has = msg.has_header
    out = []
    for args in args_list:
        if len(args) != 1:  # not `name` alone: the plain form reports it, rule by rule
            raise TypeError("header_missing takes one argument, name")
        name = args["name"]
        out.append(None if has(name) else f"no {name} header")
    return out


@check("header_count_over")
def header_count_over(msg, ctx, name: str, count: int) -> str | None:
    found = len(msg.raw_header_values(name))  # as many as decoded, without decoding them
    return f"{found} {name} headers" if found > count else None


@check("mime_defect")
def mime_defect(msg, ctx, defect: str = "") -> str | None:
    defects = list(msg.defects)
    for part in msg.parts:
        defects.extend(part.defects)
    for found in defects:
        if not defect or defect.lower() in found.lower():
            return found
    return None


@batch("parse_limit")
def parse_limit_batch(msg, ctx, args_list: list[dict]) -> list[str | None]:
    msg.parts
    if not msg.limit_hits:
        return [None] * len(args_list)
    return [parse_limit(msg, ctx, **args) for args in args_list]


@batch("mime_defect")
def mime_defect_batch(msg, ctx, args_list: list[dict]) -> list[str | None]:
    if not msg.defects and not any(part.defects for part in msg.parts):
        return [None] * len(args_list)
    return [mime_defect(msg, ctx, **args) for args in args_list]
