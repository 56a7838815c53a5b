"""The network half of the perimeter, inside one message's DNS budget.

Independent lookups are sent together first, in one batch that costs about
one round trip (blocklists, URI blocklists, PTR, DMARC records, DKIM keys,
the sender's SPF record), so the checks that follow mostly read the warm
cache and only chase what they could not know in advance (SPF includes,
forward confirmation of PTR names).
"""
from __future__ import annotations

from typing import Any

from mailsphere_cli.perimeter import dkim, dmarc, dnsbl, rdns, spf
from mailsphere_cli.perimeter.dns import Resolver, reverse_name
from mailsphere_cli.perimeter.received import Relay, is_private


def _budget(ctx: Any) -> float | None:
    value = getattr(getattr(ctx.config, "dns", None), "budget", None)
    return float(value) if value else None


def run_network_checks(msg: Any, ctx: Any, resolver: Resolver, hop: Relay | None) -> None:
    resolver.start_message(_budget(ctx))
    auth = ctx.auth
    ip = hop.ip if hop else ""
    public_ip = bool(ip) and not is_private(ip)
    raw: bytes = getattr(msg, "raw", b"") or b""
    zones: list[dnsbl.Zone] = (ctx.services or {}).get("dnsbl_zones") or []
    from_domain = (getattr(msg, "from_domain", "") or "").lower()
    env_domain = auth["env_from"].rpartition("@")[2] if "@" in auth["env_from"] else ""

    # 1. Everything independent, at once.
    ip_lookups = dnsbl.ip_queries(zones, ip) if public_ip else []
    uri_lookups = dnsbl.uri_queries(zones, dnsbl.uri_targets(getattr(msg, "urls", []) or []))
    signatures = dkim.signature_keys(raw) if b"dkim-signature" in raw[:200_000].lower() else []
    warmups: list[tuple[str, str]] = []
    if public_ip:
        warmups.append((reverse_name(ip, "in-addr.arpa" if ":" not in ip else "ip6.arpa"), "PTR"))
    if from_domain:
        warmups.append((f"_dmarc.{from_domain}", "TXT"))
        if dmarc.org_domain(from_domain) != from_domain:
            warmups.append((f"_dmarc.{dmarc.org_domain(from_domain)}", "TXT"))
    warmups += [(f"{s}._domainkey.{d}", "TXT") for s, d in signatures]
    if env_domain and ip:
        warmups.append((env_domain, "TXT"))
    answers = resolver.many([(name, "A") for _, name in ip_lookups]
                            + [(name, "A") for _, name, _ in uri_lookups] + warmups)

    listed = dnsbl.Outcome()
    for (zone, name), answer in zip(ip_lookups, answers):
        dnsbl.read_answer(zone, answer, ip, listed)
    uri_listed = dnsbl.Outcome()
    for (zone, _name, subject), answer in zip(uri_lookups, answers[len(ip_lookups):]):
        dnsbl.read_answer(zone, answer, subject, uri_listed)
    auth["dnsbl"] = [{k: v for k, v in entry.items() if k != "subject"} | {"ip": ip}
                     for entry in listed.listings] if public_ip else []
    auth["uribl"] = [{"domain": e["subject"], "zone": e["zone"], "code": e["code"], "rule": e["rule"]}
                     for e in uri_listed.listings]
    for error in listed.errors + uri_listed.errors:
        ctx.skip(f"dnsbl {error.partition(':')[0]}", f"error: {error.partition(': ')[2]}")

    # 2. The checks proper, mostly reading the warm cache.
    auth["dkim"] = [r.as_dict() for r in dkim.verify_dkim(raw, resolver)] if signatures else []
    if any(name.lower() == "arc-seal" for name, _ in getattr(msg, "raw_headers", [])):
        auth["arc"] = dkim.verify_arc(raw, resolver)
    else:
        auth["arc"] = {"result": "none", "instances": 0, "reason": "no ARC headers"}
    if ip:
        auth["spf"] = spf.check_spf(resolver, ip, auth["env_from"], auth["helo"]).as_dict()
    else:
        auth["spf"] = {"result": "none", "domain": env_domain, "identity": "mailfrom",
                       "explanation": "no connecting IP in the Received trail"}
    if public_ip:
        auth["fcrdns"] = rdns.forward_confirmed(resolver, ip)
        if auth["rdns"] is None and auth["fcrdns"]["names"]:
            auth["rdns"] = auth["fcrdns"]["confirmed"] or auth["fcrdns"]["names"][0]
            auth["rdns_source"] = "PTR lookup"

    # 3. DMARC reads the two results above.
    auth["dmarc"] = dmarc.evaluate(resolver, from_domain, auth["spf"], auth["dkim"], raw).as_dict()
    if resolver.budget_spent():
        auth["dns_budget_exhausted"] = True
        ctx.skip("dns", f"DNS budget of {resolver.budget:g}s spent; later lookups were temperror")
