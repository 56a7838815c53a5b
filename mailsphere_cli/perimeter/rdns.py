"""Reverse DNS of the connecting IP: forward confirmation and generic-looking names."""
from __future__ import annotations

import ipaddress
import re

from mailsphere_cli.perimeter.dns import OK, TEMPERROR, Resolver, reverse_name

MAX_PTR_NAMES = 5
_DYNAMIC_WORDS = re.compile(
    r"(?:^|[.\-_\d])(?:dyn(?:amic)?|dhcp|dial(?:up|in)?|ppp(?:oe)?|a?dsl|xdsl|cable|cpe|pool|"
    r"broadband|customer|client|subscriber|res(?:idential)?|home|unassigned|"
    r"nat|wireless|mobile|fibre|fiber|ftth)(?=$|[.\-_\d])", re.I)


def looks_dynamic(rdns: str, ip: str) -> str:
    """Why `rdns` looks like an ISP's generic name for `ip` ("" when it does not)."""
    if not rdns:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        addr = None
    first_label = rdns.split(".")[0].lower()
    if addr is not None and addr.version == 4:
        octets = str(addr).split(".")
        # Two or more octets of the address written into the name, in either order,
        # e.g. 203-0-113-5.pool.isp.example or c-5-113-0-203.hsd1.example.
        for seq in (octets, list(reversed(octets))):
            for start in range(3):
                pair = seq[start], seq[start + 1]
                if re.search(rf"(?:^|\D){pair[0]}[.\-_x]{pair[1]}(?:\D|$)", rdns):
                    if sum(1 for o in octets if re.search(rf"(?:^|\D){o}(?:\D|$)", rdns)) >= 3:
                        return f"{rdns} carries the address {ip}"
        if re.fullmatch(r"[a-z]*0*(?:%s)[a-z]*" % addr.packed.hex(), first_label):
            return f"{rdns} carries {ip} in hex"
    word = _DYNAMIC_WORDS.search(first_label) if re.search(r"\d", first_label) else None
    if word:
        return f"{rdns} looks generic ({word.group(0).strip('.-_0123456789')})"
    return ""


def forward_confirmed(resolver: Resolver, ip: str) -> dict[str, object]:
    """{result: pass|fail|none|temperror, names, confirmed}: PTR names whose A/AAAA include ip."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return {"result": "none", "names": [], "confirmed": ""}
    ptr = resolver.query(reverse_name(ip, "in-addr.arpa" if addr.version == 4 else "ip6.arpa"), "PTR")
    if ptr.status == TEMPERROR:
        return {"result": "temperror", "names": [], "confirmed": ""}
    names = [n for n in ptr.records if isinstance(n, str)][:MAX_PTR_NAMES]
    if not names:
        return {"result": "none", "names": [], "confirmed": ""}
    rdtype = "A" if addr.version == 4 else "AAAA"
    answers = resolver.many([(n, rdtype) for n in names])
    for name, answer in zip(names, answers):
        if answer.status == OK and any(ipaddress.ip_address(a) == addr for a in answer.records):
            return {"result": "pass", "names": names, "confirmed": name}
    if all(a.status == TEMPERROR for a in answers):
        return {"result": "temperror", "names": names, "confirmed": ""}
    return {"result": "fail", "names": names, "confirmed": ""}
