"""Eval checks over the relay chain (ctx.relays, ctx.handover): rDNS and HELO of
the connecting host, and signs of a forged or broken Received trail.

Only the handover hop is judged for rDNS and HELO: our own MTA wrote that
header, so it is the one record of the connection we can believe.
"""
from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from functools import lru_cache
from typing import Any

from mailsphere_cli.perimeter.received import is_illegal, is_private
from mailsphere_cli.rules.checks import batch, check

CLOCK_SKEW = timedelta(hours=1)
_IP_CHARS = "0123456789abcdefABCDEF:."
EVIDENCE_CHARS = 200


def _hop(ctx: Any) -> Any:
    if ctx.handover is None or not ctx.relays:
        return None
    return ctx.relays[ctx.handover]


def _header(relay: Any) -> str:
    text = f"Received: {relay.raw}"
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def _as_ip(text: str) -> str:
    text = text.strip().strip("[]")
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    if "%" not in text and text.strip(_IP_CHARS):
        return ""  # a character no address has (a scope after % may hold any): skip the raise
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


# -- reverse DNS ------------------------------------------------------------

@check("rdns_missing", needs="perimeter")
def rdns_missing(msg: Any, ctx: Any) -> str:
    """No reverse DNS: recorded as unknown by our MTA, or (online) no PTR at all."""
    hop = _hop(ctx)
    if hop is None or not hop.ip or hop.authenticated:
        return ""
    fcrdns = ctx.auth.get("fcrdns") or {}
    if hop.rdns == "" or (hop.rdns is None and fcrdns.get("result") == "none"):
        return f"{hop.ip} has no reverse DNS ({_header(hop)})"
    return ""


_DIGIT_RUN = re.compile(r"\d+")
_ALPHA_ZEROS = re.compile(r"[a-z]*0*")
_ALPHA = re.compile(r"[a-z]*")


@lru_cache(maxsize=4096)
def _looks_dynamic(rdns: str, ip: str) -> str:
    """What perimeter.rdns.looks_dynamic answers, without compiling a regex per address.

    That function builds its patterns from the address's octets, so every new
    address costs several regex compilations (about 1 ms). The same questions
    asked of the name's digit runs give the same answers (a test holds the two
    together); the same relays recur, so answers are cached as well.
    """
    from mailsphere_cli.perimeter.rdns import _DYNAMIC_WORDS
    if not rdns:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        addr = None
    first_label = rdns.split(".")[0].lower()
    if addr is not None and addr.version == 4:
        octets = str(addr).split(".")
        runs = [(m.group(0), m.start(), m.end()) for m in _DIGIT_RUN.finditer(rdns)]
        # "(^|\D)A[.-_x]B(\D|$)": two whole digit runs joined by exactly one separator
        joined = {(a, b) for (a, _, end), (b, start, _) in zip(runs, runs[1:])
                  if start == end + 1 and rdns[end] in ".-_x"}
        whole = {run for run, _, _ in runs}
        for seq in (octets, list(reversed(octets))):
            if any((seq[i], seq[i + 1]) in joined for i in range(3)):
                if sum(1 for o in octets if o in whole) >= 3:
                    return f"{rdns} carries the address {ip}"
                break  # the count does not depend on the pair: no other pair can succeed
        packed = addr.packed.hex()
        at = first_label.find(packed)
        while at >= 0:
            if _ALPHA_ZEROS.fullmatch(first_label, 0, at) and \
                    _ALPHA.fullmatch(first_label, at + len(packed)):
                return f"{rdns} carries {ip} in hex"
            at = first_label.find(packed, at + 1)
    word = _DYNAMIC_WORDS.search(first_label) if _ANY_DIGIT.search(first_label) else None
    if word:
        return f"{rdns} looks generic ({word.group(0).strip('.-_0123456789')})"
    return ""


_ANY_DIGIT = re.compile(r"\d")


@check("rdns_dynamic", needs="perimeter")
def rdns_dynamic(msg: Any, ctx: Any) -> str:
    hop = _hop(ctx)
    if hop is None or hop.authenticated:
        return ""
    rdns = ctx.auth.get("rdns") or ""
    return _looks_dynamic(rdns, hop.ip) if rdns else ""


# -- HELO ---------------------------------------------------------------------

def _own_names(ctx: Any) -> tuple[set[str], set[str]]:
    """(our organisations' domains, the host names of our side of the trail)."""
    domains = {d.lower() for org in (getattr(ctx.config, "orgs", None) or {}).values()
               for d in getattr(org, "domains", ())}
    hosts = {r.by for r in ctx.relays[: ctx.handover + 1] if r.by} if ctx.handover is not None else set()
    return domains, hosts


@check("helo_check", needs="perimeter")
def helo_check(msg: Any, ctx: Any, kind: str) -> str:
    hop = _hop(ctx)
    if hop is None or not hop.helo or hop.authenticated:
        return ""
    return _helo_kind(ctx, hop, _helo_facts(hop), kind)


def _helo_facts(hop: Any) -> tuple[str, bool, str, str]:
    """(lowercased HELO name, written as [literal], the address it names, evidence)."""
    helo = hop.helo.lower().rstrip(".")
    literal = helo.startswith("[") and helo.endswith("]")
    return helo, literal, _as_ip(helo), f"HELO {hop.helo} from {hop.ip}"


def _helo_kind(ctx: Any, hop: Any, facts: tuple[str, bool, str, str], kind: str) -> str:
    helo, literal, address, evidence = facts
    if kind == "bare_ip":
        return f"{evidence}: an address without [brackets]" if address and not literal else ""
    if kind == "ip_mismatch":
        if address and hop.ip and address != _as_ip(hop.ip):
            return f"{evidence}: names a different address"
        return ""
    if kind == "localhost":
        return evidence if helo in ("localhost", "localhost.localdomain") or address.startswith("127.") else ""
    if kind == "not_fqdn":
        if address or helo in ("localhost", "localhost.localdomain"):
            return ""
        return f"{evidence}: not a fully qualified name" if "." not in helo.strip(".") else ""
    if kind == "own_domain":
        domains, hosts = _own_names(ctx)
        if helo in hosts:
            return f"{evidence}: claims to be our own host {helo}"
        for domain in domains:
            if helo == domain or helo.endswith("." + domain):
                authorised = (ctx.auth.get("spoofing") is None and _authorised(ctx, hop.ip, domain))
                return "" if authorised else f"{evidence}: claims our domain {domain}"
        return ""
    raise ValueError(f"unknown helo_check kind {kind!r}")


def _authorised(ctx: Any, ip: str, domain: str) -> bool:
    from mailsphere_cli.perimeter.received import in_networks, parse_networks
    for org in (getattr(ctx.config, "orgs", None) or {}).values():
        if domain in getattr(org, "domains", ()):
            return in_networks(ip, parse_networks(getattr(org, "authorised_ips", ()) or ()))
    return False


# -- the trail itself ------------------------------------------------------------

@check("rcvd_check", needs="perimeter")
def rcvd_check(msg: Any, ctx: Any, kind: str) -> str:
    return _rcvd_kind(ctx, kind)


@batch("rcvd_check")
def rcvd_check_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    return [_rcvd_kind(ctx, **args) for args in args_list]


def _rcvd_kind(ctx: Any, kind: str) -> str:
    relays = ctx.relays
    if kind == "none":
        return "" if relays else "the message has no Received header"
    if kind == "time_disorder":
        dated = [r for r in relays if r.timestamp is not None]
        for newer, older in zip(dated, dated[1:]):
            try:
                late = older.timestamp - newer.timestamp
            except TypeError:
                continue
            if late > CLOCK_SKEW:
                return f"an earlier hop is dated {late} after a later one: {_header(older)}"
        return ""
    if kind == "unparseable":
        bad = [r for r in relays if not r.parse_ok]
        return f"{len(bad)} unparseable: {_header(bad[0])}" if bad else ""
    if kind == "illegal_ip":
        bad = [r for r in relays if r.ip and is_illegal(r.ip)]
        return f"{bad[0].ip} cannot send mail: {_header(bad[0])}" if bad else ""
    if kind == "private_handover":
        hop = _hop(ctx)
        if hop is not None and is_private(hop.ip) and not hop.authenticated:
            return f"outside client at private address {hop.ip}: {_header(hop)}"
        return ""
    if kind == "forged_ours":
        if ctx.handover is None:
            return ""
        _, hosts = _own_names(ctx)
        for relay in relays[ctx.handover + 1:]:
            if relay.by and relay.by in hosts:
                return f"a hop before the handover claims our host {relay.by}: {_header(relay)}"
        return ""
    if kind == "authenticated":
        hop = _hop(ctx)
        return f"authenticated submission from {hop.ip}: {_header(hop)}" if hop and hop.authenticated else ""
    raise ValueError(f"unknown rcvd_check kind {kind!r}")


@batch("helo_check")
def helo_check_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    hop = _hop(ctx)
    if hop is None or not hop.helo or hop.authenticated:
        return [""] * len(args_list)
    facts = _helo_facts(hop)
    return [_helo_kind(ctx, hop, facts, **args) for args in args_list]
