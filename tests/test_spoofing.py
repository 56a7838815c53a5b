"""Anti-spoofing: an organisation's own domain from an IP it has not authorised is
refused at the perimeter (or only scored, when the organisation says so)."""
from __future__ import annotations

from mailsphere_cli.rules.checks.auth import spoofed_own_domain
from mailsphere_cli.verdict import Action
from tests.dns_fixtures import make_config, make_message, run_perimeter

OURS = {"domains": ["ours.test"], "authorised_ips": ["198.51.100.0/28", "2001:db8:5::/48"]}


def test_own_domain_from_outside_is_refused():
    config = make_config(ours=OURS)
    ctx = run_perimeter(make_message(sender="ceo@ours.test", ip="203.0.113.5"), config=config)
    assert ctx.auth["spoofing"] == {"org": "ours", "domain": "ours.test", "ip": "203.0.113.5",
                                    "claimed_by": "From", "action": "reject"}
    [hit] = [h for h in ctx.hits if h.rule == "SPOOFED_OWN_DOMAIN"]
    assert "ours.test" in hit.evidence and "203.0.113.5" in hit.evidence
    assert spoofed_own_domain(ctx.msg, ctx) == hit.evidence
    [forced] = ctx.forced
    assert (forced.action, forced.stage) == (Action.REJECT, "perimeter")


def test_scoring_only_when_configured():
    config = make_config(ours=dict(OURS, spoofing_action="score"))
    ctx = run_perimeter(make_message(sender="ceo@ours.test", ip="203.0.113.5"), config=config)
    assert any(h.rule == "SPOOFED_OWN_DOMAIN" for h in ctx.hits)
    assert ctx.forced == []


def test_authorised_ip_and_subdomains():
    config = make_config(ours=OURS)
    ok = run_perimeter(make_message(sender="ceo@ours.test", ip="198.51.100.3"), config=config)
    assert ok.auth["spoofing"] is None and ok.forced == []
    sub = run_perimeter(make_message(sender="hr@mail.ours.test", ip="203.0.113.5"), config=config)
    assert sub.auth["spoofing"]["domain"] == "mail.ours.test"


def test_envelope_sender_claim_is_judged_too():
    config = make_config(ours=OURS)
    ctx = run_perimeter(make_message(sender="news@vendor.test", return_path="bounce@ours.test",
                                     ip="203.0.113.5"), config=config)
    assert ctx.auth["spoofing"]["claimed_by"] == "envelope sender"


def test_authenticated_submission_is_not_spoofing():
    config = make_config(ours=OURS)
    received = ["from laptop (unknown [203.0.113.44]) (Authenticated sender: ceo) by submit.ours.test "
                "(Postfix) with ESMTPSA id 1; Tue, 5 Mar 2024 10:00:00 +0000"]
    ctx = run_perimeter(make_message(sender="ceo@ours.test", received=received), config=config)
    assert ctx.auth["authenticated"] and ctx.auth["spoofing"] is None and not ctx.forced


def test_org_without_authorised_ips_is_not_judged_and_internal_mail_passes():
    config = make_config(ours={"domains": ["ours.test"]})
    ctx = run_perimeter(make_message(sender="ceo@ours.test", ip="203.0.113.5"), config=config)
    assert ctx.auth["spoofing"] is None
    config = make_config(ours=OURS)
    internal = ["from pc (pc.lan [10.0.0.8]) by mx.ours.test (Postfix) with ESMTP id 1; Tue, 5 Mar 2024 10:00:00 +0000"]
    ctx = run_perimeter(make_message(sender="ceo@ours.test", received=internal), config=config)
    assert ctx.handover is None and ctx.auth["spoofing"] is None
