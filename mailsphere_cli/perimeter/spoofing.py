"""Anti-spoofing: mail claiming one of an organisation's own domains must come
from that organisation's authorised IPs, or be an authenticated submission.

Only organisations that list `authorised_ips` are judged: without that list
we cannot tell their own servers from a forger's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from mailsphere_cli.perimeter.received import in_networks, parse_networks


@dataclass(frozen=True, slots=True)
class Spoof:
    org: str
    domain: str
    ip: str
    claimed_by: str  # "From" or "envelope sender"
    action: str  # "reject" or "score"

    @property
    def evidence(self) -> str:
        return (f"{self.claimed_by} domain {self.domain} (organisation {self.org}) sent from {self.ip}, "
                f"which is not among its authorised IPs")

    def as_dict(self) -> dict[str, str]:
        return {"org": self.org, "domain": self.domain, "ip": self.ip,
                "claimed_by": self.claimed_by, "action": self.action}


def _owns(org: Any, domain: str) -> bool:
    owns = getattr(org, "owns", None)
    if callable(owns):
        return bool(owns(domain))
    return any(domain == d or domain.endswith("." + d) for d in getattr(org, "domains", ()))


def find_spoof(orgs: Iterable[Any], ip: str, authenticated: bool,
               claims: list[tuple[str, str]]) -> Spoof | None:
    """The first claim ((who, domain) pairs) of an org's domain from an unauthorised IP."""
    if not ip or authenticated:
        return None
    for org in orgs:
        networks = parse_networks(getattr(org, "authorised_ips", ()) or ())
        if not networks:
            continue
        for claimed_by, domain in claims:
            domain = (domain or "").lower().strip(".")
            if domain and _owns(org, domain) and not in_networks(ip, networks):
                action = getattr(org, "spoofing_action", "reject") or "reject"
                return Spoof(getattr(org, "name", "?"), domain, ip, claimed_by, action)
    return None
