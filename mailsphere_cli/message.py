"""Parse a message once; every view of it is computed on first use and cached.

`email` with `policy.compat32` is used on purpose: on the shared corpus it
parses about four times faster than `policy.default` and never raises on the
broken headers that `policy.default` turns into exceptions at access time.
Decoding (RFC 2047 words, charsets, transfer encodings) is done here, leniently.
"""
from __future__ import annotations

import binascii
import codecs
import email.feedparser
import email.header
import email.utils
import importlib
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import Message
from email.parser import BytesParser, Parser
from functools import lru_cache

from mailsphere_cli.verdict import Hit


@dataclass(frozen=True, slots=True)
class Limits:
    max_size: int = 25 * 1024 * 1024
    max_depth: int = 20
    max_parts: int = 500
    max_headers: int = 1000
    max_header_length: int = 64 * 1024
    # Text handed to the regex rules; past this the rest is not matched.
    max_text: int = 512 * 1024


DEFAULT_LIMITS = Limits()

_PARSER = BytesParser(policy=policy.compat32)
_TEXT_PARSER = Parser(policy=policy.compat32)
_FROM_LINE = re.compile(rb"\A(?:>?From [^\n]*\n)+")
_WS = re.compile(r"\s+")
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/=]")
_B64_PADDING = re.compile(rb"=+")


@dataclass(slots=True)
class MimePart:
    path: str
    content_type: str
    filenames: tuple[str, ...]
    disposition: str
    charset: str
    cte: str
    payload: bytes
    raw_payload: bytes
    depth: int
    defects: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.payload)

    @property
    def is_text(self) -> bool:
        return self.content_type in ("text/plain", "text/html") and self.disposition != "attachment" \
            and not self.filenames

    def text(self) -> str:
        return decode_bytes(self.payload, self.charset)


def decode_bytes(data: bytes, charset: str) -> str:
    """Decode with the declared charset when it exists, else UTF-8, never raising."""
    name = (charset or "").strip().strip('"').lower()
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            name = ""
    if not name or name in ("us-ascii", "ascii"):
        name = "utf-8"
    try:
        return data.decode(name)
    except (UnicodeDecodeError, LookupError, ValueError):
        # Mislabelled text is usually Windows-1252 or UTF-8.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")


def _unescape(value: str) -> str:
    """Header text from compat32 carries raw 8-bit bytes as surrogates."""
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value
    return decode_bytes(raw, "utf-8")


def decode_header_value(value: str | email.header.Header | None) -> str:
    """RFC 2047 decode, tolerating broken words and unknown charsets."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    if not value.isascii():
        value = _unescape(value)
    if "=" not in value or "=?" not in value:  # "=" alone is a memchr: 5x faster on a Received value
        return " ".join(value.split())
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - a broken word must not stop the message
        return _WS.sub(" ", value).strip()
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset or "utf-8"))
        else:
            out.append(chunk)
    return _WS.sub(" ", "".join(out)).strip()


def _transfer_decode(raw: bytes, cte: str, defects: list[str], limit: int) -> bytes:
    if cte == "base64":
        chunk = raw[: limit * 4 // 3 + 8]
        if b"=" not in chunk.rstrip(b"= \t\r\n"):
            try:  # the C decoder skips line breaks and other non-alphabet bytes itself
                return binascii.a2b_base64(chunk)[:limit]
            except (binascii.Error, ValueError):
                pass
        # Padding inside the data (concatenated encodings, or a trick to make a scanner
        # stop early) or a broken length: decode every segment, as lenient clients do.
        out = bytearray()
        for segment in _B64_PADDING.split(_NOT_B64.sub(b"", chunk)):
            if len(segment) % 4 == 1:
                defects.append("bad base64 length")
                segment = segment[:-1]
            try:
                out += binascii.a2b_base64(segment + b"=" * (-len(segment) % 4))
            except (binascii.Error, ValueError):
                defects.append("bad base64")
            if len(out) >= limit:
                break
        return bytes(out[:limit])
    if cte == "quoted-printable":
        try:
            return quopri.decodestring(raw[: limit * 3])[:limit]
        except (ValueError, binascii.Error):
            defects.append("bad quoted-printable")
            return raw[:limit]
    if cte in ("x-uuencode", "uuencode", "x-uue"):
        return _uudecode(raw, defects)[:limit]
    return raw[:limit]


def _uudecode(raw: bytes, defects: list[str]) -> bytes:
    out = bytearray()
    for line in raw.splitlines():
        if line.startswith((b"begin ", b"end")) or not line.strip():
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            defects.append("bad uuencode line")
            break
    return bytes(out)


def _filenames(part: Message) -> tuple[str, ...]:
    # Most parts name no file at all: spare them the full parameter parse.
    if not any(k.lower() == "content-disposition" or "name" in str(v).lower()
               for k, v in part._headers if k.lower().startswith("content-")):
        return ()
    names: list[str] = []
    for getter in (lambda: part.get_filename(), lambda: part.get_param("name")):
        try:
            value = getter()
        except Exception:  # noqa: BLE001 - RFC 2231 damage
            continue
        if isinstance(value, tuple):  # undecodable RFC 2231 triple
            value = email.utils.collapse_rfc2231_value(value, errors="replace")
        if value:
            name = decode_header_value(str(value))
            if name and name not in names:
                names.append(name)
    return tuple(names)


# One header field as compat32 stores it: a name of printable ASCII without ":",
# the value from its first non-blank character through every continuation line
# (line breaks kept, the last one dropped). Possessive and atomic pieces: a field
# cannot end inside a CRLF or give back part of a line.
_NL = r"(?>\r\n|\r|\n)"
_NAME = r"[\041-\071\073-\176]+"
_VALUE = r"[^\r\n]*+(?:" + _NL + r"[ \t][^\r\n]*+)*+"
_HEADER_FIELD = re.compile(f"({_NAME}):[ \\t]*+({_VALUE}){_NL}")
_HEADER_BLOCK = re.compile(f"(?:{_NAME}:[ \\t]*+{_VALUE}{_NL})*{_NL}")


# The feed parser (Python 3.11 and 3.12) compiles one regex per multipart boundary:
# "--" + the boundary, then an optional "--", blanks and a line break. Boundaries are
# unique, so re's cache never helps and each multipart node costs ~0.5 ms of
# compiling (a quarter of all parse time on the corpus). Python 3.13 matches the
# literal separator and one precompiled tail instead; `_FeedParserRe` makes the
# older parser do the same, and hands every other pattern to `re` unchanged.
_BOUNDARY_TAIL_PATTERN = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_BOUNDARY_TAIL = re.compile(_BOUNDARY_TAIL_PATTERN[1:])
_ESCAPED_CHAR = re.compile(r"\\(.)", re.S)


class _BoundaryMatch:
    """`re.compile("(?P<sep>" + re.escape(separator) + tail).match`, without compiling."""

    __slots__ = ("separator",)

    def __init__(self, separator: str):
        self.separator = separator

    def match(self, line: str) -> re.Match | None:
        if line.startswith(self.separator):
            return _BOUNDARY_TAIL.match(line, len(self.separator))
        return None


class _FeedParserRe:
    """`re` as email.feedparser sees it: boundary patterns become `_BoundaryMatch`."""

    def __getattr__(self, name: str):
        return getattr(re, name)

    def compile(self, pattern, flags=0):
        if not flags and isinstance(pattern, str) and pattern.startswith("(?P<sep>") \
                and pattern.endswith(_BOUNDARY_TAIL_PATTERN):
            escaped = pattern[len("(?P<sep>"):-len(_BOUNDARY_TAIL_PATTERN)]
            separator = _ESCAPED_CHAR.sub(lambda m: m.group(1), escaped)
            if re.escape(separator) == escaped:
                return _BoundaryMatch(separator)
        return re.compile(pattern, flags)


if getattr(email.feedparser, "re", None) is re:
    email.feedparser.re = _FeedParserRe()


def parse_bytes(raw: bytes) -> Message:
    """`BytesParser(policy=compat32).parsebytes(raw)`: the same tree, built faster
    for the common single-part message (nearly nine in ten on the corpus).

    The feed parser handles a header block line by line in Python (about half of
    all parse time) and then reads a single-part body line by line only to join
    the lines again. Here a header block made only of well-formed fields and
    continuation lines, ended by an empty line, is read with one regex into the
    same (name, value) pairs, and the rest of the text becomes the payload as it
    is. Anything else (a stray line among the headers, a leading "From ", a
    multipart or message/* type, no empty line) goes to the feed parser.
    """
    text = raw.decode("ascii", "surrogateescape")
    found = _lf_header_fields(text)
    if found is None:
        block = _HEADER_BLOCK.match(text)
        if block is not None:
            found = _HEADER_FIELD.findall(text, 0, block.end()), block.end()
    if found is not None:
        msg = Message()
        msg._headers, body_at = found
        maintype = _maintype(msg)
        if maintype not in ("multipart", "message"):
            msg.set_payload(text[body_at:])
            return msg
        if maintype == "multipart" and "\r" not in text:
            try:
                if _lf_multipart(msg, text, body_at, len(text)):
                    return msg
            except Exception:  # noqa: BLE001 - whatever it is, the feed parser decides
                pass
    return _TEXT_PARSER.parsestr(text)


def _maintype(msg: Message) -> str:
    """msg.get_content_maintype() of a message whose default type is text/plain, from its
    first Content-Type value through the cache of _content_type_facts (Message.get
    lowercases every header name before that one, on every call)."""
    for name, value in msg._headers:
        if name[:1] in "Cc" and name.lower() == "content-type":
            if value.__class__ is str and len(value) <= 1000:
                return _content_type_facts(value)[0].split("/")[0]
            break
    else:
        return "text"
    return msg.get_content_maintype()


# Multipart mail whose lines all end in "\n" (a third of the parse time went to the
# feed parser's line-by-line reading of it). The feed parser reads a multipart body as
# lines: a preamble up to the first boundary line, then each part up to the next one
# (its header block, then its body), until a closing boundary; everything after that
# is the epilogue; the line break before a boundary line belongs to it. Here the
# boundary lines are found with str.find and each part is cut out whole. Only the
# shapes where the feed parser notes no defect are read here: a boundary, a first
# boundary line that opens a part, no two boundary lines in a row, a closing one,
# every part a header block ended by an empty line (or none at all), no message/*
# part anywhere. Anything else returns False and goes to the feed parser.
def _lf_multipart(msg: Message, text: str, body_at: int, end: int) -> bool:
    """Fill the multipart `msg` (headers set) from text[body_at:end] as the feed parser
    does, or return False."""
    boundary = msg.get_boundary()
    if not boundary or str(msg.get("content-transfer-encoding", "8bit")).lower() \
            not in ("7bit", "8bit", "binary"):
        return False
    lines = _boundary_lines(text, "--" + boundary, body_at, end)
    close = next((k for k, (_, _, closing) in enumerate(lines) if closing), 0)
    if not close:  # no boundary line, none that closes, or a closing one first
        return False
    first_at = lines[0][0]
    if first_at > body_at:
        msg.preamble = text[body_at:first_at - 1]  # without the line break before it
    child_type = "message/rfc822" if msg.get_content_type() == "multipart/digest" \
        else "text/plain"
    parts = []
    for k in range(close):
        part_at, part_end = lines[k][1], lines[k + 1][0]
        if part_at == part_end:
            return False  # two boundary lines in a row
        part = _lf_part(text, part_at, part_end, child_type)
        if part is None:
            return False
        if part.get_content_maintype() == "multipart":
            epilogue = part.epilogue
            part.epilogue = None if epilogue == "" else epilogue[:-1] \
                if epilogue.endswith("\n") else epilogue
        elif part._payload.endswith("\n"):
            part._payload = part._payload[:-1]
        parts.append(part)
    msg._payload = parts
    msg.epilogue = text[lines[close][1]:end]
    return True


def _boundary_lines(text: str, separator: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """(where the line starts, where the next one starts, closing?) for every line of
    text[start:end] that is a boundary line of `separator` (what the feed parser's
    boundary pattern matches: the separator, maybe "--", blanks, the line end)."""
    found = []
    needle = "\n" + separator
    at = start if text.startswith(separator, start, end) else text.find(needle, start, end)
    if at >= 0 and at != start:
        at += 1  # the line after that line break
    while at >= 0:
        line_end = text.find("\n", at, end)
        next_at = end if line_end < 0 else line_end + 1
        tail = _BOUNDARY_TAIL.match(text, at + len(separator), next_at)
        if tail is not None:
            found.append((at, next_at, tail.group("end") is not None))
        if line_end < 0:
            break
        at = text.find(needle, line_end, end)
        if at >= 0:
            at += 1
    return found


def _lf_part(text: str, start: int, end: int, default_type: str) -> Message | None:
    """One part of a multipart, text[start:end], as the feed parser builds it, or None."""
    part = Message()
    if default_type != "text/plain":
        part.set_default_type(default_type)
    if text.startswith("\n", start, end):  # no header block: the empty line is dropped
        part._headers, body_at = [], start + 1
    else:
        found = _lf_header_fields(text, start, end)
        if found is None:
            return None
        part._headers, body_at = found
    maintype = part.get_content_maintype()
    if maintype == "message":
        return None
    if maintype == "multipart":
        return part if _lf_multipart(part, text, body_at, end) else None
    part._payload = text[body_at:end]
    return part


# Every line of a header block whose lines end in "\n" alone, from the start of a line:
# a field, its name (_NAME) and its value from its first non-blank character through
# every continuation line; or any other line, as ("", "") (no field has an empty name).
_LF_FIELD = re.compile(r"^(?:(" + _NAME + r"):[ \t]*+([^\n]*+(?:\n[ \t][^\n]*+)*+)|[^\n]*+)",
                       re.M)
_NOT_A_FIELD = ("", "")


def _lf_header_fields(text: str, start: int = 0,
                      stop: int | None = None) -> tuple[list[tuple[str, str]], int] | None:
    """What `_HEADER_BLOCK` and `_HEADER_FIELD` read, for a header block whose lines end
    in "\n" alone (every corpus message): (the fields, where the body starts), or None
    when the block has a "\r", a line that is neither a field nor a continuation, or no
    empty line after it.

    The block ends at the first empty line, the first "\n\n". A field takes its
    continuation lines along, so every line the pattern finds on its own must be a
    field. Simple character classes cost a third of the two passes of the general
    patterns, which try every line-break form at every character."""
    end = text.find("\n\n", start, len(text) if stop is None else stop)
    if end <= start:
        return None
    head = text[start:end]
    if "\r" in head:
        return None
    fields = _LF_FIELD.findall(head)
    if _NOT_A_FIELD in fields:
        return None
    return fields, end + 2


def _content_facts(node: Message) -> tuple[str, str]:
    """(content type, charset) as the email package reads them, never raising."""
    try:
        ctype = node.get_content_type()
    except Exception:  # noqa: BLE001
        ctype = "text/plain"
    try:
        charset = node.get_content_charset() or ""
    except Exception:  # noqa: BLE001
        charset = ""
    return ctype, charset


@lru_cache(maxsize=1024)
def _content_type_facts(value: str) -> tuple[str, str]:
    """`_content_facts` of a part whose first Content-Type field is `value`: both
    depend on that value alone, and mail repeats a few values part after part
    (reading the parameters was a third of building the parts)."""
    probe = Message()
    probe._headers = [("Content-Type", value)]
    return _content_facts(probe)


@lru_cache(maxsize=None)
def imported(name: str):
    """The module `name`, imported on its first use, for code on a per-message path that
    must not import it at load time (html imports this module; a scan that needs neither
    HTML nor links never loads them; the classifier's tokens and the URL checks use it
    too). An import statement in a function costs ~3 us every time it runs, module
    loaded or not; this lookup ~0.2 us."""
    return importlib.import_module(name)


_UNSET = object()  # no value kept yet (None is a value: the header is absent)

# Header names as asked for ("Subject") -> as indexed ("subject"). The checks ask for a
# few dozen names, each many times a message: a new lowercased string each time had to
# be made and then hashed for the index (its hash is not kept on a new string).
_NAMES: dict[str, str] = {}


def _lower_name(name: str) -> str:
    key = name.lower()
    if len(_NAMES) < 4096 and name.__class__ is str:
        _NAMES[name] = key
    return key


class cached_property:  # noqa: N801 - used like functools.cached_property
    """functools.cached_property without its lock (Python 3.11 takes an RLock on every
    first access; 3.12 dropped it): a message is only ever read by one thread."""

    def __init__(self, func):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class ParsedMessage:
    """One message, parsed once. Limits produce `limit_hits` instead of exceptions."""

    def __init__(self, raw: bytes, limits: Limits = DEFAULT_LIMITS):
        self.size = len(raw)
        self.limits = limits
        self.limit_hits: list[Hit] = []
        self.defects: list[str] = []
        match = _FROM_LINE.match(raw)
        if match:
            raw = raw[match.end():]
        if len(raw) > limits.max_size:
            self.limit_hits.append(Hit("MSG_TOO_LARGE", f"{self.size} bytes, scanned the first "
                                                        f"{limits.max_size}"))
            raw = raw[: limits.max_size]
        self.raw = raw
        try:
            self._msg = parse_bytes(raw)
        except RecursionError:
            self.limit_hits.append(Hit("MIME_TOO_DEEP", "MIME nesting too deep to parse"))
            head = raw.split(b"\n\n", 1)[0]
            self._msg = _PARSER.parsebytes(head + b"\n\n", headersonly=True)
        self.defects.extend(type(d).__name__ for d in getattr(self._msg, "defects", []))
        items = self._msg._headers  # compat32 keeps (name, value) pairs in order
        if len(items) > limits.max_headers:
            self.limit_hits.append(Hit("HEADERS_TOO_MANY", f"{len(items)} header fields, "
                                                           f"kept {limits.max_headers}"))
            items = items[: limits.max_headers]
        headers: list[tuple[str, str]] = []
        index: dict[str, list[str]] = {}
        too_long = False
        max_length = limits.max_header_length
        for name, value in items:
            if value.__class__ is not str:
                value = str(value)
            if len(value) > max_length:
                too_long = True
                value = value[:max_length]
            if "\n" in value or "\r" in value:  # folded: most values are not
                value = value.replace("\r", "").replace("\n", "")
            if name.__class__ is not str:
                name = str(name)
            headers.append((name, value))
            key = _NAMES.get(name) or _lower_name(name)
            values = index.get(key)
            if values is None:
                index[key] = [value]
            else:
                values.append(value)
        if too_long:
            self.limit_hits.append(Hit("HEADER_TOO_LONG", f"a header field is over "
                                                          f"{limits.max_header_length} bytes"))
        self.raw_headers = headers
        self._index = index
        self._decoded: dict[str, str | None] = {}
        self._decoded_values: dict[str, list[str]] = {}

    # -- headers ---------------------------------------------------------
    def header(self, name: str) -> str | None:
        """The first value of a header, decoded (once per message and name: the
        stages and checks ask for Date, From, Subject, Message-ID many times)."""
        key = _NAMES.get(name) or _lower_name(name)
        value = self._decoded.get(key, _UNSET)  # not try/except: a first read would raise
        if value is _UNSET:
            values = self._index.get(key)
            value = self._decoded[key] = decode_header_value(values[0]) if values else None
        return value

    def decoded_values(self, name: str) -> list[str]:
        """Every value of a header, decoded, once per message and name (the message's own
        list: read only). The relay chain and the pattern pass's header views both read
        them (a corpus message has about seven Received values; decoding them was 18 us);
        the first value is the one `header` gives."""
        key = _NAMES.get(name) or _lower_name(name)
        found = self._decoded_values.get(key)
        if found is None:
            values = self._index.get(key, ())
            if not values:
                found = []
            else:
                first = self._decoded.get(key)
                if first is None:
                    first = self._decoded[key] = decode_header_value(values[0])
                found = [first]
                # decode_header_value's own first step inline for the plain values
                found += [" ".join(v.split()) if v.isascii() and ("=" not in v or "=?" not in v)
                          else decode_header_value(v) for v in values[1:]]
            self._decoded_values[key] = found
        return found

    def headers(self, name: str) -> list[str]:
        values = self._index.get(_NAMES.get(name) or _lower_name(name), ())
        return [decode_header_value(v) for v in values]

    def raw_header(self, name: str) -> str | None:
        values = self._index.get(_NAMES.get(name) or _lower_name(name))
        return values[0] if values else None

    def raw_header_values(self, name: str) -> tuple[str, ...] | list[str]:
        """Every raw value of a header, in order (the message's own list: read only)."""
        return self._index.get(_NAMES.get(name) or _lower_name(name), ())

    def has_header(self, name: str) -> bool:
        return (_NAMES.get(name) or _lower_name(name)) in self._index

    def header_names(self):
        """The lowercased names of the message's headers (a set-like view: read only)."""
        return self._index.keys()

    @cached_property
    def subject(self) -> str:
        return self.header("Subject") or ""

    @cached_property
    def _from(self) -> tuple[str, str]:
        return _first_address(self.header("From") or "")

    @property
    def from_name(self) -> str:
        return self._from[0]

    @property
    def from_addr(self) -> str:
        return self._from[1]

    @cached_property
    def from_domain(self) -> str:
        return domain_of(self.from_addr)

    @cached_property
    def reply_to(self) -> str:
        return _first_address(self.header("Reply-To") or "")[1]

    @cached_property
    def return_path(self) -> str:
        return _first_address(self.header("Return-Path") or "")[1]

    @cached_property
    def to_addrs(self) -> list[str]:
        # A regex, not getaddresses(): recipient lists can be long and only the
        # addr-specs matter here (getaddresses was a tenth of the scan time).
        found: dict[str, None] = {}
        for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
            for value in self._index.get(_NAMES.get(name) or _lower_name(name), ()):
                for addr in _addr_specs(value):
                    found.setdefault(addr, None)
                    if len(found) >= 500:
                        return list(found)
        return list(found)

    @cached_property
    def message_id(self) -> str:
        return (self.header("Message-ID") or "").strip()

    @cached_property
    def date(self) -> datetime | None:
        value = self.header("Date")
        if not value:
            return None
        try:
            return _common_date(value) or email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None

    # -- MIME ------------------------------------------------------------
    @cached_property
    def parts(self) -> list[MimePart]:
        limits = self.limits
        leaves: list[MimePart] = []
        stack: list[tuple[Message, str, int]] = [(self._msg, "1", 0)]
        seen = 0
        while stack:
            node, path, depth = stack.pop()
            seen += 1
            if seen > limits.max_parts:
                self.limit_hits.append(Hit("MIME_TOO_MANY_PARTS",
                                           f"more than {limits.max_parts} MIME parts"))
                break
            if depth > limits.max_depth:
                self.limit_hits.append(Hit("MIME_TOO_DEEP", f"MIME depth over {limits.max_depth} "
                                                            f"at part {path}"))
                continue
            # what is_multipart() and get_payload() read (get_payload() also fetches the
            # part's transfer encoding and checks a text payload for 8-bit bytes, which
            # only a leaf needs, and _leaf does that itself)
            payload = node._payload
            if isinstance(payload, list):
                children = [(child, f"{path}.{i}", depth + 1)
                            for i, child in enumerate(payload, 1) if isinstance(child, Message)]
                stack.extend(reversed(children))
                continue
            leaves.append(self._leaf(node, path, depth))
        return leaves

    def _leaf(self, node: Message, path: str, depth: int) -> MimePart:
        defects = [type(d).__name__ for d in getattr(node, "defects", [])]
        # The Content-* fields in one pass over the part's headers. An ASCII str value is
        # what node.get() returns for it (compat32 wraps only values with 8-bit bytes);
        # anything else is asked of the email package as before.
        declared = cte_value = disposition_value = None
        named = False  # a field that may name a file (what _filenames looks for first)
        for key, value in node._headers:
            if key[:1] not in "Cc":  # not a Content-* field: most are not
                continue
            key = key.lower()
            if not key.startswith("content-"):
                continue
            if key == "content-type":
                if declared is None:
                    declared = value
            elif key == "content-transfer-encoding":
                if cte_value is None:
                    cte_value = value
            elif key == "content-disposition":
                named = True
                if disposition_value is None:
                    disposition_value = value
            if not named and "name" in str(value).lower():
                named = True
        if declared.__class__ is str and len(declared) <= 1000:
            ctype, charset = _content_type_facts(declared)
        else:
            ctype, charset = _content_facts(node)
        if cte_value is None:
            cte = ""
        elif cte_value.__class__ is str and cte_value.isascii():
            cte = cte_value.strip().lower()
        else:
            cte = str(node.get("Content-Transfer-Encoding", "") or "").strip().lower()
        raw = node._payload
        if raw.__class__ is str and raw.isascii():  # what get_payload() returns for it
            raw_bytes = raw.encode("ascii")
        else:
            raw = node.get_payload()
            if not isinstance(raw, str):
                raw = ""
            try:
                raw_bytes = raw.encode("ascii", "surrogateescape")
            except UnicodeEncodeError:  # 8-bit text the parser already decoded with replacement
                raw_bytes = raw.encode("utf-8", "surrogateescape")
        payload = _transfer_decode(raw_bytes, cte, defects, self.limits.max_size)
        if disposition_value is None:
            disposition = ""
        elif disposition_value.__class__ is str and disposition_value.isascii():
            disposition = disposition_value.partition(";")[0].strip().lower()
        else:
            disposition = node.get_content_disposition() or ""
        return MimePart(path=path, content_type=ctype,
                        filenames=_filenames(node) if named else (),
                        disposition=disposition, charset=charset, cte=cte, payload=payload,
                        raw_payload=raw_bytes, depth=depth, defects=defects)

    @cached_property
    def attachments(self) -> list[MimePart]:
        return [p for p in self.parts if not p.is_text]

    @cached_property
    def text_parts(self) -> list[MimePart]:
        return [p for p in self.parts if p.is_text and p.content_type == "text/plain"]

    @cached_property
    def html_parts(self) -> list[MimePart]:
        return [p for p in self.parts if p.is_text and p.content_type == "text/html"]

    @cached_property
    def text(self) -> str:
        return "\n".join(p.text() for p in self.text_parts)[: self.limits.max_text]

    @cached_property
    def html(self) -> str:
        return "\n".join(p.text() for p in self.html_parts)[: self.limits.max_text]

    @cached_property
    def html_doc(self):
        return imported("mailsphere_cli.html").HtmlDocument(self.html)

    @cached_property
    def html_text(self) -> str:
        return self.html_doc.text if self.html else ""

    @cached_property
    def body(self) -> str:
        """What a reader sees: the subject, plain text and rendered HTML."""
        pieces = [self.subject, self.text]
        if self.html:
            pieces.append(self.html_text)
        return "\n".join(pieces)[: self.limits.max_text]

    @cached_property
    def urls(self) -> list[str]:
        extract_urls = imported("mailsphere_cli.urls").extract_urls
        found = extract_urls(self.text)
        if self.html:
            found.extend(self.html_doc.urls)
            found.extend(extract_urls(self.html_text))
        seen: dict[str, None] = {}
        for url in found:
            seen.setdefault(url, None)
        return list(seen)[:2000]

    @cached_property
    def raw_text(self) -> str:
        """The whole message as text, for `full` rules (bounded)."""
        return self.raw[: self.limits.max_text].decode("latin-1")

    @cached_property
    def header_block(self) -> str:
        return "\n".join(f"{n}: {decode_header_value(v)}" for n, v in self.raw_headers)


# The Date shape nearly every client writes ("Mon, 5 Jan 2026 10:15:00 +0100", maybe
# with a comment after the zone), read directly: the same datetime, naive for
# -0000, as email.utils.parsedate_to_datetime (tests/test_message_date.py
# compares them); any other text goes to that function.
_COMMON_DATE = re.compile(r"(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Za-z]{3}) ([12]\d{3}) "
                          r"(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})(?: [^\n]*)?")
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def _common_date(value: str) -> datetime | None:
    """The Date header's datetime when it has the common shape, else None (raises
    what datetime() raises for an impossible day, hour or zone)."""
    match = _COMMON_DATE.fullmatch(value)
    if match is None:
        return None
    day, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    return datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                    tzinfo=_date_zone(sign, zone_h, zone_m))


@lru_cache(maxsize=256)
def _date_zone(sign: str, zone_h: str, zone_m: str) -> timezone | None:
    """The fixed-offset zone of "+hhmm" / "-hhmm" (one object per zone text, not two new
    ones per message); None for "-0000", a UTC time whose zone is unknown (a naive
    datetime). Raises ValueError for an offset of a day or more, as timezone() does."""
    offset = int(zone_h) * 3600 + int(zone_m) * 60
    if offset == 0 and sign == "-":
        return None
    return timezone(timedelta(seconds=-offset if sign == "-" else offset))


_ANGLE = re.compile(r"<([^<>\s]*@[^<>\s]*)>")
_ADDR_SPEC = re.compile(r"[^\s<>,;:\"()\[\]@]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


@lru_cache(maxsize=4096)
def _addr_specs(value: str) -> tuple[str, ...]:
    """The addr-specs of one raw recipient header value, lowercased, as to_addrs
    keeps them; remembered per value (the same To and Delivered-To lines recur)."""
    return tuple(addr.lower().strip(".") for addr in _ADDR_SPEC.findall(decode_header_value(value)))


# The plainest shapes of an address header: "local@domain", "<local@domain>", "Words
# <local@domain>" and '"Words" <local@domain>' (words of letters and digits, one space
# apart; dot-separated atoms either side of the @). email.utils.getaddresses gives
# ("", addr) and ("Words", addr) for them; it costs ~25 us a value, this match ~1 us
# (tests compare the two on generated values and hand-written ones).
_PLAIN_ADDR = r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_WORDS = r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*"
_PLAIN = re.compile(rf'(?:"({_WORDS})" <({_PLAIN_ADDR})>|({_WORDS}) <({_PLAIN_ADDR})>'
                    rf'|(<)?({_PLAIN_ADDR})(?(5)>))')


@lru_cache(maxsize=4096)
def addresses(value: str) -> tuple[tuple[str, str], ...]:
    """(display name, lowercased address) pairs of one decoded header value.
    Cached: the same senders write the same From headers again and again, the
    rules read them several times, and parsing them is the costly part."""
    plain = _PLAIN.fullmatch(value)
    if plain:
        quoted, quoted_addr, name, addr, _, bare = plain.groups()
        if quoted_addr:
            return ((quoted, quoted_addr.lower()),)
        return ((name, addr.lower()),) if addr else (("", bare.lower()),)
    return _addresses_general(value)


def _addresses_general(value: str) -> tuple[tuple[str, str], ...]:
    """`addresses` for any shape: email.utils.getaddresses, and an <addr> found in what
    it could not read."""
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:  # noqa: BLE001
        pairs = []
    out = []
    for name, addr in pairs:
        addr = addr.strip().strip("<>").lower()
        out.append((name.strip(), addr if "@" in addr else ""))
    if not any(a for _, a in out):
        match = _ANGLE.search(value)
        if match:
            out.append(("", match.group(1).lower()))
    return tuple(out)


def _first_address(value: str) -> tuple[str, str]:
    pairs = addresses(value)
    for name, addr in pairs:
        if addr:
            return name, addr
    return (pairs[0][0] if pairs else value.strip()), ""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip(".>").lower() if "@" in address else ""
