"""Replay the SMTP connections a message went through from its Received trail.

Each Received header becomes a `Relay` once; every relay check reads those.
The parser is format-tolerant rather than format-specific: it splits a header
into its RFC 5321 clauses (from, by, via, with, id, for, and the date after the
last ';'), then reads the `from` clause the ways MTAs write it:

  Postfix/Sendmail/Courier/Gmail  from HELO (RDNS [IP])
  Exim                            from RDNS ([IP]:port helo=HELO)
  qmail                           from RDNS (HELO helo) (IP)
  Exchange / Office 365           from HELO (IP)
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Iterable

MAX_RECEIVED = 60          # more hops than this is a loop or an attack
MAX_HEADER_CHARS = 4_000   # a Received header longer than this is cut before parsing

_BRACKET_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)(?:%[\w.]+)?\]")
_BARE_IP = re.compile(r"(?:^|[\s(@])((?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?)(?=$|[\s):\]])")
_EXIM_HELO = re.compile(r"\bhelo=([^\s()\]]+)", re.I)
_QMAIL_HELO = re.compile(r"\(HELO\s+([^\s()]*)\)", re.I)
_ENVELOPE_FROM = re.compile(r"\(envelope-(?:from|sender)\s+<?([^\s<>()]*)>?\)", re.I)
_AUTH_MARKERS = re.compile(
    r"\(Authenticated sender:|\bauthenticated bits=|\(AUTH:\s|\bauth=pass\b|\(authenticated as\b"
    r"|\bauthenticated user\b|\bwith (?:ESMTPSA|ESMTPA|LMTPSA|LMTPA|UTF8SMTPSA|UTF8SMTPA|ESMTPSRA)\b",
    re.I)
_TLS_MARKERS = re.compile(
    r"\(using TLS|\bversion=TLS|\bTLS1[._]\d|\bTLSv1|\btls\s+TLS_|Google Transport Security|\bcipher=|\(TLS:\s",
    re.I)
_TLS_PROTOCOLS = {"ESMTPS", "ESMTPSA", "UTF8SMTPS", "UTF8SMTPSA", "LMTPS", "LMTPSA", "SMTPS", "ESMTPSRA"}
_AUTH_PROTOCOLS = {"ESMTPA", "ESMTPSA", "LMTPA", "LMTPSA", "UTF8SMTPA", "UTF8SMTPSA", "ESMTPSRA"}
_UNKNOWN_RDNS = {"unknown", "may be forged", ""}


@dataclass(slots=True)
class Relay:
    """One hop: the machine at `ip` (calling itself `helo`) handed the message to `by`.

    `rdns` is the reverse DNS name the receiving MTA recorded: "" when it
    recorded none ("unknown"), None when the header format does not record it.
    """

    raw: str
    ip: str = ""
    rdns: str | None = None
    helo: str = ""
    by: str = ""
    envelope_from: str = ""
    envelope_for: str = ""
    protocol: str = ""
    tls: bool = False
    authenticated: bool = False
    timestamp: datetime | None = None
    id: str = ""
    parse_ok: bool = True

    def as_dict(self) -> dict[str, object]:
        return {"ip": self.ip, "rdns": self.rdns, "helo": self.helo, "by": self.by,
                "envelope_from": self.envelope_from, "envelope_for": self.envelope_for,
                "protocol": self.protocol, "tls": self.tls, "authenticated": self.authenticated,
                "timestamp": self.timestamp.isoformat() if self.timestamp else None,
                "parse_ok": self.parse_ok}


_CLAUSE_TOKENS = re.compile(r"[()]|(?<!\S)(?:from|by|via|with|id|for)(?=[\s<\[(]|$)", re.I)
# The same tokens in text already lowercased (ASCII only, so positions do not move):
# a case-sensitive scan is several times cheaper than re.I alternations. A whole
# comment without nested parentheses is one token: it leaves the depth as it was
# and no keyword inside it counts, so skipping it in one step changes nothing.
_CLAUSE_TOKENS_LOWER = re.compile(
    r"\([^()]*\)|[()]|(?<!\S)(?:from|by|via|with|id|for)(?=[\s<\[(]|$)")


def _split_clauses(text: str, lowered: str | None = None) -> dict[str, str]:
    """Keywords at parenthesis depth 0 start clauses; comments stay with their clause.

    `lowered` is `text.lower()` when `text` is ASCII (same length, same positions)."""
    if lowered is not None:
        return _split_clauses_ascii(text, lowered)
    clauses: dict[str, str] = {}
    current, start, depth = "", 0, 0
    tokens = _CLAUSE_TOKENS.finditer(text)
    for token in tokens:
        word = token.group(0)
        if len(word) > 1 and word[0] == "(":
            continue  # a complete comment
        if word == "(":
            depth += 1
        elif word == ")":
            if depth:
                depth -= 1
        elif depth == 0:
            if current and current not in clauses:
                clauses[current] = text[start:token.start()].strip()
            current, start = word.lower(), token.end()
    if current and current not in clauses:
        clauses[current] = text[start:].strip()
    return clauses


_KEYWORDS = frozenset(("from", "by", "via", "with", "id", "for"))
_KEYWORD_STARTS = frozenset(word[:2] for word in _KEYWORDS)


def _split_clauses_ascii(text: str, lowered: str) -> dict[str, str]:
    """`_split_clauses` for whitespace-normalised ASCII text, word by word.

    Separated by single spaces, a keyword can only start a word; it is one when
    the word is the keyword or goes on with "<", "[" or "(" (the pattern's
    lookahead). The depth counts parentheses in order, never below zero."""
    clauses: dict[str, str] = {}
    current, start, depth, position = "", 0, 0, 0
    for word in lowered.split(" "):
        if depth == 0 and word[:2] in _KEYWORD_STARTS:
            keyword = word if word in _KEYWORDS else next(
                (k for k in _KEYWORDS if word.startswith(k) and word[len(k)] in "<[("), "")
            if keyword:
                if current and current not in clauses:
                    clauses[current] = text[start:position].strip()
                current, start = keyword, position + len(keyword)
        if "(" in word or ")" in word:
            for char in word:
                if char == "(":
                    depth += 1
                elif char == ")" and depth:
                    depth -= 1
        position += len(word) + 1
    if current and current not in clauses:
        clauses[current] = text[start:].strip()
    return clauses


def _clean_ip(candidate: str) -> str:
    # Remembered: the same addresses (loopback, a site's own relays) recur header
    # after header, and ipaddress parsing is the costly part. Only short strings
    # are kept, so hostile headers cannot fill memory.
    if len(candidate) <= 64:
        return _clean_ip_cached(candidate)
    return _read_ip(candidate)


@lru_cache(maxsize=4096)
def _clean_ip_cached(candidate: str) -> str:
    return _read_ip(candidate)


_DOTTED_QUAD = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")


def _read_ip(candidate: str) -> str:
    candidate = candidate.strip()
    # A dotted quad without leading zeros is its own normal form (ipaddress refuses
    # leading zeros): only its octets' range is left to check.
    if _DOTTED_QUAD.fullmatch(candidate):
        return candidate if max(map(int, candidate.split("."))) <= 255 else ""
    return _read_ip_general(candidate)


def _read_ip_general(candidate: str) -> str:
    """Any address text (stripped) in its normal form, through ipaddress; "" if none."""
    if candidate.lower().startswith("ipv6:"):
        candidate = candidate[5:]
    try:
        addr = ipaddress.ip_address(candidate)
    except ValueError:
        return ""
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _first_word(clause: str) -> str:
    words = clause.split(None, 1)
    return words[0].strip(";,") if words else ""


_COMMENTS = re.compile(r"\([^)]*\)")
# The shape nearly every MTA writes ("Tue, 5 Mar 2024 10:00:00 +0000"): read
# directly; anything else goes to the standard library's tolerant parser.
_COMMON_DATE = re.compile(
    r"(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Za-z]{3}) ([12]\d{3}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_MONTHS.update({name.title(): number for name, number in _MONTHS.items()})  # as written


@lru_cache(maxsize=64)
def _zone(sign: str, hours: str, minutes: str) -> timezone | None:
    offset = int(hours) * 3600 + int(minutes) * 60
    if offset == 0 and sign == "-":
        return None  # "-0000": local time of unknown zone, read as UTC below
    return timezone(timedelta(seconds=offset if sign == "+" else -offset))


def _parse_common_date(tail: str) -> datetime | None:
    match = _COMMON_DATE.fullmatch(tail)
    month = _MONTHS.get(match.group(2).lower()) if match else None
    if month is None:
        return None
    day, _, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    try:
        zone = _zone(sign, zone_h, zone_m)
        return datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                        tzinfo=zone or timezone.utc)
    except ValueError:
        return None


# A whole tail in that shape, as parse_received cuts it (the blank after ";" and a
# comment after the zone, "(UTC)", included): read in one match. Whatever it reads
# is what removing the comment, stripping and _COMMON_DATE give.
_DATE_TAIL = re.compile(r" ?" + _COMMON_DATE.pattern + r"(?: \([^()]*\))?")


def _parse_date(tail: str) -> datetime | None:
    match = _DATE_TAIL.fullmatch(tail)
    if match is not None:
        day, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        month = _MONTHS.get(month_name) or _MONTHS.get(month_name.lower())
        if month is not None:
            try:
                return datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                                tzinfo=_zone(sign, zone_h, zone_m) or timezone.utc)
            except ValueError:
                pass  # the general reading below decides
    if "(" in tail:
        tail = _COMMENTS.sub(" ", tail)
    tail = tail.strip()
    if not tail:
        return None
    stamp = _parse_common_date(tail)
    if stamp is not None:
        return stamp
    try:
        stamp = parsedate_to_datetime(tail)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp


_PAREN_CONTENTS = re.compile(r"\(([^()]*)\)")
_FIRST_PAREN = re.compile(r"\s*\(\s*([^()]*)\)")
_FOR_ANGLE = re.compile(r"<([^<>\s]*)>")
_FOR_BARE = re.compile(r"\s*([^\s;()<>]+@[^\s;()<>]+)")


def _read_from_clause(clause: str, relay: Relay, ascii_text: bool = False) -> None:
    """The connecting IP, recorded rDNS and HELO of the `from` clause, onto `relay`.

    `ascii_text`: the clause is ASCII, so a case-insensitive pattern can only
    match where its literal text appears in `clause.lower()` (a cheap pre-check).
    Remembered per clause text: unlike the whole header (ids, dates), the `from`
    clause repeats; on the corpus four in five were seen before. Only clauses
    of ordinary length are kept, so hostile headers cannot fill memory."""
    if len(clause) <= 512:
        relay.ip, relay.rdns, relay.helo = _from_clause_facts(clause, ascii_text)
    else:
        relay.ip, relay.rdns, relay.helo = _read_from_facts(clause, ascii_text)


@lru_cache(maxsize=4096)
def _from_clause_facts(clause: str, ascii_text: bool) -> tuple[str, str | None, str]:
    return _read_from_facts(clause, ascii_text)


def _read_from_facts(clause: str, ascii_text: bool) -> tuple[str, str | None, str]:
    name = _first_word(clause)
    rest = clause[len(name):] if clause.startswith(name) else clause
    lowered = rest.lower() if ascii_text else None

    # The connecting address: a [literal] anywhere in the clause is what the
    # receiving MTA saw; failing that qmail's "(user@IP)" or Exchange's "(IP)".
    ip = ""
    if "[" in rest:
        for match in _BRACKET_IP.finditer(rest):
            ip = _clean_ip(match.group(1))
            if ip:
                break
    if not ip and "(" in rest:
        for paren in _PAREN_CONTENTS.findall(rest):
            candidate = paren.strip().rsplit("@", 1)[-1]
            ip = _clean_ip(candidate)
            if ip:
                break
    if not ip and name.startswith("["):
        literal = _BRACKET_IP.fullmatch(name)
        ip = _clean_ip(literal.group(1)) if literal else ""

    exim_helo = _EXIM_HELO.search(rest) if lowered is None or "helo=" in lowered else None
    qmail_helo = _QMAIL_HELO.search(rest) if lowered is None or "(helo" in lowered else None
    first_paren = _FIRST_PAREN.match(rest)
    if exim_helo or (first_paren and first_paren.group(1).startswith("[")):
        # Exim: the name is what rDNS gave ("[IP]" when none), helo in the comment.
        recorded_rdns = "" if name.startswith("[") else name.lower()
        helo = exim_helo.group(1) if exim_helo else name
    elif qmail_helo:
        recorded_rdns = "" if name.lower() == "unknown" else name.lower()
        helo = qmail_helo.group(1)
    elif first_paren and "[" in first_paren.group(1) and _BRACKET_IP.search(first_paren.group(1)):
        # Postfix, Sendmail, Courier, Gmail: "(rdns [ip])", sometimes "ident@rdns".
        inner = first_paren.group(1)
        rdns = inner[:inner.find("[")].strip().rsplit("@", 1)[-1].rstrip(".").lower()
        recorded_rdns = "" if rdns in _UNKNOWN_RDNS else rdns
        helo = name
    elif _BRACKET_IP.match(rest.strip()):
        # Sendmail without a HELO comment: "from rdns [ip]".
        recorded_rdns = "" if name.lower() in _UNKNOWN_RDNS else name.lower()
        helo = ""
    else:
        # Exchange "from HELO (IP)" and anything else: no rDNS recorded.
        recorded_rdns = None
        helo = name
    return ip, recorded_rdns, helo.strip().rstrip(";")


# Literal text that each case-insensitive marker pattern cannot match without
# (checked in the lowercased header first; most headers contain none of it).
_TLS_HINTS = ("tls", "google transport security", "cipher=")
_AUTH_HINTS = ("auth", "tpa", "tpsa", "tpsra")


def parse_received(value: str) -> Relay:
    """One Received header value (unfolded) -> a Relay. Never raises."""
    return _relay_of_text(" ".join(str(value)[:MAX_HEADER_CHARS].split()))


def _relay_of_text(text: str) -> Relay:
    """`parse_received` of a value already cut and whitespace-normalised."""
    relay = _from_template(text)
    return relay if relay is not None else _parse_text(text)


# The headers one MTA writes for one path differ in the queue id and the date alone
# (the corpus has 17591 Received headers, 14072 distinct without their date, 4244
# without their id). An ASCII header is read once per shape: its text before the last
# ";" with the word after the first " id " replaced by a placeholder (no such word: the
# text as it is), parsed in full as a header of its own; the Relay of every header of
# that shape is that template's, with its own id word and date. The id word is held
# to letters, digits and "._-", is no clause keyword and holds none of the words a TLS
# or authentication marker starts with (nor can it hold the "(" or "=" the others
# need), so it cannot open or close a clause or a comment, or make or break a marker
# match; the template is kept only when the placeholder came out as its id (that
# " id " opened the id clause). The date after the ";" must hold no marker text and
# start with a blank, so no marker reaches into it. Bounded, like the other caches.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9._-]+")
_MARKER_TEXT = re.compile(r"tls|auth|with|google|tpa|tpsa|tpsra|cipher|envelope|helo")
_PLACEHOLDER = "\x01"
_TEMPLATES: dict[str, Relay | None] = {}
_MAX_TEMPLATES = 4096
_MAX_TEMPLATE_CHARS = 1024


def _from_template(text: str) -> Relay | None:
    """The Relay of `text` from the remembered template of its shape, or None when the
    header does not qualify or its shape has no template."""
    if len(text) > _MAX_TEMPLATE_CHARS or not text.isascii() or _PLACEHOLDER in text:
        return None
    lowered = text.lower()
    semicolon_at = text.rfind(";")
    if semicolon_at >= 0:
        body_end, tail = semicolon_at, text[semicolon_at + 1:]
        if tail and (tail[0] != " " or _MARKER_TEXT.search(lowered, semicolon_at)):
            return None
    else:
        body_end, tail = len(text), ""
    word = None
    start = lowered.find(" id ", 0, body_end) + 4
    if start >= 4:
        end = text.find(" ", start, body_end)
        if end < 0:
            end = body_end
        if _PLAIN_WORD.fullmatch(text, start, end) is not None \
                and not _MARKER_TEXT.search(lowered, start, end) \
                and lowered[start:end] not in _KEYWORDS:
            word = text[start:end]
    key = text[:start] + _PLACEHOLDER + text[end:body_end] if word else text[:body_end]
    try:
        template = _TEMPLATES[key]
    except KeyError:
        template = _parse_text(key + ";")
        if word and template.id != _PLACEHOLDER:
            template = None  # that "id" opened no id clause: this shape is parsed in full
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    if template is None:
        return None
    return Relay(text, template.ip, template.rdns, template.helo, template.by,
                 template.envelope_from, template.envelope_for, template.protocol,
                 template.tls, template.authenticated, _parse_date(tail),
                 word if word else template.id, template.parse_ok)


def _parse_text(text: str) -> Relay:
    """`parse_received` of text already cut and whitespace-normalised."""
    relay = Relay(raw=text)
    # ASCII text lowercases without moving any character, and re.I then means
    # exactly "matches the lowercased text": the cheap paths below rely on that.
    lowered = text.lower() if text.isascii() else None
    semicolon_at = text.rfind(";")
    if semicolon_at >= 0:
        body, tail = text[:semicolon_at], text[semicolon_at + 1:]
        lowered_body = lowered[:semicolon_at] if lowered is not None else None
    else:
        body, tail, lowered_body = text, "", lowered
    relay.timestamp = _parse_date(tail)
    clauses = _split_clauses(body, lowered_body)
    if not clauses:
        relay.parse_ok = _is_local_note(text)
        return relay
    if "from" in clauses:
        _read_from_clause(clauses["from"], relay, lowered is not None)
    if "by" in clauses:
        relay.by = _first_word(clauses["by"]).lower().rstrip(".")
    if "with" in clauses:
        relay.protocol = _first_word(clauses["with"]).upper()
    if "id" in clauses:
        relay.id = _first_word(clauses["id"])
    if "for" in clauses:
        target = clauses["for"]
        addr = _FOR_ANGLE.search(target) or _FOR_BARE.match(target)
        relay.envelope_for = addr.group(1).lower() if addr else ""
    if lowered is None or "envelope-" in lowered:
        envelope = _ENVELOPE_FROM.search(text)
        if envelope:
            relay.envelope_from = envelope.group(1).lower()
    relay.tls = relay.protocol in _TLS_PROTOCOLS or (
        (lowered is None or any(hint in lowered for hint in _TLS_HINTS))
        and bool(_TLS_MARKERS.search(text)))
    relay.authenticated = relay.protocol in _AUTH_PROTOCOLS or (
        (lowered is None or any(hint in lowered for hint in _AUTH_HINTS))
        and bool(_AUTH_MARKERS.search(text)))
    # A header we could not place at all: no from/by, or a from without an address
    # while it does name a host (qmail's "invoked from network" has neither).
    relay.parse_ok = bool(relay.by or relay.ip) and ("from" not in clauses or bool(relay.ip or relay.helo))
    return relay


def _is_local_note(text: str) -> bool:
    """qmail's "(qmail 123 invoked from network)" and kin: a comment and a date, no hop."""
    return text.startswith("(") and "from" not in _split_clauses(text.rpartition(";")[0] or text)


def relay_chain(msg: object) -> list[Relay]:
    """Every Received header of the message, top (newest) first."""
    values = _received_values(msg)[:MAX_RECEIVED]
    decoded = getattr(msg, "decoded_values", None)
    if not values or not callable(decoded) or not callable(getattr(msg, "raw_header_values", None)):
        return [parse_received(v) for v in values]
    # A ParsedMessage: its decoded values (which the pattern pass reads too) are these
    # texts already where decoding only collapses blanks (ASCII, no encoded word).
    return [_relay_of_text(text) if len(value) <= MAX_HEADER_CHARS and value.isascii()
            and ("=" not in value or "=?" not in value) else parse_received(value)
            for value, text in zip(values, decoded("Received"))]


def _received_values(msg: object) -> list[str] | tuple[str, ...]:
    values = getattr(msg, "raw_header_values", None)
    if callable(values):  # a ParsedMessage: its index has them in order
        return values("Received")
    raw_headers = getattr(msg, "raw_headers", None)
    if raw_headers is not None:
        return [v for k, v in raw_headers if k.lower() == "received"]
    headers = getattr(msg, "headers", None)
    if callable(headers):
        return list(headers("Received"))
    return []


# -- where the message entered our side ----------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    networks: list[Network] = []
    for cidr in cidrs or ():
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            continue
    return networks


def in_networks(ip: str, networks: list[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == net.version and addr in net for net in networks)


_PRIVATE_NETS = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10")]


def is_private(ip: str) -> bool:
    """Loopback, RFC 1918, CGNAT, link-local and unique-local: never on the open internet."""
    return _is_private_cached(ip) if len(ip) <= 64 else _is_private(ip)


@lru_cache(maxsize=4096)
def _is_private_cached(ip: str) -> bool:
    return _is_private(ip)


def _is_private(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == net.version and addr in net for net in _PRIVATE_NETS)


def is_illegal(ip: str) -> bool:
    """Addresses no SMTP client can connect from: unspecified, multicast, reserved."""
    return _is_illegal_cached(ip) if len(ip) <= 64 else _is_illegal(ip)


@lru_cache(maxsize=4096)
def _is_illegal_cached(ip: str) -> bool:
    return _is_illegal(ip)


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def _is_illegal(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.version == 4 and addr in _THIS_NETWORK:
        return True
    return addr.is_unspecified or addr.is_multicast or addr.is_reserved


def find_handover(relays: list[Relay], trusted: Iterable[str] = (), internal: Iterable[str] = ()) -> int | None:
    """The index of the hop where an outside machine handed the message to our side.

    Walking down from the top header (written by our last MTA), hops from
    our own networks are internal; the first hop whose client is outside them
    is the handover. An authenticated client is a submission to our side and
    is the handover too. With no networks configured, private and loopback
    addresses are ours (as SpamAssassin infers). None: the message never
    came from outside (or the trail names no address at all).
    """
    ours = parse_networks(internal) + parse_networks(trusted)
    infer = not ours
    for index, relay in enumerate(relays):
        if not relay.ip:
            continue  # local pickup, LMTP, or unparsable: no client to judge
        addr_is_ours = is_private(relay.ip) if infer else (
            in_networks(relay.ip, ours) or ipaddress.ip_address(relay.ip).is_loopback)
        # An authenticated client is a submission, wherever it connects from.
        if relay.authenticated or not addr_is_ours:
            return index
    return None


def format_chain(relays: list[Relay], handover: int | None) -> list[str]:
    """One line per hop for the terminal explanation, the handover marked."""
    lines = []
    for index, relay in enumerate(relays):
        mark = "=>" if index == handover else "  "
        who = relay.ip or "?"
        name = relay.rdns if relay.rdns else ("no rDNS" if relay.rdns == "" else "rDNS not recorded")
        flags = ",".join(f for f, on in (("TLS", relay.tls), ("AUTH", relay.authenticated)) if on)
        lines.append(f"{mark} [{index}] {who} ({name}) helo={relay.helo or '-'} by={relay.by or '-'}"
                     f" {relay.protocol}{' ' + flags if flags else ''}"
                     f"{'' if relay.parse_ok else ' UNPARSED'}")
    return lines
