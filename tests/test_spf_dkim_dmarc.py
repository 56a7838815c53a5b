"""SPF, DKIM (RSA and Ed25519, signed here with dkimpy), ARC and DMARC against the
test DNS server, each through the perimeter stage and its rule's eval function."""
from __future__ import annotations

import pytest

from mailsphere_cli.perimeter.dmarc import evaluate, org_domain
from mailsphere_cli.perimeter.spf import check_spf
from mailsphere_cli.rules.checks import auth as checks
from tests.dns_fixtures import *  # noqa: F401,F403


# -- SPF ------------------------------------------------------------------------

@pytest.mark.parametrize("ip,sender,result", [
    ("192.0.2.10", "a@good.test", "pass"),
    ("198.51.100.5", "a@good.test", "pass"),        # via include:_spf.partner.test
    ("203.0.113.5", "a@good.test", "fail"),
    ("192.0.2.10", "a@redirected.test", "pass"),    # redirect= to good.test
    ("203.0.113.5", "a@redirected.test", "fail"),
    ("203.0.113.5", "a@soft.test", "softfail"),
    ("203.0.113.5", "a@neutral.test", "neutral"),
    ("203.0.113.5", "a@nospf.test", "none"),
    ("203.0.113.5", "a@nowhere.test", "none"),
    ("203.0.113.5", "a@loop.test", "permerror"),     # include loop
    ("203.0.113.5", "a@toomany.test", "permerror"),  # more than 10 lookups
    ("203.0.113.5", "a@voids.test", "permerror"),    # more than 2 void lookups
    ("203.0.113.5", "a@broken.test", "permerror"),   # unknown mechanism
    ("203.0.113.5", "a@slow.test", "temperror"),     # include in a zone that never answers
    ("203.0.113.5", "a@servfail.test", "temperror"),
])
def test_spf_results(resolver, ip, sender, result):
    assert check_spf(resolver, ip, sender, "helo.example").result == result


def test_spf_uses_helo_for_the_null_sender(resolver):
    outcome = check_spf(resolver, "192.0.2.10", "", "helo.good.test")
    assert (outcome.result, outcome.identity, outcome.domain) == ("pass", "helo", "helo.good.test")


def test_spf_rule_evidence_through_the_stage(resolver):
    ctx = run_perimeter(make_message(ip="203.0.113.5", return_path="alice@good.test"), resolver=resolver)
    assert ctx.auth["spf"]["result"] == "fail"
    evidence = checks.spf_result(ctx.msg, ctx, result="fail")
    assert evidence == "SPF fail for envelope sender domain good.test from 203.0.113.5"
    assert not checks.spf_result(ctx.msg, ctx, result="pass")


# -- DKIM -----------------------------------------------------------------------

def test_dkim_rsa_and_ed25519_both_verify(resolver, dkim_keys):
    raw = sign(make_message(return_path="alice@good.test"), dkim_keys)
    raw = sign(raw, dkim_keys, selector="ed", algorithm="ed25519")
    ctx = run_perimeter(raw, resolver=resolver)
    results = {(s["selector"], s["algorithm"], s["result"]) for s in ctx.auth["dkim"]}
    assert results == {("rsa", "rsa-sha256", "pass"), ("ed", "ed25519-sha256", "pass")}
    assert "d=good.test s=rsa" in checks.dkim_result(ctx.msg, ctx, result="pass")
    assert "aligned with From domain good.test" in checks.dkim_valid_aligned(ctx.msg, ctx)


def test_dkim_body_change_is_a_body_hash_mismatch(resolver, dkim_keys):
    raw = sign(make_message(), dkim_keys).replace(b"figures are attached", b"figures are ATTACHED")
    ctx = run_perimeter(raw, resolver=resolver)
    assert ctx.auth["dkim"][0]["result"] == "fail"
    assert ctx.auth["dkim"][0]["reason"] == "body hash mismatch"
    assert "body changed after signing" in checks.dkim_bodyhash_mismatch(ctx.msg, ctx)
    assert not checks.dkim_result(ctx.msg, ctx, result="fail", exclude_reason="body hash mismatch")


def test_dkim_header_change_is_invalid(resolver, dkim_keys):
    raw = sign(make_message(), dkim_keys).replace(b"Subject: Quarterly figures", b"Subject: Quarterly invoice")
    ctx = run_perimeter(raw, resolver=resolver)
    assert ctx.auth["dkim"][0]["result"] == "fail"
    assert ctx.auth["dkim"][0]["reason"] == "signature did not verify"
    assert checks.dkim_result(ctx.msg, ctx, result="fail", exclude_reason="body hash mismatch")
    assert not checks.dkim_bodyhash_mismatch(ctx.msg, ctx)


def test_dkim_missing_key_is_permerror_and_unreachable_is_temperror(resolver, dkim_keys):
    raw = sign(make_message(), dkim_keys, selector="gone")
    ctx = run_perimeter(raw, resolver=resolver)
    assert (ctx.auth["dkim"][0]["result"], ctx.auth["dkim"][0]["reason"]) == ("permerror", "no key published")
    raw = sign(make_message(sender="a@never.test"), dkim_keys, domain="never.test")
    ctx = run_perimeter(raw, resolver=resolver)
    assert ctx.auth["dkim"][0]["result"] == "temperror"


def test_unsigned_message_has_no_dkim(resolver):
    ctx = run_perimeter(make_message(), resolver=resolver)
    assert ctx.auth["dkim"] == []
    assert checks.dkim_absent(ctx.msg, ctx) == "no DKIM-Signature header"


def test_arc_chain(resolver, dkim_keys):
    pytest.importorskip("authres")  # dkimpy needs it to *sign* ARC (verifying does not)
    import dkim
    base = make_message(return_path="alice@good.test")
    head, _, body = base.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"return-path")]
    auth_results = b"Authentication-Results: mx.ours.test; spf=pass smtp.mailfrom=good.test"
    message = b"\r\n".join([auth_results] + lines) + b"\r\n\r\n" + body
    sealed = dkim.arc_sign(message, b"rsa", b"good.test", dkim_keys.rsa_private, b"mx.ours.test")
    raw = b"".join(sealed) + message
    ctx = run_perimeter(raw, resolver=resolver)
    assert ctx.auth["arc"]["result"] == "pass" and ctx.auth["arc"]["instances"] == 1
    assert "ARC chain of 1 set(s): pass" in checks.arc_result(ctx.msg, ctx, result="pass")
    broken = run_perimeter(raw.replace(b"Quarterly figures", b"Quarterly nonsense"), resolver=resolver)
    assert broken.auth["arc"]["result"] == "fail"


# -- DMARC ----------------------------------------------------------------------

def test_dmarc_pass_by_spf_alignment(resolver):
    ctx = run_perimeter(make_message(return_path="bounces@good.test"), resolver=resolver)
    assert ctx.auth["dmarc"]["result"] == "pass"
    assert ctx.auth["dmarc"]["alignment"] == {"spf": True, "dkim": False}
    assert checks.dmarc_result(ctx.msg, ctx, result="pass") == "From domain good.test aligned by SPF"


def test_dmarc_pass_by_dkim_when_spf_fails(resolver, dkim_keys):
    raw = sign(make_message(ip="203.0.113.5", return_path="a@good.test"), dkim_keys)
    ctx = run_perimeter(raw, resolver=resolver)
    assert ctx.auth["spf"]["result"] == "fail"
    assert ctx.auth["dmarc"]["result"] == "pass" and ctx.auth["dmarc"]["alignment"]["dkim"]


def test_dmarc_fail_reject_names_the_policy(resolver, dkim_keys):
    # Signed by other.test and SPF passes for other... no: nothing aligns with good.test.
    raw = sign(make_message(ip="203.0.113.5", return_path="a@nospf.test"), dkim_keys, domain="other.test")
    ctx = run_perimeter(raw, resolver=resolver)
    dmarc = ctx.auth["dmarc"]
    assert (dmarc["result"], dmarc["policy"]) == ("fail", "reject")
    evidence = checks.dmarc_result(ctx.msg, ctx, result="fail", policy="reject")
    assert "good.test" in evidence and "p=reject" in evidence
    assert not checks.dmarc_result(ctx.msg, ctx, result="fail", policy="quarantine")


def test_dmarc_subdomain_uses_sp_of_the_organisational_domain(resolver):
    ctx = run_perimeter(make_message(sender="a@news.good.test", ip="203.0.113.5",
                                     return_path="a@nospf.test"), resolver=resolver)
    dmarc = ctx.auth["dmarc"]
    assert (dmarc["result"], dmarc["policy"], dmarc["record_domain"]) == ("fail", "quarantine", "good.test")


def test_dmarc_relaxed_and_strict_alignment(resolver):
    # Relaxed: SPF for news.good.test aligns with From good.test.
    ctx = run_perimeter(make_message(return_path="a@helo.good.test"), resolver=resolver)
    assert ctx.auth["dmarc"]["result"] == "pass"
    # Strict: SPF passes for sub.strict.test but From is strict.test.
    ctx = run_perimeter(make_message(sender="a@strict.test", return_path="a@sub.strict.test"), resolver=resolver)
    assert ctx.auth["spf"]["result"] == "pass"
    assert (ctx.auth["dmarc"]["result"], ctx.auth["dmarc"]["policy"]) == ("fail", "reject")


def test_dmarc_quarantine_none_and_absent(resolver):
    ctx = run_perimeter(make_message(sender="a@soft.test", ip="203.0.113.5", return_path="a@soft.test"),
                        resolver=resolver)
    assert (ctx.auth["dmarc"]["result"], ctx.auth["dmarc"]["policy"]) == ("fail", "quarantine")
    ctx = run_perimeter(make_message(sender="a@neutral.test", return_path="a@neutral.test"), resolver=resolver)
    assert (ctx.auth["dmarc"]["result"], ctx.auth["dmarc"]["policy"]) == ("fail", "none")
    ctx = run_perimeter(make_message(sender="a@nospf.test"), resolver=resolver)
    assert ctx.auth["dmarc"]["result"] == "none"
    assert checks.dmarc_result(ctx.msg, ctx, result="none") == "no DMARC record for nospf.test"


def test_dmarc_pct_samples_deterministically(resolver):
    outcome = evaluate(resolver, "sampled.test", {"result": "fail", "domain": "sampled.test"}, [], b"msg")
    assert outcome.result == "fail" and outcome.sampled_out and outcome.policy == "quarantine"
    again = evaluate(resolver, "sampled.test", {"result": "fail", "domain": "sampled.test"}, [], b"msg")
    assert again.as_dict() == outcome.as_dict()


def test_dmarc_temperror(resolver):
    outcome = evaluate(resolver, "x.never.test", {"result": "none", "domain": ""}, [])
    assert outcome.result == "temperror"


def test_organisational_domain_uses_the_public_suffix_list():
    assert org_domain("a.b.example.co.uk") == "example.co.uk"
    assert org_domain("mail.example.com") == "example.com"
    assert org_domain("co.uk") == "co.uk"
