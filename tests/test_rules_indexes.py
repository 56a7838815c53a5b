"""Indexes and one-pass shortcuts of the eval checks answer exactly what the scans
they replace answer, on generated input: the look-alike index against a walk over
every brand label, the word-run counter against counting every match."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.rules.checks import count_upto, html, mime, runs_of
from mailsphere_cli.rules.checks import url as url_checks

_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789-"


def _scan(label: str, index: url_checks._LabelIndex) -> tuple[str, str] | None:
    """The first indexed label one edit away, by testing every one of them."""
    for real, owner in index.near_labels:
        if url_checks._one_edit(label, real):
            return real, owner
    return None


def _edited(real: str, kind: int, at: int, letter: str) -> str:
    at = at % (len(real) + 1)
    if kind == 0:
        return real[:at] + letter + real[at:]
    if kind == 1:
        return real[:at] + real[at + 1:]
    if kind == 2:
        return real[:at] + letter + real[at + 1:]
    if at < len(real) - 1:
        return real[:at] + real[at + 1] + real[at] + real[at + 2:]
    return real


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_one_edit_index_finds_what_a_scan_of_every_brand_label_finds(data):
    index = url_checks._brand_index()
    labels = [real for real, _ in index.near_labels]
    assert labels, "the shipped brand list has labels to imitate"
    if data.draw(st.booleans()):
        real = data.draw(st.sampled_from(labels))
        label = _edited(real, data.draw(st.integers(0, 3)), data.draw(st.integers(0, 40)),
                        data.draw(st.sampled_from(_LETTERS)))
    else:
        label = data.draw(st.text(_LETTERS, max_size=22))
    assert url_checks._one_edit_from(label, index) == _scan(label, index)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text("abcdefgh", min_size=4, max_size=9), min_size=1, max_size=12, unique=True),
       st.data())
def test_one_edit_index_of_other_label_sets(own, data):
    """Organisation domains are indexed the same way (_own_index), with any labels."""
    index = url_checks._index([(label, "own") for label in own])
    real = data.draw(st.sampled_from(own))
    label = _edited(real, data.draw(st.integers(0, 3)), data.draw(st.integers(0, 20)),
                    data.draw(st.sampled_from("abcdefghz")))
    assert url_checks._one_edit_from(label, index) == _scan(label, index)
    assert url_checks._one_edit_from(real, index) == _scan(real, index)


def test_one_edit_index_takes_the_first_label_when_two_are_near():
    index = url_checks._index([("amazonses", "A"), ("amazonaws", "B"), ("paypal", "C")])
    assert url_checks._one_edit_from("amazonsws", index) == ("amazonses", "A")
    index = url_checks._index([("amazonaws", "B"), ("amazonses", "A")])
    assert url_checks._one_edit_from("amazonsws", index) == ("amazonaws", "B")
    assert url_checks._one_edit_from("paypa1", url_checks._index([("paypal", "C")])) == ("paypal", "C")
    assert url_checks._one_edit_from("example", index) is None


_TEXT = st.lists(st.sampled_from(["a", "Bc", "word", " ", "\n", "1", "_", "-", "\u00e9", "\u00df",
                                  "\u00b2", "\u2167", "\u4e94", "ab1cd", "\u0416\u0416"]),
                 max_size=40).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_TEXT, st.integers(-1, 12))
def test_count_upto_of_word_runs_counts_every_match(text, limit):
    for pattern in (mime._WORD, mime._WORD_ASCII, html._WORD3, html._WORD3_ASCII):
        expected = min(max(limit, 0), len(pattern.findall(text)))
        assert count_upto(pattern, text, limit) == expected, (pattern.pattern, text)


def test_runs_of_is_the_plain_pattern_and_other_patterns_still_count():
    assert runs_of("[A-Za-z]", "[^A-Za-z]", 2).pattern == "[A-Za-z]{2,}"
    assert mime._WORD.pattern == r"[^\W\d_]{4,}" and html._WORD3_ASCII.pattern == "[A-Za-z]{3,}"
    single = runs_of("[a-z]", "[^a-z]", 1)
    assert count_upto(single, "a b cd e", 3) == 3 and count_upto(single, "a b", 3) == 2
    assert count_upto(re.compile("ab"), "ababab", 2) == 2


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.text(max_size=12), st.text("abcXYZ019-_.[]\u0130\u212a\u00df", max_size=12),
                 st.sampled_from(["com", "co.uk", "github.io", "www.ck", "kobe.jp", "city.kobe.jp",
                                  "[192.0.2.1]", "example.com.", "Example.COM", "a..b", "xn--p1ai"])))
def test_reg_domain_of_short_names_is_what_the_public_suffix_list_answers(host):
    """Names of one or two labels skip the public suffix list: their answer is the one
    org_domain gives (hypothesis over any text, and names the list has rules for)."""
    from mailsphere_cli.perimeter.dmarc import org_domain

    name = host.lower().strip(".[]")
    expected = name if not name or url_checks.looks_ip(name) else org_domain(name)
    assert url_checks.reg_domain.__wrapped__(host) == expected


@settings(max_examples=1000, deadline=None)
@given(st.text("abcilmnrvwRNVW-_01345789@$!|\u0130", max_size=16))
def test_skeleton_deletes_dashes_in_its_translation_as_the_separate_replaces_did(label):
    plain = label.lower().translate(url_checks._CONFUSABLE).replace("-", "").replace("_", "")
    plain = plain.replace("rn", "m").replace("vv", "w").replace("cl", "d").replace("i", "l")
    assert url_checks._skeleton(label) == plain


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["PayPal", "paypal", "Pay Pal", "eBay", "Amazon", "Microsoft", "apple",
                                 "bank", " ", "\n", "x", "paypalx", "-", ".", "\u00e9", "Netflix",
                                 "DHL", "wells fargo", "Wells  Fargo"]), max_size=60).map("".join))
def test_first_brand_named_is_the_first_of_brands_named(text):
    named = url_checks.brands_named(text)
    first = url_checks.first_brand_named(text)
    assert first is (named[0] if named else None)
    assert url_checks._find_brands(text, 20_000, 1) == named[:1]


@functools.lru_cache(maxsize=1)
def _brand_domain_regex() -> re.Pattern[str]:
    """What url_brand_elsewhere searched paths with before: every brand domain in one
    alternation, longest first, bounded by no word character or dash either side."""
    domains = sorted(url_checks._brand_domains(), key=lambda d: (-len(d), d))
    return re.compile(r"(?<![\w-])(?:%s)(?![\w-])" % "|".join(map(re.escape, domains)))


def _old_brand_domain_in(path: str) -> str:
    found = _brand_domain_regex().search(path)
    return found.group(0) if found else ""


def test_brand_domains_are_dotted_names():
    """brand_domain_in searches only paths holding a brand domain's last label after a
    dot: that finds them all only while each domain has a dot."""
    domains = url_checks._brand_domains()
    assert domains and all(re.fullmatch(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+", d) for d in domains)


def _path_pieces():
    domains = sorted(url_checks._brand_domains())
    labels = sorted({label for d in domains for label in d.split(".")})
    return st.lists(st.one_of(st.sampled_from(domains), st.sampled_from(labels),
                              st.sampled_from([".", "/", "-", "_", "..", "x", "9", "\u00e9", "\u0307",
                                               "?", "=", "%2e", " ", "www.", ".com", ".co.uk"])),
                    max_size=14).map("".join)


@settings(max_examples=3000, deadline=None)
@given(_path_pieces())
def test_brand_domain_in_finds_what_the_alternation_found(path):
    assert url_checks.brand_domain_in(path) == _old_brand_domain_in(path)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_brand_domain_in_on_any_text_finds_what_the_alternation_found(path):
    assert url_checks.brand_domain_in(path) == _old_brand_domain_in(path)


def test_brand_domain_in_on_the_sample_mail_links():
    """Every link in sample_mail/, lowercased and cut as the check cuts a path: the same
    domain as the alternation."""
    checked = 0
    for file in sorted(Path(__file__).parent.parent.joinpath("sample_mail").rglob("*")):
        if file.is_file():
            for url in re.findall(r"https?://[^\s\"'<>]+", file.read_bytes().decode("latin-1")):
                path = url.lower()[:300]
                assert url_checks.brand_domain_in(path) == _old_brand_domain_in(path), path
                checked += 1
    assert checked > 10


def _old_brand_in_path(msg) -> str:
    for url, host in url_checks.links(msg):
        if not host or url_checks.brand_owning(host):
            continue
        path = url_checks.path_query(url)[0]
        if "." not in path:
            continue
        path = path.lower()[:300]
        if "." not in path:
            continue
        found = _old_brand_domain_in(path)
        if found:
            return f"{url[:120]} carries {found} in its path"
    return ""


def _old_login_non_brand(msg) -> str:
    for url, host in url_checks.links(msg):
        login_host = url_checks._login_host_kind(host)
        if login_host is None:
            continue
        if not login_host:
            path, query = url_checks.path_query(url)
            text = path[:300] + "?" + query[:300]
            if not url_checks._LOGIN_PATH.search(text):
                continue
        named = url_checks.brands_named(msg.body)
        return f"names {named[0].name} but links to {url[:120]}" if named else ""
    return ""


_URL_PIECES = st.sampled_from(["http://", "https://", "HTTPS://", "mailto:", "paypal.com", "www.paypal.com",
                               "evil.example", "secure-login.example", "x.ru", "/", "/login", "/www.ebay.com/",
                               "/PayPal.com.", "?next=signin", "#verify", ".", "\u00e9", "\t", ":8080",
                               "@", "[::1]", "ebay.de", "/a.b"])


@settings(max_examples=800, deadline=None)
@given(st.lists(st.lists(_URL_PIECES, max_size=6).map("".join), max_size=6),
       st.sampled_from(["", "Your PayPal account", "eBay and Amazon", "nothing here"]))
def test_links_split_once_give_the_answers_of_the_per_check_loops(urls, body):
    """url_brand_elsewhere (path) and url_login_non_brand read the foreign links' paths
    from one list a message (_foreign_links): the same answers as each splitting them."""
    from types import SimpleNamespace

    def message():
        return SimpleNamespace(urls=urls, body=body)

    assert url_checks.url_brand_elsewhere(message(), None, "path") == _old_brand_in_path(message())
    assert url_checks.url_login_non_brand(message(), None) == _old_login_non_brand(message())


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(["a", " ", "\u00e9", "\u036f", "\u0370", "\u0416", "\u200b", "\u202e",
                                 "\U0001d400", "\uff21", "word", "\n"]), max_size=40).map("".join))
def test_body_characters_from_u0370_are_those_of_the_runs_from_there_up(body):
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import features

    expected = frozenset(c for c in body if ord(c) >= 0x370)
    assert features.body_chars_from_u0370.__wrapped__(SimpleNamespace(body=body)) == expected
    assert expected == frozenset("".join(re.findall("[^\\x00-\\u036f]+", body)))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(["http://", "www", ".", "paypal", "com", " ", "\t", "/", ":80", "-", "_",
                                 "x", "\u00e9", "Click here", "co.uk", "\n"]), max_size=10).map("".join))
def test_a_shown_domain_holds_a_dot(text):
    """url_anchor_mismatch passes over link texts without a dot before its pattern."""
    if url_checks._SHOWN_DOMAIN.match(text):
        assert "." in text
