"""Hyperscan as the multi-pattern pass of a rule target: which rules may match.

Hyperscan compiles all patterns of a target into one automaton ahead of time,
so a pass costs the same from the first message on; RE2's set builds its
automaton lazily while it scans, and a worker spent most of its pattern time on
that in the first few thousand messages. Hyperscan only preselects: every rule
it reports is searched again with RE2, which decides the hit and its evidence.
So Hyperscan must never miss a match RE2 would find; reporting more is fine.

Rules are written for RE2. `hyperscan_form` rewrites a pattern where the two
engines read the same text differently, always towards matching more:

- RE2's \\s is [\\t\\n\\f\\r ]; Hyperscan's also has \\v, so its \\S and [^\\s] would
  miss a vertical tab: both are spelt out as RE2 has them.
- Case-insensitive RE2 lets \\w and [[:alpha:]] (and alnum, word, upper, lower)
  match the Kelvin sign and the long s, the case partners of k and s; Hyperscan
  does not: those two are added where that widens the match, and a pattern
  where it would narrow it (in a negated class) stays on RE2.
- Hyperscan's Unicode tables are older than RE2's: some newer letters have case
  partners and properties in RE2 only. So a case-insensitive pattern with a
  non-ASCII letter (or any non-ASCII character in a class), and any pattern
  with a Unicode property (\\p, \\P), stays on RE2. (For ASCII letters the two
  engines fold alike, the above apart.)
- Escapes and flags that are rare or mean something else in Hyperscan (\\Q, \\v,
  back references, (?x), (?U)...) keep the pattern on RE2, and so does any
  pattern Hyperscan refuses to compile.

Compiling the shipped pack takes Hyperscan 3-4 s of CPU, so compiled
databases are kept in the artefact cache (mailsphere_cli/artefacts.py:
$MAILSPHERE_CACHE_DIR, else $XDG_CACHE_HOME/mailsphere or ~/.cache/mailsphere; off
with MAILSPHERE_NO_CACHE=1, with its checks of every entry), named by a hash of the
patterns, flags and Hyperscan version; a cache that cannot be read or written
only costs the compile. Scratch space is allocated lazily per thread (a forked
worker has its own copy of the memory, so a scratch made before the fork is
still its own).
"""
from __future__ import annotations

import json
import re
import sys
import threading
import unicodedata

from mailsphere_cli import artefacts

try:
    import hyperscan
except ImportError:  # no wheel for this platform: RE2 sets do the whole job
    hyperscan = None

AVAILABLE = hyperscan is not None

_RE2_SPACE = r"\t\n\f\r\x20"
_RE2_NOT_SPACE = r"\x00-\x08\x0b\x0e-\x1f\x21-\x{10ffff}"
_FOLD_PARTNERS = r"\x{212a}\x{17f}"  # Kelvin sign, long s
_LETTER_CLASSES = {"alpha", "alnum", "word", "upper", "lower"}
_KEPT_ESCAPES = set("dDbBAztnrf")
_BOUNDED_REPEAT = re.compile(r"\{(\d+),(\d+)\}")
_WIDEST_EXACT_REPEAT = 12
_FORMAT = 4  # bump when the way patterns are compiled changes: old cache files are not read


def _may_fold(code: int, in_class: bool) -> bool:
    """Whether a non-ASCII character of a pattern may have case partners: any in a
    class (it may be the end of a range), else letters, marks, numbers and other
    symbols (circled letters have case); currency signs and punctuation do not."""
    if code <= 0x7F:
        return False
    if in_class:
        return True
    try:
        category = unicodedata.category(chr(code))
    except ValueError:
        return True
    return category[0] in "LMN" or category == "So"


def hyperscan_form(pattern: str, drop_anchors: bool = False) -> str | None:
    """The pattern as Hyperscan should get it (matching at least what RE2 matches
    on valid UTF-8), or None when it must stay on RE2. `drop_anchors` leaves out
    ^ and $ (fewer conditions, so more matches), for patterns Hyperscan refuses
    because of where they stand."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = negated = caseless = non_ascii = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = pattern[i + 1]
            i += 2
            if e == "s":
                out.append(_RE2_SPACE if in_class else f"[{_RE2_SPACE}]")
            elif e == "S":
                out.append(_RE2_NOT_SPACE if in_class else f"[^{_RE2_SPACE}]")
            elif e == "w":
                if not in_class:
                    out.append(rf"[\w{_FOLD_PARTNERS}]")
                elif negated:
                    out.append(r"\w")
                else:
                    out.append(rf"\w{_FOLD_PARTNERS}")
            elif e == "W":
                if in_class and negated:
                    return None
                out.append(r"\W")
            elif e == "x":
                digits = pattern[i + 1:pattern.find("}", i)] if pattern.startswith("{", i) \
                    else pattern[i:i + 2]
                try:
                    value = int(digits, 16)
                except ValueError:
                    return None
                non_ascii = non_ascii or _may_fold(value, in_class)
                out.append("\\x")
            elif e in _KEPT_ESCAPES or not e.isalnum():
                out.append("\\" + e)
            else:
                return None
            continue
        if ord(c) > 0x7F:
            non_ascii = non_ascii or _may_fold(ord(c), in_class)
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end < 0:
                    return None
                name = pattern[i + 2:end]
                i = end + 2
                if name.lstrip("^") in _LETTER_CLASSES:
                    if negated or name.startswith("^"):
                        if negated:
                            return None
                        out.append(f"[:{name}:]")
                    else:
                        out.append(f"[:{name}:]{_FOLD_PARTNERS}")
                else:
                    out.append(f"[:{name}:]")
                continue
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            negated = i < n and pattern[i] == "^"
            if negated:
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ] is a member, not the end
                out.append("\\]")
                i += 1
            continue
        if c == "{":
            repeat = _BOUNDED_REPEAT.match(pattern, i)
            if repeat and int(repeat.group(2)) > _WIDEST_EXACT_REPEAT:
                # x{0,80} costs Hyperscan an automaton state per repeat (and UTF-8
                # multiplies them): seconds to compile, or "too large". x{0,} matches
                # everything x{0,80} does, and RE2 decides anyway.
                out.append("{" + repeat.group(1) + ",}")
                i = repeat.end()
                continue
        if drop_anchors and c in "^$":
            i += 1
            continue
        if c == "(" and pattern.startswith("(?", i):
            j = i + 2
            while j < n and (pattern[j].isalpha() or pattern[j] == "-"):
                j += 1
            flags = pattern[i + 2:j]
            caseless = caseless or "i" in flags.partition("-")[0]
            if flags and (set(flags) - set("ims-") or (j < n and pattern[j] not in ":)")):
                # (?P<name>...) is fine; other letters (x, U) are not
                if not (flags == "P" and j < n and pattern[j] == "<"):
                    return None
        out.append(c)
        i += 1
    if in_class or (caseless and non_ascii):
        return None
    return "".join(out)


# A rule pack makes a dozen databases (one per target): the cache keeps those of the
# last eight packs or so.
_KEEP = 96


class HyperscanSet:
    """The Hyperscan part of a target: indexes (into the target's rules) of the
    patterns it took, and `candidates(data)` among them. With `all_matches`, every
    match is reported instead of one per pattern, and `ends(data)` gives each
    candidate's earliest match end (in whatever order Hyperscan reports them);
    `exact` holds the indexes compiled as they are (not approximated in prefilter
    mode): their matches include every match RE2 finds, start and end alike."""

    def __init__(self, patterns: list[str], all_matches: bool = False):
        assert hyperscan is not None
        self._flags = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_ALLOWEMPTY
        self.all_matches = all_matches
        if not all_matches:
            self._flags |= hyperscan.HS_FLAG_SINGLEMATCH
        self._local = threading.local()
        # The key is made from the patterns as the rules give them and this module's own
        # source (which decides their Hyperscan form): the forms are worked out only when
        # the database is not in the cache (178 patterns of the shipped pack: ~5 ms of
        # every start).
        key = artefacts.key_of("hs", [json.dumps([_FORMAT, hyperscan.__version__, self._flags,
                                                  patterns]), *_own_source()])
        loaded = self._load(artefacts.read("hs", key), self._local)
        if loaded is None:
            forms = [(index, hyperscan_form(p)) for index, p in enumerate(patterns)]
            forms = [(index, form) for index, form in forms if form is not None]
            loaded = self._compile(forms, patterns)
            indexes, exact, database = loaded
            if database is not None:
                artefacts.write("hs", key, json.dumps([indexes, exact]).encode("utf-8") + b"\n"
                                + hyperscan.dumpb(database), keep=_KEEP)
        self.indexes, exact, self.database = loaded
        self.exact = frozenset(exact)

    @staticmethod
    def _load(payload: bytes | None, local: threading.local):
        if payload is None:
            return None
        try:
            head, _, blob = payload.partition(b"\n")
            indexes, exact = json.loads(head)
            database = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK) if indexes else None
            scratch = None
            if database is not None:  # built for another CPU (a shared home)? fails here
                scratch = hyperscan.Scratch(database)
                database.scan(b"probe", match_event_handler=_collect, context=[],
                              scratch=scratch)
            if not all(isinstance(i, int) for i in indexes + exact):
                return None
            if scratch is not None:  # the probe's is this thread's (and, forked, a worker's)
                local.scratch = scratch
            return indexes, exact, database
        except Exception:  # noqa: BLE001 - missing, stale or damaged: compile instead
            return None

    def _compile(self, forms: list[tuple[int, str]], patterns: list[str]):
        """All at once; when Hyperscan refuses the lot, pattern by pattern to find
        the ones it refuses (its error does not say which; halving the set instead
        measured slower, as a large set costs more than its parts). Those are tried
        again in prefilter mode (Hyperscan then approximates, always matching more),
        then in prefilter mode without ^ and $; the ones it still refuses stay on RE2."""
        flags = [self._flags] * len(forms)
        database = self._database(forms, flags)
        exact = [index for index, _ in forms]
        if database is None and forms:
            kept, flags = [], []
            prefilter = self._flags | hyperscan.HS_FLAG_PREFILTER
            for index, form in forms:
                relaxed = hyperscan_form(patterns[index], drop_anchors=True)
                for attempt, mode in ((form, self._flags), (form, prefilter), (relaxed, prefilter)):
                    if attempt and self._database([(index, attempt)], [mode]) is not None:
                        kept.append((index, attempt))
                        flags.append(mode)
                        break
            forms = kept
            database = self._database(forms, flags)
            exact = [index for (index, _), mode in zip(forms, flags) if mode == self._flags]
        if database is None:
            return [], [], None
        return [index for index, _ in forms], exact, database

    @staticmethod
    def _database(forms: list[tuple[int, str]], flags: list[int]):
        if not forms:
            return None
        database = hyperscan.Database()
        try:
            database.compile(expressions=[form.encode("utf-8") for _, form in forms],
                             ids=[index for index, _ in forms], flags=flags)
        except hyperscan.error:
            return None
        return database

    def candidates(self, data: bytes) -> list[int]:
        if self.database is None:
            return []
        if self.all_matches:  # each pattern once
            return list(self.ends(data))
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        found: list[int] = []
        self.database.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
        return found

    def ends(self, data: bytes) -> dict[int, int]:
        """index -> the earliest end of its matches in data, for every pattern that
        matched (the candidates); for a set made with `all_matches`."""
        if self.database is None:
            return {}
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        found: dict[int, int] = {}
        self.database.scan(data, match_event_handler=_collect_end, context=found, scratch=scratch)
        return found


def _collect(index: int, start: int, end: int, flags: int, found: list[int]) -> None:
    found.append(index)


def _collect_end(index: int, start: int, end: int, flags: int, found: dict[int, int]) -> None:
    known = found.get(index)
    if known is None or end < known:
        found[index] = end


_SOURCE: list[bytes] = []


def _own_source() -> list[bytes]:
    """This module's source, read once a process, as part of every database's key."""
    if not _SOURCE:
        _SOURCE.extend(artefacts.source_of(sys.modules[__name__]))
    return _SOURCE
