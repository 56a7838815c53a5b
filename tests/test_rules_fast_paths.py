"""The rule stage's fast paths behave exactly like the plain ones they replace:
compiled expressions agree with the tree walker, batch checks fall back rule by
rule when they fail, the eval plan's skips come out in rule order, and the
per-message cache never serves one message's value for another."""
from __future__ import annotations

import ipaddress
import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

import mailsphere_cli.perimeter.rdns as rdns_module
from mailsphere_cli.rules import expr
from mailsphere_cli.rules.checks import CHECKS, Check, per_message
from mailsphere_cli.rules.engine import CompiledRules
from mailsphere_cli.rules.loader import load_rules

EXPRESSIONS = [
    "A & B", "A && !B", "A | B & C", "!(A | B)", "A + B + C >= 2", "-A + 1", "A - B",
    "group:url >= 2", "tag:ham > 0 & !C", "score > 5", "score > 5 & group:url == 0",
    'auth.dmarc == "fail"', 'auth.dmarc != "pass" & A', "auth.dkim_valid", "auth.missing",
    'auth.nested.key == "x"', "auth.count >= 2", "auth.dmarc", "(A + B) * 1 == 1".replace(" * 1", ""),
    "A == B", "true & A", "false | B", "!auth.dmarc", "group:none + tag:none",
    '"none"', "2", "A + auth.dkim_valid", "auth.nested == \"\"",
]
AUTHS = [
    {}, {"dmarc": "fail", "dkim_valid": True, "count": 3, "nested": {"key": "x"}},
    {"dmarc": "pass", "dkim_valid": False, "count": 1}, {"dmarc": "none", "nested": "flat"},
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_compiled_expression_agrees_with_the_tree_walker(text):
    node = expr.parse(text)
    compiled = expr.compile_node(node)
    for present in itertools.chain.from_iterable(itertools.combinations("ABC", n) for n in range(4)):
        for auth in AUTHS:
            for groups, tags, score in (({}, {}, 0.0), ({"url": 2}, {"ham": 1}, 7.5)):
                env = expr.Env(set(present), groups, tags, auth, score)
                assert _outcome(lambda: expr.evaluate(node, env)) == \
                    _outcome(lambda: compiled(set(present), groups, tags, auth, score)), \
                    (text, present, auth, groups, score)


def _outcome(run):
    """Truth of the result, or the error raised (the same errors must come out)."""
    try:
        return bool(run())
    except expr.ExprError as exc:
        return f"error: {exc}"


def test_compiled_expression_raises_like_the_tree_walker():
    node = expr.parse('auth.dmarc > 2')
    env = expr.Env(set(), {}, {}, {"dmarc": "fail"}, 0.0)
    with pytest.raises(expr.ExprError):
        expr.evaluate(node, env)
    with pytest.raises(expr.ExprError):
        expr.compile_node(node)(set(), {}, {}, {"dmarc": "fail"}, 0.0)


def test_per_message_cache_recomputes_for_another_message():
    calls = []

    @per_message
    def view(msg):
        calls.append(msg)
        return [msg.name]

    @dataclass
    class Msg:
        name: str

    first, second = Msg("a"), Msg("a")
    assert view(first) == ["a"] and view(first) == ["a"]
    assert len(calls) == 1
    assert view(second) == ["a"] and len(calls) == 2  # equal but another object: recomputed
    assert view(first) == ["a"] and len(calls) == 2  # each message keeps its own value
    assert view(second) is not view(first)


@dataclass
class FakeCtx:
    """The few context fields the eval engine reads (the engine, not a stage, is under test)."""
    offline: bool = True
    config: Any = None
    skipped: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hits: list[Any] = field(default_factory=list)
    auth: dict[str, Any] = field(default_factory=dict)


@pytest.fixture()
def pack_with_batch(tmp_path, monkeypatch):
    calls = {"fn": 0, "batch": 0}

    def fn(msg, ctx, value):
        calls["fn"] += 1
        if value == "boom":
            raise RuntimeError("broken on purpose")
        return f"saw {value}" if value != "quiet" else ""

    def failing_batch(msg, ctx, args_list):
        calls["batch"] += 1
        raise RuntimeError("batch gives up")

    monkeypatch.setitem(CHECKS, "t_probe", Check("t_probe", fn, batch=failing_batch))
    monkeypatch.setitem(CHECKS, "t_net", Check("t_net", fn, network=True))
    rules = []
    for index, value in enumerate(["one", "boom", "quiet", "two"]):
        rules.append(f'[[rule]]\nid = "T_PROBE_{index}"\nkind = "eval"\nfunction = "t_probe"\n'
                     f'args = {{ value = "{value}" }}\nscore = 1.0\ngroup = "other"\n'
                     f'description = "probe {index}"\n')
        rules.append(f'[[rule]]\nid = "T_NET_{index}"\nkind = "eval"\nfunction = "t_net"\n'
                     f'args = {{ value = "{value}" }}\nscore = 1.0\ngroup = "other"\n'
                     f'description = "net {index}"\n')
    (tmp_path / "probe.toml").write_text("\n".join(rules))
    return CompiledRules(load_rules([str(tmp_path)])), calls


def test_failing_batch_falls_back_rule_by_rule_and_records_the_error(pack_with_batch):
    compiled, calls = pack_with_batch
    ctx = FakeCtx()
    hits = compiled.run_evals(object(), ctx)
    assert sorted((h.rule, h.evidence) for h in hits) == [("T_PROBE_0", "saw one"),
                                                          ("T_PROBE_3", "saw two")]
    assert calls == {"batch": 1, "fn": 4}
    assert ctx.errors == ["T_PROBE_1: RuntimeError: broken on purpose"]


def test_offline_skips_come_in_rule_order_every_message(pack_with_batch):
    compiled, _ = pack_with_batch
    for _ in range(2):  # the second message reuses the plan
        ctx = FakeCtx()
        compiled.run_evals(object(), ctx)
        assert [s.name for s in ctx.skipped] == [f"T_NET_{i}" for i in range(4)]
        assert {s.reason for s in ctx.skipped} == {"offline: network check not run"}
    online = FakeCtx(offline=False)
    hits = compiled.run_evals(object(), online)
    assert not online.skipped
    assert {h.rule for h in hits} == {"T_PROBE_0", "T_PROBE_3", "T_NET_0", "T_NET_3"}


def test_shipped_pack_compiles_every_meta_and_row():
    compiled = CompiledRules(load_rules(None))
    assert len(compiled.metas) == len(compiled.pack.meta_order)
    assert len(compiled.decisions) == len(compiled.pack.decisions)
    rng = random.Random(5)
    ids = list(compiled.pack.rules)
    for _ in range(200):
        present = set(rng.sample(ids, 12))
        auth = rng.choice(AUTHS)
        score = rng.uniform(-3, 15)
        env = expr.Env(present, {"url": 3}, {"ham": 1}, auth, score)
        for rule, node, _ in compiled.metas:
            fn = expr.compile_node(node)
            try:
                expected = bool(expr.evaluate(expr.parse(rule.expr), env))
            except expr.ExprError:
                continue
            assert bool(fn(present, {"url": 3}, {"ham": 1}, auth, score)) == expected
        expected_rows, expected_error = [], False  # rows in order, up to one that raises
        for index, row in enumerate(compiled.decisions):
            try:
                if expr.evaluate(row.node, env):
                    expected_rows.append(index)
            except expr.ExprError:
                expected_error = True
                break
        fired, error = compiled.fire_decisions(present, {"url": 3}, {"ham": 1}, auth,
                                               lambda: score)
        assert fired == expected_rows and (error is not None) == expected_error


def _rdns_cases(count: int, seed: int = 1):
    import ipaddress
    rng = random.Random(seed)
    words = ["dyn", "pool", "mail", "smtp", "x", "adsl", "c", "host", "", "static", "cpe", "res"]
    for _ in range(count):
        octets = [str(rng.choice([rng.randint(0, 255), 0, 1, 10, 127, 5, 50])) for _ in range(4)]
        ip = ".".join(octets) if rng.random() < 0.9 else rng.choice(["::1", "2001:db8::5", "bogus"])
        parts = []
        for _ in range(rng.randint(1, 7)):
            roll = rng.random()
            if roll < 0.4 and ip.count(".") == 3:
                parts.append(rng.choice(octets + [octets[0] * 2, "0" + octets[1]]))
            elif roll < 0.55:
                parts.append(rng.choice(words))
            elif roll < 0.65 and ip.count(".") == 3:
                parts.append(rng.choice(["", "ab", "0"]) + ipaddress.ip_address(ip).packed.hex()
                             + rng.choice(["", "z", "1"]))
            elif roll < 0.7:
                parts.append("\u0663")  # an Arabic-Indic digit: \d, but no octet
            else:
                parts.append(str(rng.randint(0, 999)))
            parts.append(rng.choice(".-_x ab0"))
        name = "".join(parts[:-1])
        yield (name.upper() if rng.random() < 0.3 else name), ip


def _reference_looks_dynamic(rdns: str, ip: str) -> str:
    """The definition: patterns built from the address's octets (slow, obvious)."""
    if not rdns:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        addr = None
    first_label = rdns.split(".")[0].lower()
    if addr is not None and addr.version == 4:
        octets = str(addr).split(".")
        # Two or more octets of the address written into the name, in either order,
        # e.g. 203-0-113-5.pool.isp.example or c-5-113-0-203.hsd1.example.
        for seq in (octets, list(reversed(octets))):
            for start in range(3):
                pair = seq[start], seq[start + 1]
                if re.search(rf"(?:^|\D){pair[0]}[.\-_x]{pair[1]}(?:\D|$)", rdns):
                    if sum(1 for o in octets if re.search(rf"(?:^|\D){o}(?:\D|$)", rdns)) >= 3:
                        return f"{rdns} carries the address {ip}"
        if re.fullmatch(r"[a-z]*0*(?:%s)[a-z]*" % addr.packed.hex(), first_label):
            return f"{rdns} carries {ip} in hex"
    word = rdns_module._DYNAMIC_WORDS.search(first_label) if re.search(r"\d", first_label) else None
    if word:
        return f"{rdns} looks generic ({word.group(0).strip('.-_0123456789')})"
    return ""



def test_fast_dynamic_rdns_answers_like_the_pattern_definition():
    from mailsphere_cli.perimeter.rdns import looks_dynamic
    reasons = {"address": 0, "hex": 0, "generic": 0, "": 0}
    for name, ip in _rdns_cases(6000):
        expected = _reference_looks_dynamic(name, ip)
        assert looks_dynamic(name, ip) == expected, (name, ip)
        kind = ("address" if "carries the address" in expected else "hex" if "in hex" in expected
                else "generic" if expected else "")
        reasons[kind] += 1
    assert all(n > 20 for n in reasons.values()), reasons  # every branch was exercised


def test_checks_left_out_for_a_missing_input_would_have_found_nothing():
    """A check declared `requires=` is not called for a message without that input
    (no HTML, no links, no handover hop, no attachment records): on every fixture
    message that lacks one, calling each such rule's check anyway finds nothing."""
    from mailsphere_cli.config import Config, OrgConfig
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks.features import INPUTS
    from mailsphere_cli.workers import Settings, build_pipeline
    from tests.rules_fixture import build, load_cases

    org = OrgConfig(name="example", domains=["example.com"], authorised_ips=["192.0.2.0/24"])
    pipeline = build_pipeline(Settings(config=Config(orgs={"example": org}), offline=True,
                                       skip=("classifier",)))
    compiled = pipeline.services["rules"]
    gated = [r for r in compiled.evals if CHECKS[r.function].requires]
    assert {CHECKS[r.function].requires for r in gated} == set(INPUTS)
    from mailsphere_cli.attachments import stage as attachments
    from mailsphere_cli.perimeter import stage as perimeter
    lacking = {name: 0 for name in INPUTS}
    cases = load_cases() + [{}]
    # and some without a Received trail, so without a handover hop
    cases += [{**case, "set": {**case.get("set", {}), "Received": ""}}
              for case in cases[::10] if "raw" not in case]
    for case in cases:
        msg = ParsedMessage(build(case))
        ctx = Context(msg=msg, config=pipeline.config, offline=True, services=pipeline.services)
        perimeter.run(msg, ctx)
        attachments.run(msg, ctx)
        for name, present in INPUTS.items():
            if present(msg, ctx):
                continue
            lacking[name] += 1
            for rule in gated:
                if CHECKS[rule.function].requires == name:
                    assert not CHECKS[rule.function].fn(msg, ctx, **rule.args), (case, rule.id)
    assert all(count >= 5 for count in lacking.values()), lacking


def test_direction_and_styled_letter_sets_hold_exactly_what_their_regexes_match():
    from mailsphere_cli.rules.checks import content
    every = (chr(c) for c in range(0x110000))
    bidi, fancy = set(), set()
    for ch in every:
        if content._BIDI.match(ch):
            bidi.add(ch)
        if content._FANCY.match(ch):
            fancy.add(ch)
    assert bidi == content._BIDI_CHARS
    assert fancy == content._FANCY_CHARS


MESSAGE_IDS = ["", "<a@b.example>", "a@b.example", "<a b@c.example>", "<abc>", "<x@[10.1.2.3]>",
               "<x@10.1.2.3>", "<x@localhost>", "<x@paypa1.com>", "<x@mail.paypal.com>",
               "  <x@PAYPA1.COM>  ", "<x@y@z.example>", "<>", "<x@>", "<x@.>"]
MESSAGE_ID_KINDS = ["missing", "no_angle", "no_at", "domain_ip", "from_domain_lookalike",
                    "no_dot_domain", "spaces"]


@dataclass
class _IdMessage:
    message_id: str


@pytest.mark.parametrize("value", MESSAGE_IDS)
def test_message_id_batch_answers_like_each_rule_alone(value):
    check = CHECKS["message_id_shape"]
    msg = _IdMessage(value.strip())
    args_list = [{"kind": kind} for kind in MESSAGE_ID_KINDS]
    alone = [check.fn(msg, None, **args) for args in args_list]
    assert check.batch(msg, None, args_list) == alone
    assert check.batch(msg, None, args_list) == alone  # the remembered kinds, second time
    with pytest.raises(ValueError):
        check.batch(msg, None, args_list + [{"kind": "no_such_kind"}]) if value.strip() else \
            check.fn(_IdMessage("<a@b.example>"), None, kind="no_such_kind")


def test_kinds_are_read_again_when_the_argument_list_grows():
    from mailsphere_cli.rules.checks import kinds_of
    args_list = [{"kind": "a"}]
    assert kinds_of(args_list) == ["a"]
    args_list.append({"kind": "b"})
    assert kinds_of(args_list) == ["a", "b"]
    args_list.append({"kind": "c", "other": 1})
    assert kinds_of(args_list) is None


def test_money_amounts_finds_what_finditer_finds():
    from mailsphere_cli.rules.checks import content
    pieces = ["$", "€", "£", "USD", "EUR", "GBP", "dollars", "1", "9", "\u0663", "0", ",", ".",
              " ", "\u2003", "\n", "a", "x_", "USDx", "_"]
    rnd = random.Random(5)
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 14))) for _ in range(20000)]
    texts += ["Pay $1,000.00 or 2,500 USD, 30 dollars, €5 and 7EUR now", "1.2.3 USD 4 GBP9 $ 5"]
    for text in texts:
        pattern = content._MONEY if any(n in text for n in content._CURRENCY_NAMES) \
            else content._MONEY_SIGNED
        for limit in (1, 2, 6):
            expected = [m.group(0) for m in itertools.islice(pattern.finditer(text), limit)]
            assert content.money_amounts(text, limit) == expected, (text, limit)


def test_illegal_address_shortcut_agrees_with_is_illegal():
    """rcvd_check reads a dotted quad's first number instead of parsing the address:
    the same answer as perimeter.received.is_illegal on every kind of text."""
    from mailsphere_cli.perimeter.received import is_illegal
    from mailsphere_cli.rules.checks.relay import _illegal

    rng = random.Random(3)
    texts = ["0.0.0.0", "0.1.2.3", "223.255.255.255", "224.0.0.1", "239.1.1.1", "240.0.0.1",
             "255.255.255.255", "1.2.3.04", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::",
             "::1", "ff02::1", "2001:db8::1", "::ffff:0.1.2.3", "", "a.b.c.d", " 1.2.3.4", "1.2.3.4 "]
    for _ in range(20000):
        octets = [rng.choice([0, 1, 9, 10, 99, 100, 127, 199, 200, 223, 224, 239, 240, 249, 250, 255,
                              256, 300, rng.randrange(256)]) for _ in range(4)]
        text = ".".join(str(o) for o in octets)
        if rng.random() < 0.1:
            text = text.replace(".", ".0", 1)
        texts.append(text)
    fired = 0
    for text in texts:
        assert _illegal(text) == is_illegal(text), text
        fired += is_illegal(text)
    assert 1000 < fired < len(texts) - 1000


def test_link_host_shortcut_agrees_with_url_host():
    """features._host reads the host of a plain http(s) link without urlsplit: the
    same answer as urls.url_host on generated links and every corpus-like oddity."""
    from mailsphere_cli.rules.checks.features import _host
    from mailsphere_cli.urls import url_host

    rng = random.Random(8)
    pieces = ["http://", "https://", "HTTP://", "http:/", "http:", "ftp://", "//", "https://user@",
              "http://u:p@", "example.com", "EXAMPLE.com", "a.b.example.co.uk", "192.0.2.1",
              "[2001:db8::1]", "[::1", "::1]", ":8080", ":", "@", "@evil.example", "/", "/path",
              "?q=1", "#frag", "\t", "\n", " ", "xn--bcher-kva.example", "bücher.example", "%41",
              ".", "..", "\\", ";", "=", "-"]
    urls = ["http://example.com", "https://example.com/", "http://[::1]/", "http://a@b@c/",
            "http://ex ample.com/", "https://", "http://:80/"]
    for _ in range(30000):
        urls.append("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 7))))
    for url in urls:
        _host.cache_clear()
        assert _host(url) == url_host(url), url


def test_link_path_and_query_shortcut_agree_with_urlsplit():
    """features.path_query reads the path and query of a plain http(s) link with one
    regex match: the same parts as urlsplit on generated links (fragments before and
    after '?', brackets, tabs, upper-case schemes, non-ASCII), and the same error."""
    from urllib.parse import urlsplit

    from mailsphere_cli.rules.checks.features import _WEB_PARTS, path_query

    rng = random.Random(9)
    pieces = ["http://", "https://", "HTTP://", "http:/", "ftp://", "//", "https://u@", "example.com",
              "[2001:db8::1]", "[::1", "::1]", ":8080", "/", "/path", "/a.b", "?", "?q=1", "#", "#f",
              "\t", "\n", "\r", " ", "\x00", "bücher", "%41", ".", ";", "=", "&"]
    urls = ["http://example.com", "https://example.com/p?q#f", "http://a/b?c?d#e?f", "http://a#x?y",
            "http://a?b#c/d", "https://", "http://[::1]/x"]
    for _ in range(30000):
        urls.append("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8))))
    shortcut_taken = 0
    for url in urls:
        try:
            expected: Any = urlsplit(url)
            expected = (expected.path, expected.query)
        except ValueError as exc:
            expected = type(exc)
        try:
            found: Any = path_query(url)
        except ValueError as exc:
            found = type(exc)
        assert found == expected, url
        shortcut_taken += url.isascii() and _WEB_PARTS.fullmatch(url) is not None
    assert shortcut_taken > 1000


def test_brand_word_prefilter_misses_no_brand_named_in_short_text():
    """Short ASCII texts whose words include no first word of a brand name skip the
    RE2 scan: on generated names and subjects (brand words in every case, glued to
    punctuation, digits and other words, split across spaces) the brands found are
    the ones the scan alone finds."""
    from mailsphere_cli.rules.checks import url

    pattern, owner = url._brand_words()
    assert url._brand_first_tokens()  # the prefilter is in use for the shipped brands

    def scan_alone(text: str) -> list[str]:
        found: dict[str, None] = {}
        for match in pattern.finditer(text.encode("utf-8", "replace")):
            brand = owner.get(url._SPACES.sub(" ", match.group(0).decode()).lower())
            if brand is not None:
                found.setdefault(brand.name, None)
                if len(found) >= 5:
                    break
        return list(found)

    rng = random.Random(10)
    words = sorted(owner)
    pieces = ["", " ", "  ", ".", "-", "_", "@", "x", "2", "re:", "Your", "account", "\t", "&", "'"]
    hits = 0
    for _ in range(20000):
        parts = []
        for _ in range(rng.randrange(1, 6)):
            word = rng.choice(words) if rng.random() < 0.4 else rng.choice(pieces)
            word = rng.choice([word, word.upper(), word.title(), word.replace(" ", "  ")])
            if rng.random() < 0.3:
                word = word[: rng.randrange(len(word) + 1)]  # a cut brand word
            parts.append(word + rng.choice(pieces))
        text = "".join(parts)[: url.SHORT_TEXT]
        expected = scan_alone(text)
        assert [b.name for b in url._find_brands(text, 20_000)] == expected, text
        hits += bool(expected)
    assert 2000 < hits < 18000


def test_body_characters_from_u0370_on_latin1_and_wider_bodies():
    """features.body_chars_from_u0370 answers from the encoder for a body whose
    characters are all below U+0100; the same set as a walk over every character."""
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks.features import body_chars_from_u0370

    rng = random.Random(11)
    alphabet = ["a", " ", "\n", "\u00e9", "\u00a0", "\u00ff", "\u0100", "\u036f", "\u0370", "\u0430",
                "\u202e", "\u200b", "\U0001d400", "\uff21", "\ufeff"]
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        expected = frozenset(c for c in body if ord(c) >= 0x370)
        assert body_chars_from_u0370(SimpleNamespace(body=body)) == expected, repr(body)


def test_date_offset_batch_answers_like_each_rule_alone():
    """The batch returns at once when the offset is below every band's lower bound:
    the shipped bands and made-up ones give what each rule alone gives, for offsets
    on both sides of every bound."""
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks.history import date_offset, date_offset_batch

    pack = load_rules()
    shipped = [dict(r.args) for r in pack.by_kind("eval") if r.function == "date_offset"]
    assert len(shipped) >= 4
    made_up = [{"direction": "future", "hours": 1}, {"direction": "past", "hours": 0.5, "max_hours": 2},
               {"direction": "sideways", "hours": 5}]
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    hours = sorted({0, 0.25, 0.5, 1, 2, 3, 5, 12, 48, 240, 1000}
                   | {a["hours"] for a in shipped} | {a.get("max_hours", 0) for a in shipped})
    offsets = {timedelta(hours=h) + d for h in hours
               for d in (timedelta(0), timedelta(seconds=1), -timedelta(seconds=1))}
    fired = 0
    for args_list in (shipped, made_up, shipped + made_up, made_up[:1], made_up[1:2]):
        for offset in sorted(offsets | {-o for o in offsets}):
            date = now + offset
            msg = SimpleNamespace(date=date, header=lambda name, _d=date: _d.strftime("%a, %d %b %Y"))
            ctx = SimpleNamespace(relays=[SimpleNamespace(timestamp=now)], handover=0)
            alone = [date_offset(msg, ctx, **args) for args in args_list]
            assert date_offset_batch(msg, ctx, args_list) == alone, (offset, args_list)
            fired += sum(map(bool, alone))
    assert fired > 50


def _mime_samples() -> list[bytes]:
    """Fixture messages, the sample .eml files, and made-up MIME shapes: every part
    type, transfer encoding and charset the mime_shape kinds look at."""
    from pathlib import Path

    from tests.rules_fixture import build, load_cases

    raws = [build(case) for case in load_cases()]
    raws += [p.read_bytes() for p in sorted((Path(__file__).parent.parent / "sample_mail" / "eml").glob("*.eml"))]
    rng = random.Random(12)
    types = ["text/plain", "text/html", "image/png", "application/octet-stream", "application/pdf"]
    ctes = ["", "7bit", "8bit", "base64", "quoted-printable", "x-weird"]
    charsets = ["", "us-ascii", "utf-8", "iso-8859-1", "no-such-charset", '"utf-8"']
    bodies = [b"", b"   \r\n", b"plain words here", b"caf\xc3\xa9 = =3D =3D=3D", b"<p>Hi</p>", b"=3D=3D=3D=3D"]
    for _ in range(300):
        top = rng.choice(["multipart/mixed", "multipart/alternative", "text/plain", "text/html"])
        headers = b"From: a@example.org\r\nSubject: s\r\n"
        if rng.random() < 0.7:
            headers += b"MIME-Version: 1.0\r\n"
        if not top.startswith("multipart/"):
            cte, charset = rng.choice(ctes), rng.choice(charsets)
            headers += f"Content-Type: {top}".encode() + (f"; charset={charset}".encode() if charset else b"")
            headers += b"\r\n" + (f"Content-Transfer-Encoding: {cte}\r\n".encode() if cte else b"")
            raws.append(headers + b"\r\n" + rng.choice(bodies))
            continue
        boundary = rng.choice(["b1", ""])
        headers += f"Content-Type: {top}".encode() + (f'; boundary="{boundary}"'.encode() if boundary else b"")
        body = b""
        for _ in range(rng.randrange(1, 4)):
            kind, cte, charset = rng.choice(types), rng.choice(ctes), rng.choice(charsets)
            body += b"--b1\r\nContent-Type: " + kind.encode() + (f"; charset={charset}".encode() if charset else b"")
            if rng.random() < 0.3:
                body += b"\r\nContent-Disposition: attachment; filename=x.bin"
            body += b"\r\n" + (f"Content-Transfer-Encoding: {cte}\r\n".encode() if cte else b"")
            body += b"\r\n" + rng.choice(bodies) + b"\r\n"
        raws.append(headers + b"\r\n\r\n" + body + b"--b1--\r\n")
    return raws


def test_mime_shape_kinds_computed_together_answer_like_each_kind_alone():
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks import mime

    fired: dict[str, int] = {}
    for raw in _mime_samples():
        msg = ParsedMessage(raw)
        together = mime._every_kind(msg)
        facts = mime._mime(ParsedMessage(raw))
        assert together == {kind: judge(facts) for kind, judge in mime._KINDS.items()}, raw[:300]
        for kind, found in together.items():
            fired[kind] = fired.get(kind, 0) + bool(found)
    assert sum(1 for count in fired.values() if count) >= 12, fired


def test_rcvd_check_kinds_computed_together_answer_like_each_kind_alone():
    """Made-up trails (dated and undated hops, naive and aware times, unparseable ones,
    illegal, private and public addresses, our host names below the handover, an
    authenticated handover) give every kind the answer of its own function."""
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import relay

    rng = random.Random(13)
    base = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    ips = ["", "192.0.2.7", "10.1.2.3", "0.1.2.3", "240.0.0.1", "224.1.1.1", "2001:db8::1", "::1",
           "not-an-ip", "127.0.0.1"]
    names = ["", "mx.example.com", "mail.example.org", "relay.example.net"]
    fired: dict[str, int] = {}
    for _ in range(4000):
        relays = []
        for _ in range(rng.randrange(0, 6)):
            stamp = None if rng.random() < 0.3 else base - timedelta(hours=rng.randrange(-5, 30))
            if stamp is not None and rng.random() < 0.1:
                stamp = stamp.replace(tzinfo=None)
            relays.append(SimpleNamespace(timestamp=stamp, parse_ok=rng.random() < 0.85,
                                          ip=rng.choice(ips), by=rng.choice(names),
                                          authenticated=rng.random() < 0.1, raw="from x by y; date"))
        handover = rng.randrange(len(relays)) if relays and rng.random() < 0.8 else None
        ctx = SimpleNamespace(relays=relays, handover=handover, config=SimpleNamespace(orgs={}), auth={})
        together = relay._every_rcvd_kind(ctx, relays)
        assert together == {kind: judge(ctx, relays) for kind, judge in relay._RCVD_KINDS.items()}
        for kind, found in together.items():
            fired[kind] = fired.get(kind, 0) + bool(found)
    assert all(fired.values()), fired


def test_subject_kinds_kept_per_subject_need_nothing_but_the_subject():
    """The subject_shape kinds answered from memory per subject text read nothing else
    of the message: each gives the same answer with the message left out."""
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import content

    rng = random.Random(14)
    words = ["", " ", "FREE", "free", "Re:", "URGENT", "a b c d", "v i a g r a", "order #12345",
             "invoice ab1234", "bug 123456", "x" * 130, "Caf\u00e9", "\t", "ID-99999"]
    msg = SimpleNamespace(to_addrs=["bob@example.com"], raw_header=lambda name: "Subject")
    for _ in range(3000):
        subject = "".join(rng.choice(words) + rng.choice(["", " ", "-", "_"]) for _ in range(rng.randrange(6)))
        kept = content._subject_text_kinds(subject)
        assert set(kept) == set(content._TEXT_KINDS)
        for kind in content._TEXT_KINDS:
            assert kept[kind] == content._subject_kind(msg, subject, kind)
    batch = content.subject_shape_batch
    kinds = [{"kind": k} for k in content._TEXT_KINDS + ("non_ascii_latin", "recipient_name")]
    full = SimpleNamespace(subject="Re: BOB SAYS FREE order 12345 for bob1", to_addrs=["bob1@example.com"],
                           raw_header=lambda name: "Re: BOB \u00e9")
    assert batch(full, None, kinds) == [content._subject_kind(full, full.subject, **a) for a in kinds]


def test_capital_letter_count_matches_a_walk_over_the_letters():
    from mailsphere_cli.rules.checks import content

    rng = random.Random(15)
    alphabet = "aZqQ \n1!@[`{\u00c9\u00e9\u0416xyzXYZ"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        ascii_letters = [c for c in text if c.isascii() and c.isalpha()]
        expected = (sum(c.isupper() for c in ascii_letters), len(ascii_letters))
        assert content._count_caps(text) == content._caps(text) == expected


def test_capital_letter_count_of_a_long_text_is_that_of_its_first_max_chars():
    from mailsphere_cli.rules.checks import content

    text = "AB cd " * (content.MAX_CHARS // 6) + "EF" * 1000 + "xyz"
    first = text[:content.MAX_CHARS]
    expected = (sum(c.isupper() for c in first), sum(c.isalpha() for c in first))
    assert content._caps(text) == expected == content._count_caps(first)
    assert content._caps(text) == expected  # kept for the text
    other = text.lower()
    assert content._caps(other) == (0, expected[1])


def test_quoted_line_count_and_count_upto_match_their_plain_forms():
    """quoted_reply_text counts the lines starting with ">" from the line breaks in front
    of ">" (every str.splitlines boundary, "\\r\\n" once); count_upto stops at the limit."""
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import count_upto, ham

    rng = random.Random(16)
    alphabet = [">", "> ", "a", " ", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85",
                "\u2028", "\u2029", "On Mon, Bob wrote:\n", "\u00e9"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        quoted = sum(1 for line in text.splitlines() if line.startswith(">"))
        for minimum in (0, 1, 3):
            found = ham.quoted_reply_text(SimpleNamespace(text=text), None, minimum)
            expected = f"{quoted} quoted lines with an attribution" \
                if quoted >= minimum and ham._ATTRIBUTION.search(text) else ""
            assert found == expected, repr(text)
        for limit in (-1, 0, 1, 3, 50):
            assert count_upto(re.compile("a"), text, limit) == min(max(limit, 0), text.count("a"))


def test_shortcuts_before_case_insensitive_and_shape_regexes_change_no_answer():
    """Lowercased ASCII text searched without re.I (sign-in paths, hidden and tiny
    styles), the last-letter test before the IP shape, the name endings before the
    big-provider pattern and the character sets before the invisible-character scan
    give what the regexes alone give, on generated strings."""
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import content, history, html, url

    rng = random.Random(17)
    words = ["LogIn", "log-on", "SIGN-IN", "Verify", "webscr", "Password", "unlock", "display", ":",
             " ", "none", "NONE", "Visibility:Hidden", "font-size:0", "FONT-SIZE: 1px", ";", "\n",
             "height:1px;overflow:hidden", "opacity:0", "x", "/", "?", "\u017f", "\u212a", "\u0131",
             "hotmail", "Yahoo", ".com", ".net", ".ru", ".", "mail.ru", "1", "::", "a", "g", "\u00ad",
             "\u200b", "\ufeff", "\u0430", "\u00e9"]
    for _ in range(20000):
        text = "".join(rng.choice(words) for _ in range(rng.randrange(0, 10)))
        searched = text.lower() if text.isascii() else text
        assert bool(url._LOGIN_PATH.search(text)) == bool(
            (url._LOGIN_PATH_LOWER if text.isascii() else url._LOGIN_PATH).search(searched))
        for pattern, lower in ((html._HIDDEN_STYLE_ANY, html._HIDDEN_STYLE_ANY_LOWER),
                               (html._TINY_STYLE_ANY, html._TINY_STYLE_ANY_LOWER)):
            assert html._any_style(pattern, lower, text) == bool(pattern.search(text)), text
        host = text.lower()
        assert url.looks_ip(host) == (bool(url._IP_SHAPED.fullmatch(host)) and url.is_ip(host)), host
        helo = host.rstrip(".")
        assert (helo.endswith(history._PROVIDER_ENDS) and history._BIG_PROVIDER.search(helo) is not None) \
            == (history._BIG_PROVIDER.search(helo) is not None), helo
        msg = SimpleNamespace(body=text)
        expected = len(content._INVISIBLE.findall(text))
        found = content.body_invisible_chars(msg, None, 1)
        assert (f"{expected} invisible" in found) if expected else found == "", text


def test_ascii_letter_patterns_match_what_the_unicode_classes_match_on_ascii_text():
    """for_text picks [A-Za-z] patterns for ASCII text: on every ASCII character and on
    generated ASCII strings they find exactly what the [^\\W\\d_] patterns find."""
    from mailsphere_cli.rules.checks import content, for_text, html, mime

    pairs = [(mime._WORD, mime._WORD_ASCII), (html._WORD3, html._WORD3_ASCII),
             (content._WORDS, content._WORDS_ASCII)]
    every = "".join(map(chr, range(128)))
    rng = random.Random(18)
    texts = [every] + ["".join(rng.choice(every) for _ in range(rng.randrange(0, 80))) for _ in range(3000)]
    for unicode_pattern, ascii_pattern in pairs:
        for text in texts:
            assert ascii_pattern.findall(text) == unicode_pattern.findall(text), repr(text)
        assert for_text(unicode_pattern, ascii_pattern, "caf\u00e9") is unicode_pattern
        assert for_text(unicode_pattern, ascii_pattern, "cafe") is ascii_pattern


def _random_html(rng: random.Random) -> str:
    """A document of random elements, some of them form, input and font in any case,
    some tags the parser renames or moves (image, isindex, svg, math, select, table)."""
    tags = ["div", "p", "span", "FONT", "font", "Font", "form", "FORM", "input", "INPUT", "iNpUt",
            "img", "image", "IMAGE", "iMg", "isindex", "keygen", "select", "table", "svg", "math", "a", "b"]
    parts = []
    for _ in range(rng.randint(1, 25)):
        tag = rng.choice(tags)
        attrs = rng.choice(["", "", "", ' style="color:#fff"', ' STYLE="font-size:1px"', " size=1",
                            ' src="http://x.example/a.png" width=1 height=1', " StYlE", ' alt=""',
                            ' Style="visibility : hidden"',
                            ' color="white"', ' type="password"', ' name="card pin"',
                            ' action="https://x.example/p"', ' style="display:none"'])
        text = rng.choice(["", "hello there friend of mine, this is text", "x", "y" * 30])
        parts.append(f"<{tag}{attrs}>{text}" + (f"</{tag}>" if rng.random() < 0.6 else ""))
    if rng.random() < 0.2:
        parts.insert(0, "<body bgcolor=white>")
    return "".join(parts)


def test_html_checks_skipping_absent_form_input_and_font_answer_as_with_the_queries():
    """The HTML checks skip a CSS query when the source has no start tag of the element
    asked for (form, input, font, img) or no "style" at all: on generated documents their
    answers equal those with the queries always made, and the parser never makes such an
    element (or a style attribute) the source shows no sign of."""
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks import html as html_checks
    from tests.rules_fixture import build

    every_tag = frozenset(name for name, _ in html_checks._TAG_NEEDLES)
    rng = random.Random(5)
    skipped = 0
    for index in range(1500):
        msg = ParsedMessage(build({"html": _random_html(rng)}))
        present = html_checks._tags_present(msg)
        tree = msg.html_doc.tree
        made = {node.tag for node in tree.css("form, input, font, img")}
        made |= {"style"} if tree.css("[style]") else set()
        assert made <= present, (made, present, msg.html_doc.source)
        skipped += present != every_tag

        def answers():
            return [html_checks.html_form(msg, None, kind)
                    for kind in ("password", "external_action", "sensitive_inputs")] + \
                [html_checks.html_images(msg, None, kind)
                 for kind in ("remote_only_little_text", "many", "no_alt_linked", "tracking_pixel")] + \
                [html_checks.html_tiny_text(msg, None), html_checks.html_invisible_colour(msg, None),
                 html_checks.html_hidden_text(msg, None)]

        gated = answers()
        for cached in [k for k in msg.__dict__ if k.endswith(("._tags_present", "._styled",
                                                             "._styles_text", "._images"))]:
            del msg.__dict__[cached]
        key = "per_message:mailsphere_cli.rules.checks.html._tags_present"
        msg.__dict__[key] = every_tag  # as if every tag were there: every query made
        assert answers() == gated, msg.html_doc.source
    assert skipped > 300
