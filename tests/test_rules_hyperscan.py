"""Hyperscan preselects rules for RE2: it must report every rule RE2 would match
(more is fine), also where the two engines read text differently; its compiled
databases are cached on disk, and a forked worker can use them."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import re2

from mailsphere_cli.message import ParsedMessage
from mailsphere_cli.rules import hyperscan_set
from mailsphere_cli.rules.hyperscan_set import HyperscanSet, hyperscan_form
from mailsphere_cli.rules.loader import load_rules
from mailsphere_cli.rules.matcher import PatternMatcher
from tests.rules_fixture import build, load_cases

pytestmark = pytest.mark.skipif(not hyperscan_set.AVAILABLE, reason="hyperscan not installed")

# Characters where the engines differ: vertical tab (\s in Hyperscan only), the Kelvin
# sign and the long s (case partners of k and s in RE2's \w), newer letters.
PROBES = [
    "a\x0bb", "\x0b", "\u212aill", "\u017fale", "KILL sale", "x\u212a\u017fy", "\u00e9t\u00e9",
    "\u1c80", "\u0432", "line\n", "end", "price \u00a3 100.000.000", "\u2022 point", "tab\tz",
    "<a@b.c>", "a b", "\ufffd" * 25, "", " ", "\u0130I\u0131i",
]
# Patterns built on those differences, all valid RE2.
PATTERNS = [
    r"\S", r"a\Sb", r"[^\s]", r"[\S]", r"[^\S]", r"\s", r"[^\s<>]+@", r"(?i)\w+", r"(?i)[\w]",
    r"(?i)[^\w]", r"(?i)\W", r"(?i)[[:alpha:]]{3}", r"(?i)[[:^alpha:]]", r"(?i)kill", r"(?i)sale",
    r"(?i)[k-m]ill", r"end$", r"(?m)^line$", r"(?i)\x{432}", r"(?i)\x{1c80}", r"\x{1c80}",
    r"(?i)£\s?\d", r"\bpoint\b", r"(?i)[^a-z]", r"\p{L}", r"\pL", r"(?i:k)ILL", r"a\tz|tab\tz",
    r"(?:\x{FFFD}[^\x{FFFD}]{0,3}){20}", r"^\s*$", r"(?i)[^\W\d]", r"\Qa.b\E", r"(?U)a+",
    r"(?P<x>kill)", r"[]a]", r"[^]a]",
]


@pytest.fixture(scope="module")
def probe_set(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAILSPHERE_CACHE_DIR", str(tmp_path_factory.mktemp("hs-cache")))
        return HyperscanSet(PATTERNS)


@pytest.mark.parametrize("text", PROBES)
def test_hyperscan_reports_every_rule_re2_matches(text, probe_set):
    found = set(probe_set.candidates(text.encode("utf-8")))
    assert len(probe_set.indexes) >= 20
    for index in probe_set.indexes:
        if re2.search(PATTERNS[index], text) is not None:
            assert index in found, (PATTERNS[index], text)


def test_patterns_the_engines_read_differently_stay_on_re2_or_are_widened():
    assert hyperscan_form(r"\S+") == r"[^\t\n\f\r\x20]+"
    assert hyperscan_form(r"[^\s<>]") == r"[^\t\n\f\r\x20<>]"
    assert hyperscan_form(r"(?i)\w") == r"(?i)[\w\x{212a}\x{17f}]"
    assert hyperscan_form(r"(?i)[[:alpha:]]") == r"(?i)[[:alpha:]\x{212a}\x{17f}]"
    assert hyperscan_form(r"(?i)£\d") == r"(?i)£\d"  # a currency sign has no case
    for stays in (r"(?i)[^\W]", r"(?i)[^[:alpha:]]", r"\p{L}", r"\PL", r"(?i)é", r"(?i)\x{432}",
                  r"(?i)[£-¥]", r"\Qa\E", r"\v", r"(?x)a b", r"(?U)a+", r"(a)\1", r"[a"):
        assert hyperscan_form(stays) is None, stays
    # A case-sensitive non-ASCII letter is the same bytes in both engines.
    assert hyperscan_form(r"\x{432}") == r"\x{432}"


def test_every_shipped_pattern_hyperscan_takes_reports_its_rule():
    """Each rule's own fixture message (and the probes) through the pack's targets:
    whatever RE2 matches, Hyperscan reported."""
    matcher = PatternMatcher(load_rules().rules.values(), use_hyperscan=True)
    fast_targets = [t for t in matcher.targets if t.fast is not None]
    assert any(t.kind == "body" for t in fast_targets)
    messages = [ParsedMessage(build(case)) for case in load_cases()]
    messages += [ParsedMessage(f"Subject: {p}\n\n{p}\n<html><body>{p}</body></html>".encode())
                 for p in PROBES]
    checked = 0
    for msg in messages:
        for target in fast_targets:
            text = matcher.text_for(msg, target.kind, target.target)
            if not text:
                continue
            data = text.encode("utf-8", "replace")
            found = set(target.fast.candidates(data))
            for index in target.fast.indexes:
                if target.singles[index].search(data) is not None:
                    assert index in found, (target.rules[index].id, text[:200])
                    checked += 1
    assert checked > 100


def test_compiled_databases_are_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILSPHERE_CACHE_DIR", str(tmp_path))
    patterns = [r"(?i)\bwire transfer\b", r"\d{3}-\d{4}", r"(?m)^Re:"]
    first = HyperscanSet(patterns)
    cached = list(tmp_path.glob("hs-*.bin"))
    assert len(cached) == 1
    data = b"Please send the wire TRANSFER to 555-1234"
    assert sorted(first.candidates(data)) == [0, 1]
    second = HyperscanSet(patterns)  # read back from the cache
    assert second.indexes == first.indexes and sorted(second.candidates(data)) == [0, 1]
    cached[0].write_bytes(b"[0, 1, 2]\nnot a database")
    third = HyperscanSet(patterns)
    assert sorted(third.candidates(data)) == [0, 1]
    assert cached[0].read_bytes() != b"[0, 1, 2]\nnot a database"  # written again


def test_an_unwritable_cache_only_costs_the_compile(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MAILSPHERE_CACHE_DIR", str(blocker / "cache"))
    assert sorted(HyperscanSet([r"abc", r"x+y"]).candidates(b"xxy abc")) == [0, 1]


def _child_match(matcher: PatternMatcher, raw: bytes, queue) -> None:
    queue.put(sorted((h.rule, h.evidence) for h in matcher.match(ParsedMessage(raw))))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_worker_matches_with_the_parents_databases():
    matcher = PatternMatcher(load_rules().rules.values(), use_hyperscan=True)
    cases = load_cases()
    raws = [build(case) for case in cases[:40]]
    expected = [sorted((h.rule, h.evidence) for h in matcher.match(ParsedMessage(raw)))
                for raw in raws]  # the parent has used its scratch space before the fork
    assert any(expected)
    context = multiprocessing.get_context("fork")
    for raw, want in zip(raws[:5], expected):
        queue = context.Queue()
        child = context.Process(target=_child_match, args=(matcher, raw, queue))
        child.start()
        got = queue.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
        assert got == want


def test_results_are_the_same_with_and_without_hyperscan():
    pack = load_rules()
    fast = PatternMatcher(pack.rules.values(), use_hyperscan=True)
    plain = PatternMatcher(pack.rules.values(), use_hyperscan=False)
    sample = Path(__file__).resolve().parent.parent / "sample_mail"
    raws = [build(case) for case in load_cases()]
    raws += [p.read_bytes() for p in sorted(sample.rglob("*.eml"))]
    assert len(raws) > 100
    for raw in raws:
        assert sorted(fast.match(ParsedMessage(raw)), key=repr) == \
            sorted(plain.match(ParsedMessage(raw)), key=repr)


def test_a_pattern_refused_for_its_anchors_is_taken_without_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILSPHERE_CACHE_DIR", str(tmp_path))
    pattern = r"(?m)(?:^[*o][ \t]+[A-Z][^\n]{3,70}\n){3}"  # Hyperscan: "embedded start anchors"
    assert hyperscan_form(pattern, drop_anchors=True) == r"(?m)(?:[*o][ \t]+[A-Z][^\n]{3,}\n){3}"
    fast = HyperscanSet([pattern, r"never"])
    assert fast.indexes == [0, 1]
    text = "Offer:\n* Cheap pills\n* Fast delivery\n* Best prices\n"
    assert re2.search(pattern, text) is not None
    assert fast.candidates(text.encode()) == [0]


def test_the_cache_goes_under_xdg_cache_home_without_an_explicit_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MAILSPHERE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sorted(HyperscanSet([r"(?i)free", r"\bwin\b"]).candidates(b"win FREE")) == [0, 1]
    assert len(list((tmp_path / "mailsphere").glob("hs-*.bin"))) == 1


def test_a_long_bounded_repeat_is_widened_to_an_open_one():
    # x{0,80} is an automaton state per repeat to Hyperscan (seconds to compile the
    # body rules, or "pattern is too large"); x{0,} matches a superset, RE2 decides.
    assert hyperscan_form(r"gift.{0,80}cards") == r"gift.{0,}cards"
    assert hyperscan_form(r"\d{1,3}x[a-z]{25,59}") == r"\d{1,3}x[a-z]{25,}"
    assert hyperscan_form(r"[{]{0,99}") == r"[{]{0,}"  # a brace in a class is a member
    fast = HyperscanSet([r"(?i)bitcoin\W{1,40}bc1[a-z0-9]{25,59}\b"])
    assert fast.indexes == [0]  # it was "too large" as written
    wallet = b"send to BITCOIN: bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh now"
    assert fast.candidates(wallet) == [0]
    assert re2.search(r"(?i)bitcoin\W{1,40}bc1[a-z0-9]{25,59}\b", wallet.decode()) is not None
