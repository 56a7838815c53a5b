"""Eval checks on the MIME structure: which parts there are, how they are
declared and encoded, and whether the text and HTML versions agree."""
from __future__ import annotations

import codecs
import re
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Callable

from mailsphere_cli.rules.checks import (batch, check, count_upto, for_text, kinds_of, per_message,
                                         runs_of)

_WORD = runs_of(r"[^\W\d_]", r"[\W\d_]", 4)  # [^\W\d_]{4,}: words of four letters or more
_WORD_ASCII = runs_of("[A-Za-z]", "[^A-Za-z]", 4)  # _WORD on ASCII text
# ASCII letters to lowercase, every other ASCII character to a space
_LETTERS_LOWER = str.maketrans({i: chr(i).lower() if chr(i).isalpha() else " " for i in range(128)})


def _lower_words(text: str) -> set[str]:
    """{w.lower() for w in _WORD.findall(text)}. ASCII text goes through one translate()
    (letters lowercased, everything else a space) and split(): its pieces are the runs
    of letters, lowercased, those of four or more the words (about half the time of
    the regex and a lower() a word on a 20,000-character text)."""
    if not text.isascii():
        if any(_is_letter(ch) for ch in set(text) if ch > "\x7f"):
            return {w.lower() for w in _WORD.findall(text)}
        # Only ASCII letters (the non-ASCII characters are spaces, dashes, quotes, signs:
        # \xa0, \u2014, \xa9... on the corpus): each other character a "?", which ends a
        # word as it did
        text = text.encode("ascii", "replace").decode("ascii")
    return {w for w in set(text.translate(_LETTERS_LOWER).split()) if len(w) >= 4}


@lru_cache(maxsize=4096)
def _is_letter(ch: str) -> bool:
    """Whether the character is one _WORD counts as a letter ([^\\W\\d_])."""
    return _LETTER.match(ch) is not None


_LETTER = re.compile(r"[^\W\d_]")


@per_message
def _content_type(msg: Any) -> str:
    return (msg.raw_header("Content-Type") or "").lower()


@dataclass(frozen=True, slots=True)
class _Mime:
    """What the mime_shape kinds look at, gathered once per message."""

    msg: Any
    parts: list[Any]
    texts: list[Any]
    htmls: list[Any]
    top: str  # the top-level Content-Type, lowercased


@check("mime_shape")
def mime_shape(msg: Any, ctx: Any, kind: str) -> str:
    return _mime_kind(_mime(msg), kind)


@batch("mime_shape")
def mime_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    kinds = kinds_of(args_list)
    if kinds is None or not _known_kinds(kinds):
        facts = _mime(msg)  # an unknown kind raises: redone rule by rule
        return [_mime_kind(facts, **args) for args in args_list]
    fired = _fired_kinds(msg)
    if not fired:
        return [""] * len(kinds)  # the usual answer
    return [fired.get(kind, "") for kind in kinds]


_kinds_known: list[Any] = [None, 0, False]  # the last kinds list asked about, its length, the answer


def _known_kinds(kinds: list[str]) -> bool:
    """Every kind is one of _KINDS (remembered for the last list of kinds: kinds_of
    hands the same list for every message of the same plan)."""
    seen = _kinds_known
    if seen[0] is not kinds or seen[1] != len(kinds):
        seen[:] = [kinds, len(kinds), all(kind in _KINDS for kind in kinds)]
    return seen[2]


def _every_kind(msg: Any) -> dict[str, str]:
    """What each mime_shape kind answers (the _KINDS table, tested against it)."""
    found = dict.fromkeys(_KINDS, "")
    found.update(_fired_kinds(msg))
    return found


def _fired_kinds(msg: Any) -> dict[str, str]:
    """The mime_shape kinds that fire, with their evidence, from one walk over the parts:
    the kinds of the _KINDS table computed together, with the per-part tests skipped
    for a part whose plain fields rule them all out."""
    parts, texts, htmls, top = msg.parts, msg.text_parts, msg.html_parts, _content_type(msg)
    found: dict[str, str] = {}
    if htmls and not texts:
        found["html_only"] = "HTML body with no plain-text part"
    if top.startswith("multipart/"):
        if len(parts) == 1 and "multipart/alternative" in top:
            found["alternative_single"] = "multipart/alternative with a single part"
        if "boundary" not in top:
            found["multipart_no_boundary"] = f"Content-Type: {top[:80]}"
        if not msg.has_header("MIME-Version"):
            found["multipart_no_mime_version"] = "multipart without MIME-Version"
    elif len(parts) == 1 and "multipart/alternative" in top:  # a parameter may say it
        found["alternative_single"] = "multipart/alternative with a single part"
    if not parts:
        return found
    if not texts and not htmls:
        found["no_text"] = f"no readable text part among {len(parts)} parts"
    images = 0
    every_text = True
    for part in parts:
        content_type = part.content_type
        if content_type.startswith("image/"):
            images += 1
        if every_text and not part.is_text:
            every_text = False
        cte = part.cte
        if cte and cte not in _KNOWN_CTE and "unknown_cte" not in found:
            found["unknown_cte"] = f"part {part.path}: Content-Transfer-Encoding {cte}"
        if content_type == "application/octet-stream" and not part.filenames \
                and "octet_stream_text" not in found:
            found["octet_stream_text"] = f"nameless octet-stream part {part.path}"
        if part.defects and "decode_defect" not in found:
            for defect in part.defects:
                if defect.startswith("bad "):
                    found["decode_defect"] = f"part {part.path}: {defect}"
                    break
    if images:
        image_only = _image_only(_Mime(msg, parts, texts, htmls, top))
        if image_only:
            found["image_only"] = image_only
    if every_text and _blank(msg.text) and _blank(msg.html):
        found["empty_body"] = "empty message body"
    readable = texts + htmls if htmls else texts
    for part in readable:
        if part.cte == "base64":
            found["text_base64"] = f"part {part.path} ({part.content_type}) is base64-encoded text"
            break
    for part in htmls:
        if not part.charset and not part.payload[:20000].isascii():
            found["html_no_charset"] = f"8-bit HTML in part {part.path} without a charset"
            break
    for part in readable:
        if part.charset in ("", "us-ascii") and part.cte in ("", "7bit") and \
                not part.payload[:20000].isascii():
            found["eight_bit_undeclared"] = f"8-bit bytes in part {part.path} declared " \
                                            f"{part.charset or 'no charset'}"
            break
    for part in readable:
        if part.charset:
            try:
                codecs.lookup(part.charset.strip('"'))
            except LookupError:
                found["unknown_charset"] = f"part {part.path}: unknown charset {part.charset}"
                break
    for part in texts:
        if part.cte == "quoted-printable" and part.raw_payload and \
                part.raw_payload.count(b"=") * 4 > len(part.raw_payload):
            found["qp_needless"] = f"part {part.path} quoted-printable-encodes most of its bytes"
            break
    return found


def _mime(msg: Any) -> _Mime:
    return _Mime(msg, msg.parts, msg.text_parts, msg.html_parts, _content_type(msg))


def _mime_kind(m: _Mime, kind: str) -> str:
    judge = _KINDS.get(kind)
    if judge is None:
        raise ValueError(f"unknown mime_shape kind {kind!r}")
    return judge(m)


def _html_only(m: _Mime) -> str:
    return "HTML body with no plain-text part" if m.htmls and not m.texts else ""


def _alternative_single(m: _Mime) -> str:
    if "multipart/alternative" in m.top and len(m.parts) == 1:
        return "multipart/alternative with a single part"
    return ""


def _multipart_no_boundary(m: _Mime) -> str:
    top = m.top
    return f"Content-Type: {top[:80]}" if top.startswith("multipart/") and "boundary" not in top else ""


def _multipart_no_mime_version(m: _Mime) -> str:
    return "multipart without MIME-Version" if m.top.startswith("multipart/") and \
        not m.msg.has_header("MIME-Version") else ""


def _no_text(m: _Mime) -> str:
    if not m.texts and not m.htmls and m.parts:
        return f"no readable text part among {len(m.parts)} parts"
    return ""


def _image_only(m: _Mime) -> str:
    images = [p for p in m.parts if p.content_type.startswith("image/")]
    if not images:
        return ""
    text = m.msg.text[:5000] + " " + m.msg.html_text[:5000]
    words = count_upto(for_text(_WORD, _WORD_ASCII, text), text, 20)
    return f"{len(images)} images and {words} words" if words < 20 else ""


def _empty_body(m: _Mime) -> str:
    if not m.parts or any(not p.is_text for p in m.parts):
        return ""
    return "empty message body" if _blank(m.msg.text) and _blank(m.msg.html) else ""


def _text_base64(m: _Mime) -> str:
    for part in m.texts + m.htmls:
        if part.cte == "base64":
            return f"part {part.path} ({part.content_type}) is base64-encoded text"
    return ""


def _html_no_charset(m: _Mime) -> str:
    for part in m.htmls:
        if not part.charset and not part.payload[:20000].isascii():
            return f"8-bit HTML in part {part.path} without a charset"
    return ""


def _eight_bit_undeclared(m: _Mime) -> str:
    for part in m.texts + m.htmls:
        if part.charset in ("", "us-ascii") and part.cte in ("", "7bit") and \
                not part.payload[:20000].isascii():
            return f"8-bit bytes in part {part.path} declared {part.charset or 'no charset'}"
    return ""


def _unknown_charset(m: _Mime) -> str:
    for part in m.texts + m.htmls:
        if part.charset:
            try:
                codecs.lookup(part.charset.strip('"'))
            except LookupError:
                return f"part {part.path}: unknown charset {part.charset}"
    return ""


_KNOWN_CTE = ("7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode")


def _unknown_cte(m: _Mime) -> str:
    for part in m.parts:
        if part.cte and part.cte not in _KNOWN_CTE:
            return f"part {part.path}: Content-Transfer-Encoding {part.cte}"
    return ""


def _qp_needless(m: _Mime) -> str:
    for part in m.texts:
        if part.cte == "quoted-printable" and part.raw_payload and \
                part.raw_payload.count(b"=") * 4 > len(part.raw_payload):
            return f"part {part.path} quoted-printable-encodes most of its bytes"
    return ""


def _octet_stream_text(m: _Mime) -> str:
    for part in m.parts:
        if part.content_type == "application/octet-stream" and not part.filenames:
            return f"nameless octet-stream part {part.path}"
    return ""


def _decode_defect(m: _Mime) -> str:
    for part in m.parts:
        for defect in part.defects:
            if defect.startswith("bad "):
                return f"part {part.path}: {defect}"
    return ""


_KINDS: dict[str, Callable[[_Mime], str]] = {
    "html_only": _html_only, "alternative_single": _alternative_single,
    "multipart_no_boundary": _multipart_no_boundary,
    "multipart_no_mime_version": _multipart_no_mime_version, "no_text": _no_text,
    "image_only": _image_only, "empty_body": _empty_body, "text_base64": _text_base64,
    "html_no_charset": _html_no_charset, "eight_bit_undeclared": _eight_bit_undeclared,
    "unknown_charset": _unknown_charset, "unknown_cte": _unknown_cte, "qp_needless": _qp_needless,
    "octet_stream_text": _octet_stream_text, "decode_defect": _decode_defect,
}


def _blank(text: str) -> bool:
    """not text.strip(), without copying the text."""
    return not text or text.isspace()


@check("mime_part_count")
def mime_part_count(msg: Any, ctx: Any, minimum: int) -> str:
    count = len(msg.parts)
    return f"{count} MIME parts" if count >= minimum else ""


@batch("mime_part_count")
def mime_part_count_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    count = len(msg.parts)
    out = []
    for args in args_list:
        if len(args) != 1:  # not `minimum` alone: the plain form reports it, rule by rule
            raise TypeError("mime_part_count takes one argument, minimum")
        out.append(f"{count} MIME parts" if count >= args["minimum"] else "")
    return out


@check("mime_alternatives_disagree")
def mime_alternatives_disagree(msg: Any, ctx: Any, overlap: float = 0.2) -> str:
    """The text and HTML versions of one message share too few words.

    Spam puts innocent text in the plain part (for filters) and the pitch in
    the HTML part (for people), or the other way round.
    """
    if not msg.text_parts or not msg.html_parts:
        return ""
    text, html = msg.text[:20000], msg.html_text[:20000]
    text_words, html_words = _lower_words(text), _lower_words(html)
    if len(text_words) < 10 or len(html_words) < 10:
        if (len(text_words) < 3) != (len(html_words) < 3):
            return f"one version is empty ({len(text_words)} vs {len(html_words)} words)"
        return ""
    shared = len(text_words & html_words) / min(len(text_words), len(html_words))
    return f"text and HTML share {shared:.0%} of their words" if shared < overlap else ""


@check("mime_charset")
def mime_charset(msg: Any, ctx: Any, charsets: list[str]) -> str:
    """A text part or the Subject uses one of these charsets."""
    return _charset_used(_charsets(msg), charsets)


@batch("mime_charset")
def mime_charset_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    if "=?" not in (msg.raw_header("Subject") or ""):
        # only a part's charset can fire: none of them is any rule's, the usual answer
        wanted = _every_charset(args_list)
        if all(part.charset.strip('"').lower() not in wanted
               for part in msg.text_parts + msg.html_parts):
            return [""] * len(args_list)
    seen = _charsets(msg)
    return [_charset_used(seen, **args) for args in args_list]


_charsets_seen: list[Any] = [None, 0, frozenset()]  # the last argument list, its length, its charsets


def _every_charset(args_list: list[dict]) -> frozenset[str]:
    """Every rule's charsets, lowercased (remembered for the engine's argument list, held
    here so its id stays its own; a rule without charsets raises, and the engine then
    runs the rules one by one, which reports it)."""
    seen = _charsets_seen
    if seen[0] is not args_list or seen[1] != len(args_list):
        seen[:] = [args_list, len(args_list),
                   frozenset(c.lower() for args in args_list for c in args["charsets"])]
    return seen[2]


def _charsets(msg: Any) -> tuple[list[tuple[Any, str]], str]:
    """(each text part with its charset as compared, the raw Subject lowercased)."""
    parts = [(part, part.charset.strip('"').lower()) for part in msg.text_parts + msg.html_parts]
    return parts, (msg.raw_header("Subject") or "").lower()


@lru_cache(maxsize=256)
def _lowered(charsets: tuple[str, ...]) -> dict[str, None]:
    """A rule's charsets lowercased, in their order (a dict: looked up and walked)."""
    return dict.fromkeys(c.lower() for c in charsets)


def _charset_used(seen: tuple[list[tuple[Any, str]], str], charsets: list[str]) -> str:
    wanted = _lowered(tuple(charsets))
    parts, subject = seen
    for part, charset in parts:
        if charset in wanted:
            return f"part {part.path} charset {part.charset}"
    if "=?" in subject:
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
    text = text[:2000]
    count = count_upto(for_text(_WORD, _WORD_ASCII, text), text, words)
    return f"{count} words and {len(msg.urls)} links" if count < words else ""
