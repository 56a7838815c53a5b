"""reg_domain answers longer names from the last two labels when no rule of the public
suffix list can end there (url._suffix_tails): the answers org_domain gives through
the list, on generated names, on names built from every rule of the list, and on
every link host and sender domain of the corpus."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.perimeter.dmarc import _psl, org_domain
from mailsphere_cli.rules.checks import url as url_checks

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def _through_the_list(host: str) -> str:
    """reg_domain as it was: every name of three labels or more looked up in the list."""
    name = host.lower().strip(".[]")
    if not name or url_checks.looks_ip(name) or name.count(".") < 2:
        return name
    return org_domain(name)


def _answer(host: str) -> str:
    return url_checks.reg_domain.__wrapped__(host)


def test_the_shortcut_is_in_use_and_knows_the_odd_rules():
    known = url_checks._suffix_tails()
    assert known is not None
    tails, odd = known
    assert "co.uk" in tails and "kobe.jp" in tails and "github.io" in tails and "www.ck" in tails
    assert "ck" in odd and "com" not in odd and "com" not in tails
    assert url_checks._build_suffix_tails(_psl()._publicsuffix) == known


_LABELS = ["www", "mail", "a", "x-1", "example", "paypal", "city", "kobe", "kawasaki", "jp", "uk",
           "co", "com", "ck", "er", "io", "github", "blogspot", "s3", "amazonaws", "xn--p1ai",
           "zz", "nosuchtld", "Example", "WWW", "", "[1]", "\u00e9", "\u0130", "1", "255"]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(_LABELS), min_size=1, max_size=6).map(".".join))
def test_generated_names_get_the_list_answer(host):
    assert _answer(host) == _through_the_list(host)


@settings(max_examples=500, deadline=None)
@given(st.text("abcdeko.-[]19\u00e9", max_size=20))
def test_any_text_gets_the_list_answer(host):
    assert _answer(host) == _through_the_list(host)


def test_names_built_on_every_rule_of_the_list_get_its_answer():
    """Each rule as a name, one and two labels in front of it, and its parent: the
    shapes where a wildcard, an exception or a longer rule decides."""
    rules = sorted(_psl()._publicsuffix)
    for rule in rules:
        base = rule.lstrip("!").removeprefix("*.")
        parent = base.partition(".")[2]
        for host in (base, "a." + base, "www.b." + base, "x.y.z." + base, parent, "q." + parent):
            if host:
                assert _answer(host) == _through_the_list(host), (rule, host)


def _corpus_names() -> list[str]:
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks.features import hosts
    from mailsphere_cli.sources import RawMessage, iter_sources

    names: set[str] = set()
    for folder in ("ham", "spam", "phish"):
        items = [i for i in iter_sources([str(CORPUS / folder)]) if isinstance(i, RawMessage)]
        for raw in random.Random(7).sample(items, min(len(items), 300)):
            msg = ParsedMessage(raw.data)
            names.update(hosts(msg))
            names.add(msg.from_domain)
    return sorted(names)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_link_hosts_and_sender_domains_get_the_list_answer():
    names = _corpus_names()
    assert len(names) > 300
    assert [n for n in names if _answer(n) != _through_the_list(n)] == []


_FINDINGS = st.lists(st.sampled_from(["ATTACH_EXECUTABLE: a.exe is a PE", "ATTACH_MACRO: auto-exec",
                                      "ATTACH_EXECUTABLE: b.scr", "OTHER: x", "ATTACH_MACROX: y"]),
                     max_size=3)
_RECORDS = st.lists(st.fixed_dictionaries({"path": st.sampled_from(["a.zip", "b.doc", "c"]),
                                           "sha256": st.just("00ff"),
                                           "findings": _FINDINGS}), max_size=4)


@settings(max_examples=400, deadline=None)
@given(_RECORDS, st.lists(st.sampled_from(["ATTACH_EXECUTABLE", "ATTACH_MACRO", "OTHER", ""]),
                          min_size=1, max_size=5),
       st.lists(st.sampled_from(["ATTACH_MACRO", "X"]), max_size=2))
def test_attachment_batch_without_findings_answers_like_each_rule(records, findings, hit_ids):
    """The batch skips its rules when no record has a finding: the same answers as each
    rule alone, and a rule passing an unknown argument still fails as it does alone."""
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import attachments
    from mailsphere_cli.verdict import Hit

    ctx = SimpleNamespace(attachments=records, hits=[Hit(h, "") for h in hit_ids])
    args_list = [{"finding": f} for f in findings]
    expected = [attachments.attachment_finding(None, ctx, **args) for args in args_list]
    assert attachments.attachment_finding_batch(None, ctx, args_list) == expected
    if records:
        with pytest.raises(TypeError):
            attachments.attachment_finding_batch(None, ctx, args_list + [{"findng": "X"}])
