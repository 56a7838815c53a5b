"""The message texts' candidates are confirmed by RE2 from where their first match can
start at the earliest (the earliest match end Hyperscan reported, less the widest match
the pattern allows): the same hits and the same evidence as RE2 searching the whole
text, and the widths are true upper bounds."""
from __future__ import annotations

from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.message import ParsedMessage
from mailsphere_cli.rules import hyperscan_set
from mailsphere_cli.rules.loader import load_rules
from mailsphere_cli.rules.matcher import _KIND_TEXT, OPTIONS, PatternMatcher, _encode
from mailsphere_cli.rules.regex_width import max_match_bytes
from mailsphere_cli.sources import RawMessage, iter_sources

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

pytestmark = pytest.mark.skipif(not hyperscan_set.AVAILABLE, reason="no Hyperscan")


@pytest.fixture(scope="module")
def matcher():
    return PatternMatcher(load_rules().rules.values())


def _full_search_hits(target, data: bytes) -> list[tuple[str, str]]:
    """Each rule of the target searched alone over the whole text: the plain way."""
    out = []
    for index, rule in enumerate(target.rules):
        regex = re2.compile(rule.regex.encode("utf-8"), OPTIONS)
        found = regex.search(data)
        if found is not None:
            out.append((index, found.span()))
    return [(target.ids[i], target._hit(i, data, span).evidence) for i, span in out]


def _windowed_hits(target, data: bytes) -> list[tuple[str, str]]:
    return [(hit.rule, hit.evidence) for hit in target.hits_in(data)]


def test_widths_of_simple_patterns():
    assert max_match_bytes("abc") == 12
    assert max_match_bytes(r"(?i)\bclick (?:here|below)\b") == len("click below") * 4
    assert max_match_bytes(r"a.{0,80}b") == 82 * 4
    assert max_match_bytes(r"\x{2022} x") == 3 * 4
    for unbounded_or_unsure in (r"a+", r"a.*b", r"[[:alpha:]]{2}", r"a{,3}", r"\pL", r"\Qa\E",
                                r"(?P<x>a)(?P=x)", r"a\z", r"(?U)a{1,2}"):
        assert max_match_bytes(unbounded_or_unsure) is None, unbounded_or_unsure


def test_message_text_targets_report_every_match_and_have_widths(matcher):
    windowed = [t for t in matcher.others if t.windowed]
    assert {t.kind for t in windowed} >= {"body", "html", "uri"}
    assert sum(w is not None for t in windowed for w in t.widths) >= 40
    for target in windowed:
        for index, width in enumerate(target.widths):
            if width is not None:
                assert index in target.fast.exact  # never a prefilter approximation


_WORDS = ["click here", "unsubscribe", "to opt-out", "be removed", " please click ", "reply ",
          "verify your account", "login", "<title>", "Sign in", "</title>", "$1,000,000",
          "http://192.168.0.1/login.php?x=1", "\n", "\n\n", "  ", "caf\xe9", "\u212aindly",
          "s\u017fend", "\u2022 ", "* Benefit number one here\n", "wire transfer", "!!!"]
_TEXT = st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=12)), max_size=40).map("".join)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_windowed_confirmation_equals_a_full_search(matcher, text):
    for target in matcher.others:
        if not target.windowed:
            continue
        data = _encode(text)
        assert _windowed_hits(target, data) == _full_search_hits(target, data)


def _corpus_texts(limit: int) -> list[ParsedMessage]:
    out = []
    for folder in ("ham", "spam", "phish"):
        items = [i.data for i in iter_sources([str(CORPUS / folder)]) if isinstance(i, RawMessage)]
        out.extend(ParsedMessage(data) for data in items[:limit])
    return out


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
def test_corpus_windowed_confirmation_equals_a_full_search_and_widths_hold(matcher):
    checked = 0
    for msg in _corpus_texts(120):
        for target in matcher.others:
            if not target.windowed:
                continue
            text = _KIND_TEXT[target.kind](msg)
            if not text:
                continue
            data = _encode(text)
            got = _windowed_hits(target, data)
            assert got == _full_search_hits(target, data)
            checked += len(got)
            for index, width in enumerate(target.widths):
                if width is None:
                    continue
                found = re2.compile(target.rules[index].regex.encode("utf-8"), OPTIONS).search(data)
                if found is not None:
                    assert found.end() - found.start() <= width
    assert checked > 50
