"""Received trail: one real-shaped header per MTA format, the handover, and the
trail checks (broken or forged trails) with the offending header as evidence."""
from __future__ import annotations

import time

import pytest

from mailsphere_cli.perimeter.received import find_handover, format_chain, parse_received, relay_chain
from mailsphere_cli.rules.checks.relay import helo_check, rcvd_check, rdns_dynamic, rdns_missing
from tests.dns_fixtures import make_config, make_message, run_perimeter

DATE = "Tue, 5 Mar 2024 10:00:00 +0000"

# (format, header, expected fields)
FORMATS = [
    ("postfix",
     "from mail.sender.example (mail.sender.example [203.0.113.5]) (using TLSv1.3 with cipher "
     "TLS_AES_256_GCM_SHA384 (256/256 bits)) (No client certificate requested) by mx.ours.example "
     f"(Postfix) with ESMTPS id 4TqB1x2Y3zz for <bob@ours.example>; {DATE} (UTC)",
     dict(ip="203.0.113.5", rdns="mail.sender.example", helo="mail.sender.example", by="mx.ours.example",
          protocol="ESMTPS", tls=True, authenticated=False, envelope_for="bob@ours.example")),
    ("postfix-unknown-rdns",
     f"from helo.example (unknown [198.51.100.7]) by mx.ours.example (Postfix) with ESMTP id 9F1E2; {DATE}",
     dict(ip="198.51.100.7", rdns="", helo="helo.example", protocol="ESMTP", tls=False)),
    ("postfix-submission",
     "from laptop.local (unknown [192.0.2.10]) (Authenticated sender: alice@ours.example) by "
     f"submit.ours.example (Postfix) with ESMTPSA id 1A2B3C for <carol@ext.example>; {DATE}",
     dict(ip="192.0.2.10", helo="laptop.local", protocol="ESMTPSA", authenticated=True, tls=True)),
    ("sendmail",
     "from helo.example.net (root@rdns.example.net [203.0.113.9]) by mail.ours.example "
     f"(8.15.2/8.15.2/Debian-22) with ESMTP id 425A0abc012345 for <bob@ours.example>; {DATE}",
     dict(ip="203.0.113.9", rdns="rdns.example.net", helo="helo.example.net", by="mail.ours.example")),
    ("sendmail-may-be-forged",
     "from rdns.example.net [203.0.113.9] (may be forged) by mail.ours.example (8.14.7/8.14.7) "
     f"with ESMTP id 425A0abc; {DATE}",
     dict(ip="203.0.113.9", rdns="rdns.example.net", helo="")),
    ("exim",
     "from rdns.example.org ([203.0.113.20]:41234 helo=helo.example.org) by mx.ours.example with "
     "esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from <bounce@example.org>) "
     f"id 1rhXyZ-000AbC-2Q for bob@ours.example; {DATE}",
     dict(ip="203.0.113.20", rdns="rdns.example.org", helo="helo.example.org", protocol="ESMTPS",
          tls=True, envelope_from="bounce@example.org", envelope_for="bob@ours.example")),
    ("exim-no-rdns",
     f"from [203.0.113.21] (helo=WIN-ABC123) by mx.ours.example with esmtp (Exim 4.94.2) "
     f"(envelope-from <x@y.example>) id 1rhX; {DATE}",
     dict(ip="203.0.113.21", rdns="", helo="WIN-ABC123", envelope_from="x@y.example")),
    ("exim-ipv6",
     f"from mail.example.org ([2001:db8:1::25]) by mx.ours.example with esmtp (Exim 4.96) id 1rhX; {DATE}",
     dict(ip="2001:db8:1::25", rdns="mail.example.org", helo="mail.example.org")),
    ("qmail",
     f"from unknown (HELO helo.example.com) (203.0.113.30) by mx.ours.example with SMTP; {DATE}",
     dict(ip="203.0.113.30", rdns="", helo="helo.example.com", protocol="SMTP")),
    ("qmail-auth",
     f"from rdns.example.com (HELO helo.example.com) (user@203.0.113.31) by mx.ours.example with ESMTPA; {DATE}",
     dict(ip="203.0.113.31", rdns="rdns.example.com", helo="helo.example.com", authenticated=True)),
    ("courier",
     "from helo.example.com (rdns.example.com [::ffff:203.0.113.40]) by mx.ours.example with ESMTP; "
     f"{DATE} id 00000000005D0A1B.0000000065E6F0A0.00001234",
     dict(ip="203.0.113.40", rdns="rdns.example.com", helo="helo.example.com", protocol="ESMTP")),
    ("courier-auth",
     "from helo.example.com (rdns.example.com [::ffff:203.0.113.41]) (AUTH: LOGIN alice, TLS: "
     f"TLSv1.2,256bits,ECDHE-RSA-AES256-GCM-SHA384) by mx.ours.example with ESMTPSA; {DATE} id 0000A",
     dict(ip="203.0.113.41", authenticated=True, tls=True)),
    ("exchange-online-frontend",
     "from mail.sender.example (203.0.113.50) by DB5EUR01FT012.mail.protection.outlook.com "
     "(10.152.4.234) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) "
     f"id 15.20.7339.10 via Frontend Transport; {DATE}",
     dict(ip="203.0.113.50", rdns=None, helo="mail.sender.example",
          by="db5eur01ft012.mail.protection.outlook.com", tls=True)),
    ("exchange-internal-ipv6",
     "from AM6PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:20b:12::34) by "
     "AM0PR01MB5678.eurprd01.prod.exchangelabs.com (2603:10a6:208:56::78) with Microsoft SMTP Server "
     f"(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7339.35; {DATE}",
     dict(ip="2603:10a6:20b:12::34", rdns=None, helo="AM6PR01MB1234.eurprd01.prod.exchangelabs.com")),
    ("gmail",
     "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with "
     "SMTPS id a640c23a62f3a-a3e5d8c5b6csor1234567.3.2024.03.05.02.00.00 for <bob@gmail.com> "
     "(Google Transport Security); Tue, 05 Mar 2024 02:00:00 -0800 (PST)",
     dict(ip="209.85.220.41", rdns="mail-sor-f41.google.com", helo="mail-sor-f41.google.com",
          by="mx.google.com", tls=True, envelope_for="bob@gmail.com")),
    ("gmail-internal",
     "by 2002:a05:6402:2345:b0:56b:1234:abcd with SMTP id x1csp123456edb; Tue, 5 Mar 2024 02:00:01 -0800 (PST)",
     dict(ip="", by="2002:a05:6402:2345:b0:56b:1234:abcd", parse_ok=True)),
    ("postfix-ipv6-literal",
     f"from mail.example.org (mail.example.org [IPv6:2001:db8::25]) by mx.ours.example (Postfix) with ESMTPS id 4Tq; {DATE}",
     dict(ip="2001:db8::25", rdns="mail.example.org", helo="mail.example.org")),
    ("ipv6-literal-helo",
     f"from [IPv6:2001:db8::99] (unknown [IPv6:2001:db8::99]) by mx.ours.example (Postfix) with ESMTP id 4Tq; {DATE}",
     dict(ip="2001:db8::99", rdns="", helo="[IPv6:2001:db8::99]")),
    ("qmail-local-note",
     "(qmail 12345 invoked from network); 5 Mar 2024 10:00:00 -0000",
     dict(ip="", parse_ok=True)),
]


@pytest.mark.parametrize("name,header,expected", FORMATS, ids=[f[0] for f in FORMATS])
def test_each_mta_format_parses(name, header, expected):
    relay = parse_received(header)
    for field, value in expected.items():
        assert getattr(relay, field) == value, f"{name}: {field}"
    assert relay.timestamp is not None and relay.timestamp.year == 2024


def test_garbage_is_unparseable_and_bounded():
    assert not parse_received("garbage header with nothing in it").parse_ok
    huge = "from " + "a(" * 50_000 + " by x; " + DATE
    started = time.perf_counter()
    relay = parse_received(huge)
    assert time.perf_counter() - started < 1.0
    assert relay.raw and len(relay.raw) <= 4000
    parse_received("\udcff\x00 from [::::] by ;")  # nothing a header holds may raise


def _chain(*headers):
    return [parse_received(h) for h in headers]


def test_handover_inferred_private_is_internal():
    relays = _chain(
        f"from mx-in.ours.example (mx-in.ours.example [10.0.0.5]) by store.ours.example (Postfix) with ESMTP id 1; {DATE}",
        f"from mail.sender.example (mail.sender.example [203.0.113.5]) by mx-in.ours.example (Postfix) with ESMTPS id 2; {DATE}",
        f"from [192.168.1.20] (unknown [192.168.1.20]) by mail.sender.example (Postfix) with ESMTP id 3; {DATE}")
    assert find_handover(relays) == 1
    lines = format_chain(relays, 1)
    assert lines[1].startswith("=>") and "203.0.113.5" in lines[1]


def test_handover_with_configured_networks():
    relays = _chain(
        f"from relay.ours.example (relay.ours.example [198.51.100.2]) by store.ours.example (Postfix) with ESMTP id 1; {DATE}",
        f"from mail.sender.example (mail.sender.example [203.0.113.5]) by relay.ours.example (Postfix) with ESMTP id 2; {DATE}")
    assert find_handover(relays) == 0  # inferred: 198.51.100.2 is public, so it is "outside"
    assert find_handover(relays, internal=["198.51.100.0/24"]) == 1
    assert find_handover(relays, trusted=["198.51.100.2/32"]) == 1


def test_authenticated_submission_is_the_handover():
    relays = _chain(
        f"from submit.ours.example (submit.ours.example [10.0.0.7]) by store.ours.example (Postfix) with ESMTP id 1; {DATE}",
        f"from laptop (unknown [192.168.1.50]) by submit.ours.example (Postfix) with ESMTPSA id 2; {DATE}")
    index = find_handover(relays)
    assert index == 1 and relays[index].authenticated


def test_no_outside_hop_means_no_handover():
    relays = _chain(f"from localhost (localhost [127.0.0.1]) by mx.ours.example (Postfix) with ESMTP id 1; {DATE}")
    assert find_handover(relays) is None
    assert find_handover([]) is None


def test_relay_chain_is_bounded():
    raw = make_message(received=[f"from h{i}.example (h{i}.example [203.0.113.{i % 250}]) by mx.example "
                                 f"with ESMTP id {i}; {DATE}" for i in range(500)])
    from mailsphere_cli.message import ParsedMessage
    assert len(relay_chain(ParsedMessage(raw))) == 60


# -- trail checks through the stage (offline) --------------------------------------

def test_stage_offline_fills_auth_and_skips_network_checks():
    ctx = run_perimeter(make_message(return_path="alice@good.test"))
    assert ctx.handover == 0 and ctx.auth["connecting_ip"] == "192.0.2.10"
    assert ctx.auth["env_from"] == "alice@good.test" and ctx.auth["env_to"] == "bob@ours.test"
    assert ctx.auth["spf"] is None
    skipped = {s.name: s.reason for s in ctx.skipped}
    for name in ("spf", "dkim", "dmarc", "dnsbl", "uribl", "arc", "fcrdns"):
        assert skipped[name] == "offline"


def test_null_sender_is_recorded():
    ctx = run_perimeter(make_message().replace(b"Received:", b"Return-Path: <>\r\nReceived:", 1))
    assert ctx.auth["env_from"] == "" and ctx.auth["env_from_source"] == "null sender"


def test_time_disorder_names_the_header():
    received = [
        f"from mail.sender.example (mail.sender.example [203.0.113.5]) by mx.ours.test (Postfix) with ESMTP id 2; {DATE}",
        "from [10.1.1.1] (unknown [10.1.1.1]) by mail.sender.example (Postfix) with ESMTP id 1; "
        "Thu, 7 Mar 2024 10:00:00 +0000"]
    ctx = run_perimeter(make_message(received=received))
    evidence = rcvd_check(ctx.msg, ctx, kind="time_disorder")
    assert "by mail.sender.example" in evidence and "2 days" in evidence
    fine = run_perimeter(make_message())
    assert not rcvd_check(fine.msg, fine, kind="time_disorder")


def test_private_handover_with_configured_networks():
    from mailsphere_cli.config import parse_config
    config = parse_config({"network": {"internal": ["198.51.100.0/24"]}})
    received = [f"from fake (unknown [192.168.7.7]) by mx.ours.test (Postfix) with ESMTP id 2; {DATE}"]
    ctx = run_perimeter(make_message(received=received), config=config)
    assert ctx.auth["connecting_ip"] == "192.168.7.7"
    assert "192.168.7.7" in rcvd_check(ctx.msg, ctx, kind="private_handover")


def test_forged_internal_hop_below_handover():
    received = [
        f"from mail.bad.example (mail.bad.example [203.0.113.80]) by {'mx.ours.test'} (Postfix) with ESMTP id 2; {DATE}",
        f"from [10.0.0.9] (unknown [10.0.0.9]) by mx.ours.test (Postfix) with ESMTP id 1; {DATE}"]
    ctx = run_perimeter(make_message(received=received))
    evidence = rcvd_check(ctx.msg, ctx, kind="forged_ours")
    assert "claims our host mx.ours.test" in evidence and "10.0.0.9" in evidence


def test_unparseable_illegal_and_missing():
    received = [f"from mail.x.example (mail.x.example [203.0.113.5]) by mx.ours.test (Postfix) with ESMTP id 2; {DATE}",
                "complete nonsense here",
                f"from evil (unknown [240.0.0.1]) by mail.x.example with SMTP; {DATE}"]
    ctx = run_perimeter(make_message(received=received))
    assert "complete nonsense" in rcvd_check(ctx.msg, ctx, kind="unparseable")
    assert "240.0.0.1" in rcvd_check(ctx.msg, ctx, kind="illegal_ip")
    none = run_perimeter(make_message(received=[]))
    assert rcvd_check(none.msg, none, kind="none") == "the message has no Received header"
    assert not rcvd_check(ctx.msg, ctx, kind="none")


@pytest.mark.parametrize("helo,kind,fires", [
    ("203.0.113.9", "bare_ip", True),
    ("[203.0.113.9]", "bare_ip", False),
    ("[198.51.100.1]", "ip_mismatch", True),
    ("[203.0.113.9]", "ip_mismatch", False),
    ("localhost", "localhost", True),
    ("WIN-ABC123", "not_fqdn", True),
    ("mail.sender.example", "not_fqdn", False),
    ("mx.ours.test", "own_domain", True),   # our own MTA's name
    ("ours.test", "own_domain", True),      # our organisation's domain
    ("mail.sender.example", "own_domain", False),
])
def test_helo_checks(helo, kind, fires):
    config = make_config(ours={"domains": ["ours.test"], "authorised_ips": ["198.51.100.0/24"]})
    ctx = run_perimeter(make_message(ip="203.0.113.9", helo=helo, rdns="mail.sender.example"), config=config)
    evidence = helo_check(ctx.msg, ctx, kind=kind)
    assert bool(evidence) is fires
    if fires:
        assert helo in evidence and "203.0.113.9" in evidence


def test_rdns_checks_read_the_recorded_name():
    ctx = run_perimeter(make_message(ip="203.0.113.5", rdns=""))
    assert "203.0.113.5 has no reverse DNS" in rdns_missing(ctx.msg, ctx)
    dyn = run_perimeter(make_message(ip="203.0.113.5", rdns="203-0-113-5.dyn.isp.example"))
    assert "203-0-113-5.dyn.isp.example" in rdns_dynamic(dyn.msg, dyn)
    clean = run_perimeter(make_message())
    assert not rdns_missing(clean.msg, clean) and not rdns_dynamic(clean.msg, clean)


def test_fast_clause_split_and_markers_match_the_patterns():
    """The ASCII fast paths (word-by-word clause split, substring pre-checks before
    the re.I marker searches) give what the case-insensitive patterns give."""
    import random

    from mailsphere_cli.perimeter import received

    words = ["from", "FROM", "by", "By", "via", "with", "ID", "for", "for<a@b>", "from[1.2.3.4]",
             "(", ")", "(x", "y)", "((", "))", ")(", "helo=H", "(HELO", "x.example", "[203.0.113.9]",
             "ESMTPSA", "esmtpa", "(using", "TLSv1.3", "cipher=X", "(Authenticated", "sender:",
             "auth=pass", "(envelope-from", "<a@b.example>)", "fromage", "byline", "<", "[IPv6:::1]"]
    rng = random.Random(3)
    headers = [h for _, h, _ in FORMATS]
    headers += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))) + f"; {DATE}"
                for _ in range(2000)]
    for header in headers:
        text = " ".join(header.split())
        body = text.rpartition(";")[0] or text
        clauses = received._split_clauses(body)
        assert received._split_clauses(body, body.lower()) == clauses
        if not clauses:
            continue  # no hop to read: the markers are not looked at
        relay = parse_received(header)
        assert relay.tls == (relay.protocol in received._TLS_PROTOCOLS
                             or bool(received._TLS_MARKERS.search(text)))
        assert relay.authenticated == (relay.protocol in received._AUTH_PROTOCOLS
                                       or bool(received._AUTH_MARKERS.search(text)))


def test_relays_from_remembered_shapes_equal_a_full_reading():
    """A header read through the template of its shape (the same header with another
    queue id and date seen before) gets the Relay a full reading gives it, whatever
    the id word, the date or the place of "id" in the header."""
    import random

    from mailsphere_cli.perimeter import received

    ids = ["4TqB1x2Y3zz", "g7MBY7g11259", "1aB-000c.x_y", "Q", "TLSv1", "tls1_2", "auth", "ESMTPA",
           "with", "for", "by", "From", "id", "x(y", "y)", "a;b", "<q@x>", "Google", "helo=x",
           "envelope-from", "cipher=", "\x01", "", "[203.0.113.9]"]
    tails = [f"; {DATE}", f"; {DATE} (UTC)", f";{DATE}", "", ";", "; TLSv1 x", "; Sat, 31 Feb 2024 "
             "10:00:00 +0000", f"; {DATE} (using TLS)", "; x) (auth=pass", f"; {DATE} (envelope-from)"]
    shapes = [h.replace(h.split(" id ")[1].split()[0].rstrip(";"), "{id}", 1)
              for _, h, _ in FORMATS if " id " in h]
    shapes += ["from a.example (a.example [192.0.2.1]) by b.example (x id {id}) with ESMTP id Q",
               "from a.example (b [192.0.2.1]) by c.example with ESMTP (id {id}) id R for <x@y>",
               "id {id} from a.example ([192.0.2.1]) by b.example id S",
               "from a.example ([192.0.2.1] helo=h) by b.example with esmtp id {id} (envelope-from <a@b>)",
               "(qmail 123 invoked from network)", "from x by y with SMTP", "by y id {id}"]
    words = ["from", "by", "with", "id", "ID", "for", "(", ")", "(x", "y)", "helo=H", "(HELO",
             "x.example", "[203.0.113.9]", "ESMTPSA", "TLSv1.3", "cipher=X", "auth=pass",
             "(envelope-from", "<a@b.example>)", "id {id}", "ID {id}", "(id {id})", "{id}"]
    rng = random.Random(5)
    shapes += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 20))) for _ in range(80)]
    for shape in shapes:
        received._TEMPLATES.clear()
        for tail in tails:
            for ident in ids:
                header = shape.replace("{id}", ident) + tail
                expected = received._parse_text(" ".join(header.split()))
                assert received.parse_received(header) == expected, header


def test_dates_read_in_one_match_equal_the_general_reading(monkeypatch):
    """The whole-tail date pattern gives what removing comments, stripping and the
    general readings give, on generated tails (impossible days and odd zones too)."""
    import random
    import re

    from mailsphere_cli.perimeter import received

    rng = random.Random(9)
    tails = []
    for _ in range(3000):
        day = rng.choice(["1", "05", "31", "0", "29", "123"])
        month = rng.choice(["Jan", "feb", "MAR", "Sep", "Foo", "dec"])
        zone = rng.choice(["+0000", "-0000", "+0530", "-1200", "+9999", "-0400"])
        weekday = rng.choice(["", "Tue, ", "tue, ", "Xyz, "])
        comment = rng.choice(["", " (UTC)", " (PST)", " (x (y))", " (", " (a) (b)", " x"])
        lead = rng.choice([" ", "", "  "])
        tails.append(f"{lead}{weekday}{day} {month} {rng.choice(['2024', '1999', '0999'])} "
                     f"{rng.choice(['10:00:00', '23:59:60', '24:00:00', '7:05:00'])} {zone}{comment}")
    fast = [received._parse_date(tail) for tail in tails]
    monkeypatch.setattr(received, "_DATE_TAIL", re.compile(r"(?!)"))  # the general reading only
    assert fast == [received._parse_date(tail) for tail in tails]
    assert sum(stamp is not None for stamp in fast) > 500


def test_dotted_quads_read_as_ipaddress_reads_them():
    """The dotted-quad shortcut of _read_ip gives what ipaddress gives (leading zeros,
    octets over 255, other digits than ASCII ones, blanks, IPv6 forms)."""
    import random

    from mailsphere_cli.perimeter import received

    def reference(candidate: str) -> str:
        return received._read_ip_general(candidate.strip())

    octets = ["0", "00", "1", "01", "9", "10", "99", "100", "199", "255", "256", "300", "999",
              "1000", "012", " ", "", "a", "-1", "\u0663", "1\u0663", "\uff11", "+1"]
    rng = random.Random(4)
    candidates = ["::ffff:1.2.3.4", "IPv6:::1", "1.2.3.4 ", "\t10.0.0.1"]
    for _ in range(20000):
        candidate = ".".join(rng.choice(octets) for _ in range(rng.choice([3, 4, 4, 4, 5])))
        candidates.append(f" {candidate}\t" if rng.random() < 0.1 else candidate)
    for candidate in candidates:
        assert received._read_ip(candidate) == reference(candidate), repr(candidate)
