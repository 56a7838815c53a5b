"""Eval checks over the authentication record the perimeter stage wrote to ctx.auth:
SPF, DKIM, DMARC, ARC, DNS and URI blocklists, forward-confirmed rDNS, spoofing."""
from __future__ import annotations

from typing import Any

from mailsphere_cli.rules.checks import check


def _ip(ctx: Any) -> str:
    return ctx.auth.get("connecting_ip") or "unknown IP"


@check("spf_result", network=True, needs="perimeter")
def spf_result(msg: Any, ctx: Any, result: str) -> str:
    spf = ctx.auth.get("spf") or {}
    if spf.get("result") != result:
        return ""
    identity = "HELO" if spf.get("identity") == "helo" else "envelope sender"
    detail = f": {spf['explanation']}" if spf.get("explanation") and result in ("permerror", "temperror") else ""
    return f"SPF {result} for {identity} domain {spf.get('domain') or '?'} from {_ip(ctx)}{detail}"


def _signatures(ctx: Any) -> list[dict]:
    return list(ctx.auth.get("dkim") or [])


def _sig(s: dict) -> str:
    return f"d={s.get('domain') or '?'} s={s.get('selector') or '?'} a={s.get('algorithm') or '?'}"


@check("dkim_result", network=True, needs="perimeter")
def dkim_result(msg: Any, ctx: Any, result: str, exclude_reason: str = "") -> str:
    """A signature with this result (`exclude_reason` keeps body-hash failures apart)."""
    found = [s for s in _signatures(ctx) if s.get("result") == result
             and not (exclude_reason and s.get("reason") == exclude_reason)]
    if not found:
        return ""
    reasons = {s.get("reason") for s in found if s.get("reason")}
    return "; ".join(_sig(s) for s in found[:3]) + (f" ({', '.join(sorted(reasons))[:120]})" if reasons else "")


@check("dkim_bodyhash_mismatch", network=True, needs="perimeter")
def dkim_bodyhash_mismatch(msg: Any, ctx: Any) -> str:
    found = [s for s in _signatures(ctx) if s.get("reason") == "body hash mismatch"]
    return "; ".join(f"{_sig(s)}: body changed after signing" for s in found[:3])


@check("dkim_absent", network=True, needs="perimeter")
def dkim_absent(msg: Any, ctx: Any) -> str:
    return "no DKIM-Signature header" if ctx.auth.get("dkim") == [] else ""


@check("dkim_valid_aligned", network=True, needs="perimeter")
def dkim_valid_aligned(msg: Any, ctx: Any) -> str:
    """A valid signature whose d= is the From domain or shares its organisational domain."""
    from mailsphere_cli.perimeter.dmarc import aligned
    from_domain = getattr(msg, "from_domain", "") or ""
    for s in _signatures(ctx):
        if s.get("result") == "pass" and aligned(s.get("domain", ""), from_domain, strict=False):
            return f"{_sig(s)} aligned with From domain {from_domain}"
    return ""


@check("dmarc_result", network=True, needs="perimeter")
def dmarc_result(msg: Any, ctx: Any, result: str, policy: str = "") -> str:
    dmarc = ctx.auth.get("dmarc") or {}
    if dmarc.get("result") != result or (policy and dmarc.get("policy") != policy):
        return ""
    alignment = dmarc.get("alignment") or {}
    if result == "fail":
        sampled = " (outside the pct= sample, policy stepped down)" if dmarc.get("sampled_out") else ""
        return (f"From domain {dmarc.get('domain')}: neither SPF nor DKIM aligned, policy "
                f"p={dmarc.get('policy')} (record at _dmarc.{dmarc.get('record_domain')}){sampled}")
    if result == "pass":
        how = " and ".join(k.upper() for k in ("spf", "dkim") if alignment.get(k))
        return f"From domain {dmarc.get('domain')} aligned by {how}"
    if result == "none":
        return f"no DMARC record for {dmarc.get('domain')}" if dmarc.get("domain") else "no From domain"
    return f"DMARC {result} for {dmarc.get('domain')}"


@check("arc_result", network=True, needs="perimeter")
def arc_result(msg: Any, ctx: Any, result: str) -> str:
    arc = ctx.auth.get("arc") or {}
    if arc.get("result") != result or not arc.get("instances") and result != "fail":
        return ""
    return f"ARC chain of {arc.get('instances')} set(s): {result} ({arc.get('reason', '')})"


@check("dnsbl_listed", network=True, needs="perimeter")
def dnsbl_listed(msg: Any, ctx: Any, rule: str) -> str:
    found = [e for e in ctx.auth.get("dnsbl") or [] if e.get("rule") == rule]
    return "; ".join(f"{e.get('ip') or _ip(ctx)} listed in {e['zone']} ({e['code']})" for e in found[:3])


@check("uribl_listed", network=True, needs="perimeter")
def uribl_listed(msg: Any, ctx: Any, rule: str) -> str:
    found = [e for e in ctx.auth.get("uribl") or [] if e.get("rule") == rule]
    return "; ".join(f"{e['domain']} listed in {e['zone']} ({e['code']})" for e in found[:3])


@check("fcrdns_fail", network=True, needs="perimeter")
def fcrdns_fail(msg: Any, ctx: Any) -> str:
    fcrdns = ctx.auth.get("fcrdns") or {}
    if fcrdns.get("result") != "fail":
        return ""
    return f"{_ip(ctx)} has PTR {', '.join(fcrdns.get('names', [])[:3])}, which does not resolve back to it"


@check("spoofed_own_domain", needs="perimeter")
def spoofed_own_domain(msg: Any, ctx: Any) -> str:
    spoof = ctx.auth.get("spoofing")
    if not spoof:
        return ""
    return (f"{spoof['claimed_by']} domain {spoof['domain']} (organisation {spoof['org']}) sent from "
            f"{spoof['ip']}, which is not among its authorised IPs")
