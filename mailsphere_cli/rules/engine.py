"""Run a rule pack over one message.

All regex rules of one target are matched in one pass with an RE2 set; only
the rules the set reports are searched again, singly, for their evidence.
Eval rules call their registered check; meta rules are evaluated last, in
dependency order, over every hit of every stage so far.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import re2

from mailsphere_cli.rules import expr
from mailsphere_cli.rules.checks import CHECKS
from mailsphere_cli.rules.loader import Rule, RulePack
from mailsphere_cli.verdict import Hit

if TYPE_CHECKING:
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 64 << 20
_SPACES = re.compile(r"\s+")


def _evidence(text: str, limit: int = 100) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _TargetSet:
    target: str
    kind: str
    rules: list[Rule]
    matcher: "re2.Set"
    singles: list["re2._Regexp"]


def _header_text(msg: "ParsedMessage", target: str) -> str:
    name, _, view = target.partition(":")
    if name == "ALL":
        return msg.header_block
    if view == "raw":
        return "\n".join(v for n, v in msg.raw_headers if n.lower() == name.lower())
    values = msg.headers(name)
    if view == "addr":
        from mailsphere_cli.message import _addresses
        return "\n".join(a for v in values for _, a in _addresses(v) if a)
    if view == "name":
        from mailsphere_cli.message import _addresses
        return "\n".join(n for v in values for n, _ in _addresses(v) if n)
    return "\n".join(values)


_KIND_TEXT: dict[str, Callable[["ParsedMessage"], str]] = {
    "body": lambda m: m.body,
    "rawbody": lambda m: m.text + "\n" + m.html,
    "uri": lambda m: "\n".join(m.urls),
    "html": lambda m: m.html,
    "full": lambda m: m.raw_text,
}


class CompiledRules:
    """A rule pack ready to run: built once per worker process."""

    def __init__(self, pack: RulePack):
        self.pack = pack
        self.sets: list[_TargetSet] = []
        by_target: dict[tuple[str, str], list[Rule]] = {}
        for rule in pack.rules.values():
            if rule.kind in _KIND_TEXT or rule.kind == "header":
                by_target.setdefault((rule.kind, rule.target if rule.kind == "header" else ""),
                                     []).append(rule)
        for (kind, target), rules in sorted(by_target.items()):
            matcher = re2.Set.SearchSet(_OPTIONS)
            for rule in rules:
                matcher.Add(rule.regex)
            matcher.Compile()
            singles = [re2.compile(rule.regex, _OPTIONS) for rule in rules]
            self.sets.append(_TargetSet(target, kind, rules, matcher, singles))
        self.evals = pack.by_kind("eval")
        self.metas = [(rule, expr.parse(rule.expr)) for rule in pack.meta_order]

    def text_for(self, msg: "ParsedMessage", kind: str, target: str) -> str:
        if kind == "header":
            return _header_text(msg, target)
        return _KIND_TEXT[kind](msg)

    def match_patterns(self, msg: "ParsedMessage") -> list[Hit]:
        hits: list[Hit] = []
        for target_set in self.sets:
            text = self.text_for(msg, target_set.kind, target_set.target)
            if not text:
                continue
            try:
                matched = target_set.matcher.Match(text)
            except UnicodeEncodeError:
                # Raw header views keep undecodable bytes as lone surrogates,
                # which RE2 (UTF-8 only) refuses: match a cleaned copy instead.
                text = text.encode("utf-8", "replace").decode("utf-8")
                matched = target_set.matcher.Match(text)
            # Match() returns None, not an empty list, when nothing matches.
            for index in matched or ():
                rule = target_set.rules[index]
                found = target_set.singles[index].search(text)
                if found is None:
                    continue
                evidence = found.group(0)
                if target_set.kind == "uri":
                    start = text.rfind("\n", 0, found.start()) + 1
                    end = text.find("\n", found.end())
                    evidence = text[start: end if end >= 0 else len(text)]
                elif target_set.kind == "header":
                    evidence = f"{target_set.target}: {evidence}"
                hits.append(Hit(rule.id, _evidence(evidence or rule.description)))
        return hits

    def run_evals(self, msg: "ParsedMessage", ctx: "Context") -> list[Hit]:
        hits: list[Hit] = []
        skipped_stages = {s.name for s in ctx.skipped}
        for rule in self.evals:
            check = CHECKS[rule.function]
            if check.network and ctx.offline:
                ctx.skip(rule.id, "offline: network check not run")
                continue
            if check.needs and check.needs in skipped_stages:
                ctx.skip(rule.id, f"needs the {check.needs} stage, which was skipped")
                continue
            try:
                result = check.fn(msg, ctx, **rule.args)
            except Exception as exc:  # noqa: BLE001 - one broken check must not lose the message
                ctx.errors.append(f"{rule.id}: {type(exc).__name__}: {exc}")
                continue
            if result:
                evidence = rule.description if result is True else str(result)
                hits.append(Hit(rule.id, _evidence(evidence, 160)))
        return hits

    def run_metas(self, ctx: "Context") -> list[Hit]:
        hits: list[Hit] = []
        env = environment(ctx, self.pack)
        for rule, node in self.metas:
            if expr.evaluate(node, env):
                parts = sorted(r for r in expr.references(node) if r in env.hits)
                hits.append(Hit(rule.id, _evidence(" & ".join(parts) or rule.expr, 160)))
                env.hits.add(rule.id)
                env.group_counts[rule.group] = env.group_counts.get(rule.group, 0) + 1
                for tag in rule.tags:
                    env.tag_counts[tag] = env.tag_counts.get(tag, 0) + 1
        return hits


def environment(ctx: "Context", pack: RulePack, present: set[str] | None = None,
                score: float = 0.0) -> expr.Env:
    present = present if present is not None else ctx.hit_ids()
    groups: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for rule_id in present:
        rule = pack.rules.get(rule_id)
        if rule:
            groups[rule.group] += 1
            for tag in rule.tags:
                tags[tag] += 1
    return expr.Env(present, dict(groups), dict(tags), ctx.auth, score)


def run(msg: "ParsedMessage", ctx: "Context") -> None:
    compiled: CompiledRules = ctx.services["rules"]
    for hit in compiled.match_patterns(msg):
        ctx.add(hit)
    for hit in compiled.run_evals(msg, ctx):
        ctx.add(hit)
    for hit in compiled.run_metas(ctx):
        ctx.add(hit)
