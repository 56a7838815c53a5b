"""Run a rule pack over one message.

All regex rules of one target are matched in one pass with an RE2 set; only
the rules the set reports are searched again, singly, for their evidence.
Eval rules call their registered check; meta rules are evaluated last, in
dependency order, over every hit of every stage so far.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

import re2

from mailsphere_cli.rules import expr
from mailsphere_cli.rules.checks import CHECKS, Check
from mailsphere_cli.rules.loader import Rule, RulePack
from mailsphere_cli.verdict import Hit, Skip

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


_RAW = ("raw header values by lowercased name",)


@lru_cache(maxsize=4096)
def _addresses_in(value: str) -> tuple[tuple[str, str], ...]:
    """(name, address) pairs of one header value; the same senders write the same
    From headers again and again, and parsing them is the costly part of a header target."""
    from mailsphere_cli.message import _addresses
    return tuple(_addresses(value))


def _header_text(msg: "ParsedMessage", target: str, seen: dict | None = None) -> str:
    """The text a header target matches. `seen` (one dict per message) keeps the
    decoded values and parsed addresses that several targets of one header share."""
    name, _, view = target.partition(":")
    if name == "ALL":
        return msg.header_block
    if not msg.has_header(name):
        return ""
    if seen is None:
        seen = {}
    if view == "raw":
        by_name = seen.get(_RAW)
        if by_name is None:  # one pass over the header fields for every raw target
            by_name = seen[_RAW] = {}
            for field_name, value in msg.raw_headers:
                by_name.setdefault(field_name.lower(), []).append(value)
        return "\n".join(by_name.get(name.lower(), ()))
    values = seen.get(name)
    if values is None:
        values = seen[name] = msg.headers(name)
    if view in ("addr", "name"):
        pairs = seen.get((name, "addresses"))
        if pairs is None:
            pairs = seen[(name, "addresses")] = [pair for v in values for pair in _addresses_in(v)]
        if view == "addr":
            return "\n".join(a for _, a in pairs if a)
        return "\n".join(n for n, _ in pairs if n)
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
            singles = [re2.compile(rule.regex.encode("utf-8"), _OPTIONS) for rule in rules]
            self.sets.append(_TargetSet(target, kind, rules, matcher, singles))
        self.evals = pack.by_kind("eval")
        self._needed_stages = {CHECKS[r.function].needs for r in self.evals} - {""}
        self._plans: dict[tuple[bool, frozenset[str]], _EvalPlan] = {}
        self._labels = {r.id: (r.group, tuple(r.tags)) for r in pack.rules.values()}
        self.metas: list[tuple[Rule, expr.Compiled, list[str]]] = []
        for rule in pack.meta_order:
            node = expr.parse(rule.expr)
            self.metas.append((rule, expr.compile_node(node), sorted(expr.references(node))))
        # decision rows, compiled: (row, fn)
        self.decisions = [(row, expr.compile_node(row.node)) for row in pack.decisions]

    def text_for(self, msg: "ParsedMessage", kind: str, target: str,
                 seen: dict | None = None) -> str:
        if kind == "header":
            return _header_text(msg, target, seen)
        return _KIND_TEXT[kind](msg)

    def match_patterns(self, msg: "ParsedMessage") -> list[Hit]:
        hits: list[Hit] = []
        seen: dict = {}
        for target_set in self.sets:
            text = self.text_for(msg, target_set.kind, target_set.target, seen)
            if not text:
                continue
            # Matched as UTF-8 bytes: the str interface of the RE2 wrapper encodes
            # the text again for every search and maps byte offsets back to
            # characters, which cost more than the matching on long bodies.
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:
                # Raw header views keep undecodable bytes as lone surrogates,
                # which RE2 (UTF-8 only) refuses: match a cleaned copy instead.
                data = text.encode("utf-8", "replace")
            matched = target_set.matcher.Match(data)
            # Match() returns None, not an empty list, when nothing matches.
            for index in matched or ():
                rule = target_set.rules[index]
                found = target_set.singles[index].search(data)
                if found is None:
                    continue
                if target_set.kind == "uri":
                    start = data.rfind(b"\n", 0, found.start()) + 1
                    end = data.find(b"\n", found.end())
                    evidence = data[start: end if end >= 0 else len(data)].decode("utf-8", "replace")
                else:
                    evidence = found.group(0).decode("utf-8", "replace")
                    if target_set.kind == "header":
                        evidence = f"{target_set.target}: {evidence}"
                hits.append(Hit(rule.id, _evidence(evidence or rule.description)))
        return hits

    def _eval_plan(self, ctx: "Context") -> "_EvalPlan":
        """Which eval rules run and which are skipped: the same for every message
        with the same offline flag and the same skipped stages, so built once."""
        skipped_stages = frozenset(s.name for s in ctx.skipped if s.name in self._needed_stages)
        key = (bool(ctx.offline), skipped_stages)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _build_plan(self.evals, ctx.offline, skipped_stages)
        return plan

    def run_evals(self, msg: "ParsedMessage", ctx: "Context") -> list[Hit]:
        plan = self._eval_plan(ctx)
        ctx.skipped.extend(plan.skips)
        hits: list[Hit] = []
        for check, rules, args_list in plan.groups:
            results = None
            if check.batch is not None:
                try:
                    results = check.batch(msg, ctx, args_list)
                except Exception:  # noqa: BLE001 - redone rule by rule below, which records it
                    results = None
            if results is None:
                results = []
                for rule, args in zip(rules, args_list):
                    try:
                        results.append(check.fn(msg, ctx, **args))
                    except Exception as exc:  # noqa: BLE001 - one broken check must not lose the message
                        ctx.errors.append(f"{rule.id}: {type(exc).__name__}: {exc}")
                        results.append(None)
            for rule, result in zip(rules, results):
                if result:
                    evidence = rule.description if result is True else str(result)
                    hits.append(Hit(rule.id, _evidence(evidence, 160)))
        return hits

    def run_metas(self, ctx: "Context") -> list[Hit]:
        hits: list[Hit] = []
        env = self.environment(ctx)
        present, group_counts, tag_counts, auth = env.hits, env.group_counts, env.tag_counts, ctx.auth
        for rule, fn, refs in self.metas:
            if fn(present, group_counts, tag_counts, auth, 0.0):
                parts = [r for r in refs if r in present]
                hits.append(Hit(rule.id, _evidence(" & ".join(parts) or rule.expr, 160)))
                present.add(rule.id)
                group_counts[rule.group] = group_counts.get(rule.group, 0) + 1
                for tag in rule.tags:
                    tag_counts[tag] = tag_counts.get(tag, 0) + 1
        return hits

    def environment(self, ctx: "Context", score: float = 0.0,
                    present: set[str] | None = None) -> expr.Env:
        """What expressions see: the hits so far (`present`, the ids of ctx.hits, if
        already at hand), counted per group and per tag."""
        if present is None:
            present = {h.rule for h in ctx.hits}
        groups: dict[str, int] = {}
        tags: dict[str, int] = {}
        labels = self._labels
        for rule_id in present:
            label = labels.get(rule_id)
            if label:
                group, rule_tags = label
                groups[group] = groups.get(group, 0) + 1
                for tag in rule_tags:
                    tags[tag] = tags.get(tag, 0) + 1
        return expr.Env(present, groups, tags, ctx.auth, score)


@dataclass
class _EvalPlan:
    skips: tuple[Skip, ...]
    groups: list[tuple[Check, list[Rule], list[dict]]]  # rules grouped by their check


def _build_plan(evals: list[Rule], offline: bool, skipped_stages: frozenset[str]) -> _EvalPlan:
    skips: list[Skip] = []
    grouped: dict[str, tuple[Check, list[Rule], list[dict]]] = {}
    for rule in evals:
        check = CHECKS[rule.function]
        if check.network and offline:
            skips.append(Skip(rule.id, "offline: network check not run"))
            continue
        if check.needs and check.needs in skipped_stages:
            skips.append(Skip(rule.id, f"needs the {check.needs} stage, which was skipped"))
            continue
        _, rules, args_list = grouped.setdefault(rule.function, (check, [], []))
        rules.append(rule)
        args_list.append(dict(rule.args))
    return _EvalPlan(tuple(skips), list(grouped.values()))


def run(msg: "ParsedMessage", ctx: "Context") -> None:
    compiled: CompiledRules = ctx.services["rules"]
    for hit in compiled.match_patterns(msg):
        ctx.add(hit)
    for hit in compiled.run_evals(msg, ctx):
        ctx.add(hit)
    for hit in compiled.run_metas(ctx):
        ctx.add(hit)
