"""Reverse DNS of the connecting IP: forward confirmation and generic-looking names."""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from mailsphere_cli.perimeter.dns import OK, TEMPERROR, Resolver, reverse_name

MAX_PTR_NAMES = 5
_DYNAMIC_WORDS = re.compile(
    r"(?:^|[.\-_\d])(?:dyn(?:amic)?|dhcp|dial(?:up|in)?|ppp(?:oe)?|a?dsl|xdsl|cable|cpe|pool|"
    r"broadband|customer|client|subscriber|res(?:idential)?|home|unassigned|"
    r"nat|wireless|mobile|fibre|fiber|ftth)(?=$|[.\-_\d])", re.I)


_DIGIT_RUN = re.compile(r"\d+")
_ALPHA_ZEROS = re.compile(r"[a-z]*0*")
_ALPHA = re.compile(r"[a-z]*")


@lru_cache(maxsize=4096)
def looks_dynamic(rdns: str, ip: str) -> str:
    """Why `rdns` looks like an ISP's generic name for `ip` ("" when it does not).

    Asked of the name's digit runs rather than with patterns built from the
    address (which cost several regex compilations, ~1 ms, per new address);
    tests/test_rules_fast_paths.py holds it to the pattern definition. Relays
    recur, so answers are cached too.
    """
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
