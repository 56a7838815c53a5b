"""Run a rule pack over one message.

Regex rules go through the pattern matcher (rules/matcher.py): one pass per
target, then a single search for the evidence of each rule the pass reports.
Eval rules call their registered check; meta rules are evaluated last, in
dependency order, over every hit of every stage so far.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable

from mailsphere_cli.rules import expr
from mailsphere_cli.rules.checks import CHECKS, Check
from mailsphere_cli.rules.checks.features import INPUTS, KEYS
from mailsphere_cli.rules.loader import Rule, RulePack
from mailsphere_cli.rules.matcher import PatternMatcher, evidence_text
from mailsphere_cli.verdict import Hit, Skip

if TYPE_CHECKING:
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage

_evidence = evidence_text
_name_of = attrgetter("name")


class CompiledRules:
    """A rule pack ready to run: built once per worker process."""

    def __init__(self, pack: RulePack):
        self.pack = pack
        self.patterns = PatternMatcher(pack.rules.values())
        self.evals = pack.by_kind("eval")
        self._needed_stages = {CHECKS[r.function].needs for r in self.evals} - {""}
        self._inputs = [(name, INPUTS[name]) for name in
                        sorted({CHECKS[r.function].requires for r in self.evals} - {""})]
        self._input_tests = [has for _, has in self._inputs]
        self._plans: dict[tuple[bool, frozenset[str], tuple[bool, ...]], _EvalPlan] = {}
        self._calls: dict[str, tuple[dict, Callable[..., Any]]] = {}  # rule id -> args, bound call
        self._memos: dict[tuple[str, ...], tuple[dict, list]] = {}  # keyed run -> its memory
        if self.evals:
            from mailsphere_cli.rules.checks.url import load_reference_data
            load_reference_data()
        self._labels = {r.id: (r.group, tuple(r.tags)) for r in pack.rules.values()}
        # (rule, its parsed expression, the rules it refers to), in dependency order
        self.metas: list[tuple[Rule, expr.Node, list[str]]] = []
        self._metas_count = False  # does any meta read group: or tag: counts?
        for rule in pack.meta_order:
            node = expr.parse(rule.expr)
            self.metas.append((rule, node, sorted(expr.references(node))))
            self._metas_count = self._metas_count or expr.reads_counts(node)
        # every meta in order in one function (run_metas): one call a message, not 24
        self._fire_metas = expr.compile_sequence(
            [node for _, node, _ in self.metas], [rule.id for rule, _, _ in self.metas],
            [(rule.group, tuple(rule.tags)) for rule, _, _ in self.metas] if self._metas_count else None)
        # the decision rows, all compiled into one function (expr.compile_rows); it takes
        # the score as a function of no arguments, called only by a row that reads it
        self.decisions = list(pack.decisions)
        self.fire_decisions = expr.compile_rows([row.node for row in self.decisions])

    def match_patterns(self, msg: "ParsedMessage") -> list[Hit]:
        return self.patterns.match(msg)

    def _eval_plan(self, msg: "ParsedMessage", ctx: "Context") -> "_EvalPlan":
        """Which eval rules run and which are skipped: the same for every message
        with the same offline flag, the same skipped stages and the same inputs
        absent (no HTML, no links...), so built once for each such combination."""
        needed = self._needed_stages
        skipped = ctx.skipped  # mostly network checks skipped offline, rarely a stage
        if not skipped or needed.isdisjoint(map(_name_of, skipped)):
            skipped_stages: frozenset[str] = frozenset()
        else:
            skipped_stages = frozenset(s.name for s in skipped if s.name in needed)
        present = tuple([has(msg, ctx) for has in self._input_tests])
        key = (bool(ctx.offline), skipped_stages, present)
        plan = self._plans.get(key)
        if plan is None:
            absent = frozenset(name for (name, _), has in zip(self._inputs, present) if not has)
            plan = self._plans[key] = _build_plan(self.evals, ctx.offline, skipped_stages, absent,
                                                  self._calls, self._memos)
        return plan

    def run_evals(self, msg: "ParsedMessage", ctx: "Context") -> list[Hit]:
        plan = self._eval_plan(msg, ctx)
        if plan.skips:
            ctx.skipped.extend(plan.skips)
        hits: list[Hit] = []
        add = hits.append
        for batch, rules, args_list, calls, one in plan.walk:
            if one is not None:  # a step of one rule without a batch form (half the steps)
                try:
                    result = one(msg, ctx)
                except Exception as exc:  # noqa: BLE001 - one broken check must not lose the message
                    ctx.errors.append(f"{rules[0].id}: {type(exc).__name__}: {exc}")
                    continue
                if result:
                    rule = rules[0]
                    add(_eval_hit(rule.id, rule.description if result is True else str(result)))
                continue
            if batch is not None:
                try:
                    results = batch(msg, ctx, args_list)
                except Exception:  # noqa: BLE001 - redone rule by rule below, which records it
                    results = None
                if results is not None:
                    if not any(results):
                        continue  # the usual answer: no rule of the check fired
                    for rule, result in zip(rules, results):
                        if result:
                            add(_eval_hit(rule.id,
                                          rule.description if result is True else str(result)))
                    continue
            for rule, call in zip(rules, calls):  # no batch form, or the batch failed
                try:
                    result = call(msg, ctx)
                except Exception as exc:  # noqa: BLE001 - one broken check must not lose the message
                    ctx.errors.append(f"{rule.id}: {type(exc).__name__}: {exc}")
                    continue
                if result:
                    add(_eval_hit(rule.id, rule.description if result is True else str(result)))
        return hits

    def run_metas(self, ctx: "Context") -> list[Hit]:
        hits: list[Hit] = []
        if self._metas_count:
            env = self.environment(ctx)
            present, group_counts, tag_counts = env.hits, env.group_counts, env.tag_counts
        else:  # no meta reads the counts: the ids of the hits are all they need
            present, group_counts, tag_counts = {h.rule for h in ctx.hits}, {}, {}
        fired = self._fire_metas(present, group_counts, tag_counts, ctx.auth)
        metas = self.metas
        for index in fired:
            rule, _, refs = metas[index]
            # the references present when it fired: a meta refers only to rules of the
            # earlier stages and to metas before it (dependency order), all decided by then
            parts = [r for r in refs if r in present]
            hits.append(Hit(rule.id, _evidence(" & ".join(parts) or rule.expr, 160)))
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


@lru_cache(maxsize=8192)
def _eval_hit(rule_id: str, text: str) -> Hit:
    """The hit of an eval rule with this evidence text (a description, or what the
    check returned). Hits are frozen, and the same ones ("no Message-ID", a
    rule's description) recur from message to message: made once."""
    return Hit(rule_id, _evidence(text, 160))


@dataclass
class _EvalPlan:
    skips: tuple[Skip, ...]
    # one step per check: (its batch form or None, its rules, their arguments, their bound
    # calls); without a batch form (or when the batch fails) the rules run one by one
    steps: list[tuple[Any, ...]]
    # what run_evals walks: each step with a fifth item, the bound call of a step of one
    # rule without a batch form (run directly, without the loop over its rules)
    walk: list[tuple[Any, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.walk = [(*step, step[3][0] if step[0] is None and len(step[1]) == 1 else None)
                     for step in self.steps]


_GATHERS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _positional_values(fn: Callable[..., Any], args: dict) -> tuple[Any, ...] | None:
    """What inspect.signature(fn).bind(None, None, **args) with its defaults applied
    gives after the first two, read from the code object: for a plain function
    (no *args, **kwargs, keyword-only parameters or wrapper) taking every name in
    `args`. None for anything else, which goes the inspect way. Binding a rule
    pack's rules that way cost each worker ~10 ms when it met its first messages."""
    code = getattr(fn, "__code__", None)
    if code is None or hasattr(fn, "__wrapped__") or code.co_kwonlyargcount or \
            code.co_flags & _GATHERS or code.co_posonlyargcount:
        return None
    names = code.co_varnames[:code.co_argcount]
    if len(names) < 2 or not set(args) <= set(names[2:]):
        return None
    defaults = fn.__defaults__ or ()
    first_default = len(names) - len(defaults)
    values = []
    for index in range(2, len(names)):
        name = names[index]
        if name in args:
            values.append(args[name])
        elif index >= first_default:
            values.append(defaults[index - first_default])
        else:
            return None  # a required argument missing: inspect raises, as the call will
    return tuple(values)


def _bind(fn: Callable[..., Any], args: dict) -> Callable[..., Any]:
    """fn with a rule's arguments bound: call(msg, ctx) == fn(msg, ctx, **args), without
    unpacking a keyword dict on every message. Arguments the signature does not
    take are left to fn(msg, ctx, **args), which reports them as before."""
    if not args:
        return fn
    values = _positional_values(fn, args)
    if values is None:
        try:
            bound = inspect.signature(fn).bind(None, None, **args)
        except (TypeError, ValueError):
            return lambda msg, ctx: fn(msg, ctx, **args)
        bound.apply_defaults()
        values = bound.args[2:]
        if bound.kwargs or len(bound.args) != len(bound.arguments):
            return lambda msg, ctx: fn(msg, ctx, **args)
    if len(values) == 1:
        (first,) = values
        return lambda msg, ctx: fn(msg, ctx, first)
    if len(values) == 2:
        first, second = values
        return lambda msg, ctx: fn(msg, ctx, first, second)
    return lambda msg, ctx: fn(msg, ctx, *values)


def _build_plan(evals: list[Rule], offline: bool, skipped_stages: frozenset[str],
                absent: frozenset[str] = frozenset(),
                bound: dict[str, tuple[dict, Callable[..., Any]]] | None = None,
                memos: dict[tuple[str, ...], tuple[dict, list]] | None = None) -> _EvalPlan:
    """The plan for one combination; `bound` keeps each rule's argument dict and bound
    call across the plans of one rule pack (binding inspects the signature), `memos`
    the memory of each run of keyed rules, so that plans with the same run share it."""
    if bound is None:
        bound = {}
    skips: list[Skip] = []
    grouped: dict[str, tuple[Check, list[Rule], list[dict], list[Callable[..., Any]]]] = {}
    for rule in evals:
        check = CHECKS[rule.function]
        if check.network and offline:
            skips.append(Skip(rule.id, "offline: network check not run"))
            continue
        if check.needs and check.needs in skipped_stages:
            skips.append(Skip(rule.id, f"needs the {check.needs} stage, which was skipped"))
            continue
        if check.requires in absent:
            continue  # it could not fire on this message: nothing to run, nothing skipped
        _, rules, args_list, calls = grouped.setdefault(rule.function, (check, [], [], []))
        rules.append(rule)
        if rule.id not in bound:
            args = dict(rule.args)
            bound[rule.id] = (args, _bind(check.fn, args))
        args, call = bound[rule.id]
        args_list.append(args)
        calls.append(call)
    steps = [(check.batch, rules, args_list, calls)
             for check, rules, args_list, calls in grouped.values()]
    return _EvalPlan(tuple(skips), _remembered(steps, {} if memos is None else memos))


MEMO_SIZE = 4096  # values remembered per run of keyed rules


def _step_key(step: tuple[Any, ...]) -> str:
    return CHECKS[step[1][0].function].key


def _remembered(steps: list[tuple[Any, ...]],
                memos: dict[tuple[str, ...], tuple[dict, list]]) -> list[tuple[Any, ...]]:
    """Each run of consecutive steps whose checks declare the same key becomes one
    step, a batch over all their rules that keeps its results per key value (in
    `memos`, per key and rule ids: the same run in another plan answers from the
    same memory; a run differing by a rule has its own)."""
    out: list[tuple[Any, ...]] = []
    start = 0
    while start < len(steps):
        key = _step_key(steps[start])
        end = start + 1
        while key and end < len(steps) and _step_key(steps[end]) == key:
            end += 1
        out.append(_memo_step(key, steps[start:end], memos) if key else steps[start])
        start = end
    return out


def _memo_step(key: str, run: list[tuple[Any, ...]],
               memos: dict[tuple[str, ...], tuple[dict, list]]) -> tuple[Any, ...]:
    key_of = KEYS[key]
    rules: list[Rule] = []
    args_list: list[dict] = []
    calls: list[Callable[..., Any]] = []
    for _, step_rules, step_args, step_calls in run:
        rules.extend(step_rules)
        args_list.extend(step_args)
        calls.extend(step_calls)
    memo, config = memos.setdefault((key, *(rule.id for rule in rules)), ({}, [None]))

    def remembered(msg: "ParsedMessage", ctx: "Context", _args: list[dict]) -> list[Any]:
        # Results hold for one configuration (own domains...): forgotten when it changes.
        if ctx.config is not config[0]:
            memo.clear()
            config[0] = ctx.config
        value = key_of(msg, ctx)
        found = memo.get(value)
        if found is not None:
            return found
        results: list[Any] = []
        for batch, _, step_args, step_calls in run:
            batch_results = batch(msg, ctx, step_args) if batch is not None else None
            results.extend(batch_results if batch_results is not None else
                           [one(msg, ctx) for one in step_calls])
        # A check that raised got here no further: the engine redoes the rules one
        # by one, recording the error, and nothing is remembered.
        if len(memo) >= MEMO_SIZE:
            del memo[next(iter(memo))]
        memo[value] = results
        return results

    remembered.memo_key = key  # type: ignore[attr-defined]  # for bench/profile_evals.py
    return (remembered, rules, args_list, calls)


def _prepare_views(msg: "ParsedMessage", ctx: "Context") -> None:
    """The message views the pattern pass reads (rendered HTML, links...), built for
    every message of a batch before the pass: parsing HTML touches much memory, and
    between two messages' passes it evicted their automata from the CPU caches."""
    ctx.services["rules"].patterns.build_views(msg)


def _prepare_patterns(msg: "ParsedMessage", ctx: "Context") -> None:
    """The pattern pass, run for every message of a batch before `run` meets any of
    them: the Hyperscan databases and RE2 automata stay in the CPU caches from one
    message to the next instead of being evicted by the eval checks in between."""
    ctx.pattern_hits = ctx.services["rules"].match_patterns(msg)


# Run ahead by workers.scan_batch, each over the whole batch in turn (Pipeline.prepare_stage)
PREPARE = (_prepare_views, _prepare_patterns)


def run(msg: "ParsedMessage", ctx: "Context") -> None:
    compiled: CompiledRules = ctx.services["rules"]
    hits = ctx.pattern_hits
    if hits is None:
        hits = compiled.match_patterns(msg)
    else:
        ctx.pattern_hits = None
    for hit in hits:
        ctx.add(hit)
    for hit in compiled.run_evals(msg, ctx):
        ctx.add(hit)
    for hit in compiled.run_metas(ctx):
        ctx.add(hit)
