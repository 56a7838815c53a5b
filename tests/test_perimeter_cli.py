"""The real CLI with --dns-server pointing at the test DNS server: the JSON `auth`
record and the perimeter hits, the offline contract, and a DNS server that never
answers failing to stall a scan."""
from __future__ import annotations

import json
import time


from tests.dns_fixtures import *  # noqa: F401,F403
from tests.dnsserver import ZoneServer


def _scan(cli, path, *options):
    result = cli("scan", "--json", "-j", "1", *options, str(path))
    assert result.exit_code in (0, 1), result.output
    [verdict] = [json.loads(l) for l in result.stdout.splitlines() if l.startswith("{")]
    return verdict


def _hits(verdict):
    return {h["rule"]: h["evidence"] for h in verdict["hits"]}


def test_cli_online_authentication_record(cli, tmp_path, dns_server, dkim_keys):
    path = tmp_path / "signed.eml"
    path.write_bytes(sign(make_message(return_path="alice@good.test"), dkim_keys))
    verdict = _scan(cli, path, "--dns-server", dns_server.address)
    auth = verdict["auth"]
    assert auth["connecting_ip"] == "192.0.2.10" and auth["rdns"] == "mail.good.test"
    assert auth["helo"] == "mail.good.test" and auth["env_from"] == "alice@good.test"
    assert auth["env_to"] == "bob@ours.test"
    assert auth["spf"]["result"] == "pass" and auth["spf"]["domain"] == "good.test"
    assert [(d["domain"], d["selector"], d["result"]) for d in auth["dkim"]] == [("good.test", "rsa", "pass")]
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["policy"] == "reject"
    assert auth["dmarc"]["alignment"] == {"spf": True, "dkim": True}
    assert auth["fcrdns"]["result"] == "pass"
    hits = _hits(verdict)
    for rule in ("SPF_PASS", "DKIM_VALID", "DKIM_VALID_AU", "DMARC_PASS", "RCVD_IN_DNSWL_HI"):
        assert rule in hits, rule
    assert "good.test" in hits["DMARC_PASS"]
    assert not any(s["reason"] == "offline" for s in verdict["skipped"])


def test_cli_online_bad_sender(cli, tmp_path, dns_server):
    path = tmp_path / "bad.eml"
    path.write_bytes(make_message(ip="203.0.113.66", rdns="", helo="203.0.113.66", return_path="a@good.test",
                                  body="Claim your prize at http://www.evil.test/win\r\n"))
    verdict = _scan(cli, path, "--dns-server", dns_server.address)
    hits = _hits(verdict)
    assert hits["SPF_FAIL"] == "SPF fail for envelope sender domain good.test from 203.0.113.66"
    assert "p=reject" in hits["DMARC_FAIL_REJECT"]
    assert "zen.spamhaus.org (127.0.0.2)" in hits["RCVD_IN_SBL"]
    assert "zen.spamhaus.org (127.0.0.4)" in hits["RCVD_IN_XBL"]
    assert "evil.test listed in dbl.spamhaus.org" in hits["URIBL_DBL_SPAM"]
    assert "HELO 203.0.113.66" in hits["HELO_BARE_IP"]
    assert "RDNS_NONE" in hits
    assert verdict["action"] == "spam"
    assert {"zone": "zen.spamhaus.org", "code": "127.0.0.2", "rule": "RCVD_IN_SBL",
            "ip": "203.0.113.66"} in verdict["auth"]["dnsbl"]


def test_cli_offline_lists_network_checks_as_skipped(cli, tmp_path, dns_server):
    path = tmp_path / "m.eml"
    path.write_bytes(make_message(ip="203.0.113.66", return_path="a@good.test"))
    before = len(dns_server.queries)
    verdict = _scan(cli, path, "--offline")
    assert len(dns_server.queries) == before
    skipped = {s["name"]: s["reason"] for s in verdict["skipped"]}
    assert skipped["spf"] == "offline" and skipped["dnsbl"] == "offline"
    assert skipped["SPF_PASS"].startswith("offline")
    assert verdict["auth"]["spf"] is None and verdict["auth"]["connecting_ip"] == "203.0.113.66"
    assert not any(h["rule"].startswith(("SPF_", "RCVD_IN_", "DMARC_")) for h in verdict["hits"])


def test_cli_spoofed_own_domain_is_refused(cli, tmp_path, dns_server):
    config = tmp_path / "mailsphere.toml"
    config.write_text('[orgs.ours]\ndomains = ["ours.test"]\nauthorised_ips = ["198.51.100.0/28"]\n')
    path = tmp_path / "spoof.eml"
    path.write_bytes(make_message(sender="ceo@ours.test", ip="203.0.113.5"))
    verdict = _scan(cli, path, "--offline", "--config", str(config))
    assert verdict["action"] == "reject" and verdict["decided_by"] == "perimeter"
    assert "ours.test" in _hits(verdict)["SPOOFED_OWN_DOMAIN"]
    assert verdict["auth"]["spoofing"]["ip"] == "203.0.113.5"


def test_cli_never_answering_dns_cannot_stall_a_scan(cli, tmp_path, dkim_keys):
    # Every name under these suffixes is silently dropped: blocklists, SPF, DKIM, DMARC, PTR.
    silent = ZoneServer({}, never_answer=["test", "org", "net", "com", "arpa"]).start()
    try:
        config = tmp_path / "mailsphere.toml"
        config.write_text("[dns]\ntimeout = 0.5\nretries = 1\nbudget = 1.5\n")
        path = tmp_path / "m.eml"
        path.write_bytes(sign(make_message(return_path="a@good.test", body="http://x.evil.test/\r\n"), dkim_keys))
        started = time.perf_counter()
        verdict = _scan(cli, path, "--dns-server", silent.address, "--config", str(config))
        elapsed = time.perf_counter() - started
    finally:
        silent.stop()
    assert elapsed < 6, f"scan took {elapsed:.1f}s against a silent DNS server"
    auth = verdict["auth"]
    assert auth["spf"]["result"] == "temperror"
    assert auth["dkim"][0]["result"] == "temperror"
    assert auth["dmarc"]["result"] == "temperror"
    assert auth["dnsbl"] == []
    assert not any(h["rule"] in ("SPF_FAIL", "SPF_PASS", "DMARC_FAIL_REJECT") for h in verdict["hits"])
    assert "SPF_TEMPERROR" in _hits(verdict)
