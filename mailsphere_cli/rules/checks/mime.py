"""Eval checks on the MIME structure: which parts there are, how they are
declared and encoded, and whether the text and HTML versions agree."""
from __future__ import annotations

import re
from typing import Any

from mailsphere_cli.rules.checks import batch, check, count_upto, per_message

_WORD = re.compile(r"[^\W\d_]{4,}")


@per_message
def _content_type(msg: Any) -> str:
    return (msg.raw_header("Content-Type") or "").lower()


@check("mime_shape")
def mime_shape(msg: Any, ctx: Any, kind: str) -> str:
    return _mime_kind(msg, msg.parts, msg.text_parts, msg.html_parts, _content_type(msg), kind)


@batch("mime_shape")
def mime_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    shared = (msg.parts, msg.text_parts, msg.html_parts, _content_type(msg))
    return [_mime_kind(msg, *shared, **args) for args in args_list]


def _mime_kind(msg: Any, parts: list[Any], texts: list[Any], htmls: list[Any], top: str,
               kind: str) -> str:
    if kind == "html_only":
        return "HTML body with no plain-text part" if htmls and not texts else ""
    if kind == "alternative_single":
        if "multipart/alternative" in top and len(parts) == 1:
            return "multipart/alternative with a single part"
        return ""
    if kind == "multipart_no_boundary":
        return f"Content-Type: {top[:80]}" if top.startswith("multipart/") and \
            "boundary" not in top else ""
    if kind == "multipart_no_mime_version":
        return "multipart without MIME-Version" if top.startswith("multipart/") and \
            not msg.has_header("MIME-Version") else ""
    if kind == "no_text":
        if not texts and not htmls and parts:
            return f"no readable text part among {len(parts)} parts"
        return ""
    if kind == "image_only":
        images = [p for p in parts if p.content_type.startswith("image/")]
        if not images:
            return ""
        words = count_upto(_WORD, msg.text[:5000] + " " + msg.html_text[:5000], 20)
        return f"{len(images)} images and {words} words" if words < 20 else ""
    if kind == "empty_body":
        if not parts or any(not p.is_text for p in parts):
            return ""
        return "empty message body" if _blank(msg.text) and _blank(msg.html) else ""
    if kind == "text_base64":
        for part in texts + htmls:
            if part.cte == "base64":
                return f"part {part.path} ({part.content_type}) is base64-encoded text"
        return ""
    if kind == "html_no_charset":
        for part in htmls:
            if not part.charset and not part.payload[:20000].isascii():
                return f"8-bit HTML in part {part.path} without a charset"
        return ""
    if kind == "eight_bit_undeclared":
        for part in texts + htmls:
            if part.charset in ("", "us-ascii") and part.cte in ("", "7bit") and \
                    not part.payload[:20000].isascii():
                return f"8-bit bytes in part {part.path} declared {part.charset or 'no charset'}"
        return ""
    if kind == "unknown_charset":
        import codecs
        for part in texts + htmls:
            if part.charset:
                try:
                    codecs.lookup(part.charset.strip('"'))
                except LookupError:
                    return f"part {part.path}: unknown charset {part.charset}"
        return ""
    if kind == "unknown_cte":
        for part in parts:
            if part.cte and part.cte not in ("7bit", "8bit", "binary", "base64",
                                             "quoted-printable", "x-uuencode", "uuencode"):
                return f"part {part.path}: Content-Transfer-Encoding {part.cte}"
        return ""
    if kind == "qp_needless":
        for part in texts:
            if part.cte == "quoted-printable" and part.raw_payload and \
                    part.raw_payload.count(b"=") * 4 > len(part.raw_payload):
                return f"part {part.path} quoted-printable-encodes most of its bytes"
        return ""
    if kind == "octet_stream_text":
        for part in parts:
            if part.content_type == "application/octet-stream" and not part.filenames:
                return f"nameless octet-stream part {part.path}"
        return ""
    if kind == "decode_defect":
        for part in parts:
            for defect in part.defects:
                if defect.startswith("bad "):
                    return f"part {part.path}: {defect}"
        return ""
    raise ValueError(f"unknown mime_shape kind {kind!r}")


def _blank(text: str) -> bool:
    """not text.strip(), without copying the text."""
    return not text or text.isspace()


@check("mime_part_count")
def mime_part_count(msg: Any, ctx: Any, minimum: int) -> str:
    count = len(msg.parts)
    return f"{count} MIME parts" if count >= minimum else ""


@check("mime_alternatives_disagree")
def mime_alternatives_disagree(msg: Any, ctx: Any, overlap: float = 0.2) -> str:
    """The text and HTML versions of one message share too few words.

    Spam puts innocent text in the plain part (for filters) and the pitch in
    the HTML part (for people), or the other way round.
    """
    if not msg.text_parts or not msg.html_parts:
        return ""
    text_words = {w.lower() for w in _WORD.findall(msg.text[:20000])}
    html_words = {w.lower() for w in _WORD.findall(msg.html_text[:20000])}
    if len(text_words) < 10 or len(html_words) < 10:
        if (len(text_words) < 3) != (len(html_words) < 3):
            return f"one version is empty ({len(text_words)} vs {len(html_words)} words)"
        return ""
    shared = len(text_words & html_words) / min(len(text_words), len(html_words))
    return f"text and HTML share {shared:.0%} of their words" if shared < overlap else ""


@check("mime_charset")
def mime_charset(msg: Any, ctx: Any, charsets: list[str]) -> str:
    """A text part or the Subject uses one of these charsets."""
    wanted = {c.lower() for c in charsets}
    for part in msg.text_parts + msg.html_parts:
        if part.charset.strip('"').lower() in wanted:
            return f"part {part.path} charset {part.charset}"
    subject = (msg.raw_header("Subject") or "").lower()
    for charset in wanted:
        if f"=?{charset}?" in subject:
            return f"Subject encoded in {charset}"
    return ""


@check("mime_html_text_ratio", requires="html")
def mime_html_text_ratio(msg: Any, ctx: Any, ratio: float) -> str:
    """HTML source much larger than the text it shows (markup padding, hidden junk)."""
    if not msg.html or len(msg.html) < 2000:
        return ""
    shown = len(msg.html_text)
    return f"{len(msg.html)} bytes of HTML show {shown} characters" if shown * ratio < len(msg.html) \
        else ""


@check("mime_text_short_with_link", requires="urls")
def mime_text_short_with_link(msg: Any, ctx: Any, words: int) -> str:
    """Little more than a link: the whole visible text is under `words` words."""
    if not msg.urls:
        return ""
    text = msg.text if msg.text and not msg.text.isspace() else msg.html_text  # = .strip(), no copy
    count = count_upto(_WORD, text[:2000], words)
    return f"{count} words and {len(msg.urls)} links" if count < words else ""
