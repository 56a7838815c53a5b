"""Facts about one message that several checks read, worked out once.

The checks stay small functions of (msg, ctx); what they share lives here:
the sender addresses, the links with their hosts, the
organisation's own domains, and cheap "is there anything to look at" answers
that let a check return at once on the common plain message. Each fact is
computed on first use for the message being scanned (`per_message`) or, when
it depends only on a short key (a header value, a host), cached across
messages (the same senders and sites come back again and again).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from urllib.parse import SplitResult, urlsplit

from mailsphere_cli.rules.checks import per_message
from mailsphere_cli.urls import url_host

MAX_URLS = 300  # links looked at per message


# -- what a message has --------------------------------------------------------------
#
# The inputs a check may declare it `requires`: for a message without one, the
# engine leaves the check out instead of calling it to return nothing.

INPUTS: dict[str, Any] = {
    "html": lambda msg, ctx: bool(msg.html),
    "urls": lambda msg, ctx: bool(msg.urls),
    "handover": lambda msg, ctx: ctx.handover is not None and bool(ctx.relays),
    "attachments": lambda msg, ctx: bool(ctx.attachments),
    # the classifier's probability: in the rule stage, which runs before the classifier,
    # there is none yet, and the eight band rules had been called for every message
    "spam_probability": lambda msg, ctx: getattr(ctx, "spam_probability", None) is not None,
}


# -- what a result may depend on -----------------------------------------------------
#
# The facts a check may declare as its `key`: a check so declared answers the
# same for every message with the same value (given the same rule arguments and
# configuration), so the engine keeps its results per value across messages.


def sender_key(msg: Any, ctx: Any) -> tuple[Any, ...]:
    """What the sender checks read: the first From, Reply-To, Return-Path and Sender
    header as they stand (every address, name and domain they use is worked out
    from these) and the envelope sender."""
    env_from = ctx.auth.get("env_from")
    store = getattr(ctx, "__dict__", None)
    if store is not None:  # asked by every run of sender rules: worked out once a message
        seen = store.get(_SENDER_KEY)
        if seen is not None and seen[0] is msg and seen[1] == env_from:
            return seen[2]
    raw = msg.raw_header
    key = (raw("From"), raw("Reply-To"), raw("Return-Path"), raw("Sender"), env_from)
    if store is not None:
        store[_SENDER_KEY] = (msg, env_from, key)
    return key


_SENDER_KEY = "features.sender_key"  # where sender_key keeps its answer on the context


def sender_recipients_key(msg: Any, ctx: Any) -> tuple[Any, ...]:
    """The sender key, the recipient addresses, and whether In-Reply-To has a value."""
    return (sender_key(msg, ctx), tuple(msg.to_addrs), bool(msg.header("In-Reply-To")))


def list_key(msg: Any, ctx: Any) -> tuple[Any, ...]:
    """The first List-Id, List-Post, List-Help and List-Archive header as they stand."""
    raw = msg.raw_header
    return (raw("List-Id"), raw("List-Post"), raw("List-Help"), raw("List-Archive"))


def handover_key(msg: Any, ctx: Any) -> tuple[Any, ...] | None:
    """What the checks of the handover hop read: its HELO name, address and whether
    the client authenticated, the names our side of the trail gives itself, the
    reverse DNS name and whether anti-spoofing objected (None without a hop)."""
    if ctx.handover is None or not ctx.relays:
        return None
    hop = ctx.relays[ctx.handover]
    ours = tuple(relay.by for relay in ctx.relays[: ctx.handover + 1])
    auth = ctx.auth
    return (hop.helo, hop.ip, hop.authenticated, ours, auth.get("rdns"),
            auth.get("spoofing") is None)


def hosts_key(msg: Any, ctx: Any) -> tuple[str, ...]:
    """The distinct hosts of the message's links, in order (`hosts`): campaigns and
    newsletters link the same sites message after message (1219 distinct lists
    among the 2857 corpus messages with links)."""
    return tuple(hosts(msg))


KEYS: dict[str, Any] = {"sender": sender_key, "sender_recipients": sender_recipients_key,
                        "list": list_key, "handover": handover_key, "hosts": hosts_key}


# -- headers -------------------------------------------------------------------

_ADDRESS_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def first_address_in(value: str) -> str:
    """The first thing shaped like an address in a header value, lowercased."""
    found = _ADDRESS_IN_TEXT.search(value)
    return found.group(0).lower() if found else ""


def sender_address(msg: Any, ctx: Any, which: str) -> str:
    """The address a sender header names: From, Reply-To, Return-Path, Sender, or the
    envelope sender of the perimeter's record ("" when absent). A header the
    message does not carry is not parsed at all."""
    if which == "From":
        return msg.from_addr
    if which == "Reply-To":
        return msg.reply_to if msg.has_header("Reply-To") else ""
    if which == "Return-Path":
        return msg.return_path if msg.has_header("Return-Path") else ""
    if which == "Sender":
        return first_address_in(msg.header("Sender") or "") if msg.has_header("Sender") else ""
    if which == "Envelope":
        return ctx.auth.get("env_from") or ""
    return ""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip(".>").lower() if "@" in address else ""


# -- links ---------------------------------------------------------------------

@per_message
def links(msg: Any) -> list[tuple[str, str]]:
    """(url, host) of the first MAX_URLS links; the host is "" when the URL has none."""
    return [(url, _host(url)) for url in msg.urls[:MAX_URLS]]


@lru_cache(maxsize=16384)
def _host(url: str) -> str:
    """url_host(url); for the usual ASCII http(s) link read from the text between
    "//" and the first / ? or #, which is the netloc urlsplit would find (it only
    differs on tabs and line breaks, which it deletes first, and on brackets)."""
    if url.isascii():
        found = _WEB_NETLOC.fullmatch(url)
        if found is not None:
            return found.group(1).rpartition("@")[2].partition(":")[0].lower()
    return url_host(url)


# An http(s) link without tab or line break, whose netloc (up to the first / ? or #)
# holds no bracket: its netloc in one match.
_WEB_NETLOC = re.compile(r"https?://([^/?#\[\]\t\r\n]*)(?:[/?#][^\t\r\n]*)?")


@lru_cache(maxsize=16384)
def split_url(url: str) -> SplitResult:
    """urlsplit(url), once for the checks that read a link's path and query."""
    return urlsplit(url)


# An http(s) link with nothing urlsplit would clean or reject: no tab or line break
# (it deletes them first) and no bracket in the netloc (IPv6 literals, checked).
_WEB_PARTS = re.compile(r"https?://[^/?#\t\r\n\[\]]*(/[^?#\t\r\n]*)?(?:\?([^#\t\r\n]*))?(?:#[^\t\r\n]*)?")


def path_query(url: str) -> tuple[str, str]:
    """(path, query) as urlsplit(url) gives them; for the usual ASCII http(s) link
    read by one regex match, since links are seldom seen twice (urlsplit costs
    several microseconds, and its result would only fill a cache)."""
    if url.isascii():
        found = _WEB_PARTS.fullmatch(url)
        if found is not None:
            return found.group(1) or "", found.group(2) or ""
    parts = split_url(url)
    return parts.path, parts.query


@per_message
def hosts(msg: Any) -> list[str]:
    """The distinct hosts of the links, in the order they first appear."""
    seen: dict[str, None] = {}
    for _, host in links(msg):
        if host:
            seen.setdefault(host, None)
    return list(seen)


# -- the organisation ----------------------------------------------------------------

_own_cache: list[Any] = [None, ()]


def own_domains(ctx: Any) -> tuple[str, ...]:
    """The configured organisations' domains, lowercased and sorted (one answer per config)."""
    config = ctx.config
    if _own_cache[0] is not config:
        orgs = getattr(config, "orgs", None) or {}
        _own_cache[1] = tuple(sorted({d.lower() for o in orgs.values()
                                      for d in getattr(o, "domains", ())}))
        _own_cache[0] = config
    return _own_cache[1]


# -- text ------------------------------------------------------------------------

_UP_TO_LATIN_EXTENSIONS = re.compile("[\x00-\u036f]+")


@per_message
def body_chars_from_u0370(msg: Any) -> frozenset[str]:
    """The distinct characters of the body from U+0370 up (Greek, Cyrillic and
    every script after them), so that script checks need not walk the words of
    a body written in Latin letters only."""
    body = msg.body
    if body.isascii():
        return frozenset()
    try:  # a copy of the characters when every one is below U+0100, else it stops early
        body.encode("latin-1")
        return frozenset()
    except UnicodeEncodeError:
        pass
    # what is left once the runs below U+0370 are deleted: the same characters as joining
    # the runs from U+0370 up (findall), at a third of the cost (37 against 120 us a
    # corpus body that has any: no string per run)
    return frozenset(_UP_TO_LATIN_EXTENSIONS.sub("", body))
