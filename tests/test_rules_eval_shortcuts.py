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


@settings(max_examples=200, deadline=None)
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


def _metas_one_by_one(metas, present, groups, tags, auth):
    """The meta rules as run_metas ran them before: each compiled expression in turn,
    a firing one recorded (its id, group and tags) before the next is tried."""
    from mailsphere_cli.rules.engine import _evidence
    from mailsphere_cli.verdict import Hit

    hits = []
    for rule, fn, refs in metas:
        if fn(present, groups, tags, auth, 0.0):
            parts = [r for r in refs if r in present]
            hits.append(Hit(rule.id, _evidence(" & ".join(parts) or rule.expr, 160)))
            present.add(rule.id)
            groups[rule.group] = groups.get(rule.group, 0) + 1
            for tag in rule.tags:
                tags[tag] = tags.get(tag, 0) + 1
    return hits


def test_shipped_meta_rules_in_one_function_give_the_hits_of_one_by_one():
    from types import SimpleNamespace

    from mailsphere_cli.rules.engine import CompiledRules
    from mailsphere_cli.rules.loader import load_rules
    from mailsphere_cli.verdict import Hit

    from mailsphere_cli.rules import expr

    compiled = CompiledRules(load_rules(None))
    # each meta compiled alone (the engine keeps their parsed expressions)
    one_by_one = [(rule, expr.compile_node(node), refs) for rule, node, refs in compiled.metas]
    referenced = sorted({ref for _, _, refs in compiled.metas for ref in refs})
    others = list(compiled.pack.rules)
    rng = random.Random(11)
    fired = 0
    for _ in range(3000):
        present = set(rng.sample(referenced, rng.randint(0, 12))) | set(rng.sample(others, 5))
        auth = rng.choice([{}, {"spf": "pass", "dmarc": "pass"}, {"spf": "fail"}])
        ctx = SimpleNamespace(hits=[Hit(r, "") for r in sorted(present)], auth=auth)
        expected = _metas_one_by_one(one_by_one, set(present), {}, {}, auth)
        got = compiled.run_metas(ctx)
        assert got == expected, present
        fired += len(got)
    assert fired > 1000


@settings(max_examples=150, deadline=None)
@given(st.sets(st.sampled_from(["A", "B", "C", "D"])), st.dictionaries(st.sampled_from(["g", "h"]),
       st.integers(0, 3)), st.dictionaries(st.sampled_from(["t", "u"]), st.integers(0, 3)))
def test_meta_sequence_counts_each_firing_meta_before_the_next(present, groups, tags):
    """With metas reading group: and tag: counts, each one that fires counts in its group
    and tags for the metas after it, as one by one."""
    from types import SimpleNamespace

    from mailsphere_cli.rules import expr

    texts = [("M1", "A & B", "g", ("t",)), ("M2", "group:g >= 2 | M1", "h", ("t", "u")),
             ("M3", "tag:t >= 2 & !C", "g", ()), ("M4", "(A + B + C + M3) >= 2 | tag:u > 0", "h", ("u",)),
             ("M5", "D & !M4 & group:h < 2", "g", ("t",))]
    metas = []
    for rule_id, text, group, rule_tags in texts:
        node = expr.parse(text)
        rule = SimpleNamespace(id=rule_id, expr=text, group=group, tags=list(rule_tags))
        metas.append((rule, expr.compile_node(node), sorted(expr.references(node))))
    fire = expr.compile_sequence([expr.parse(t) for _, t, _, _ in texts], [m for m, _, _, _ in texts],
                                 [(g, t) for _, _, g, t in texts])
    old_present, old_groups, old_tags = set(present), dict(groups), dict(tags)
    expected = _metas_one_by_one(metas, old_present, old_groups, old_tags, {})
    new_present, new_groups, new_tags = set(present), dict(groups), dict(tags)
    indexes = fire(new_present, new_groups, new_tags, {})
    assert [metas[i][0].id for i in indexes] == [h.rule for h in expected]
    assert (new_present, new_groups, new_tags) == (old_present, old_groups, old_tags)


def _old_html_images(msg, kind: str, minimum: int = 1) -> str:
    """html_images as it was: every rule reading each image's attributes from the tree."""
    from mailsphere_cli.rules.checks import count_upto, for_text
    from mailsphere_cli.rules.checks import html as h

    if h._tree(msg) is None:
        return ""
    images = msg.html_doc.tree.css("img")[:h.MAX_NODES]
    if kind == "remote_only_little_text":
        if msg.text and not msg.text.isspace():
            return ""
        remote = [i for i in images if h._REMOTE.match(i.attributes.get("src") or "")]
        if not remote or len(remote) != len(images):
            return ""
        text = msg.html_text[:5000]
        words = count_upto(for_text(h._WORD3, h._WORD3_ASCII, text), text, 30)
        return f"{len(remote)} remote images and {words} words" if words < 30 else ""
    if kind == "many":
        return f"{len(images)} images" if len(images) >= minimum else ""
    if kind == "no_alt_linked":
        bare = [i for i in images if not (i.attributes.get("alt") or "").strip()
                and i.parent is not None and i.parent.tag == "a"]
        return f"{len(bare)} linked images without alt text" if len(bare) >= minimum else ""
    for image in images:
        w, ht = image.attributes.get("width") or "", image.attributes.get("height") or ""
        if w.strip() in ("0", "1") and ht.strip() in ("0", "1"):
            return f"1x1 image {(image.attributes.get('src') or '')[:80]}"
    return ""


def test_image_attributes_read_once_give_the_answers_of_each_rule_reading_them():
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks import html as html_checks
    from tests.rules_fixture import build

    rng = random.Random(9)
    pieces = ["<img src='http://x.example/a.gif' width=1 height=1>", "<IMG SRC=\"https://y/b\" alt=''>",
              "<a href='http://z/'><img src='cid:1'></a>", "<a href=x><image alt=' '></a>",
              "<img width=' 0 ' height='1' src='http://p/q'>", "<p>some words of text here</p>",
              "<a href=y><img alt='logo' src='https://l/'></a>", "<img>", "text"]
    fired = 0
    for _ in range(400):
        html = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        msg = ParsedMessage(build({"html": html}))
        for kind, minimum in (("remote_only_little_text", 1), ("many", 3), ("no_alt_linked", 1),
                              ("no_alt_linked", 2), ("tracking_pixel", 1)):
            expected = _old_html_images(msg, kind, minimum)
            assert html_checks.html_images(msg, None, kind, minimum) == expected, html
            fired += bool(expected)
    assert fired > 300
