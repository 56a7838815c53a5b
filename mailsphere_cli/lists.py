"""Layer 3: organisation and user whitelists and blacklists.

An entry is an exact address (`alice@partner.test`), a whole domain
(`partner.test`, also written `@partner.test` or `*@partner.test`) or every
subdomain of one (`*.partner.test`, which does not match `partner.test` itself).
Org entries come from the config (and from the database with user ''); user
entries from the config's `[orgs.X.users."addr"]` tables and from the database
(`mailsphere lists add --user`).

A whitelist match counts only when the sender is proven authorised for the
From address: DMARC pass, a valid DKIM signature whose d= aligns with the From
domain, or SPF pass for an envelope domain aligned with it. An unproven match
is ignored, recorded as a hit, and full analysis runs. A blacklist match (From
address or envelope sender) makes the message spam. For each recipient the
user level is consulted before the org level; within one level the more
specific entry wins, and a blacklist beats a whitelist of the same
specificity. Across recipients a blacklist beats a whitelist.

The stage runs in worker processes and never writes the database: database
entries are read once per pipeline into a snapshot kept in `ctx.services`.
"""
from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mailsphere_cli.verdict import Hit

WHITELIST_AUTH = "LIST_WHITELIST_AUTH"
WHITELIST_UNAUTH = "LIST_WHITELIST_UNAUTH"
WHITELIST_UNVERIFIED = "LIST_WHITELIST_UNVERIFIED"
BLACKLIST_USER = "LIST_BLACKLIST_USER"
BLACKLIST_ORG = "LIST_BLACKLIST_ORG"

KINDS = ("whitelist", "blacklist")
MAX_RECIPIENTS = 50
MAX_ENTRY = 254

_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class EntryError(ValueError):
    """An entry that is not an address, a domain or `*.domain`."""


def _check_domain(domain: str, text: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise EntryError(f"{text!r}: {domain!r} is not a domain name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise EntryError(f"{text!r}: {domain!r} is not a domain name (e.g. partner.example)")
    return ascii_domain


def normalise_entry(text: str) -> str:
    """The canonical form of a list entry: `local@domain`, `domain` or `*.domain`."""
    entry = text.strip().strip("<>").strip().lower().rstrip(".")
    if not entry or len(entry) > MAX_ENTRY or any(c.isspace() for c in entry):
        raise EntryError(f"{text!r}: an entry is an address, a domain or *.domain")
    if entry.startswith(("*@", "@")):
        entry = entry.partition("@")[2]
        if entry.startswith("*."):
            return "*." + _check_domain(entry[2:], text)
        return _check_domain(entry, text)
    if entry.startswith("*."):
        return "*." + _check_domain(entry[2:], text)
    if "@" in entry:
        local, _, domain = entry.rpartition("@")
        if not _LOCAL.match(local) or "*" in local:
            raise EntryError(f"{text!r}: {local!r} is not the local part of an address "
                             f"(wildcards go on the domain: *@domain or *.domain)")
        return f"{local}@{_check_domain(domain, text)}"
    return _check_domain(entry, text)


def entry_domain(entry: str) -> str:
    return entry.rpartition("@")[2].removeprefix("*.")


def is_public_suffix(domain: str) -> bool:
    from mailsphere_cli.perimeter.dmarc import _psl
    try:
        return bool(_psl().is_public(domain))
    except Exception:  # noqa: BLE001 - an odd name is simply not a known suffix
        return False


def validate_entry(text: str, kind: str) -> str:
    """`normalise_entry`, refusing whitelist entries that cover a whole public suffix
    (`*.com` would whitelist anyone able to authenticate any .com domain)."""
    entry = normalise_entry(text)
    if kind == "whitelist" and "@" not in entry and is_public_suffix(entry_domain(entry)):
        raise EntryError(f"{text!r}: {entry_domain(entry)} is a public suffix; a whitelist "
                         f"entry must name an organisation's domain")
    return entry


def specificity(entry: str, address: str) -> int:
    """How specifically `entry` names `address` (0: it does not)."""
    if not address or "@" not in address:
        return 0
    domain = address.rpartition("@")[2]
    if "@" in entry:
        return 1000 if entry == address else 0
    if entry.startswith("*."):
        base = entry[2:]
        return 100 + base.count(".") if domain.endswith("." + base) else 0
    return 500 if domain == entry else 0


def best_match(entries: Iterable[str], addresses: Iterable[str]) -> tuple[int, str, str] | None:
    """(specificity, entry, address) of the most specific entry naming any address."""
    best = None
    for address in addresses:
        for entry in entries:
            score = specificity(entry, address)
            if score and (best is None or score > best[0]):
                best = (score, entry, address)
    return best


# -- the database snapshot ---------------------------------------------------
@dataclass
class Snapshot:
    """Database entries: (org, user) -> kind -> entries; user '' is org level."""

    entries: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    source: str = ""

    def get(self, org: str, user: str, kind: str) -> list[str]:
        return self.entries.get((org, user), {}).get(kind, [])


def load_snapshot(data_dir: str | os.PathLike) -> Snapshot:
    path = Path(data_dir) / "mailsphere.db"
    snapshot = Snapshot(source=str(path))
    if not path.is_file():
        return snapshot
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT org, user, kind, entry FROM list_entries").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return snapshot  # an older database without the table: no entries
    for org, user, kind, entry in rows:
        snapshot.entries.setdefault((org, user), {}).setdefault(kind, []).append(entry)
    return snapshot


def _data_dir(services: dict[str, Any]) -> str:
    settings = services.get("settings")
    found = getattr(settings, "data_dir", "")
    return found or os.environ.get("MAILSPHERE_HOME") or ".mailsphere"


def snapshot_for(ctx: Any) -> Snapshot:
    services = ctx.services if ctx.services is not None else {}
    snapshot = services.get("lists_snapshot")
    if snapshot is None:
        snapshot = load_snapshot(_data_dir(services))
        services["lists_snapshot"] = snapshot
    return snapshot


# -- proof of authorisation -----------------------------------------------------
@dataclass(frozen=True)
class Proof:
    state: str  # "proven", "unproven" or "unknown" (authentication was not checked)
    kind: str = ""  # "dmarc", "dkim" or "spf"
    evidence: str = ""


def sender_proof(auth: dict[str, Any], from_domain: str) -> Proof:
    """Is the sender proven authorised for `from_domain`? Reads the perimeter's record;
    the most direct proof is named: an aligned DKIM signature, aligned SPF, DMARC."""
    spf, dkim, dmarc = auth.get("spf"), auth.get("dkim"), auth.get("dmarc")
    if spf is None and dkim is None and dmarc is None:
        return Proof("unknown", evidence="authentication not checked (offline or perimeter "
                                         "skipped)")
    if not from_domain:
        return Proof("unproven", evidence="no From address")
    from mailsphere_cli.perimeter.dmarc import aligned
    for signature in (dkim if isinstance(dkim, list) else [])[:20]:
        if isinstance(signature, dict) and signature.get("result") == "pass" and \
                aligned(str(signature.get("domain") or ""), from_domain, strict=False):
            return Proof("proven", "dkim", f"valid DKIM signature d={signature.get('domain')} "
                                           f"s={signature.get('selector') or '?'}")
    if isinstance(spf, dict) and spf.get("result") == "pass" and spf.get("identity") != "helo" \
            and aligned(str(spf.get("domain") or ""), from_domain, strict=False):
        return Proof("proven", "spf", f"SPF pass for envelope domain {spf.get('domain')}")
    # DMARC pass rests on one of the two above; it is the proof when only its summary
    # is known (for instance from a trusted relay's verdict).
    if isinstance(dmarc, dict) and dmarc.get("result") == "pass" and \
            aligned(str(dmarc.get("domain") or from_domain), from_domain, strict=False):
        return Proof("proven", "dmarc", f"DMARC pass for {from_domain}")
    seen = []
    if isinstance(spf, dict):
        seen.append(f"SPF {spf.get('result')} ({spf.get('domain') or '-'})")
    if isinstance(dkim, list):
        seen.append("DKIM " + (", ".join(f"{s.get('result')} d={s.get('domain')}" for s in dkim[:3]
                                          if isinstance(s, dict)) or "none"))
    if isinstance(dmarc, dict):
        seen.append(f"DMARC {dmarc.get('result')}")
    return Proof("unproven", evidence="; ".join(seen) or "no authentication result")


# -- the decision ------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    kind: str  # "whitelist" or "blacklist"
    level: str  # "user" or "org"
    entry: str
    address: str
    recipient: str
    org: str


@dataclass
class RecipientLists:
    """Both levels of entries that apply to one recipient."""

    recipient: str
    org: str
    user: dict[str, list[str]]
    org_level: dict[str, list[str]]


def lists_for(recipient: str, org: Any, snapshot: Snapshot) -> RecipientLists:
    user_config = (getattr(org, "users", None) or {}).get(recipient)
    user: dict[str, list[str]] = {}
    org_level: dict[str, list[str]] = {}
    for kind in KINDS:
        user[kind] = _valid(list(getattr(user_config, kind, ()) or ())
                            + snapshot.get(org.name, recipient, kind), kind)
        org_level[kind] = _valid(list(getattr(org, kind, ()) or ())
                                 + snapshot.get(org.name, "", kind), kind)
    return RecipientLists(recipient, org.name, user, org_level)


def _valid(entries: list[str], kind: str) -> list[str]:
    """Canonical entries; config entries that do not parse are left out (lists show flags them)."""
    out: list[str] = []
    for text in entries[:10_000]:
        try:
            entry = validate_entry(text, kind)
        except EntryError:
            continue
        if entry not in out:
            out.append(entry)
    return out


def decide(lists: RecipientLists, from_addr: str, envelope_from: str, proof: Proof,
           attempts: list[Decision]) -> Decision | None:
    """The decision for one recipient; unproven whitelist matches go to `attempts`."""
    blacklist_addresses = [a for a in dict.fromkeys((from_addr, envelope_from)) if a]
    for level, table in (("user", lists.user), ("org", lists.org_level)):
        white = best_match(table["whitelist"], [from_addr] if from_addr else [])
        black = best_match(table["blacklist"], blacklist_addresses)
        if black and (white is None or black[0] >= white[0]):
            return Decision("blacklist", level, black[1], black[2], lists.recipient, lists.org)
        if white:
            decision = Decision("whitelist", level, white[1], white[2], lists.recipient, lists.org)
            if proof.state == "proven":
                return decision
            attempts.append(decision)  # ignored: a blacklist it outranked applies again
            if black:
                return Decision("blacklist", level, black[1], black[2], lists.recipient,
                                lists.org)
    return None


def recipients_of(msg: Any, ctx: Any) -> list[tuple[str, Any]]:
    """(recipient, org) for each recipient an organisation owns, envelope recipient first."""
    config = ctx.config
    found: dict[str, Any] = {}
    candidates = [str((ctx.auth or {}).get("env_to") or "")] + list(getattr(msg, "to_addrs", []))
    for address in candidates[: MAX_RECIPIENTS * 4]:
        address = address.strip().strip("<>").lower()
        if "@" not in address or address in found:
            continue
        org = config.org_for(address)
        if org is not None:
            found[address] = org
        if len(found) >= MAX_RECIPIENTS:
            break
    return list(found.items())


def run(msg: Any, ctx: Any) -> None:
    recipients = recipients_of(msg, ctx)
    if not recipients:
        return
    snapshot = snapshot_for(ctx)
    from_addr = (getattr(msg, "from_addr", "") or "").lower()
    envelope_from = str((ctx.auth or {}).get("env_from") or "").lower()
    proof = sender_proof(ctx.auth or {}, from_addr.rpartition("@")[2])
    attempts: list[Decision] = []
    decisions = [d for d in (decide(lists_for(r, org, snapshot), from_addr, envelope_from, proof,
                                    attempts) for r, org in recipients) if d]
    blacklisted = [d for d in decisions if d.kind == "blacklist"]
    whitelisted = [d for d in decisions if d.kind == "whitelist"]
    evidence: dict[str, str] = {}
    if blacklisted:
        chosen = min(blacklisted, key=lambda d: d.level != "user")
        rule = BLACKLIST_USER if chosen.level == "user" else BLACKLIST_ORG
        evidence[rule] = (f"{chosen.address} matches {chosen.level} blacklist entry "
                          f"{chosen.entry!r} ({chosen.org}"
                          + (f", user {chosen.recipient})" if chosen.level == "user" else ")"))
        ctx.listed = {"blacklisted": True, "entry": chosen.entry, "level": chosen.level,
                      "address": chosen.address, "recipient": chosen.recipient,
                      "org": chosen.org}
    elif whitelisted:
        chosen = min(whitelisted, key=lambda d: d.level != "user")
        evidence[WHITELIST_AUTH] = (f"{chosen.address} matches {chosen.level} whitelist entry "
                                    f"{chosen.entry!r}; {proof.evidence}")
        ctx.listed = {"whitelisted": True, "entry": chosen.entry, "level": chosen.level,
                      "proof": proof.kind, "address": chosen.address,
                      "recipient": chosen.recipient, "org": chosen.org}
    if attempts and not whitelisted:
        first = attempts[0]
        rule = WHITELIST_UNVERIFIED if proof.state == "unknown" else WHITELIST_UNAUTH
        evidence[rule] = (f"{first.address} matches {first.level} whitelist entry "
                          f"{first.entry!r} but is not proven authorised: {proof.evidence}")
        ctx.listed.setdefault("whitelist_ignored", {"entry": first.entry, "level": first.level,
                                                    "reason": proof.evidence})
    if evidence:
        ctx.listed["rule_evidence"] = evidence
    for rule, text in evidence.items():
        ctx.add(Hit(rule, text))
