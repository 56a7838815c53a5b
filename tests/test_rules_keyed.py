"""Checks declared with `key=` (their result depends on one fact of the message
and nothing else) and the engine's memory of their results per value of that fact.

The first test proves the declarations on the fixture messages: a message made
of one message's key headers and another message's everything else gets the
same answer from every keyed check as the first. The others pin down the
engine: a value seen before is answered from memory, a check that raises is
recorded rule by rule and nothing is remembered, a new configuration forgets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from mailsphere_cli.rules.checks import CHECKS, Check
from mailsphere_cli.rules.checks import features
from mailsphere_cli.rules.engine import CompiledRules
from mailsphere_cli.rules.loader import load_rules

# every header a key reads (sender: the first four; sender_recipients: the first ten)
KEY_HEADERS = ("from", "reply-to", "return-path", "sender", "to", "cc", "delivered-to",
               "x-original-to", "envelope-to", "in-reply-to",
               "list-id", "list-post", "list-help", "list-archive")
_FIELD = re.compile(rb"^[^\s:]+:.*(?:\r?\n[ \t].*)*\r?\n", re.M)


def _fields(raw: bytes) -> tuple[list[bytes], bytes]:
    """(the header fields of a message, each with its continuation lines; the body)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    return [m.group(0) for m in _FIELD.finditer(head + b"\r\n")], sep + body


def _name(field_bytes: bytes) -> str:
    return field_bytes.split(b":", 1)[0].decode("latin-1").lower()


def _graft(keys_from: bytes, rest_from: bytes) -> bytes:
    """The key headers of `keys_from`, in their order, with every other header and
    the body of `rest_from`."""
    key_fields = [f for f in _fields(keys_from)[0] if _name(f) in KEY_HEADERS]
    fields, body = _fields(rest_from)
    others = [f for f in fields if _name(f) not in KEY_HEADERS]
    return b"".join(key_fields + others).rstrip(b"\r\n") + body


def test_keyed_checks_answer_alike_for_messages_alike_in_their_key():
    from mailsphere_cli.config import Config, OrgConfig
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage
    from tests.rules_fixture import build, load_cases

    org = OrgConfig(name="example", domains=["example.com"], authorised_ips=["192.0.2.0/24"])
    config = Config(orgs={"example": org})
    rules = [r for r in CompiledRules(load_rules(None)).evals if CHECKS[r.function].key]
    assert {CHECKS[r.function].key for r in rules} == set(features.KEYS)
    raws = [build(case) for case in load_cases() if "raw" not in case] + [build({})]
    listed = [raw for raw in raws if b"\nList-Id:" in raw]
    assert len(listed) >= 2
    raws += listed * 10  # so that list headers are grafted onto many others
    compared = differing = 0
    for index, keys_from in enumerate(raws):
        for rest_from in (raws[(index * 7 + 3) % len(raws)], raws[(index * 13 + 5) % len(raws)]):
            a = ParsedMessage(keys_from)
            b = ParsedMessage(_graft(keys_from, rest_from))
            ctx_a = Context(msg=a, config=config, offline=True)
            ctx_b = Context(msg=b, config=config, offline=True)
            for ctx in (ctx_a, ctx_b):
                ctx.auth["env_from"] = "envelope@example.net"
            for key in features.KEYS.values():
                assert key(a, ctx_a) == key(b, ctx_b)
            differing += a.subject != b.subject or a.body != b.body
            for rule in rules:
                fn = CHECKS[rule.function].fn
                assert fn(a, ctx_a, **rule.args) == fn(b, ctx_b, **rule.args), rule.id
                compared += 1
    assert differing > len(raws)  # the pairs really differ outside their key headers
    assert compared > 1000


@dataclass
class FakeMsg:
    sender: str


@dataclass
class FakeCtx:
    offline: bool = True
    config: Any = None
    skipped: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hits: list[Any] = field(default_factory=list)
    auth: dict[str, Any] = field(default_factory=dict)


@pytest.fixture()
def keyed_pack(tmp_path, monkeypatch):
    calls = {"fn": 0}

    def fn(msg, ctx, value):
        calls["fn"] += 1
        if msg.sender == "boom" and value == "two":
            raise RuntimeError("broken on purpose")
        return f"{msg.sender} {value}" if msg.sender != "quiet" else ""

    monkeypatch.setitem(features.KEYS, "t_sender", lambda msg, ctx: msg.sender)
    monkeypatch.setitem(CHECKS, "t_keyed", Check("t_keyed", fn, key="t_sender"))
    rules = [f'[[rule]]\nid = "T_KEYED_{v.upper()}"\nkind = "eval"\nfunction = "t_keyed"\n'
             f'args = {{ value = "{v}" }}\nscore = 1.0\ngroup = "other"\ndescription = "keyed {v}"\n'
             for v in ("one", "two", "three")]
    (tmp_path / "keyed.toml").write_text("\n".join(rules))
    return CompiledRules(load_rules([str(tmp_path)])), calls


def _hits(compiled, sender, config=None):
    ctx = FakeCtx(config=config)
    return [(h.rule, h.evidence) for h in compiled.run_evals(FakeMsg(sender), ctx)], ctx.errors


def test_a_value_seen_before_is_answered_from_memory(keyed_pack):
    compiled, calls = keyed_pack
    first = _hits(compiled, "alice")
    assert first == ([("T_KEYED_ONE", "alice one"), ("T_KEYED_TWO", "alice two"),
                      ("T_KEYED_THREE", "alice three")], [])
    assert calls["fn"] == 3
    assert _hits(compiled, "alice") == first
    assert calls["fn"] == 3  # not called again
    assert _hits(compiled, "quiet") == ([], [])
    assert calls["fn"] == 6


def test_a_raising_check_is_recorded_rule_by_rule_and_not_remembered(keyed_pack):
    compiled, calls = keyed_pack
    for _ in range(2):
        hits, errors = _hits(compiled, "boom")
        assert hits == [("T_KEYED_ONE", "boom one"), ("T_KEYED_THREE", "boom three")]
        assert errors == ["T_KEYED_TWO: RuntimeError: broken on purpose"]
    assert calls["fn"] == 2 * (2 + 3)  # the batch gave up after two calls, then rule by rule


def test_another_configuration_forgets_what_was_remembered(keyed_pack):
    compiled, calls = keyed_pack
    _hits(compiled, "alice", config="one")
    _hits(compiled, "alice", config="one")
    assert calls["fn"] == 3
    _hits(compiled, "alice", config="two")
    assert calls["fn"] == 6
