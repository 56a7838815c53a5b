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
from typing import Any, Callable

from mailsphere_cli.perimeter.rdns import looks_dynamic
from mailsphere_cli.perimeter.received import is_illegal, is_private
from mailsphere_cli.rules.checks import batch, check, each_kind, kinds_of

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

@check("rdns_missing", needs="perimeter", requires="handover")
def rdns_missing(msg: Any, ctx: Any) -> str:
    """No reverse DNS: recorded as unknown by our MTA, or (online) no PTR at all."""
    hop = _hop(ctx)
    if hop is None or not hop.ip or hop.authenticated:
        return ""
    fcrdns = ctx.auth.get("fcrdns") or {}
    if hop.rdns == "" or (hop.rdns is None and fcrdns.get("result") == "none"):
        return f"{hop.ip} has no reverse DNS ({_header(hop)})"
    return ""


@check("rdns_dynamic", needs="perimeter", requires="handover", key="handover")
def rdns_dynamic(msg: Any, ctx: Any) -> str:
    hop = _hop(ctx)
    if hop is None or hop.authenticated:
        return ""
    rdns = ctx.auth.get("rdns") or ""
    return looks_dynamic(rdns, hop.ip) if rdns else ""


# -- HELO ---------------------------------------------------------------------

def _own_names(ctx: Any) -> tuple[set[str], set[str]]:
    """(our organisations' domains, the host names of our side of the trail)."""
    domains = {d.lower() for org in (getattr(ctx.config, "orgs", None) or {}).values()
               for d in getattr(org, "domains", ())}
    hosts = {r.by for r in ctx.relays[: ctx.handover + 1] if r.by} if ctx.handover is not None else set()
    return domains, hosts


@check("helo_check", needs="perimeter", requires="handover", key="handover")
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
    kinds = kinds_of(args_list)
    if kinds is None:
        return [_rcvd_kind(ctx, **args) for args in args_list]
    found = _every_rcvd_kind(ctx, ctx.relays)  # an unknown kind raises: redone rule by rule
    return [found[kind] for kind in kinds]


def _every_rcvd_kind(ctx: Any, relays: list[Any]) -> dict[str, str]:
    """What each rcvd_check kind answers (the _RCVD_KINDS table, tested against it),
    from one walk over the trail: the time order, parse failures and illegal
    addresses are read in that walk (the first of each, as the kinds' own functions
    find them), the handover hop's kinds once from the hop itself."""
    found = dict.fromkeys(_RCVD_KINDS, "")
    if not relays:
        found["none"] = _no_received(ctx, relays)
        return found
    newer = None  # the last dated hop seen: the next hop down is older
    disorder = illegal = first_bad = None
    unparseable = 0
    for relay in relays:
        stamp = relay.timestamp
        if stamp is not None:
            if newer is not None and disorder is None:
                try:
                    late = stamp - newer
                except TypeError:
                    late = None
                if late is not None and late > CLOCK_SKEW:
                    disorder = f"an earlier hop is dated {late} after a later one: {_header(relay)}"
            newer = stamp
        if not relay.parse_ok:
            unparseable += 1
            if first_bad is None:
                first_bad = relay
        if illegal is None and relay.ip and _illegal(relay.ip):
            illegal = relay
    if disorder is not None:
        found["time_disorder"] = disorder
    if first_bad is not None:
        found["unparseable"] = f"{unparseable} unparseable: {_header(first_bad)}"
    if illegal is not None:
        found["illegal_ip"] = f"{illegal.ip} cannot send mail: {_header(illegal)}"
    handover = ctx.handover
    if handover is not None:
        hop = relays[handover]
        if hop.authenticated:
            found["authenticated"] = f"authenticated submission from {hop.ip}: {_header(hop)}"
        elif is_private(hop.ip):
            found["private_handover"] = f"outside client at private address {hop.ip}: {_header(hop)}"
        below = relays[handover + 1:]
        if below:
            ours = None
            for relay in below:
                by = relay.by
                if by:
                    if ours is None:  # our side's names, read only for a hop below that names one
                        ours = {r.by for r in relays[: handover + 1] if r.by}
                    if by in ours:
                        found["forged_ours"] = f"a hop before the handover claims our host {by}: " \
                                               f"{_header(relay)}"
                        break
    return found


def _rcvd_kind(ctx: Any, kind: str) -> str:
    judge = _RCVD_KINDS.get(kind)
    if judge is None:
        raise ValueError(f"unknown rcvd_check kind {kind!r}")
    return judge(ctx, ctx.relays)


def _no_received(ctx: Any, relays: list[Any]) -> str:
    return "" if relays else "the message has no Received header"


def _time_disorder(ctx: Any, relays: list[Any]) -> str:
    dated = [r for r in relays if r.timestamp is not None]
    for newer, older in zip(dated, dated[1:]):
        try:
            late = older.timestamp - newer.timestamp
        except TypeError:
            continue
        if late > CLOCK_SKEW:
            return f"an earlier hop is dated {late} after a later one: {_header(older)}"
    return ""


def _unparseable(ctx: Any, relays: list[Any]) -> str:
    for relay in relays:
        if not relay.parse_ok:
            bad = [r for r in relays if not r.parse_ok]
            return f"{len(bad)} unparseable: {_header(bad[0])}"
    return ""


def _illegal_ip(ctx: Any, relays: list[Any]) -> str:
    for relay in relays:
        if relay.ip and _illegal(relay.ip):
            return f"{relay.ip} cannot send mail: {_header(relay)}"
    return ""


_DOTTED_QUAD = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


@lru_cache(maxsize=8192)
def _illegal(ip: str) -> bool:
    """is_illegal(ip); for a dotted quad read from its first number, without parsing
    it into an address object: 0.0.0.0/8, multicast 224/4 and reserved 240/4 are
    the IPv4 addresses no client connects from."""
    if _DOTTED_QUAD.fullmatch(ip):
        first = int(ip.partition(".")[0])
        return first == 0 or first >= 224
    return is_illegal(ip)


def _private_handover(ctx: Any, relays: list[Any]) -> str:
    hop = _hop(ctx)
    if hop is not None and is_private(hop.ip) and not hop.authenticated:
        return f"outside client at private address {hop.ip}: {_header(hop)}"
    return ""


def _forged_ours(ctx: Any, relays: list[Any]) -> str:
    if ctx.handover is None:
        return ""
    hosts = {r.by for r in ctx.relays[: ctx.handover + 1] if r.by}  # _own_names' second half
    for relay in relays[ctx.handover + 1:]:
        if relay.by and relay.by in hosts:
            return f"a hop before the handover claims our host {relay.by}: {_header(relay)}"
    return ""


def _authenticated(ctx: Any, relays: list[Any]) -> str:
    hop = _hop(ctx)
    return f"authenticated submission from {hop.ip}: {_header(hop)}" if hop and hop.authenticated else ""


_RCVD_KINDS: dict[str, Callable[[Any, list[Any]], str]] = {
    "none": _no_received, "time_disorder": _time_disorder, "unparseable": _unparseable,
    "illegal_ip": _illegal_ip, "private_handover": _private_handover, "forged_ours": _forged_ours,
    "authenticated": _authenticated,
}


@batch("helo_check")
def helo_check_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    hop = _hop(ctx)
    if hop is None or not hop.helo or hop.authenticated:
        return [""] * len(args_list)
    facts = _helo_facts(hop)
    return each_kind(args_list, _helo_kind, ctx, hop, facts)
