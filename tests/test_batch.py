"""Stage-by-stage batches (workers.scan_batch) give each message the verdict it gets alone,
and keep each message's time budget and failures its own."""
from __future__ import annotations

import hashlib
import sys
import time
import types
from pathlib import Path

from mailsphere_cli.config import Config
from mailsphere_cli.sources import Location, RawMessage, iter_sources
from mailsphere_cli.workers import Settings, build_pipeline, scan_batch
from tests.conftest import ROOT, make_message
from tests.test_cli_scan import SLEEPYPACK  # registers the test_sleep check

SAMPLES = ROOT / "sample_mail"


def _record(verdict) -> dict:
    fields = dict(vars(verdict))
    fields.pop("timings_ms", None)
    fields.pop("elapsed_ms", None)
    return fields


def _raw(data: bytes, name: str) -> RawMessage:
    return RawMessage(hashlib.sha256(data).hexdigest(), name, data, len(data),
                      Location("eml", name))


def test_a_batch_gives_every_message_the_verdict_it_gets_alone():
    pipeline = build_pipeline(Settings(config=Config(), offline=True))
    raws = [i for i in iter_sources([str(SAMPLES)]) if isinstance(i, RawMessage)]
    raws.append(_raw(b"\x00\xff not a message at all \r\n\r\n\x80", "junk.eml"))
    assert len(raws) >= 8
    alone = [_record(pipeline.run(raw)) for raw in raws]
    batched = scan_batch(pipeline, raws, timeout=30)
    assert [_record(v) for v in batched] == alone
    assert {v["action"].value for v in alone} >= {"deliver", "spam", "malicious"}
    for verdict in batched:  # each message's own time, not the batch's
        assert verdict.elapsed_ms >= sum(verdict.timings_ms.values()) * 0.99
        assert verdict.elapsed_ms < 10_000


def test_a_message_overrunning_its_budget_leaves_the_batch_and_the_others_go_on():
    pipeline = build_pipeline(Settings(config=Config(), offline=True, rules_dirs=(SLEEPYPACK,)))
    raws = [_raw(make_message("please SLEEP now"), "slow1.eml"),
            _raw(make_message("Minutes of the meeting"), "fine1.eml"),
            _raw(make_message("SLEEP again"), "slow2.eml"),
            _raw(make_message("Notes for Thursday"), "fine2.eml")]
    began = time.monotonic()
    verdicts = scan_batch(pipeline, raws, timeout=0.4)
    assert time.monotonic() - began < 3  # two budgets of 0.4 s, not two sleeps of 5 s
    by_name = {v.source: v for v in verdicts}
    for name in ("slow1.eml", "slow2.eml"):
        assert by_name[name].action.value == "error"
        assert by_name[name].errors == ("timed out after 0.4 s",)
        assert 300 <= by_name[name].elapsed_ms < 2000
    for name in ("fine1.eml", "fine2.eml"):
        assert by_name[name].action.value == "deliver"
        assert not by_name[name].errors
        assert "MINI_SLEEPY" not in {h.rule for h in by_name[name].hits}


def test_the_pattern_pass_run_ahead_gives_the_same_verdicts_and_a_failure_is_reported_once():
    pipeline = build_pipeline(Settings(config=Config(), offline=True))
    raws = [i for i in iter_sources([str(SAMPLES)]) if isinstance(i, RawMessage)][:6]
    compiled = pipeline.services["rules"]
    real = compiled.match_patterns
    calls = []

    def failing_on_the_second(msg):
        calls.append(msg)
        if msg.raw == raws[1].data:
            raise ValueError("pattern pass broke")
        return real(msg)

    compiled.match_patterns = failing_on_the_second
    try:
        alone = [_record(pipeline.run(raw)) for raw in raws]
        assert len(calls) == len(raws)
        calls.clear()
        batched = scan_batch(pipeline, raws, timeout=30)
    finally:
        del compiled.match_patterns
    # run ahead for every message, then again only where it failed
    assert len(calls) == len(raws) + 1
    assert [_record(v) for v in batched] == alone
    assert batched[1].errors == ("rules: ValueError: pattern pass broke",)
    assert not any(v.errors for i, v in enumerate(batched) if i != 1)
    assert all(v.timings_ms["rules"] > 0 for v in batched)


def test_the_classifier_tokens_made_ahead_are_each_messages_own_and_made_once(monkeypatch):
    import mailsphere_cli.classifier as classifier

    pipeline = build_pipeline(Settings(config=Config(), offline=True))
    raws = [i for i in iter_sources([str(SAMPLES)]) if isinstance(i, RawMessage)][:8]
    made = []
    real = classifier.tokens_of

    callers = []

    def counted(msg):
        made.append(msg.raw)
        callers.append(sys._getframe(1).f_code.co_name)
        return real(msg)

    monkeypatch.setattr(classifier, "tokens_of", counted)
    alone = [_record(pipeline.run(raw)) for raw in raws]
    scored = len(made)
    assert scored >= 6
    made.clear()
    batched = scan_batch(pipeline, raws, timeout=30)
    # made ahead by prepare for every message the stage scores, and not again by run
    assert len(made) == scored and len(set(made)) == scored
    assert set(callers[-scored:]) == {"prepare"}
    assert [_record(v) for v in batched] == alone
    assert all(v.timings_ms["classifier"] > 0 for v in batched if "classifier" in v.timings_ms)


def _napping_stage(stage_name: str):
    """A stage that sleeps 0.8 s for a message whose subject names it."""
    def run(msg, ctx):  # noqa: ARG001
        if stage_name in msg.subject:
            time.sleep(0.8)
    return types.SimpleNamespace(run=run)


def test_the_batch_timer_stops_a_message_at_its_own_deadline_only():
    """One timer serves a batch: when it fires for an earlier message's deadline while
    another message runs, that message goes on; a message whose steps add up past its
    budget is stopped when its own time is up."""
    pipeline = build_pipeline(Settings(config=Config(), offline=True))
    pipeline.stages[:0] = [("nap1", _napping_stage("NAP1")), ("nap2", _napping_stage("NAP2"))]
    raws = [_raw(make_message("NAP1 first"), "a.eml"),
            _raw(make_message("NAP1 second"), "b.eml"),  # runs when a.eml's 1.4 s is up
            _raw(make_message("NAP1 NAP2 twice"), "c.eml"),  # 1.6 s over two steps
            _raw(make_message("Notes for Thursday"), "d.eml")]
    verdicts = {v.source: v for v in scan_batch(pipeline, raws, timeout=1.4)}
    for name in ("a.eml", "b.eml", "d.eml"):
        assert verdicts[name].action.value == "deliver", name
        assert not verdicts[name].errors
    assert verdicts["c.eml"].action.value == "error"
    assert verdicts["c.eml"].errors == ("timed out after 1.4 s",)
    assert 1390 <= verdicts["c.eml"].elapsed_ms < 2000
