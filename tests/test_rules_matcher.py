"""The pattern matcher reports exactly the rules whose pattern matches their
target's text, and its shortcuts (header targets looked at only when present,
remembered results per header value, one-rule targets searched directly) never
change a hit or its evidence."""
from __future__ import annotations

from pathlib import Path

import pytest
import re2

from mailsphere_cli.message import ParsedMessage
from mailsphere_cli.rules.loader import load_rules
from mailsphere_cli.rules.matcher import PatternMatcher
from mailsphere_cli.sources import RawMessage, iter_sources

ROOT = Path(__file__).resolve().parent.parent

CRAFTED = [
    # the same header twice, an address list, a display name, 8-bit bytes in a raw header
    b"From: \"Dr. Money\" <winner@lottery.example.biz>\nFrom: other@example.org\n"
    b"To: undisclosed-recipients:;\nSubject: =?utf-8?q?FREE_=24=24=24_money?=\n"
    b"X-Mailer: PHPMailer 5.2\nX-Priority: 1\nContent-Type: text/html; boundary=\"x\xe9\"\n\n"
    b"<html><body><a href=\"http://192.168.0.1/login\">click here</a> to verify your account"
    b"<iframe width=0 height=0 src=\"http://evil.example/\"></iframe></body></html>\n",
    # no headers the header rules look at, an empty body
    b"X-Nothing: here\n\n",
    # \x0b, a Kelvin sign and a long s around words the content rules look for
    "Subject: \u212aill \u017fale\x0bnow\nFrom: a@b.example\n\nwire\x0btransfer "
    "\u212aindly s\u017fend WESTERN UNION next of kin\n".encode("utf-8"),
]


def _messages() -> list[bytes]:
    out = list(CRAFTED)
    for item in iter_sources([str(ROOT / "sample_mail")]):
        if isinstance(item, RawMessage):
            out.append(item.data)
    return out


@pytest.fixture(scope="module")
def pack():
    return load_rules()


def _reference(matcher: PatternMatcher, msg: ParsedMessage) -> set[str]:
    """Each rule searched alone with RE2 on its target's text: the plain way."""
    fired = set()
    for target in matcher.targets:
        text = matcher.text_for(msg, target.kind, target.target)
        if not text:
            continue
        data = text.encode("utf-8", "replace")
        for rule in target.rules:
            if re2.compile(rule.regex.encode("utf-8")).search(data) is not None:
                fired.add(rule.id)
    return fired


def test_matcher_reports_exactly_the_matching_rules(pack):
    matcher = PatternMatcher(pack.rules.values())
    messages = _messages()
    assert len(messages) >= 8
    for data in messages:
        msg = ParsedMessage(data)
        got = matcher.match(msg)
        assert {h.rule for h in got} == _reference(matcher, msg)
        assert len(got) == len({h.rule for h in got})  # one hit per rule
        assert all(h.evidence for h in got)


def test_crafted_messages_fire_the_expected_kinds_of_rules(pack):
    matcher = PatternMatcher(pack.rules.values())
    hits = {h.rule: h.evidence for h in matcher.match(ParsedMessage(CRAFTED[0]))}
    kinds = {pack.rules[r].kind for r in hits}
    assert {"header", "html", "uri"} <= kinds, hits
    assert any(e.startswith("X-Mailer: ") for e in hits.values()), hits
    assert not matcher.match(ParsedMessage(CRAFTED[1]))


def test_remembered_header_results_equal_fresh_ones(pack):
    """Scanning the messages twice, in another order, through one matcher (whose
    header memo is then warm) gives what a fresh matcher gives for each one."""
    messages = _messages()
    warm = PatternMatcher(pack.rules.values())
    for data in messages:
        warm.match(ParsedMessage(data))
    for data in reversed(messages):
        fresh = PatternMatcher(pack.rules.values())
        msg = ParsedMessage(data)
        assert sorted(warm.match(msg), key=repr) == sorted(fresh.match(ParsedMessage(data)),
                                                             key=repr)


def test_header_memo_never_serves_another_value(pack):
    matcher = PatternMatcher(pack.rules.values())
    first = ParsedMessage(b"X-Mailer: PHPMailer 5.2\nX-Priority: 1\n\nhi\n")
    second = ParsedMessage(b"X-Mailer: PHPMailer 6.0\nX-Priority: 3\n\nhi\n")
    one = {h.rule: h.evidence for h in matcher.match(first)}
    two = {h.rule: h.evidence for h in matcher.match(second)}
    assert "X_PRIORITY_HIGH" in one and "X_PRIORITY_HIGH" not in two
    assert one["XMAILER_PHP"] == "X-Mailer: PHPMailer"
    assert matcher.match(first) == matcher.match(ParsedMessage(first.raw))


def test_a_header_whose_values_do_not_repeat_stops_remembering(pack):
    """After its trial a header whose values never came back (a new In-Reply-To every
    message) is matched without the memo, one whose values repeat (the same X-Mailer)
    keeps it; either way every message gets the hits a fresh matcher gives it."""
    from mailsphere_cli.rules.matcher import _MEMO_TRIAL

    matcher = PatternMatcher(pack.rules.values())
    raws = [(f"From: a@b.example\nX-Mailer: PHPMailer 5.2\nIn-Reply-To: <{n}.x@c.example>\n"
             f"Subject: note {n % 7}\n\nhello\n").encode() for n in range(_MEMO_TRIAL + 40)]
    for data in raws:
        matcher.match(ParsedMessage(data))
    assert matcher.headers["in-reply-to"].remembering is False
    assert matcher.headers["x-mailer"].remembering is True
    assert matcher.headers["x-mailer"].found > _MEMO_TRIAL / 2
    fresh = PatternMatcher(pack.rules.values())
    for data in raws[-40:] + raws[:3]:
        got = matcher.match(ParsedMessage(data))
        assert got == fresh.match(ParsedMessage(data))
        assert any(h.evidence.startswith("In-Reply-To") for h in got)


def test_long_header_values_are_matched_without_the_memo(pack):
    matcher = PatternMatcher(pack.rules.values())
    subject = "make money fast " + "x" * 5000
    msg = ParsedMessage(f"Subject: {subject}\nFrom: a@b.example\n\nhello\n".encode())
    assert {h.rule for h in matcher.match(msg)} == _reference(matcher, msg)


def test_direct_span_finder_equals_the_wrappers_search():
    """Evidence spans come from the RE2 object under the re-like wrapper: the same
    spans as the wrapper's search, and the wrapper itself where that is missing."""
    from mailsphere_cli.rules.matcher import OPTIONS, _span_finder

    class WrapperOnly:  # what a wrapper without the inner object offers
        def __init__(self, regex):
            self.search = regex.search

    patterns = [rb"<[^<>\s]+@[^<>\s]+>", rb"(?i)\bfree\b", rb"(a)(b)?", rb"x*", rb"^\s*\d"]
    texts = [b"", b"In reply to <a@b.example> and <c@d>", b"FREE money, free", b"ab a",
             b"yyy", b" 12", "caf\u00e9 \u212aelvin".encode("utf-8")]
    for pattern in patterns:
        regex = re2.compile(pattern, OPTIONS)
        for find in (_span_finder(regex), _span_finder(WrapperOnly(regex))):
            for text in texts:
                found = regex.search(text)
                assert find(text) == (None if found is None else found.span()), (pattern, text)


def test_evidence_text_joins_words_as_the_whitespace_regex_did():
    import random
    import re
    from mailsphere_cli.rules.matcher import evidence_text
    plain = re.compile(r"\s+")
    rng = random.Random(11)
    alphabet = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2028\u3000\u200b\u180eab"
    texts = ["", "  a  b  ", "x" * 150, " ".join(["word"] * 40)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20000)]
    for text in texts:
        for limit in (100, 5):
            expected = plain.sub(" ", text).strip()
            if len(expected) > limit:
                expected = expected[: limit - 1] + "…"
            assert evidence_text(text, limit) == expected, repr(text)
