"""DNS and URI blocklists: zone data, return codes mapped to rules, errors that
are never listings, and the rules file staying consistent with its zones."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailsphere_cli.perimeter.dnsbl import DEFAULT_FILE, load_zones, pattern_matches, uri_targets
from mailsphere_cli.rules.checks import auth as checks
from tests.dns_fixtures import *  # noqa: F401,F403


def test_listed_ip_maps_each_code_to_its_rule(resolver):
    ctx = run_perimeter(make_message(ip="203.0.113.66", rdns=""), resolver=resolver)
    listed = {(e["zone"], e["code"], e["rule"]) for e in ctx.auth["dnsbl"]}
    assert listed == {("zen.spamhaus.org", "127.0.0.2", "RCVD_IN_SBL"),
                      ("zen.spamhaus.org", "127.0.0.4", "RCVD_IN_XBL"),
                      ("bl.spamcop.net", "127.0.0.2", "RCVD_IN_SPAMCOP")}
    assert checks.dnsbl_listed(ctx.msg, ctx, rule="RCVD_IN_XBL") == \
        "203.0.113.66 listed in zen.spamhaus.org (127.0.0.4)"
    assert not checks.dnsbl_listed(ctx.msg, ctx, rule="RCVD_IN_PBL")


def test_refused_answer_is_an_error_not_a_listing(resolver):
    ctx = run_perimeter(make_message(ip="203.0.113.77"), resolver=resolver)
    assert ctx.auth["dnsbl"] == []
    reasons = {s.name: s.reason for s in ctx.skipped}
    assert "127.255.255.254" in reasons["dnsbl zen.spamhaus.org"]


def test_allow_list_scores_negative(resolver):
    ctx = run_perimeter(make_message(ip="192.0.2.10"), resolver=resolver)
    assert [e["rule"] for e in ctx.auth["dnsbl"]] == ["RCVD_IN_DNSWL_HI"]


def test_ipv6_sender_is_queried_by_nibbles_in_ipv6_zones_only(resolver, dns_server):
    received = ["from mail.v6.example (mail.v6.example [IPv6:2001:db8::66]) by mx.ours.test (Postfix) "
                "with ESMTPS id 1; Tue, 5 Mar 2024 10:00:00 +0000"]
    ctx = run_perimeter(make_message(received=received), resolver=resolver)
    assert [(e["zone"], e["rule"]) for e in ctx.auth["dnsbl"]] == [("zen.spamhaus.org", "RCVD_IN_SBL_CSS")]
    asked = {n for n, _, _ in dns_server.queries if n.endswith(".spamcop.net")}
    assert not any(n.startswith("6.6.0.0") for n in asked)


def test_private_connecting_ip_is_not_looked_up(resolver, dns_server):
    received = ["from pc (pc.lan [192.168.1.9]) by mx.ours.test with ESMTPSA id 1; Tue, 5 Mar 2024 10:00:00 +0000"]
    before = len(dns_server.queries)
    ctx = run_perimeter(make_message(received=received), resolver=resolver)
    assert ctx.auth["dnsbl"] == []
    assert not [q for q in dns_server.queries[before:] if "168.192" in q[0]]


def test_uri_blocklists_query_registrable_domains_and_bitmasks(resolver):
    body = "See http://www.shop.evil.test/offer and http://203.0.113.9/x and https://good.test/\r\n"
    ctx = run_perimeter(make_message(body=body), resolver=resolver)
    found = {(e["domain"], e["zone"], e["rule"]) for e in ctx.auth["uribl"]}
    assert found == {("evil.test", "dbl.spamhaus.org", "URIBL_DBL_SPAM"),
                     ("evil.test", "multi.surbl.org", "URIBL_SURBL_PH"),  # 127.0.0.24 = 8 | 16
                     ("evil.test", "multi.surbl.org", "URIBL_SURBL_MW"),
                     ("203.0.113.9", "multi.surbl.org", "URIBL_SURBL_MW")}
    assert checks.uribl_listed(ctx.msg, ctx, rule="URIBL_DBL_SPAM") == "evil.test listed in dbl.spamhaus.org (127.0.1.2)"
    # URIBL's 127.0.0.1 means "query refused": reported, not listed
    assert any(s.name == "dnsbl multi.uribl.com" for s in ctx.skipped)


def test_uri_targets_are_bounded_and_deduplicated():
    urls = [f"http://host{i}.example{i}.com/" for i in range(500)] + ["http://a.example1.com/"] * 50
    targets = uri_targets(urls)
    assert len(targets) == 20 and len(set(targets)) == 20
    assert uri_targets(["http://[::1]/", "http://10.0.0.1/", "http://nodots/", "http://%%%/"]) == []


@pytest.mark.parametrize("pattern,address,matches", [
    ("127.0.0.2", "127.0.0.2", True), ("127.0.0.4-7", "127.0.0.6", True), ("127.0.0.4-7", "127.0.0.8", False),
    ("127.0.*.3", "127.0.15.3", True), ("127.0.*.3", "127.0.15.2", False), ("127.0.0.2", "bogus", False),
])
def test_code_patterns(pattern, address, matches):
    assert pattern_matches(pattern, address) is matches


def test_zone_data_and_rules_agree():
    data = tomllib.loads(Path(DEFAULT_FILE).read_text())
    rules = {r["id"]: r for r in data["rule"]}
    zones = load_zones()
    assert len([z for z in zones if z.kind == "ip"]) >= 18 and len([z for z in zones if z.kind == "uri"]) >= 3
    referenced = set()
    for zone in zones:
        assert zone.codes, zone.zone
        for code in zone.codes:
            rule = rules[code.rule]
            referenced.add(code.rule)
            assert rule["args"] == {"rule": code.rule}
            assert rule["function"] == ("dnsbl_listed" if zone.kind == "ip" else "uribl_listed")
            assert rule["group"] == ("ip" if zone.kind == "ip" else "url")
    assert referenced == set(rules), "a rule no zone code maps to"
    allow = [r for r in rules.values() if r["id"].startswith(("RCVD_IN_DNSWL_", "RCVD_IN_MSPIKE_WL", "RCVD_IN_MSPIKE_H"))]
    assert allow and all(r["score"] <= 0 for r in allow)


def test_perimeter_rule_files_load_with_the_rule_loader(tmp_path):
    import shutil
    from mailsphere_cli.rules.loader import load_rules
    root = Path(DEFAULT_FILE).parent
    for name in ("perimeter.toml", "dnsbl.toml"):
        shutil.copy(root / name, tmp_path / name)
    pack = load_rules([tmp_path])
    assert {"SPF_PASS", "DMARC_FAIL_REJECT", "SPOOFED_OWN_DOMAIN", "RCVD_IN_SBL", "URIBL_BLACK"} <= set(pack.rules)
    assert pack.rules["SPF_PASS"].score < 0 and pack.rules["SPOOFED_OWN_DOMAIN"].score >= 5
