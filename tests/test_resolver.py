"""The one resolver against a real DNS server on 127.0.0.1: statuses, TTL and
negative caching, TCP fallback, the per-message budget, concurrency, hooks."""
from __future__ import annotations

import time

import pytest

from mailsphere_cli.perimeter.dns import Resolver, parse_server
from tests.dns_fixtures import *  # noqa: F401,F403
from tests.dnsserver import ZoneServer


@pytest.fixture()
def server():
    srv = ZoneServer({
        "a.test": [("A", "192.0.2.1"), ("TXT", ["v=spf1 ", "-all"])],
        "short.test": [("A", "192.0.2.2", 1)],
        "alias.test": [("CNAME", "a.test")],
        "mx.test": [("MX", (5, "mail.a.test"))],
        "big.test": [("TXT", "x" * 600)],
    }, never_answer=["never.test"], servfail=["broken.test"]).start()
    yield srv
    srv.stop()


def fresh(server, **kw):
    kw.setdefault("timeout", 0.3)
    kw.setdefault("retries", 0)
    res = Resolver([server.address], **kw)
    res.start_message()
    return res


def test_statuses(server):
    res = fresh(server)
    ok = res.query("a.test", "A")
    assert ok.status == "ok" and ok.records == ("192.0.2.1",)
    assert res.query("a.test", "TXT").texts == ["v=spf1 -all"]
    assert res.query("nothing.test", "A").status == "nxdomain"
    assert res.query("a.test", "AAAA").status == "nodata"
    assert res.query("alias.test", "A").records == ("192.0.2.1",)
    assert res.query("mx.test", "MX").records == ((5, "mail.a.test"),)
    failed = res.query("broken.test", "A")
    assert failed.status == "temperror" and "SERVFAIL" in failed.error
    slow = res.query("x.never.test", "A")
    assert slow.status == "temperror" and "timeout" in slow.error


def test_positive_and_negative_answers_are_cached(server):
    res = fresh(server)
    for _ in range(3):
        res.query("a.test", "A")
        res.query("gone.test", "A")
    assert server.count("a.test", "A") == 1
    assert server.count("gone.test", "A") == 1
    assert res.stats["cache_hits"] == 4


def test_ttl_is_respected(server):
    res = fresh(server)
    res.query("short.test", "A")
    res.query("short.test", "A")
    assert server.count("short.test") == 1
    time.sleep(1.1)
    res.query("short.test", "A")
    assert server.count("short.test") == 2


def test_truncated_answer_retries_over_tcp(server):
    res = fresh(server)
    answer = res.query("big.test", "TXT")
    assert answer.status == "ok" and len(answer.texts[0]) == 600
    transports = {t for n, _, t in server.queries if n == "big.test"}
    assert transports == {"udp", "tcp"}


def test_budget_bounds_a_server_that_never_answers(server):
    res = fresh(server, timeout=0.4, retries=1, budget=1.0)
    started = time.perf_counter()
    answers = [res.query(f"n{i}.never.test", "A") for i in range(20)]
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, elapsed
    assert all(a.status == "temperror" for a in answers)
    assert answers[-1].error == "budget exhausted" and res.budget_spent()
    # a new message gets a new budget; cached answers are still served when spent
    res.start_message()
    assert not res.budget_spent()
    assert res.query("a.test", "A").ok


def test_many_runs_lookups_concurrently(server):
    res = fresh(server, timeout=0.5)
    started = time.perf_counter()
    answers = res.many([(f"c{i}.never.test", "A") for i in range(8)] + [("a.test", "A")])
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, f"8 timeouts of 0.5s took {elapsed:.2f}s: not concurrent"
    assert [a.status for a in answers] == ["temperror"] * 8 + ["ok"]


def test_offline_touches_nothing(server):
    res = Resolver([server.address], offline=True)
    before = len(server.queries)
    answer = res.query("a.test", "A")
    assert answer.status == "temperror" and answer.error == "offline"
    assert len(server.queries) == before


@pytest.mark.parametrize("spec,expected", [
    ("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[::1]:5353", ("::1", 5353)), ("::1", ("::1", 53)), ("[2001:db8::1]", ("2001:db8::1", 53)),
])
def test_server_specs(spec, expected):
    assert parse_server(spec) == expected


def test_hostile_names_are_refused_without_a_query(server):
    res = fresh(server)
    before = len(server.queries)
    for name in ("", "a" * 300, "x..y", ("a" * 64) + ".test"):
        assert res.query(name, "A").status == "nxdomain"
    assert len(server.queries) == before


def test_dkimpy_hook(server):
    import dkim
    res = fresh(server)
    assert res.dnsfunc(b"a.test.") == b"v=spf1 -all"
    assert res.dnsfunc("nothing.test") is None
    with pytest.raises(dkim.DnsTimeoutError):
        res.dnsfunc("k.never.test")


def test_pyspf_hook_matches_pyspf_shapes(server):
    import spf
    from mailsphere_cli.perimeter import spf as ours
    assert spf.DNSLookup is ours._lookup
    res = fresh(server)
    res.activate()
    assert spf.DNSLookup("a.test", "A") == [(("a.test", "A"), "192.0.2.1")]
    assert spf.DNSLookup("a.test", "TXT") == [(("a.test", "TXT"), (b"v=spf1 ", b"-all"))]
    assert spf.DNSLookup("mx.test", "MX") == [(("mx.test", "MX"), (5, "mail.a.test"))]
    assert spf.DNSLookup("nothing.test", "A") == []
    with pytest.raises(spf.TempError):
        spf.DNSLookup("z.never.test", "TXT")


def test_build_services_honours_offline_and_servers():
    from mailsphere_cli.config import parse_config
    from mailsphere_cli.perimeter import build_services
    config = parse_config({"dns": {"servers": ["192.0.2.53"], "timeout": 1.5, "budget": 4.0}})
    assert build_services(config, offline=True)["resolver"] is None
    services = build_services(config, offline=False, dns_servers=["127.0.0.1:5399"])
    res = services["resolver"]
    assert res.servers == [("127.0.0.1", 5399)] and res.timeout == 1.5 and res.budget == 4.0
    assert len(services["dnsbl_zones"]) >= 20
    assert build_services(config, offline=False)["resolver"].servers == [("192.0.2.53", 53)]
