"""SPF for the envelope sender (the HELO identity for null senders), with pyspf.

pyspf looks names up through its module-level `spf.DNSLookup(name, qtype,
strict, timeout)`. We replace that hook once with one that routes into the
resolver active for the current message, so SPF obeys the same servers,
cache and budget as every other check. With no resolver active it refuses
(temperror) rather than reaching for the system's DNS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import spf as pyspf

from mailsphere_cli.perimeter.dns import NXDOMAIN, NODATA, TEMPERROR, Resolver, current_resolver

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")


def _lookup(name: str, qtype: str, strict: Any = True, timeout: float = 20) -> list[tuple[tuple[str, str], Any]]:
    """pyspf's DNSLookup contract: [((name, qtype), value), ...], TempError on failure.

    Values match pyspf's own dnspython driver: A/AAAA address strings, MX
    (preference, exchange), PTR a name, TXT/SPF a tuple of byte strings.
    """
    resolver = current_resolver.get()
    if resolver is None:
        raise pyspf.TempError("DNS: no resolver for this message")
    answer = resolver.query(str(name), str(qtype))
    if answer.status == TEMPERROR:
        raise pyspf.TempError(f"DNS {answer.error or 'temporary error'} for {name}/{qtype}")
    if answer.status in (NXDOMAIN, NODATA):
        return []
    return [((str(name), qtype), value) for value in answer.records]


pyspf.DNSLookup = _lookup


@dataclass(frozen=True, slots=True)
class SpfResult:
    result: str
    domain: str
    identity: str  # "mailfrom" or "helo"
    explanation: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"result": self.result, "domain": self.domain, "identity": self.identity,
                "explanation": self.explanation}


def check_spf(resolver: Resolver, ip: str, env_from: str, helo: str) -> SpfResult:
    """Evaluate SPF for `env_from` at `ip`; for the null sender, the HELO name."""
    helo = (helo or "").strip("[]")
    if env_from and "@" in env_from:
        sender, identity = env_from, "mailfrom"
    elif helo:
        sender, identity = f"postmaster@{helo}", "helo"
    else:
        return SpfResult("none", "", "mailfrom", "no envelope sender and no HELO name")
    domain = sender.rpartition("@")[2].lower()
    resolver.activate()
    budget = max(0.5, resolver.remaining())
    try:
        result, explanation = pyspf.check2(i=ip, s=sender, h=helo or domain, timeout=budget,
                                           querytime=budget)
    except Exception as exc:  # noqa: BLE001 - a broken record or library bug is not a crash
        return SpfResult("permerror", domain, identity, f"{type(exc).__name__}: {exc}")
    result = str(result).lower()
    if result not in RESULTS:
        result = "permerror"
    return SpfResult(result, domain, identity, str(explanation)[:300])
