"""DNS blocklists and allow-lists: for the connecting IP, and for the domains
and IPs in the message's URLs. Zones, return codes and the rule each code
family maps to are data (`[[zone]]` tables in rules/dnsbl.toml); the scores
sit beside them in that file's `[[rule]]` entries.

A code pattern is an address whose octets may be `*` or a range `a-b`
("127.0.0.4-7", "127.0.*.3"), or a bit `mask` tested against the last octet
of a 127.0.0.x answer (SURBL, URIBL). Answers outside 127/8, and those a zone
documents as "refused / over quota" (127.255.255.x everywhere), are errors,
never listings.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from mailsphere_cli import artefacts
from mailsphere_cli.perimeter.dmarc import org_domain
from mailsphere_cli.perimeter.dns import OK, TEMPERROR, Answer, reverse_name
from mailsphere_cli.perimeter.received import is_illegal, is_private
from mailsphere_cli.paths import shipped

DEFAULT_FILE = shipped("rules", "dnsbl.toml")
ALWAYS_ERROR = ("127.255.255.*",)
MAX_URI_TARGETS = 20


@dataclass(frozen=True, slots=True)
class Code:
    rule: str
    match: str = ""
    mask: int = 0

    def matches(self, address: str) -> bool:
        if self.mask:
            octets = address.split(".")
            return address.startswith("127.0.0.") and bool(int(octets[3]) & self.mask)
        return pattern_matches(self.match, address)


@dataclass(frozen=True, slots=True)
class Zone:
    zone: str
    name: str
    kind: str  # "ip" (connecting IP) or "uri" (URL domains, and IPs when `ips`)
    codes: tuple[Code, ...]
    errors: tuple[str, ...] = ()
    ipv6: bool = False
    ips: bool = False  # a uri zone that also takes reversed IP addresses
    domains: bool = True


def pattern_matches(pattern: str, address: str) -> bool:
    want, got = pattern.split("."), address.split(".")
    if len(want) != 4 or len(got) != 4:
        return False
    for spec, octet in zip(want, got):
        if spec == "*":
            continue
        low, _, high = spec.partition("-")
        try:
            value = int(octet)
            if not int(low) <= value <= int(high or low):
                return False
        except ValueError:
            return False
    return True


def load_zones(paths: Iterable[Path | str] = (DEFAULT_FILE,)) -> list[Zone]:
    zones: list[Zone] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        data = artefacts.parsed_toml(path)
        for entry in data.get("zone", []):
            codes = tuple(Code(rule=c["rule"], match=c.get("match", ""), mask=int(c.get("mask", 0)))
                          for c in entry.get("code", []))
            zones.append(Zone(zone=entry["zone"].lower().strip("."), name=entry.get("name", entry["zone"]),
                              kind=entry.get("kind", "ip"), codes=codes,
                              errors=tuple(entry.get("errors", ())), ipv6=bool(entry.get("ipv6", False)),
                              ips=bool(entry.get("ips", False)), domains=bool(entry.get("domains", True))))
    return zones


@dataclass(slots=True)
class Outcome:
    listings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_answer(zone: Zone, answer: Answer, subject: str, outcome: Outcome) -> None:
    """Turn one zone's answer about `subject` into listings or errors."""
    if answer.status == TEMPERROR:
        outcome.errors.append(f"{zone.zone}: {answer.error or 'temperror'}")
        return
    if answer.status != OK:
        return
    seen: set[str] = set()
    for code in answer.records:
        if not isinstance(code, str) or code in seen:
            continue
        seen.add(code)
        if not code.startswith("127.") or any(pattern_matches(p, code) for p in ALWAYS_ERROR + zone.errors):
            outcome.errors.append(f"{zone.zone}: answered {code} for {subject} (refused or over quota)")
            continue
        rules = [c.rule for c in zone.codes if c.matches(code)]
        for rule in dict.fromkeys(rules):
            outcome.listings.append({"zone": zone.zone, "code": code, "rule": rule, "subject": subject})


def ip_queries(zones: list[Zone], ip: str) -> list[tuple[Zone, str]]:
    try:
        version = ipaddress.ip_address(ip).version
    except ValueError:
        return []
    return [(z, reverse_name(ip, z.zone)) for z in zones
            if z.kind == "ip" and (version == 4 or z.ipv6)]


def uri_targets(urls: Iterable[str], limit: int = MAX_URI_TARGETS) -> list[tuple[str, str]]:
    """("domain", registrable domain) and ("ip", address) pairs from URLs, deduplicated."""
    found: dict[tuple[str, str], None] = {}
    for url in urls:
        if len(found) >= limit:
            break
        try:
            host = (urlsplit(url if "//" in url else "//" + url).hostname or "").strip(".").lower()
        except ValueError:
            continue
        if not host:
            continue
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            if address.version == 4 and not is_private(host) and not is_illegal(host):
                found[("ip", str(address))] = None
            continue
        if "." not in host or len(host) > 253:
            continue
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            continue
        found[("domain", org_domain(host))] = None
    return list(found)


def uri_queries(zones: list[Zone], targets: list[tuple[str, str]]) -> list[tuple[Zone, str, str]]:
    queries = []
    for kind, value in targets:
        for zone in zones:
            if zone.kind != "uri":
                continue
            if kind == "domain" and zone.domains:
                queries.append((zone, f"{value}.{zone.zone}", value))
            elif kind == "ip" and zone.ips:
                queries.append((zone, reverse_name(value, zone.zone), value))
    return queries
