"""Eval checks for signs of legitimate mail. Their rules score negative: a
mailing list that says who it is, a reply in a thread, a signed message. Each
sign is cheap for a real correspondent and awkward for a spammer to fake well;
none is proof, so scores stay modest and decision rows refuse the credit when
the mail also carries hard evidence of abuse."""
from __future__ import annotations

import re
from typing import Any

from mailsphere_cli.rules.checks import check
from mailsphere_cli.rules.checks.features import own_domains

_LIST_ID = re.compile(r"<?[A-Za-z0-9][\w.-]*\.[\w.-]+>?\s*$")
_BRACKETED = re.compile(r"<([^<>\s]+)>")
_MESSAGE_REF = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_REPLY_SUBJECT = re.compile(r"\s*(?:re|aw|sv|antw|vs|odp|r)\s*(?:\[\d+\])?\s*:", re.I)
_ATTRIBUTION = re.compile(r"(?im)^(?:on .{5,200}wrote:|.{3,120} wrote:|"
                          r"-----original message-----|quoting )")
_REF_HOST = re.compile(r"<[^<>\s@]+@([^<>\s]+)>")
# each line boundary of str.splitlines followed by ">" (the last three are not ASCII)
_BREAKS_QUOTED = tuple(f"{sep}>" for sep in "\n\r\x0b\x0c\x1c\x1d\x1e")
_BREAKS_QUOTED_UNICODE = _BREAKS_QUOTED + tuple(f"{sep}>" for sep in "\x85\u2028\u2029")
# the boundaries other than "\n": seldom in a text at all, so each is looked for first
# (one character: a memchr) and its pairs with ">" counted only where it occurs
_OTHER_BREAKS = tuple("\r\x0b\x0c\x1c\x1d\x1e")
_OTHER_BREAKS_UNICODE = _OTHER_BREAKS + tuple("\x85\u2028\u2029")
# _ATTRIBUTION for ASCII text lowercased (re.I's answer there, and faster), and the
# words one of its branches must contain
_ATTRIBUTION_LOWER = re.compile(r"(?m)^(?:on .{5,200}wrote:|.{3,120} wrote:|"
                                r"-----original message-----|quoting )")
_ATTRIBUTION_WORDS = ("wrote:", "-----original message-----", "quoting ")


def _references(msg: Any) -> str:
    """In-Reply-To and References together ("" when the message has neither)."""
    if not msg.has_header("In-Reply-To") and not msg.has_header("References"):
        return ""
    return (msg.header("In-Reply-To") or "") + " " + (msg.header("References") or "")


def _names_a_message(msg: Any) -> bool:
    """_MESSAGE_REF finds a message reference in _references(msg). No match holds a
    blank, so the two headers are searched one after the other, and a plain ASCII value
    (no encoded word) as it stands: decoding it would only collapse its blanks."""
    for name in ("In-Reply-To", "References"):
        raw = msg.raw_header(name)
        if raw is None:
            continue
        text = raw if raw.isascii() and "=?" not in raw else msg.header(name) or ""
        if _MESSAGE_REF.search(text):
            return True
    return False


@check("list_headers", key="list")
def list_headers(msg: Any, ctx: Any) -> str:
    """A well-formed List-Id plus a way to reach the list (List-Post or List-Help)."""
    if not msg.has_header("List-Id"):
        return ""
    list_id = msg.header("List-Id") or ""
    bracket = _BRACKETED.search(list_id)
    value = bracket.group(1) if bracket else list_id.strip()
    if not value or not _LIST_ID.match(value) or "@" in value:
        return ""
    if msg.has_header("List-Post") or msg.has_header("List-Help") or msg.has_header("List-Archive"):
        return f"List-Id {value}"
    return ""


@check("thread_reply")
def thread_reply(msg: Any, ctx: Any) -> str:
    """A reply that names the message it answers (In-Reply-To or References) and
    quotes or keeps its subject."""
    if not _names_a_message(msg):
        return ""
    if _REPLY_SUBJECT.match(msg.subject):
        return f"reply: {msg.subject[:60]}"
    return ""


@check("quoted_reply_text")
def quoted_reply_text(msg: Any, ctx: Any, minimum: int = 3) -> str:
    """Plain text quoting an earlier message line by line ("> ...")."""
    text = msg.text[:30000]
    if minimum > 0 and ">" not in text:
        return ""  # no line can start with ">"
    # lines starting with ">": the first line, and every ">" right after a line break
    # (str.splitlines' boundaries; "\r\n" is one, and its "\r" is followed by "\n")
    ascii_text = text.isascii()
    quoted = text.startswith(">") + text.count("\n>")
    for sep in _OTHER_BREAKS if ascii_text else _OTHER_BREAKS_UNICODE:
        if sep in text:
            quoted += text.count(sep + ">")
    if quoted >= minimum and _attribution(text, ascii_text):
        return f"{quoted} quoted lines with an attribution"
    return ""


def _attribution(text: str, ascii_text: bool) -> bool:
    """_ATTRIBUTION.search(text) found something. ASCII text is lowercased once: with
    none of the words a branch needs it cannot match (the search, which tries a
    120-character stretch at every line start, is skipped), else the pattern without
    re.I reads it (re.I lets some non-ASCII letters match ASCII ones: the K sign "k",
    the long s "s", the dotless i "i", so other text keeps the pattern as written)."""
    if not ascii_text:
        return _ATTRIBUTION.search(text) is not None
    lowered = text.lower()
    for word in _ATTRIBUTION_WORDS:
        if word in lowered:
            return _ATTRIBUTION_LOWER.search(lowered) is not None
    return False


@check("thread_started_by_us")
def thread_started_by_us(msg: Any, ctx: Any) -> str:
    """A reply whose References name a message written on one of the organisation's
    own domains: someone answering mail our users sent."""
    domains = own_domains(ctx)
    if not domains:
        return ""
    refs = _references(msg)[:5000]
    for found in _REF_HOST.findall(refs):
        host = found.lower()
        if any(host == d or host.endswith("." + d) for d in domains):
            return f"answers a message from {host}"
    return ""


@check("pgp_signed")
def pgp_signed(msg: Any, ctx: Any) -> str:
    for part in msg.parts:
        if part.content_type in ("application/pgp-signature", "application/pkcs7-signature",
                                 "application/x-pkcs7-signature"):
            return f"signed ({part.content_type})"
    if msg.text.find("-----BEGIN PGP SIGNED MESSAGE-----", 0, 5000) >= 0:  # in text[:5000], no copy
        return "inline PGP signature"
    return ""


@check("mua_known")
def mua_known(msg: Any, ctx: Any) -> str:
    """A mail client that people (not bulk tools) write with, named in the headers
    and consistent with a Message-ID of the shape that client makes."""
    agent = (msg.header("User-Agent") or msg.header("X-Mailer") or "")[:200]
    mid = msg.message_id
    if not agent:
        return ""
    for agent_re, mid_re in _MUAS:
        if agent_re.search(agent) and mid_re.search(mid):
            return f"{agent[:60]} with Message-ID {mid[:60]}"
    return ""


_MUAS = tuple((re.compile(a), re.compile(m)) for a, m in (
        (r"^Mutt/", r"^<\d{14}\.[A-Z]{2}\d+@"), (r"Gnus/", r"^<[a-z0-9]+\.fsf@"),
        (r"^Pine|^Alpine", r"^<(?:Pine|alpine)\."), (r"Evolution", r"^<\d+\.\d+\.camel@"),
        (r"Thunderbird|Mozilla", r"^<[0-9A-F]{8}\.\d|^<[0-9a-f-]{36}@|^<\w+\.\d+@"),
        (r"^Microsoft Outlook|^Microsoft Office Outlook", r"^<(?:\d{3}|[0-9A-F]{12})\w+@"),
        (r"^Apple Mail", r"^<[0-9A-F-]{36}@"), (r"KMail", r"^<\d{9}"),
))
