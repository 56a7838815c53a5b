"""The regex rules of a pack, matched against a message's texts.

Rules are grouped by target (a header view, body, rawbody, uri, html, full).
Each group with more than one rule is matched in one pass by a multi-pattern
engine, which only says which rules may match: Hyperscan for the patterns it
can take (rules/hyperscan_set.py), an RE2 set for the others (none in the
shipped pack). Each rule it reports is then searched on its own with RE2, which
decides the hit and finds its evidence. A header target of one rule is just
searched.

Header targets are looked at only when the message has that header (the names
the message and the pack have in common, one set intersection), and the hits
of all targets of one header name (its raw, decoded, address and name views)
are remembered together for the header's raw value (mailing lists, mailers and
MIME headers repeat the same values from message to message): the same value
always gives the same hits, so a repeated value costs one lookup.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

import re2

from mailsphere_cli.message import addresses, decode_header_value
from mailsphere_cli.rules import hyperscan_set
from mailsphere_cli.rules.hyperscan_set import HyperscanSet
from mailsphere_cli.rules.regex_width import max_match_bytes
from mailsphere_cli.verdict import Hit

if TYPE_CHECKING:
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.loader import Rule

OPTIONS = re2.Options()
OPTIONS.log_errors = False
OPTIONS.max_mem = 64 << 20
# Remembered results per header target; values longer than this are not kept.
_MEMO_SIZE = 2048
_MEMO_MAX_TEXT = 2048
# A header whose values hardly ever come back (Received, Date, In-Reply-To: times and
# ids) gains nothing from its memo and pays for the key and the bookkeeping on every
# message: after this many lookups, a header that found fewer than one value in
# twenty remembered stops remembering (per worker; the results are the same).
_MEMO_TRIAL = 512
_MEMO_MIN_HITS = _MEMO_TRIAL // 20
_HS_MIN_RULES = 2


def evidence_text(text: str, limit: int = 100) -> str:
    # the words joined by single spaces: the same as re's \s+ -> " " and strip()
    # (both split on str.isspace), 3-5x faster on evidence-sized strings
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_KIND_TEXT: dict[str, Callable[["ParsedMessage"], str]] = {
    "body": lambda m: m.body,
    "rawbody": lambda m: m.text + "\n" + m.html,
    "uri": lambda m: "\n".join(m.urls),
    "html": lambda m: m.html,
    "full": lambda m: m.raw_text,
}
KINDS = frozenset(_KIND_TEXT) | {"header"}
# The message views (cached on the message) each kind's text is made from.
_KIND_VIEWS: dict[str, tuple[str, ...]] = {
    "body": ("body",), "rawbody": ("text", "html"), "uri": ("urls",), "html": ("html",),
    "full": ("raw_text",),
}


def _header_view(raw_values: list[str], view: str) -> str:
    """A header target's text from the header's raw values (one per field)."""
    if view == "raw":
        return "\n".join(raw_values)
    return _decoded_view([decode_header_value(v) for v in raw_values], view)


def _decoded_view(values: list[str], view: str) -> str:
    """A header target's text from the header's decoded values."""
    if view == "addr":
        return "\n".join(a for v in values for _, a in addresses(v) if a)
    if view == "name":
        return "\n".join(n for v in values for n, _ in addresses(v) if n)
    return "\n".join(values)


def _encode(text: str) -> bytes:
    # Matched as UTF-8 bytes: the str interface of the RE2 wrapper encodes the
    # text again for every search and maps byte offsets back to characters.
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Raw header views keep undecodable bytes as lone surrogates, which
        # RE2 (UTF-8 only) refuses: match a cleaned copy instead.
        return text.encode("utf-8", "replace")


def _span_finder(regex) -> Callable[..., "tuple[int, int] | None"]:
    """find(data, pos=0): the span of regex's first match in data that starts at pos
    or later, or None; the text before pos still counts for ^ and \\b, as in re's
    search(data, pos). Calls the RE2 object under the re-like wrapper directly: the
    wrapper's search goes through a generator and builds a match object (a few
    microseconds a call, several times the search itself on a header). The same
    call with the same arguments as the wrapper makes; the wrapper's search where
    it is missing."""
    engine = getattr(getattr(regex, "_regexp", None), "Match", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if engine is None or anchor is None:
        def find(data: bytes, pos: int = 0) -> "tuple[int, int] | None":
            found = regex.search(data, pos)
            return None if found is None else found.span()
        return find

    def find_direct(data: bytes, pos: int = 0) -> "tuple[int, int] | None":
        span = engine(anchor, data, pos, len(data))[0]
        return None if span[0] < 0 else span
    return find_direct


class _Target:
    """The rules of one target, ready to run."""

    def __init__(self, kind: str, target: str, rules: list["Rule"], use_hyperscan: bool):
        self.kind = kind
        self.target = target
        self.rules = rules
        self.ids = [rule.id for rule in rules]
        self.descriptions = [rule.description for rule in rules]
        name, _, self.view = target.partition(":")
        self.header = name.lower() if kind == "header" and name != "ALL" else ""
        self.prefix = f"{target}: " if kind == "header" else ""
        self.singles = [re2.compile(rule.regex.encode("utf-8"), OPTIONS) for rule in rules]
        self.spans = [_span_finder(single) for single in self.singles]
        self.fast = None  # Hyperscan, for the patterns it takes
        rest = list(range(len(rules)))
        # Hyperscan for the message texts (even for one rule: it scans a long text
        # faster than an RE2 search that finds nothing) and for header targets with
        # two rules or more: on the corpus headers its pass costs as much as an RE2
        # set's or less (Received 5.6 vs 6.1 us, Date 2.8 vs 3.2, From addresses
        # 2.7 vs 3.3), and it has no automaton to build while a worker warms up.
        # A header target of one rule is searched with RE2 alone (0.5 us when
        # nothing matches, where a Hyperscan call costs 2-3 us).
        # The message texts' sets report every match, so that a candidate's RE2 search
        # can start where its first match can start at the earliest (see hits_in).
        self.widths: list[int | None] = [None] * len(rules)
        if use_hyperscan and (not self.header or len(rules) >= _HS_MIN_RULES):
            self.fast = HyperscanSet([rule.regex for rule in rules], all_matches=not self.header)
            taken = set(self.fast.indexes)
            rest = [index for index in rest if index not in taken]
            if not self.header:
                for index in self.fast.exact:
                    self.widths[index] = max_match_bytes(rules[index].regex)
        # The other patterns: an RE2 set when there are several, else just searched.
        self.always = rest if len(rest) == 1 else []
        self.rest = rest if len(rest) > 1 else []
        self.set = None
        if self.rest:
            self.set = re2.Set.SearchSet(OPTIONS)
            for index in self.rest:
                self.set.Add(rules[index].regex)
            self.set.Compile()
        # A target of one rule on RE2 alone (most header targets) is just searched.
        self.lone = self.spans[0] if len(rules) == 1 and self.always else None
        self.fast_only = self.fast is not None and not self.always and self.set is None
        self.windowed = self.fast is not None and self.fast.all_matches

    def candidates(self, data: bytes) -> list[int]:
        """Indexes of the rules that may match `data` (every one that does), in order."""
        if self.fast_only:
            found = self.fast.candidates(data)
            if len(found) > 1:
                found.sort()
            return found
        found = list(self.always)
        if self.fast is not None:
            found += self.fast.candidates(data)
        if self.set is not None:
            # Match() returns None, not an empty list, when nothing matches.
            found += [self.rest[i] for i in self.set.Match(data) or ()]
        found.sort()
        return found

    def hits(self, text: str) -> tuple[Hit, ...]:
        if not text:
            return ()
        if self.lone is not None:
            data = _encode(text)
            span = self.lone(data)
            return () if span is None else (self._hit(0, data, span),)
        return self.hits_in(_encode(text))

    def hits_in(self, data: bytes) -> tuple[Hit, ...]:
        if self.windowed:
            return self._hits_windowed(data)
        out = []
        spans = self.spans
        for index in self.candidates(data):
            span = spans[index](data)
            if span is not None:
                out.append(self._hit(index, data, span))
        return tuple(out)

    def _hits_windowed(self, data: bytes) -> tuple[Hit, ...]:
        """hits_in for a target whose Hyperscan set reports every match. RE2's first
        match (start s, end e) is one of Hyperscan's matches too (its patterns match
        at least what RE2 matches, `exact`), so e is at least the earliest end
        Hyperscan saw, and s at least that minus the widest match a pattern can
        have: no RE2 match starts before, and RE2 searched from there (the text
        before it still read for ^ and \\b) finds the same first match as from
        the start, where a body's first match of a long-reaching rule lies 1-2 KB in."""
        ends = self.fast.ends(data)
        found = sorted(ends)
        if self.always or self.set is not None:
            found = list(self.always) + found
            if self.set is not None:
                found += [self.rest[i] for i in self.set.Match(data) or ()]
            found.sort()
        out = []
        spans, widths = self.spans, self.widths
        for index in found:
            width = widths[index]
            start = 0
            if width is not None:
                end = ends.get(index)
                if end is not None and end > width:
                    start = end - width
            span = spans[index](data, start)
            if span is not None:
                out.append(self._hit(index, data, span))
        return tuple(out)

    def _hit(self, index: int, data: bytes, span: tuple[int, int]) -> Hit:
        if self.kind == "uri":  # the whole URL the rule matched in
            start = data.rfind(b"\n", 0, span[0]) + 1
            end = data.find(b"\n", span[1])
            evidence = data[start: end if end >= 0 else len(data)].decode("utf-8", "replace")
        else:
            evidence = data[span[0]:span[1]].decode("utf-8", "replace")
            if self.prefix:
                evidence = self.prefix + evidence
        return Hit(self.ids[index], evidence_text(evidence or self.descriptions[index]))


class _Header:
    """The targets of one header name (its views: raw, decoded, addresses, names),
    with their results remembered per raw value."""

    def __init__(self, name: str, targets: list[_Target]):
        self.name = name
        self.targets = targets
        self.decodes = any(target.view != "raw" for target in targets)
        self.memo: dict[str, tuple[Hit, ...]] = {}
        self.remembering = True
        self.asked = 0  # memo lookups so far, counted up to _MEMO_TRIAL
        self.found = 0  # lookups the memo answered

    def hits(self, msg: "ParsedMessage", raw_values: "list[str] | tuple[str, ...]") -> tuple[Hit, ...]:
        """The hits of the header's targets; raw_values are msg's values of the header."""
        if not self.remembering:
            return self._hits(msg, raw_values)
        if len(raw_values) == 1:
            raw_key = raw_values[0]
        else:
            raw_key = "\n".join(raw_values)
        if len(raw_key) > _MEMO_MAX_TEXT:
            return self._hits(msg, raw_values)
        memo = self.memo
        if self.asked < _MEMO_TRIAL:
            self.asked += 1
            if self.asked == _MEMO_TRIAL and self.found < _MEMO_MIN_HITS:
                self.remembering = False
                memo.clear()
                return self._hits(msg, raw_values)
        found = memo.get(raw_key)
        if found is not None:
            self.found += 1
            return found
        found = self._hits(msg, raw_values)
        if len(memo) >= _MEMO_SIZE:
            del memo[next(iter(memo))]
        memo[raw_key] = found
        return found

    def _hits(self, msg: "ParsedMessage", raw_values: "list[str] | tuple[str, ...]") -> tuple[Hit, ...]:
        # the values decoded once a message for every view and reader of this header
        # (the relay chain has decoded the Received values, the body the Subject...)
        decoded = msg.decoded_values(self.name) if self.decodes else None
        out: list[Hit] = []
        for target in self.targets:
            if target.view == "raw":
                text = "\n".join(raw_values)
            else:
                text = _decoded_view(decoded, target.view)
            out.extend(target.hits(text))
        return tuple(out)


class PatternMatcher:
    """Every regex rule of a pack, grouped by target."""

    def __init__(self, rules: Iterable["Rule"], use_hyperscan: bool = hyperscan_set.AVAILABLE):
        by_target: dict[tuple[str, str], list[Rule]] = {}
        for rule in rules:
            if rule.kind in KINDS:
                key = (rule.kind, rule.target if rule.kind == "header" else "")
                by_target.setdefault(key, []).append(rule)
        self.targets = [_Target(kind, target, group, use_hyperscan)
                        for (kind, target), group in sorted(by_target.items())]
        # header name (lowercased) -> its targets; the other targets read message views
        by_header: dict[str, list[_Target]] = {}
        self.others: list[_Target] = []
        for target in self.targets:
            if target.header:
                by_header.setdefault(target.header, []).append(target)
            else:
                self.others.append(target)
        self.headers = {name: _Header(name, targets) for name, targets in by_header.items()}
        self._header_items = list(self.headers.items())
        self._views = list(dict.fromkeys(
            view for target in self.others for view in _KIND_VIEWS.get(target.kind, ())))

    def match(self, msg: "ParsedMessage") -> list[Hit]:
        hits: list[Hit] = []
        # the header names both the message and some rule have, in rule order (a lookup
        # per rule header: fewer than the message's names to read, and no sorting)
        names = msg.header_names()
        for name, header in self._header_items:
            if name in names:
                hits.extend(header.hits(msg, msg.raw_header_values(name)))
        for target in self.others:
            text = msg.header_block if target.kind == "header" else _KIND_TEXT[target.kind](msg)
            hits.extend(target.hits(text))
        return hits

    def build_views(self, msg: "ParsedMessage") -> None:
        """Build (and so cache on the message) the views the targets' texts are made of."""
        for view in self._views:
            getattr(msg, view)

    def text_for(self, msg: "ParsedMessage", kind: str, target: str) -> str:
        """The text a rule of this kind and target is matched against."""
        if kind != "header":
            return _KIND_TEXT[kind](msg)
        name, _, view = target.partition(":")
        if name == "ALL":
            return msg.header_block
        return _header_view(msg.raw_header_values(name), view)
