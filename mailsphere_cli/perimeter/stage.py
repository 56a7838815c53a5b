"""The perimeter stage: relays, handover, and the message's authentication record.

Fills `ctx.relays`, `ctx.handover` and `ctx.auth`; refuses spoofed mail from
an organisation's own domains (`Action.REJECT`, stage "perimeter") unless the
organisation's `spoofing_action` is "score". Network checks run concurrently
inside the message's DNS budget; offline they are listed under `skipped`.
"""
from __future__ import annotations

from typing import Any

from mailsphere_cli.perimeter import NETWORK_CHECKS
from mailsphere_cli.perimeter.received import Relay, find_handover, relay_chain
from mailsphere_cli.perimeter.spoofing import find_spoof
from mailsphere_cli.verdict import Action, Hit, Skip

SPOOF_RULE = "SPOOFED_OWN_DOMAIN"
# Frozen records, the same for every message scanned offline: made once.
_OFFLINE_SKIPS = tuple(Skip(name, "offline") for name in NETWORK_CHECKS)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip(".>").lower() if "@" in address else ""


def _envelope(msg: Any, relays: list[Relay], handover: int | None) -> tuple[str, str, str]:
    """(envelope sender, where it came from, envelope recipient)."""
    ours = relays[: handover + 1] if handover is not None else relays
    raw_return_path = (msg.raw_header("Return-Path") if hasattr(msg, "raw_header") else None) or ""
    if raw_return_path.strip().strip("<>").strip() == "" and raw_return_path:
        env_from, source = "", "null sender"
    elif getattr(msg, "return_path", ""):
        env_from, source = msg.return_path, "Return-Path"
    else:
        found = next((r.envelope_from for r in ours if r.envelope_from), "")
        env_from, source = (found, "Received") if found else (getattr(msg, "from_addr", ""), "From header")
    env_to = next((r.envelope_for for r in ours if r.envelope_for), "")
    if not env_to:
        for name in ("Delivered-To", "X-Original-To", "Envelope-To"):
            value = msg.header(name) if hasattr(msg, "header") else None
            if value and "@" in value:
                env_to = value.strip().strip("<>").lower()
                break
    return env_from.lower(), source, env_to


def run(msg: Any, ctx: Any) -> None:
    network = getattr(ctx.config, "network", None)
    relays = relay_chain(msg)
    handover = find_handover(relays, getattr(network, "trusted", ()) or (),
                             getattr(network, "internal", ()) or ())
    ctx.relays, ctx.handover = relays, handover
    hop = relays[handover] if handover is not None else None
    env_from, env_from_source, env_to = _envelope(msg, relays, handover)
    auth: dict[str, Any] = {
        "connecting_ip": hop.ip if hop else "",
        "rdns": hop.rdns if hop else None,
        "helo": hop.helo if hop else "",
        "env_from": env_from,
        "env_from_source": env_from_source,
        "env_to": env_to,
        "authenticated": bool(hop and hop.authenticated),
        "handover": handover,
        "spf": None, "dkim": None, "dmarc": None, "arc": None,
        "dnsbl": None, "uribl": None, "fcrdns": None, "spoofing": None,
    }
    ctx.auth.update(auth)

    orgs = list((getattr(ctx.config, "orgs", None) or {}).values())
    claims = [("From", getattr(msg, "from_domain", "")), ("envelope sender", _domain(env_from))]
    spoof = find_spoof(orgs, auth["connecting_ip"], auth["authenticated"], claims)
    if spoof is not None:
        ctx.auth["spoofing"] = spoof.as_dict()
        # Added here as well as by its eval rule: a refused message must show why
        # even when the scoring stages do not run.
        ctx.add(Hit(SPOOF_RULE, spoof.evidence))
        if spoof.action == "reject":
            ctx.force(Action.REJECT, "perimeter", spoof.evidence)

    resolver = (getattr(ctx, "services", None) or {}).get("resolver")
    if ctx.offline or resolver is None:
        ctx.skipped.extend(_OFFLINE_SKIPS)
        return
    from mailsphere_cli.perimeter.online import run_network_checks
    run_network_checks(msg, ctx, resolver, hop)
