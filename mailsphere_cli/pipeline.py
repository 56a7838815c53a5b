"""The journey of one message, in order. Adding a stage is one line in STAGES.

    parse -> perimeter -> attachments -> lists -> rules -> classifier -> decisions -> verdict

Every stage runs, collects its hits and records its time; none stops the others,
except that content already judged malicious skips scoring (its evidence stays),
and a sender proven to be on a whitelist skips the scoring stages.
"""
from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mailsphere_cli.context import Context
from mailsphere_cli.message import Limits, ParsedMessage
from mailsphere_cli.verdict import Action, Hit, ScoredHit, Verdict

if TYPE_CHECKING:
    from mailsphere_cli.config import Config
    from mailsphere_cli.sources import RawMessage

# (name, module with run(msg, ctx)); parse and verdict frame them.
STAGES: tuple[tuple[str, str], ...] = (
    ("perimeter", "mailsphere_cli.perimeter.stage"),
    ("attachments", "mailsphere_cli.attachments.stage"),
    ("lists", "mailsphere_cli.lists"),
    ("rules", "mailsphere_cli.rules.engine"),
    ("classifier", "mailsphere_cli.classifier"),
    ("decisions", "mailsphere_cli.decide"),
)
STAGE_NAMES = ("parse",) + tuple(name for name, _ in STAGES) + ("verdict",)
SCORING_STAGES = ("rules", "classifier", "decisions")


def load_stage(module: str) -> ModuleType | str:
    """The stage module, or the reason it cannot run in this build."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        return f"not available in this build ({exc.name})"
    if not hasattr(loaded, "run"):
        return "not available in this build (no run())"
    return loaded


class Pipeline:
    """Built once per worker: config, compiled rules and per-worker services."""

    def __init__(self, config: "Config", services: dict[str, Any], *, offline: bool,
                 skip: tuple[str, ...] = (), limits: Limits | None = None):
        self.config = config
        self.services = services
        self.offline = offline
        self.skip = set(skip)
        self.limits = limits or Limits(max_size=config.scan.max_size)
        self.stages = [(name, load_stage(module)) for name, module in STAGES]
        # organisation per (recipients, sender): the same few recur message after message
        self._orgs: dict[tuple[tuple[str, ...], str], Any] = {}

    def threshold_for(self, ctx: Context) -> float:
        return ctx.org.threshold if ctx.org else self.config.scan.threshold

    def run(self, raw: "RawMessage") -> Verdict:
        started = time.perf_counter()
        ctx = self.begin(raw)
        for name, stage in self.stages:
            self.run_stage(name, stage, ctx)
        return self.finish(raw, ctx, started)

    # A batch goes through the same three steps, stage by stage: `begin` for every
    # message, then each stage over every message, then `finish` for every message (see
    # workers.scan_batch). One stage's code and data stay in the CPU caches across the
    # batch instead of being evicted by the six other stages between two messages.
    def begin(self, raw: "RawMessage") -> Context:
        """Parse the message and set up its context (the parse stage)."""
        began = time.perf_counter()
        msg = ParsedMessage(raw.data, self.limits)
        ctx = Context(msg=msg, config=self.config, offline=self.offline, services=self.services)
        ctx.timings_ms["parse"] = (time.perf_counter() - began) * 1000
        ctx.org = self._org_for(msg)
        if raw.truncated:
            msg.limit_hits.append(Hit("MSG_TOO_LARGE", f"{raw.size} bytes, scanned the first "
                                                       f"{len(raw.data)}"))
        return ctx

    def prepare_stage(self, name: str, stage: ModuleType, prepare, ctx: Context) -> None:  # noqa: ANN001
        """One of a stage's PREPARE functions over one message: the parts of its work
        that workers.scan_batch runs, each for every message of a batch, before the
        stage's `run` meets any of them (the rule stage's message views, then its
        pattern pass: its automata stay in the CPU caches across the batch). Not run
        where run_stage would skip the stage; its time counts as the stage's. A
        failure is left for `run` to meet again and report as the stage's error."""
        if self._why_not(name, stage, ctx):
            return
        began = time.perf_counter()
        try:
            prepare(ctx.msg, ctx)
        except Exception:  # noqa: BLE001, S110 - run() does the work again and reports it
            pass
        ctx.timings_ms[name] = ctx.timings_ms.get(name, 0.0) + (time.perf_counter() - began) * 1000

    def run_stage(self, name: str, stage: ModuleType | str, ctx: Context) -> None:
        """One stage over one message: skipped with its reason, or run and timed; a stage
        that raises becomes an error of this message, not of the run."""
        reason = self._why_not(name, stage, ctx)
        if reason:
            ctx.skip(name, reason)
            return
        began = time.perf_counter()
        try:
            stage.run(ctx.msg, ctx)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - a failing stage is an error, not a crash
            ctx.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        # plus what its prepare_stage calls took, if it has any
        ctx.timings_ms[name] = ctx.timings_ms.get(name, 0.0) + (time.perf_counter() - began) * 1000

    def finish(self, raw: "RawMessage", ctx: Context, started: float) -> Verdict:
        """The verdict; its elapsed_ms runs from `started`."""
        return build_verdict(raw, ctx, self.threshold_for(ctx), self.services["rules"].pack,
                             started)

    def _org_for(self, msg: ParsedMessage) -> Any:
        """config.org_for_any(recipients) or config.org_for(sender), remembered per
        (recipients, sender) for this pipeline (the config does not change under it)."""
        key = (tuple(msg.to_addrs), msg.from_addr)
        try:
            return self._orgs[key]
        except KeyError:
            pass
        org = self.config.org_for_any(msg.to_addrs) or self.config.org_for(msg.from_addr)
        if len(self._orgs) >= 4096:
            self._orgs.clear()
        self._orgs[key] = org
        return org

    def _why_not(self, name: str, stage: ModuleType | str, ctx: Context) -> str:
        """Why the stage does not run on this message ("" when it does)."""
        # nothing to say unless one of these holds (most messages: none)
        if not (self.skip or ctx.forced or ctx.listed or stage.__class__ is str):
            return ""
        if name in self.skip:
            return "skipped on request (--skip)"
        if isinstance(stage, str):
            return stage
        if ctx.forced and (name in SCORING_STAGES or name == "lists"):
            malicious = [f for f in ctx.forced if f.action is Action.MALICIOUS]
            if malicious:
                return f"content judged malicious by {malicious[0].stage}"
        if ctx.listed and name in SCORING_STAGES and ctx.listed.get("whitelisted"):
            return f"sender whitelisted and authenticated ({ctx.listed.get('entry', '')})"
        return ""


def _scored_hits(ctx: Context, pack: Any) -> list[ScoredHit]:
    merged: dict[str, list[str]] = {}
    for hit in ctx.hits:
        evidence = merged.get(hit.rule)
        if evidence is None:
            evidence = merged[hit.rule] = []
        text = hit.evidence
        if text and len(evidence) < 3 and text not in evidence:
            evidence.append(text)
    rules, removed = pack.rules, ctx.removed
    rows = []
    for rule_id, evidence in merged.items():
        rule = rules.get(rule_id)
        score = 0.0 if rule is None or rule_id in removed else rule.score
        # Sorted by (-|score|, id) before the records are made; ids are unique, so the
        # later fields never decide the order.
        rows.append((-abs(score), rule_id, score, rule, evidence))
    rows.sort()
    return [ScoredHit(rule_id, score, rule.group if rule else "other", "; ".join(evidence),
                      rule.description if rule else "")
            for _, rule_id, score, rule, evidence in rows]


def build_verdict(raw: "RawMessage", ctx: Context, threshold: float, pack: Any,
                  started: float) -> Verdict:
    began = time.perf_counter()
    msg = ctx.msg
    hits = _scored_hits(ctx, pack)
    score = sum(h.score for h in hits) + ctx.score_adjust
    if ctx.forced:
        strongest = max(ctx.forced, key=lambda f: f.action.severity)
        action, decided_by = strongest.action, strongest.stage
    elif ctx.listed.get("blacklisted"):
        action, decided_by = Action.SPAM, "lists"
    elif ctx.listed.get("whitelisted"):
        action, decided_by = Action.DELIVER, "lists"
    else:
        action = Action.SPAM if score > threshold else Action.DELIVER
        decided_by = "rules"
    ctx.timings_ms["verdict"] = (time.perf_counter() - began) * 1000
    return Verdict(
        id=raw.id, source=raw.origin, sender=msg.from_addr, recipients=tuple(msg.to_addrs),
        subject=msg.subject[:500], score=score, threshold=threshold, action=action,
        decided_by=decided_by, hits=tuple(hits), auth=dict(ctx.auth),
        attachments=tuple(ctx.attachments), skipped=tuple(ctx.skipped),
        errors=tuple(ctx.errors), timings_ms=dict(ctx.timings_ms),
        elapsed_ms=(time.perf_counter() - started) * 1000, size=raw.size,
        org=ctx.org.name if ctx.org else None, decisions=tuple(ctx.decisions),
        date=msg.date.isoformat() if msg.date else "")


def error_verdict(raw: "RawMessage", error: str, elapsed_ms: float = 0.0,
                  threshold: float = 5.0) -> Verdict:
    """For a message that could not be analysed: recorded, left where it was."""
    return Verdict(id=raw.id, source=raw.origin, sender="", recipients=(), subject="",
                   score=0.0, threshold=threshold, action=Action.ERROR, decided_by="error",
                   errors=(error,), elapsed_ms=elapsed_ms, size=raw.size)
