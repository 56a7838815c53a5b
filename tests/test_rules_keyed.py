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
from dataclasses import dataclass

import pytest

from mailsphere_cli.rules.checks import CHECKS, Check
from mailsphere_cli.rules.checks import features
from mailsphere_cli.rules.engine import CompiledRules
from mailsphere_cli.rules.loader import load_rules
from tests.test_rules_fast_paths import FakeCtx

# every header a key reads (sender: the first four; sender_recipients: the first ten)
KEY_HEADERS = ("from", "reply-to", "return-path", "sender", "to", "cc", "delivered-to",
               "x-original-to", "envelope-to", "in-reply-to",
               "list-id", "list-post", "list-help", "list-archive", "received")
# the keys read from those headers (and the trail): all but the links' hosts
HEADER_KEYS = ("sender", "sender_recipients", "list", "handover")
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
    from mailsphere_cli.perimeter import stage as perimeter
    from tests.rules_fixture import build, load_cases

    org = OrgConfig(name="example", domains=["example.com"], authorised_ips=["192.0.2.0/24"])
    config = Config(orgs={"example": org})
    rules = [r for r in CompiledRules(load_rules(None)).evals if CHECKS[r.function].key]
    assert {CHECKS[r.function].key for r in rules} == set(features.KEYS)
    rules = [r for r in rules if CHECKS[r.function].key in HEADER_KEYS]  # hosts: tested below
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
            for msg, ctx in ((a, ctx_a), (b, ctx_b)):
                perimeter.run(msg, ctx)  # the relays and the handover hop, from the grafted trail
            for name in HEADER_KEYS:
                assert features.KEYS[name](a, ctx_a) == features.KEYS[name](b, ctx_b)
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


def test_handover_checks_answer_alike_when_only_the_rest_of_the_trail_differs():
    """The handover key leaves out the queue ids, dates and recipients of the Received
    headers: changing those (keeping the key) changes no handover check's answer."""
    from mailsphere_cli.config import Config, OrgConfig
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.perimeter import stage as perimeter
    from tests.rules_fixture import build, load_cases

    org = OrgConfig(name="example", domains=["example.com"], authorised_ips=["192.0.2.0/24"])
    config = Config(orgs={"example": org})
    rules = [r for r in CompiledRules(load_rules(None)).evals if CHECKS[r.function].key == "handover"]
    assert len(rules) >= 5
    from tests.rules_fixture import DATE, TEMPLATE_HEADERS

    ours = next(v for n, v in TEMPLATE_HEADERS if n == "Received")
    cases = load_cases() + [{}]
    for helo in ("hotmail.com", "localhost", "[198.51.100.9]", "198.51.100.9", "nodots",
                 "mail.example.com", "mx1.example.com", "mail.example.org"):
        for name, ip in (("c-198-51-100-7.pool.example.net", "198.51.100.7"),
                         ("unknown", "198.51.100.7"), ("mail.example.org", "198.51.100.9"),
                         ("dsl-192-0-2-44.dyn.example.net", "192.0.2.44")):
            handover = (f"from {helo} ({name} [{ip}]) by mx1.example.com (Postfix) with ESMTPS "
                        f"id D4E5F6 for <bob@example.com>; {DATE}")
            cases.append({"set": {"Received": handover}})  # the only hop, so the handover
            cases.append({"set": {"Received": ""},
                          "add": [f"Received: {ours}", f"Received: {handover}"]})
    compared = fired = 0
    for case in cases:
        raw = build(case)
        other = re.sub(rb"(Received:[^;]*?) id \S+", rb"\1 id Q0THER9", raw)
        other = re.sub(rb"for <[^>]*>", b"for <someone@example.com>", other)
        other = re.sub(rb"(Received:[^;]*;)[^\r\n]*", rb"\1 Tue, 6 Jan 2026 11:00:00 +0100", other)
        messages = [ParsedMessage(raw), ParsedMessage(other)]
        contexts = [Context(msg=m, config=config, offline=True) for m in messages]
        for msg, ctx in zip(messages, contexts):
            perimeter.run(msg, ctx)
        key = features.KEYS["handover"]
        if key(messages[0], contexts[0]) != key(messages[1], contexts[1]):
            continue
        for rule in rules:
            fn = CHECKS[rule.function].fn
            answers = [fn(m, c, **rule.args) for m, c in zip(messages, contexts)]
            assert answers[0] == answers[1], (rule.id, case.get("rule"))
            compared += 1
            fired += bool(answers[0])
    assert compared > 500 and fired > 20


@dataclass
class FakeMsgWithLinks:
    sender: str
    links: bool


def test_plans_with_the_same_run_of_keyed_rules_share_its_memory(keyed_pack, monkeypatch):
    """Two messages alike in their key but not in an input the plan is chosen by
    (here: links) get different plans; the keyed run is the same in both, so the
    second is answered from what the first remembered."""
    compiled, calls = keyed_pack
    has_links = lambda msg, ctx: msg.links  # noqa: E731
    monkeypatch.setattr(compiled, "_inputs", [("urls", has_links)])
    monkeypatch.setattr(compiled, "_input_tests", [has_links])
    first = compiled.run_evals(FakeMsgWithLinks("alice", False), FakeCtx())
    assert calls["fn"] == 3
    second = compiled.run_evals(FakeMsgWithLinks("alice", True), FakeCtx())
    assert len(compiled._plans) == 2
    assert calls["fn"] == 3 and second == first
    compiled.run_evals(FakeMsgWithLinks("bob", True), FakeCtx())
    assert calls["fn"] == 6


def test_rule_arguments_bound_from_the_code_object_as_inspect_binds_them():
    """engine._bind reads a plain function's parameters from its code object; for
    every eval rule of the shipped pack and for odd signatures it calls the function
    with what inspect's binding gives (or leaves the call to raise as before)."""
    import functools
    import inspect

    from mailsphere_cli.rules.engine import _bind, _positional_values

    def reference(fn, args):
        try:
            bound = inspect.signature(fn).bind(None, None, **args)
        except (TypeError, ValueError):
            return None
        bound.apply_defaults()
        if bound.kwargs or len(bound.args) != len(bound.arguments):
            return None
        return tuple(bound.args[2:])

    def plain(msg, ctx, a, b=2, c="x"):
        return (a, b, c)

    def gathers(msg, ctx, a, **rest):
        return (a, rest)

    def keyword_only(msg, ctx, a, *, b=1):
        return (a, b)

    def posonly(msg, ctx, /, a=1):
        return a

    wrapped = functools.wraps(plain)(lambda msg, ctx, **kw: plain(msg, ctx, **kw))
    cases = [(plain, {"a": 1}), (plain, {"a": 1, "c": 3}), (plain, {"b": 5}), (plain, {"d": 1}),
             (plain, {"a": 1, "b": 2, "c": 3}), (gathers, {"a": 1, "z": 2}),
             (keyword_only, {"a": 1, "b": 2}), (posonly, {"a": 3}), (wrapped, {"a": 1})]
    pack = CompiledRules(load_rules(None))
    cases += [(CHECKS[r.function].fn, dict(r.args)) for r in pack.evals if r.args]
    fast = 0
    for fn, args in cases:
        values = _positional_values(fn, args)
        if values is not None:
            fast += 1
            assert values == reference(fn, args), (fn, args)
        expected = None
        try:
            expected = ("ok", fn(None, None, **args))
        except Exception as exc:  # noqa: BLE001
            expected = ("raised", type(exc))
        try:
            got = ("ok", _bind(fn, args)(None, None))
        except Exception as exc:  # noqa: BLE001
            got = ("raised", type(exc))
        if fn in (plain, gathers, keyword_only, posonly):  # wrapped goes the inspect way
            assert got == expected, (fn, args)
    assert _positional_values(plain, {"b": 5}) is None  # a required one missing
    assert _positional_values(gathers, {"a": 1}) is None
    assert _positional_values(wrapped, {"a": 1}) is None
    assert fast > 30


def test_hosts_checks_answer_alike_for_messages_linking_the_same_hosts():
    """Checks keyed on the links' hosts give the same answer for two messages whose
    links go to the same hosts in the same order, whatever the rest of the links
    (scheme, path, query), the text and the headers; hosts taken from the corpus
    fixtures and from look-alike, listed and suspicious-TLD examples."""
    from mailsphere_cli.config import Config, OrgConfig
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage
    from tests.rules_fixture import build, load_cases

    org = OrgConfig(name="example", domains=["example.com"], authorised_ips=["192.0.2.0/24"])
    config = Config(orgs={"example": org})
    rules = [r for r in CompiledRules(load_rules(None)).evals if CHECKS[r.function].key == "hosts"]
    assert len(rules) >= 4
    host_lists: list[list[str]] = []
    for case in load_cases():
        found = features.hosts(ParsedMessage(build(case)))
        if found:
            host_lists.append(found)
    extra = ["paypa1.com", "bit.ly", "www.example.top", "examp1e.com", "login.example.zip",
             "a.b.c.example.net", "xn--pypal-4ve.com", "192.0.2.1", "tinyurl.com", "secure-paypal.com"]
    host_lists += [extra[i:i + n] for n in (1, 2, 3, 5) for i in range(0, len(extra), n)]
    host_lists += [extra, extra[::-1]]
    compared = fired = 0
    for index, hosts in enumerate(host_lists):
        first = " ".join(f"http://{h}/a?b={index}" for h in hosts)
        second = "see " + "\n".join(f"https://{h.upper()}/x/{i}/login.php" for i, h in enumerate(hosts))
        other = build({"set": {"Subject": "another", "From": "x@example.org"}, "body": second})
        messages = [ParsedMessage(build({"body": first})), ParsedMessage(other)]
        contexts = [Context(msg=m, config=config, offline=True) for m in messages]
        key = features.KEYS["hosts"]
        assert key(messages[0], contexts[0]) == key(messages[1], contexts[1]), hosts
        assert messages[0].urls != messages[1].urls
        for rule in rules:
            fn = CHECKS[rule.function].fn
            answers = [fn(m, c, **rule.args) for m, c in zip(messages, contexts)]
            assert answers[0] == answers[1], (rule.id, hosts)
            compared += 1
            fired += bool(answers[0])
    assert compared > 100 and fired > 10
