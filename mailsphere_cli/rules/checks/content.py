"""Eval checks on what the reader is shown: shouting, punctuation, obfuscated
words, unusual and invisible Unicode. They read `msg.body` (subject, text and
rendered HTML), bounded to its first 50,000 characters."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from mailsphere_cli.rules.checks import batch, check, for_text, kinds_of
from mailsphere_cli.rules.checks.features import body_chars_from_u0370

MAX_CHARS = 50_000
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e]")
_INVISIBLE_HIGH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_BIDI_CHARS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F]))
_WORDS = re.compile(r"[^\W\d_]+")
_WORDS_ASCII = re.compile(r"[A-Za-z]+")  # _WORDS on ASCII text
_FANCY = re.compile("[\U0001d400-\U0001d7ff\uff21-\uff5a\u24b6-\u24e9]")
# _BIDI and _FANCY as sets, to test a message's distinct characters in one C-level call
_FANCY_CHARS = frozenset(map(chr, [*range(0x1D400, 0x1D800), *range(0xFF21, 0xFF5B),
                                   *range(0x24B6, 0x24EA)]))
_MONEY = re.compile(r"[$€£]\s?\d[\d,.]*|\b\d[\d,.]*\s?(?:USD|EUR|GBP|dollars)\b")
# _MONEY's first branch alone: what _MONEY finds in a text without currency names
_MONEY_SIGNED = re.compile(r"[$€£]\s?\d[\d,.]*")
_CURRENCY_NAMES = ("USD", "EUR", "GBP", "dollars")
_SPACED_LETTERS = re.compile(r"(?:\b\w[ ._*-]){3,}\w\b")
_ENDS_WITH_ID = re.compile(r"[\s_-](?:[a-z]{2,}\d{3,}|\d{4,}[a-z]+)\s*$", re.I)
_TRACKER_WORDS = re.compile(r"\b(?:bug|issue|ticket|#)", re.I)
_MONEY_MARKS = ("$", "€", "£", "USD", "EUR", "GBP", "dollars")  # one is in every _MONEY match


def _body(msg: Any) -> str:
    return msg.body[:MAX_CHARS]


# every ASCII letter kept, capitals as "U" and small letters as "l"; the rest deleted
_CAPS_TABLE = bytes(85 if 65 <= i <= 90 else 108 if 97 <= i <= 122 else i for i in range(256))
_NOT_LETTERS = bytes(i for i in range(256) if not (65 <= i <= 90 or 97 <= i <= 122))


def _count_caps(text: str) -> tuple[int, int]:
    """(capital letters, letters) among the ASCII letters: counted in C, not per character."""
    letters = text.encode("ascii", "ignore").translate(_CAPS_TABLE, _NOT_LETTERS)
    return letters.count(b"U"), len(letters)


_last_caps: list[Any] = [None, (0, 0)]  # the text counted last (held, so its id stays its own), its counts


def _caps(text: str) -> tuple[int, int]:
    """_count_caps(text[:MAX_CHARS]), kept for the text object counted last: the rules of
    the check read the same text of one message. Kept for the whole text, not its cut
    (a new string on every call for a text over MAX_CHARS, which each rule counted
    again: about 200 us). Not an lru_cache: that hashes the whole text (about 16 us
    for 6,000 characters here), which costs more than counting it."""
    last = _last_caps
    if last[0] is not text:
        last[1] = _count_caps(text[:MAX_CHARS])
        last[0] = text
    return last[1]


@check("body_caps_ratio")
def body_caps_ratio(msg: Any, ctx: Any, ratio: float, minimum: int = 200) -> str:
    """Share of capital letters among the letters of the text (shouting)."""
    text = msg.text if msg.text and not msg.text.isspace() else msg.html_text  # = .strip(), no copy
    upper, letters = _caps(text)
    if letters < minimum:
        return ""
    share = upper / letters
    return f"{share:.0%} of {letters} letters are capitals" if share >= ratio else ""


@check("body_invisible_chars")
def body_invisible_chars(msg: Any, ctx: Any, minimum: int = 3) -> str:
    """Zero-width and soft-hyphen characters splitting words, invisible to readers."""
    body = _body(msg)
    # all but the soft hyphen are above U+0370: the body's characters from there up tell
    found = [] if body.isascii() or (body_chars_from_u0370(msg).isdisjoint(_INVISIBLE_HIGH)
                                     and "\u00ad" not in body) else _INVISIBLE.findall(body)
    return f"{len(found)} invisible characters (U+{ord(found[0]):04X}...)" if len(found) >= minimum else ""


@check("body_bidi_controls")
def body_bidi_controls(msg: Any, ctx: Any) -> str:
    # One character class, so no match spans body and name: search them in turn,
    # and the body only when it holds a direction control at all (all are above U+0370).
    found = None if body_chars_from_u0370(msg).isdisjoint(_BIDI_CHARS) else _BIDI.search(_body(msg))
    if found is None and not msg.from_name.isascii():
        found = _BIDI.search(msg.from_name)
    return f"direction control U+{ord(found.group(0)):04X}" if found else ""


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return ""


@check("body_mixed_script_words")
def body_mixed_script_words(msg: Any, ctx: Any, minimum: int = 2) -> str:
    """Words mixing Latin with Cyrillic or Greek letters: homoglyph obfuscation."""
    if not any(_script(c) in ("CYRILLIC", "GREEK") for c in body_chars_from_u0370(msg)):
        return ""  # no Cyrillic or Greek letter at all (none is below U+0370)
    body = _body(msg)
    found = []
    for word in _WORDS.findall(body):
        if word.isascii() or len(word) < 3:
            continue
        scripts = {_script(c) for c in word}
        if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
            found.append(word)
            if len(found) >= minimum:
                return f"mixed-script words: {', '.join(found[:3])}"
    return ""


@check("subject_mixed_script")
def subject_mixed_script(msg: Any, ctx: Any) -> str:
    if msg.subject.isascii():
        return ""
    for word in _WORDS.findall(msg.subject[:500]):
        scripts = {_script(c) for c in word}
        if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
            return f"subject word {word!r} mixes scripts"
    return ""


@check("body_fancy_letters")
def body_fancy_letters(msg: Any, ctx: Any, minimum: int = 5) -> str:
    """Mathematical alphanumerics and fullwidth letters used as text (𝐅𝐑𝐄𝐄, ＦＲＥＥ)."""
    if minimum > 0 and body_chars_from_u0370(msg).isdisjoint(_FANCY_CHARS):
        return ""  # every styled letter is above U+0370
    count = len(_FANCY.findall(_body(msg)))
    return f"{count} styled letters" if count >= minimum else ""


@check("body_length")
def body_length(msg: Any, ctx: Any, maximum: int) -> str:
    text = msg.text if msg.text and not msg.text.isspace() else msg.html_text
    length = _stripped_length(text)
    return f"{length} characters of text" if 0 < length <= maximum else ""


def _stripped_length(text: str) -> int:
    """len(text.strip()) without copying a long text: what strip() takes off its ends,
    measured on its first and last 64 characters when neither is all blank."""
    if len(text) <= 256:
        return len(text.strip())
    head, tail = text[:64].lstrip(), text[-64:].rstrip()
    if not head or not tail:
        return len(text.strip())
    return len(text) - (64 - len(head)) - (64 - len(tail))


@check("body_exclamations")
def body_exclamations(msg: Any, ctx: Any, minimum: int) -> str:
    count = _body(msg).count("!")
    return f"{count} exclamation marks" if count >= minimum else ""


@check("body_money_amounts")
def body_money_amounts(msg: Any, ctx: Any, minimum: int) -> str:
    body = _body(msg)
    if minimum >= 1 and not _money_marked(body):
        return ""  # every amount needs a currency sign or name: skip the scan
    found = money_amounts(body, minimum)
    return f"{len(found)} money amounts ({', '.join(found[:3])})" if len(found) >= minimum else ""


def _money_marked(body: str) -> bool:
    """One of _MONEY_MARKS is in `body` (the euro and pound signs are looked for only in
    text that is not ASCII)."""
    if "$" in body or "USD" in body or "EUR" in body or "GBP" in body or "dollars" in body:
        return True
    return not body.isascii() and ("\u20ac" in body or "\u00a3" in body)


def money_amounts(body: str, limit: int) -> list[str]:
    """The first `limit` matches of _MONEY in `body`, exactly as finditer finds them,
    but tried only where a match can start: at a currency sign, or in the run of
    digits, commas and dots (and one space) in front of a currency name. Python's
    re otherwise tries both branches at every character (3 ms on a 50,000-character
    body with a currency name)."""
    starts = []
    for sign in "$€£":
        at = body.find(sign)
        while at != -1:
            starts.append(at)
            at = body.find(sign, at + 1)
    names = False
    for name in _CURRENCY_NAMES:
        at = body.find(name)
        while at != -1:
            names = True
            start = at
            if start and body[start - 1].isspace():  # \s is str.isspace, \d str.isdecimal
                start -= 1
            while start and (body[start - 1] in ",." or body[start - 1].isdecimal()):
                start -= 1
            starts.extend(range(start, at))
            at = body.find(name, at + 1)
    # Without a currency name only the sign branch can match: try it alone.
    pattern = _MONEY if names else _MONEY_SIGNED
    found: list[str] = []
    end = 0
    for start in sorted(set(starts)):
        if start < end:
            continue  # inside the amount found last; finditer goes on after it
        match = pattern.match(body, start)
        if match:
            found.append(match.group(0))
            if len(found) >= limit:
                break
            end = match.end()
    return found


@check("subject_shape")
def subject_shape(msg: Any, ctx: Any, kind: str) -> str:
    return _subject_kind(msg, msg.subject[:500], kind)


@batch("subject_shape")
def subject_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    subject = msg.subject[:500]
    kinds = kinds_of(args_list)
    if kinds is None:
        return [_subject_kind(msg, subject, **args) for args in args_list]
    of_text = _subject_text_kinds(subject)
    return [of_text[kind] if kind in of_text else _subject_kind(msg, subject, kind)
            for kind in kinds]


_TEXT_KINDS = ("empty", "caps_words", "spaced_letters", "long", "ends_with_id")


@lru_cache(maxsize=4096)
def _subject_text_kinds(subject: str) -> dict[str, str]:
    """The answers of the kinds that read the subject's text and nothing else, kept per
    subject (campaigns and threads repeat theirs). Read-only. Two cheap searches
    rule out most subjects before the costly patterns: every upper-case word of an
    ASCII subject holds three capitals in a row, every _ENDS_WITH_ID match three digits."""
    ascii_text = subject.isascii()
    return {
        "empty": "no subject" if not subject.strip() else "",
        "caps_words": "" if ascii_text and _CAPS_RUN.search(subject) is None
        else _subject_kind(None, subject, "caps_words"),
        "spaced_letters": subject if _SPACED_LETTERS.search(subject) else "",
        "long": f"{len(subject)}-character subject" if len(subject) > 120 else "",
        "ends_with_id": "" if _DIGIT_RUN.search(subject) is None
        else _subject_kind(None, subject, "ends_with_id"),
    }


_CAPS_RUN = re.compile("[A-Z]{3}")
_DIGIT_RUN = re.compile(r"\d{3}")


def _subject_kind(msg: Any, subject: str, kind: str) -> str:
    if kind == "empty":
        return "no subject" if not subject.strip() else ""
    if kind == "caps_words":
        words = [w for w in for_text(_WORDS, _WORDS_ASCII, subject).findall(subject) if len(w) >= 3]
        caps = [w for w in words if w.isupper()]
        return subject if len(words) >= 3 and len(caps) * 2 > len(words) else ""
    if kind == "non_ascii_latin":
        raw = msg.raw_header("Subject") or ""
        return subject if "=?" not in raw and not raw.isascii() else ""
    if kind == "spaced_letters":
        return subject if _SPACED_LETTERS.search(subject) else ""
    if kind == "long":
        return f"{len(subject)}-character subject" if len(subject) > 120 else ""
    if kind == "ends_with_id":
        return subject if _ENDS_WITH_ID.search(subject) and not _TRACKER_WORDS.search(subject) else ""
    if kind == "recipient_name":
        lowered = ""
        for address in msg.to_addrs[:3]:
            local = address.partition("@")[0]
            if len(local) >= 4:
                lowered = lowered or subject.lower()
                if local.lower() in lowered:
                    return f"subject carries the recipient's mailbox name {local}"
        return ""
    raise ValueError(f"unknown subject_shape kind {kind!r}")
