"""Find URLs in text and bring them to one canonical form.

Canonical: scheme and host lowercased, IDNA (punycode) hosts kept in their
xn-- form with the Unicode form available through `url_host_unicode`, numeric
IPv4 hosts in dotted form whatever the spelling (decimal 3232235777, hex
0xC0A80101, octal 0300.0250.1.1), percent-escapes in the host decoded.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import unquote, urlsplit

# (?:(?:https?|ftp)://|www\d{0,3}\.)[^\s<>"'`\)\]\}]{2,2000} with re.I, written so that it
# starts with a set of first characters, which Python's re skips ahead to quickly (with
# re.I it tried the pattern at every position: 3-4x slower). The letters fold only to
# their ASCII pairs under re.I, except s, which also matches U+017F (long s).
_URL_IN_TEXT = re.compile(
    r"""[fFhHwW](?:(?<=[hH])[tT][tT][pP][sS\u017f]?://|(?<=[fF])[tT][pP]://"""
    r"""|(?<=[wW])[wW][wW]\d{0,3}\.)[^\s<>"'`\)\]\}]{2,2000}""")
_TRAILING = ".,;:!?'\")]}>"


# Every spelling of "www" the pattern's [wW][wW][wW] takes.
_WWW_SPELLINGS = tuple(a + b + c for a in "wW" for b in "wW" for c in "wW")
# Past this many places where a link can start, the regex is left to find them.
_MAX_STARTS = 4000


def _link_starts(text: str) -> list[int] | None:
    """Every position where _URL_IN_TEXT can match, in order: a link starts 3, 4 or
    5 characters before a "://" (ftp, http, https) or at a "www" in any case. Found
    with str.find, which skips ahead in C, where the regex stopped at every f, h
    and w of the text to try its branches. None when there are too many."""
    starts: set[int] = set()
    at = text.find("://")
    while at >= 0:
        starts.update((at - 5, at - 4, at - 3))
        if len(starts) > _MAX_STARTS:
            return None
        at = text.find("://", at + 1)
    # ASCII text lowercased keeps every position: one search for "www" finds all 8
    # spellings (84 % of the corpus texts with a link are ASCII)
    low, spellings = (text.lower(), ("www",)) if text.isascii() else (text, _WWW_SPELLINGS)
    for spelling in spellings:
        at = low.find(spelling)
        while at >= 0:
            starts.add(at)
            if len(starts) > _MAX_STARTS:
                return None
            at = low.find(spelling, at + 1)
    return sorted(p for p in starts if p >= 0)


def _links(text: str):
    """The matches of _URL_IN_TEXT in text, as finditer gives them."""
    starts = _link_starts(text)
    if starts is None:
        yield from _URL_IN_TEXT.finditer(text)
        return
    end = 0
    for start in starts:
        if start < end:  # inside the link found before: finditer goes on after it
            continue
        match = _URL_IN_TEXT.match(text, start)
        if match:
            end = match.end()
            yield match


def extract_urls(text: str) -> list[str]:
    if "://" not in text and "www" not in text and "WWW" not in text:
        return []  # most text has no link at all: skip the regex
    out = []
    for match in _links(text[: 1024 * 1024]):
        url = normalise_url(match.group(0).rstrip(_TRAILING))
        if url:
            out.append(url)
        if len(out) >= 2000:
            break
    return out


# A letter no decimal, octal or hex (0x...) part can hold: most host names have one.
_NOT_A_NUMBER = re.compile(r"[g-wyzG-WYZ]")


def _numeric_ipv4(host: str) -> str | None:
    """Browsers accept 1-4 dotted parts in decimal, hex or octal; so do phishers."""
    if _NOT_A_NUMBER.search(host):
        return None
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part, 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
    if min(values) < 0:  # int() reads "-1" and "+1": no address (IPv4Address(-1) raised)
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (5 - len(values)) + last
    if number >= 2 ** 32:
        return None
    return str(ipaddress.IPv4Address(number))


# The usual shape of a link, all printable ASCII: http, https or ftp, "://", a host of
# letters, digits, dots, hyphens, underscores and tildes, maybe ":port", then the path,
# query and fragment (no blank, no control character). For these urlsplit's result is
# plain to see: no user part, no brackets, no escapes in the host, nothing it removes.
_PLAIN_URL = re.compile(r"(?i:(https?|ftp))://([A-Za-z0-9._~-]*)(:[0-9]*)?([/?#][!-~]*)?", re.ASCII)


def completed_url(url: str) -> str:
    """A link text trimmed, with `www...` and `//...` given their scheme; "" for what is
    not a web link (an anchor, mailto:, tel:, cid:, javascript:, data:)."""
    url = url.strip().strip("\"'<>")
    if not url or url.startswith(("#", "mailto:", "tel:", "cid:", "javascript:", "data:")):
        return ""
    if url.lower().startswith("www"):
        url = "http://" + url
    if url.startswith("//"):
        url = "http:" + url
    return url


@lru_cache(maxsize=4096)
def normalise_url(url: str) -> str:
    url = completed_url(url)
    if not url:
        return ""
    plain = _PLAIN_URL.fullmatch(url) if url.isascii() else None
    if plain is not None:  # what the general way below gives these, without urlsplit
        scheme, host, port, rest = plain.groups()
        host = host.strip(".").lower()
        if not host:
            return ""
        host = _numeric_ipv4(host) or host
        rest = (rest or "").partition("#")[0]
        path, mark, query = rest.partition("?")
        rebuilt = f"{scheme.lower()}://{host}{port or ''}{path or '/'}"
        if query:
            rebuilt += "?" + query
        return rebuilt[:2048]
    return _normalise_general(url)


def _normalise_general(url: str) -> str:
    """normalise_url of a `completed_url`, through urlsplit: any URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https", "ftp"):
        return ""
    netloc = parts.netloc
    userinfo = ""
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        userinfo += "@"
    host, port = netloc, ""
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        host += "]"
        port = rest
    elif ":" in netloc:
        host, _, port = netloc.partition(":")
        port = ":" + port
    host = unquote(host).strip(".").lower()
    if not host:
        return ""
    numeric = _numeric_ipv4(host)
    if numeric:
        host = numeric
    elif not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    rebuilt = f"{parts.scheme.lower()}://{userinfo}{host}{port}{parts.path or '/'}"
    if parts.query:
        rebuilt += "?" + parts.query
    return rebuilt[:2048]


def url_host(url: str) -> str:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return ""
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.partition(":")[0].lower()


def url_host_unicode(host: str) -> str:
    if "xn--" not in host:
        return host
    try:
        return host.encode("ascii").decode("idna")
    except UnicodeError:
        return host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
