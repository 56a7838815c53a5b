"""Whitelists and blacklists: entry forms, levels, and the rule that a whitelist
counts only for a sender proven authorised (SPF, aligned DKIM, DMARC).

Unit tests build the context by hand; the perimeter tests run the real
perimeter against the test DNS server; the end-to-end tests run the real CLI
with --dns-server.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailsphere_cli import lists
from mailsphere_cli.cli import app
from mailsphere_cli.config import parse_config
from mailsphere_cli.context import Context
from mailsphere_cli.message import ParsedMessage
from mailsphere_cli.store.db import Store
from mailsphere_cli.store.lifecycle import add_entry
from tests.dns_fixtures import dkim_keys, dns_server, make_message, resolver, run_perimeter, sign  # noqa: F401

ORG = {"domains": ["ours.test"],
       "whitelist": ["good.test", "redirected.test", "*@other.test", "*.partner.test"],
       "blacklist": ["spam.test", "*.junk.test"],
       "users": {"carol@ours.test": {"whitelist": ["boss@spam.test"],
                                     "blacklist": ["alice@good.test"]}}}

SPF_PASS = {"spf": {"result": "pass", "domain": "good.test", "identity": "mailfrom"},
            "dkim": [], "dmarc": {"result": "none", "domain": "good.test"}}
NOTHING_PROVEN = {"spf": {"result": "fail", "domain": "good.test", "identity": "mailfrom"},
                  "dkim": [], "dmarc": {"result": "fail", "domain": "good.test"}}


def _message(sender: str, to: str = "bob@ours.test") -> bytes:
    return (f"From: Someone <{sender}>\r\nTo: {to}\r\nSubject: hello\r\n\r\nhi\r\n").encode()


def _run(raw: bytes, auth: dict | None = None, org: dict | None = None,
         snapshot: lists.Snapshot | None = None) -> Context:
    config = parse_config({"orgs": {"ours": org or ORG}})
    ctx = Context(msg=ParsedMessage(raw), config=config,
                  services={"lists_snapshot": snapshot or lists.Snapshot()})
    ctx.auth.update(auth or {})
    lists.run(ctx.msg, ctx)
    return ctx


def _hits(ctx: Context) -> dict[str, str]:
    return {h.rule: h.evidence for h in ctx.hits}


# -- entries -------------------------------------------------------------------
@pytest.mark.parametrize("text, canonical", [
    ("Alice@Good.Test", "alice@good.test"), ("good.test", "good.test"),
    ("@good.test", "good.test"), ("*@good.test", "good.test"), ("*.good.test", "*.good.test"),
    ("*@*.good.test", "*.good.test"), ("<alice@good.test>", "alice@good.test"),
])
def test_entry_forms(text, canonical):
    assert lists.validate_entry(text, "whitelist") == canonical


@pytest.mark.parametrize("text", ["", "good", "a b@good.test", "al*ce@good.test", "*.co.uk",
                                  "co.uk", "x@-bad-.test", "*@"])
def test_bad_whitelist_entries_are_refused(text):
    with pytest.raises(lists.EntryError):
        lists.validate_entry(text, "whitelist")


def test_a_public_suffix_may_be_blacklisted_but_not_whitelisted():
    assert lists.validate_entry("*.co.uk", "blacklist") == "*.co.uk"


def test_specificity_exact_beats_domain_beats_subdomain_wildcard():
    assert lists.specificity("alice@good.test", "alice@good.test") > \
        lists.specificity("good.test", "alice@good.test") > \
        lists.specificity("*.test", "alice@good.test") > 0
    assert lists.specificity("*.good.test", "alice@good.test") == 0  # not the domain itself
    assert lists.specificity("*.good.test", "alice@mail.good.test") > 0
    assert lists.specificity("good.test", "alice@notgood.test") == 0


# -- whitelist needs proof ---------------------------------------------------------
def test_whitelist_honoured_with_aligned_spf_pass():
    ctx = _run(_message("alice@good.test"), SPF_PASS)
    assert ctx.listed["whitelisted"] is True
    assert ctx.listed["proof"] == "spf" and ctx.listed["level"] == "org"
    assert ctx.listed["entry"] == "good.test"
    assert "SPF pass for envelope domain good.test" in _hits(ctx)["LIST_WHITELIST_AUTH"]


def test_spf_pass_for_an_unaligned_envelope_domain_proves_nothing():
    auth = dict(SPF_PASS, spf={"result": "pass", "domain": "evil.test", "identity": "mailfrom"})
    ctx = _run(_message("alice@good.test"), auth)
    assert "whitelisted" not in ctx.listed
    assert "LIST_WHITELIST_UNAUTH" in _hits(ctx)


def test_spf_pass_of_the_helo_identity_proves_nothing():
    auth = dict(SPF_PASS, spf={"result": "pass", "domain": "good.test", "identity": "helo"})
    assert "whitelisted" not in _run(_message("alice@good.test"), auth).listed


def test_whitelist_honoured_with_aligned_dkim_signature():
    auth = dict(NOTHING_PROVEN, dkim=[{"domain": "mail.good.test", "selector": "s1",
                                       "result": "pass"}])
    ctx = _run(_message("alice@good.test"), auth)
    assert ctx.listed["whitelisted"] and ctx.listed["proof"] == "dkim"
    assert "d=mail.good.test" in _hits(ctx)["LIST_WHITELIST_AUTH"]


def test_a_valid_signature_of_another_domain_proves_nothing():
    auth = dict(NOTHING_PROVEN, dkim=[{"domain": "evil.test", "selector": "s", "result": "pass"},
                                      {"domain": "good.test", "selector": "s", "result": "fail"}])
    ctx = _run(_message("alice@good.test"), auth)
    assert "whitelisted" not in ctx.listed
    evidence = _hits(ctx)["LIST_WHITELIST_UNAUTH"]
    assert "alice@good.test" in evidence and "good.test" in evidence


def test_whitelist_honoured_with_dmarc_pass():
    auth = {"spf": None, "dkim": None, "dmarc": {"result": "pass", "domain": "good.test"}}
    ctx = _run(_message("alice@good.test"), auth)
    assert ctx.listed["whitelisted"] and ctx.listed["proof"] == "dmarc"


def test_unauthenticated_sender_on_the_whitelist_is_refused_and_recorded():
    ctx = _run(_message("alice@good.test"), NOTHING_PROVEN)
    assert "whitelisted" not in ctx.listed
    assert ctx.listed["whitelist_ignored"]["entry"] == "good.test"
    evidence = _hits(ctx)["LIST_WHITELIST_UNAUTH"]
    assert "not proven authorised" in evidence and "SPF fail" in evidence


def test_offline_whitelist_is_ignored_without_a_penalty():
    ctx = _run(_message("alice@good.test"), {})
    assert "whitelisted" not in ctx.listed
    assert set(_hits(ctx)) == {"LIST_WHITELIST_UNVERIFIED"}


def test_subdomain_wildcard_does_not_cover_the_bare_domain():
    proven = dict(SPF_PASS, spf={"result": "pass", "domain": "partner.test",
                                 "identity": "mailfrom"})
    assert _run(_message("a@mail.partner.test"), proven).listed["entry"] == "*.partner.test"
    assert _run(_message("a@partner.test"), proven).listed == {}


def test_sender_not_on_any_list_gets_nothing():
    ctx = _run(_message("who@elsewhere.test"), SPF_PASS)
    assert ctx.listed == {} and ctx.hits == []


# -- blacklists and levels -----------------------------------------------------------
def test_org_blacklist_matches_from_or_envelope_sender():
    ctx = _run(_message("x@spam.test"), {})
    assert ctx.listed["blacklisted"] and ctx.listed["level"] == "org"
    assert "x@spam.test matches org blacklist entry 'spam.test'" in _hits(ctx)["LIST_BLACKLIST_ORG"]
    ctx = _run(_message("x@fine.test"), {"env_from": "bounce@a.junk.test"})
    assert ctx.listed["entry"] == "*.junk.test"


def test_user_entries_override_org_entries_for_that_user_only():
    # carol whitelists boss@spam.test (org blacklists spam.test) ...
    proven = {"spf": None, "dkim": None, "dmarc": {"result": "pass", "domain": "spam.test"}}
    ctx = _run(_message("boss@spam.test", to="carol@ours.test"), proven)
    assert ctx.listed["whitelisted"] and ctx.listed["level"] == "user"
    assert ctx.listed["recipient"] == "carol@ours.test"
    # ... but for bob the org blacklist stands,
    assert _run(_message("boss@spam.test", to="bob@ours.test"), proven).listed["blacklisted"]
    # and carol blacklists alice@good.test, which the org whitelists.
    ctx = _run(_message("alice@good.test", to="carol@ours.test"), SPF_PASS)
    assert ctx.listed["blacklisted"] and ctx.listed["level"] == "user"
    assert "LIST_BLACKLIST_USER" in _hits(ctx)


def test_a_more_specific_whitelist_entry_beats_a_domain_blacklist():
    org = dict(ORG, whitelist=["news@spam.test"])
    proven = {"spf": None, "dkim": None, "dmarc": {"result": "pass", "domain": "spam.test"}}
    assert _run(_message("news@spam.test"), proven, org=org).listed["whitelisted"]
    # unproven, the whitelist is ignored and the blacklist applies
    assert _run(_message("news@spam.test"), NOTHING_PROVEN, org=org).listed["blacklisted"]


def test_database_entries_from_the_snapshot(tmp_path):
    store = Store(tmp_path)
    add_entry(store, "ours", "bob@ours.test", "blacklist", "*@annoying.test", actor="test")
    add_entry(store, "ours", "", "whitelist", "friend.test", actor="test")
    store.close()
    snapshot = lists.load_snapshot(tmp_path)
    assert _run(_message("a@annoying.test"), {}, snapshot=snapshot).listed["level"] == "user"
    assert _run(_message("a@annoying.test", to="carol@ours.test"), {},
                snapshot=snapshot).listed == {}
    proven = {"spf": None, "dkim": None, "dmarc": {"result": "pass", "domain": "friend.test"}}
    assert _run(_message("a@friend.test"), proven, snapshot=snapshot).listed["whitelisted"]


def test_snapshot_of_a_missing_database_is_empty(tmp_path):
    assert lists.load_snapshot(tmp_path / "nothing").entries == {}


# -- with the real perimeter and the test DNS server ------------------------------------
def _perimeter_then_lists(raw: bytes, resolver) -> Context:
    config = parse_config({"orgs": {"ours": ORG}})
    ctx = run_perimeter(raw, resolver=resolver, config=config)
    ctx.services["lists_snapshot"] = lists.Snapshot()
    lists.run(ctx.msg, ctx)
    return ctx


def test_real_spf_pass_proves_the_sender(resolver):
    ctx = _perimeter_then_lists(make_message(sender="alice@redirected.test",
                                             return_path="alice@redirected.test"), resolver)
    assert ctx.auth["spf"]["result"] == "pass"
    assert ctx.listed["whitelisted"] and ctx.listed["proof"] == "spf"


def test_real_dkim_signature_proves_the_sender(resolver, dkim_keys):
    raw = sign(make_message(sender="bob@other.test", return_path="bob@other.test"), dkim_keys,
               domain="other.test")
    ctx = _perimeter_then_lists(raw, resolver)
    assert ctx.auth["spf"]["result"] == "fail"  # other.test publishes -all: DKIM alone proves
    assert ctx.listed["whitelisted"] and ctx.listed["proof"] == "dkim"


def test_real_forgery_from_an_unauthorised_ip_is_refused(resolver):
    raw = make_message(sender="alice@good.test", return_path="alice@good.test",
                       ip="203.0.113.66", helo="x.test", rdns="")
    ctx = _perimeter_then_lists(raw, resolver)
    assert ctx.auth["dmarc"]["result"] == "fail"
    assert "whitelisted" not in ctx.listed
    assert "LIST_WHITELIST_UNAUTH" in _hits(ctx)


# -- end to end: the real CLI ---------------------------------------------------------
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _with_eicar(raw: bytes) -> bytes:
    head, _, _ = raw.partition(b"\r\n\r\n")
    head = b"\r\n".join(l for l in head.split(b"\r\n") if not l.lower().startswith(b"content-type"))
    body = (b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\n"
            b"Content-Type: application/octet-stream; name=\"test.txt\"\r\n"
            b"Content-Disposition: attachment; filename=\"test.txt\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(EICAR) +
            b"\r\n--b1--\r\n")
    return head + b"\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" + body


def _scan(tmp_path: Path, dns_server, messages: dict[str, bytes], org: dict) -> dict[str, dict]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name, raw in messages.items():
        (folder / f"{name}.eml").write_bytes(raw)
    config = tmp_path / "mailsphere.toml"
    config.write_text(_toml({"orgs": {"ours": org}}))
    result = CliRunner().invoke(app, ["scan", str(folder), "--json", "-j", "1", "--dns-server",
                                      dns_server.address, "--config", str(config), "--data-dir",
                                      str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {Path(v["source"]).stem: v for v in verdicts}


def _toml(data: dict, prefix: str = "") -> str:
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    out = "\n".join(lines) + "\n"
    for key, value in tables:
        name = f"{prefix}.{json.dumps(key) if '@' in key else key}" if prefix else key
        out += f"\n[{name}]\n" + _toml(value, name)
    return out


def test_cli_whitelist_bypass_needs_authentication(tmp_path, dns_server, dkim_keys):
    messages = {
        "spf": make_message(sender="alice@good.test", return_path="alice@good.test"),
        "dkim": sign(make_message(sender="bob@other.test", return_path="bob@other.test"),
                     dkim_keys, domain="other.test"),
        "forged": make_message(sender="alice@good.test", return_path="alice@good.test",
                               ip="203.0.113.66", helo="x.test", rdns=""),
        "malware": _with_eicar(sign(make_message(sender="bob@other.test",
                                                 return_path="bob@other.test"),
                                    dkim_keys, domain="other.test")),
    }
    verdicts = _scan(tmp_path, dns_server, messages, ORG)
    for name, proof in (("spf", "SPF pass"), ("dkim", "d=other.test")):
        verdict = verdicts[name]
        assert verdict["action"] == "deliver" and verdict["decided_by"] == "lists", name
        [hit] = [h for h in verdict["hits"] if h["rule"] == "LIST_WHITELIST_AUTH"]
        assert proof in hit["evidence"]
        assert any(s["name"] == "rules" and "whitelisted" in s["reason"]
                   for s in verdict["skipped"])
    forged = verdicts["forged"]
    assert forged["decided_by"] != "lists"
    assert any(h["rule"] == "LIST_WHITELIST_UNAUTH" and h["score"] > 0 for h in forged["hits"])
    assert not any(s["name"] == "rules" for s in forged["skipped"])  # full analysis ran
    # An authenticated, whitelisted sender does not rescue malicious content.
    assert verdicts["malware"]["action"] == "malicious"
    assert not any(h["rule"].startswith("LIST_") for h in verdicts["malware"]["hits"])


def test_cli_lists_add_show_remove_and_the_scan_reads_them(tmp_path, dns_server):
    config = tmp_path / "mailsphere.toml"
    config.write_text(_toml({"orgs": {"ours": ORG}}))
    runner = CliRunner()
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    result = runner.invoke(app, ["lists", "add", "--org", "ours", "--user", "bob@ours.test",
                                 "--blacklist", "*@Redirected.test"] + common)
    assert result.exit_code == 0, result.output
    assert "added: blacklist redirected.test" in result.stdout
    again = runner.invoke(app, ["lists", "add", "--org", "ours", "--user", "bob@ours.test",
                                "--blacklist", "redirected.test"] + common)
    assert "already listed" in again.stdout
    shown = runner.invoke(app, ["lists", "show", "--org", "ours", "--format", "json"] + common)
    records = json.loads(shown.stdout)
    assert {"level": "user", "user": "bob@ours.test", "kind": "blacklist",
            "entry": "redirected.test", "source": "database"}.items() <= \
        next(r for r in records if r["source"] == "database").items()
    assert any(r["source"] == "config" and r["entry"] == "good.test" for r in records)

    verdicts = _scan(tmp_path, dns_server, {"redir": make_message(
        sender="alice@redirected.test", return_path="alice@redirected.test")}, ORG)
    assert verdicts["redir"]["action"] == "spam" and verdicts["redir"]["decided_by"] == "lists"
    assert any(h["rule"] == "LIST_BLACKLIST_USER" for h in verdicts["redir"]["hits"])

    removed = runner.invoke(app, ["lists", "remove", "--org", "ours", "--user", "bob@ours.test",
                                  "--blacklist", "redirected.test"] + common)
    assert removed.exit_code == 0 and "removed" in removed.stdout
    from_config = runner.invoke(app, ["lists", "remove", "--org", "ours", "--whitelist",
                                      "good.test"] + common)
    assert from_config.exit_code == 2 and "edit it there" in from_config.output


def test_cli_lists_refuses_bad_input(tmp_path):
    config = tmp_path / "mailsphere.toml"
    config.write_text(_toml({"orgs": {"ours": ORG}}))
    runner = CliRunner()
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    cases = [(["--org", "nope", "--whitelist", "a.test"], "no such organisation"),
             (["--org", "ours", "--user", "x@elsewhere.test", "--whitelist", "a.test"],
              "not an address of organisation ours"),
             (["--org", "ours", "--whitelist", "*.co.uk"], "public suffix"),
             (["--org", "ours", "--whitelist", "a.test", "--blacklist", "b.test"], "exactly one")]
    for args, message in cases:
        result = runner.invoke(app, ["lists", "add"] + args + common)
        assert result.exit_code == 2, args
        assert message in result.output, result.output
