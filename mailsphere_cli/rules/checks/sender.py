"""Eval checks on who the message says it is from: From, Reply-To, Return-Path,
Sender, display names, and how those domains look."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from mailsphere_cli.rules.checks import batch, check, each_kind
from mailsphere_cli.rules.checks.features import domain_of, own_domains, sender_address
from mailsphere_cli.rules.checks.url import (brand_owning, brands_named, is_freemail,
                                             lookalike_of, reg_domain, suspicious_tld)

_CORPORATE = re.compile(
    r"\b(?:bank|banking|support|service|services|security|team|department|dept|billing|"
    r"account|accounts|admin|administrator|customer|helpdesk|help desk|it desk|payroll|"
    r"finance|invoice|invoices|accounting|hr|human resources|inc|ltd|llc|corp|corporation|"
    r"gmbh|plc|company|official|online|verification|notification|alert|office|ceo|cfo|"
    r"director|manager|president|webmaster|postmaster|mail delivery|it department)\b", re.I)
_ADDRESS_IN_NAME = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IP_LITERAL = re.compile(r"\[?\d{1,3}(?:\.\d{1,3}){3}\]?")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{6,}")
_DOMAIN_NAME = re.compile(r"(?:[\w-]+\.)+[a-z]{2,}", re.I)
_domain = domain_of


@check("from_freemail", key="sender")
def from_freemail(msg: Any, ctx: Any) -> str:
    return f"From {msg.from_addr} is a free-mail address" if msg.from_domain and \
        is_freemail(msg.from_domain) else ""


@check("freemail_corporate_name", key="sender")
def freemail_corporate_name(msg: Any, ctx: Any) -> str:
    """A free-mail address behind a display name that speaks for a company or a brand."""
    if not msg.from_domain or not is_freemail(msg.from_domain):
        return ""
    name = msg.from_name[:200]
    found = _CORPORATE.search(name)
    if found:
        return f"{name!r} <{msg.from_addr}>: says {found.group(0)!r}"
    named = brands_named(name)
    if named and brand_owning(msg.from_domain) is not named[0]:
        return f"{name!r} <{msg.from_addr}>: names {named[0].name}"
    return ""


@check("from_brand_name_foreign_domain", key="sender")
def from_brand_name_foreign_domain(msg: Any, ctx: Any) -> str:
    """The display name names a brand; the address is not on any of its domains."""
    if not msg.from_domain:
        return ""
    for brand in brands_named(msg.from_name[:200]):
        if brand_owning(msg.from_domain) is not brand:
            return f"{msg.from_name!r} <{msg.from_addr}> is not on a {brand.name} domain"
    return ""


@check("from_lookalike", key="sender")
def from_lookalike(msg: Any, ctx: Any, header: str = "From") -> str:
    address = sender_address(msg, ctx, header) if header in ("From", "Reply-To", "Return-Path") else ""
    domain = _domain(address)
    return lookalike_of(domain, own_domains(ctx)) if domain else ""


@check("from_idn", key="sender")
def from_idn(msg: Any, ctx: Any, mixed_only: bool = False) -> str:
    """The From domain is internationalised; with mixed_only, it mixes scripts (a homograph)."""
    raw = msg.from_domain
    if not raw:
        return ""
    host = raw
    if "xn--" in raw:
        from mailsphere_cli.urls import url_host_unicode
        host = url_host_unicode(raw)
    if host.isascii():
        return ""
    if not mixed_only:
        return f"From domain {host} is internationalised"
    for label in host.split("."):
        scripts = {_script(ch) for ch in label if ch.isalpha()}
        scripts.discard("")
        if len(scripts) > 1 or ("LATIN" not in scripts and any(_script(c) in ("CYRILLIC", "GREEK")
                                                                for c in label)):
            return f"From domain {host} mixes scripts ({', '.join(sorted(scripts))})"
    return ""


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return ""


@check("domain_mismatch", key="sender")
def domain_mismatch(msg: Any, ctx: Any, left: str, right: str) -> str:
    """Two sender addresses on unrelated registrable domains (both must be present)."""
    a = _domain(sender_address(msg, ctx, left))
    if not a:
        return ""
    b = _domain(sender_address(msg, ctx, right))
    if not b or reg_domain(a) == reg_domain(b):
        return ""
    return f"{left} {a} vs {right} {b}"


@check("reply_to_freemail", key="sender")
def reply_to_freemail(msg: Any, ctx: Any) -> str:
    """Replies go to a free-mail address while From is not free mail."""
    reply = _domain(sender_address(msg, ctx, "Reply-To"))
    if reply and is_freemail(reply) and msg.from_domain and not is_freemail(msg.from_domain):
        return f"Reply-To {msg.reply_to}, From {msg.from_addr}"
    return ""


@check("name_has_other_address", key="sender")
def name_has_other_address(msg: Any, ctx: Any) -> str:
    """The display name carries an address other than the real one."""
    name = msg.from_name[:300]
    found = _ADDRESS_IN_NAME.search(name) if "@" in name else None
    if found and found.group(0).lower() != msg.from_addr:
        return f"name shows {found.group(0)}, address is {msg.from_addr}"
    return ""


@check("from_domain_shape", key="sender")
def from_domain_shape(msg: Any, ctx: Any, kind: str) -> str:
    domain = msg.from_domain
    if not domain:
        return ""
    return _domain_shape(domain, reg_domain(domain).split(".")[0], kind)


@batch("from_domain_shape")
def from_domain_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    domain = msg.from_domain
    if not domain:
        return [""] * len(args_list)
    label = reg_domain(domain).split(".")[0]
    return each_kind(args_list, _domain_shape, domain, label)


def _domain_shape(domain: str, label: str, kind: str) -> str:
    if kind == "digits":
        digits = sum(c.isdigit() for c in label)
        return f"{domain}: {digits} digits in {label}" if digits >= 4 else ""
    if kind == "hyphens":
        return f"{domain}: {label.count('-')} hyphens" if label.count("-") >= 2 else ""
    if kind == "long_label":
        return f"{domain}: {len(label)}-character name" if len(label) >= 24 else ""
    if kind == "suspicious_tld":
        tld = suspicious_tld(domain)
        return f"{domain} (.{tld})" if tld else ""
    if kind == "ip_literal":
        return f"From domain {domain} is an address literal" if _IP_LITERAL.fullmatch(domain) else ""
    if kind == "no_dot":
        return f"From domain {domain} has no dot" if "." not in domain else ""
    if kind == "many_labels":
        return f"From domain {domain} has {domain.count('.') + 1} labels" if domain.count(".") >= 4 else ""
    if kind == "random":
        return f"{domain}: consonant run in {label}" if _CONSONANT_RUN.search(label) else ""
    raise ValueError(f"unknown from_domain_shape kind {kind!r}")


@check("from_local_shape", key="sender_recipients")
def from_local_shape(msg: Any, ctx: Any, kind: str) -> str:
    local = msg.from_addr.partition("@")[0]
    if not local:
        return ""
    return _local_shape(msg, local, kind)


@batch("from_local_shape")
def from_local_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    local = msg.from_addr.partition("@")[0]
    if not local:
        return [""] * len(args_list)
    return each_kind(args_list, _local_shape, msg, local)


def _local_shape(msg: Any, local: str, kind: str) -> str:
    if kind == "digits":
        return f"{msg.from_addr}: many digits" if sum(c.isdigit() for c in local) >= 5 else ""
    if kind == "random":
        return f"{msg.from_addr}: random-looking" if _CONSONANT_RUN.search(local) else ""
    if kind == "long":
        return f"{msg.from_addr}: {len(local)}-character local part" if len(local) >= 30 else ""
    if kind == "equals_domain_user":
        to = [a.partition("@")[0] for a in msg.to_addrs[:5]]
        return f"From local part equals recipient's: {local}" if local in to and \
            msg.from_addr not in msg.to_addrs else ""
    raise ValueError(f"unknown from_local_shape kind {kind!r}")


@check("from_is_recipient", key="sender_recipients")
def from_is_recipient(msg: Any, ctx: Any) -> str:
    """The sender claims to be the recipient (self-addressed spam, extortion)."""
    to = [a for a in msg.to_addrs[:20]]
    if msg.from_addr and msg.from_addr in to and not msg.header("In-Reply-To"):
        return f"From and To are both {msg.from_addr}"
    return ""


@check("from_name_is_address_of_recipient_domain", key="sender_recipients")
def from_name_recipient_domain(msg: Any, ctx: Any) -> str:
    """The display name claims the recipient's own domain while the address is foreign."""
    name = msg.from_name.lower()[:200]
    for address in msg.to_addrs[:10]:
        domain = _domain(address)
        if domain and "." in domain and domain in name and reg_domain(msg.from_domain) != \
                reg_domain(domain):
            return f"name {msg.from_name!r} claims {domain}; address {msg.from_addr}"
    return ""


@check("org_domain_lookalike", key="sender")
def org_domain_lookalike(msg: Any, ctx: Any) -> str:
    """From imitates one of the configured organisation's own domains."""
    own = own_domains(ctx)
    if not own or not msg.from_domain or reg_domain(msg.from_domain) in own:
        return ""
    found = lookalike_of(msg.from_domain, own)
    return found if found and "(own)" in found else ""


@check("from_name_shape", key="sender")
def from_name_shape(msg: Any, ctx: Any, kind: str) -> str:
    name = msg.from_name.strip().strip('"')[:200]
    if not name:
        return ""
    return _name_shape(name, kind)


@batch("from_name_shape")
def from_name_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    name = msg.from_name.strip().strip('"')[:200]
    if not name:
        return [""] * len(args_list)
    return each_kind(args_list, _name_shape, name)


def _name_shape(name: str, kind: str) -> str:
    if kind == "all_caps":
        letters = [c for c in name if c.isalpha()]
        return name if len(letters) >= 6 and all(c.isupper() for c in letters) else ""
    if kind == "is_domain":
        return name if _DOMAIN_NAME.fullmatch(name) else ""
    if kind == "non_latin_mix":
        if name.isascii():
            return ""  # every ASCII letter is Latin: one script at most
        scripts = {_script(c) for c in name if c.isalpha()}
        scripts.discard("")
        return f"{name}: {', '.join(sorted(scripts))}" if len(scripts) > 1 else ""
    raise ValueError(f"unknown from_name_shape kind {kind!r}")
