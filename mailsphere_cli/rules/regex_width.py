"""How long a match of an RE2 pattern can be, in bytes of UTF-8 text, when that is bounded.

The pattern pass confirms a Hyperscan candidate with RE2 from a later place than the
text's start where that gives the same first match (rules/matcher.py): it needs an upper
bound on the length of any match. RE2 does not tell it, so the pattern is read by Python's
own regular expression parser, which gives the widest match in characters (at most four
bytes each in UTF-8). The two syntaxes agree on what the pack's patterns use (literals,
classes, groups, alternation, counted repeats, anchors, \\b, \\d, \\w, \\s); RE2's \\x{...}
is rewritten to Python's \\U form. Anything where they may read differently, or that
Python cannot read, gives None (no bound: the whole text is searched, as before): POSIX
classes ([:alpha:]), {,n} (a literal in RE2, a repeat in Python), \\p, \\P, \\Q, \\C, \\z,
(?< and (?P= (groups Python reads as look-behinds or back references).
"""
from __future__ import annotations

import re
import re._parser as _sre_parse  # the parser re itself uses (Python 3.11+)

# Above this many characters a bound saves little and an unbounded repeat is near.
_WIDEST = 2000
_UNSURE = ("[:", "{,", "\\p", "\\P", "\\Q", "\\C", "\\z", "(?<", "(?P=", "(?#")
_ESCAPE = re.compile(r"\\(?:x\{([0-9A-Fa-f]{1,8})\}|.)", re.S)


def _python_syntax(pattern: str) -> str | None:
    def rewrite(match: re.Match) -> str:
        digits = match.group(1)
        if digits is None:
            return match.group(0)
        value = int(digits, 16)
        if value > 0x10FFFF:
            raise ValueError(digits)
        return f"\\U{value:08x}"
    try:
        return _ESCAPE.sub(rewrite, pattern)
    except ValueError:
        return None


def max_match_bytes(pattern: str) -> int | None:
    """The most bytes of UTF-8 text a match of `pattern` (RE2 syntax) can span, or None
    when it is unbounded, too wide to be worth it, or not known for sure."""
    if any(marker in pattern for marker in _UNSURE):
        return None
    translated = _python_syntax(pattern)
    if translated is None:
        return None
    try:
        _, widest = _sre_parse.parse(translated).getwidth()
    except Exception:  # noqa: BLE001 - any syntax Python does not read: no bound
        return None
    if widest > _WIDEST:
        return None
    return widest * 4
