"""The records every stage speaks in: hits, actions and the frozen verdict."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson


class Action(str, Enum):
    DELIVER = "deliver"
    SPAM = "spam"
    MALICIOUS = "malicious"
    REJECT = "reject"
    ERROR = "error"

    # Severity decides which of two forced actions wins.
    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    Action.DELIVER: 0,
    Action.SPAM: 1,
    Action.REJECT: 2,
    Action.MALICIOUS: 3,
    Action.ERROR: 4,
}


_floor = math.floor


def round3(value: float) -> float:
    """`round(value, 3)`, the same number of the same type, three times cheaper for a
    float under 4.3 million (every score and timing; round() cost about 1 us a call, and a
    verdict rounds some 25 of them). round() returns the float nearest to k / 1000, where
    k is the exact value times 1000 rounded to an integer; so does k / 1000 (IEEE
    division is correctly rounded). k is read from value * 1000, which is off by less
    than 5e-7 below 2 ** 32, so it is the same k unless the fraction is within 1e-4 of
    one half: those values, and everything else, go to round()."""
    if value.__class__ is float:
        scaled = value * 1000.0
        size = scaled if scaled > 0.0 else -scaled
        if 0.0 < size < 4294967296.0:
            whole = _floor(size)
            fraction = size - whole
            if fraction < 0.4999 or fraction > 0.5001:
                rounded = (whole + (fraction > 0.5)) / 1000
                return rounded if scaled > 0.0 else -rounded
    return round(value, 3)


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule fired. `evidence` says why, in words a person can check."""

    rule: str
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class ScoredHit:
    rule: str
    score: float
    group: str
    evidence: str
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "score": round3(self.score), "group": self.group,
                "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Skip:
    """A check or stage that did not run, and why (never scored as a miss)."""

    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    id: str
    source: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    score: float
    threshold: float
    action: Action
    decided_by: str
    hits: tuple[ScoredHit, ...] = ()
    auth: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[dict[str, Any], ...] = ()
    skipped: tuple[Skip, ...] = ()
    errors: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    size: int = 0
    org: str | None = None
    decisions: tuple[dict[str, Any], ...] = ()
    date: str = ""

    def as_dict(self, skipped: Any = ...) -> dict[str, Any]:
        """The record, in its key order: the one definition of its layout. `skipped` in
        its place (by default the list of the Skip records' dicts; `encode` puts None
        there and sends the list apart)."""
        return {
            "id": self.id,
            "source": self.source,
            "from": self.sender,
            "to": list(self.recipients),
            "subject": self.subject,
            "date": self.date,
            "size": self.size,
            "org": self.org,
            "score": round3(self.score),
            "threshold": self.threshold,
            "action": self.action.value,
            "decided_by": self.decided_by,
            "hits": [h.as_dict() for h in self.hits],
            "decisions": list(self.decisions),
            "auth": self.auth,
            "attachments": list(self.attachments),
            "skipped": [s.as_dict() for s in self.skipped] if skipped is ... else skipped,
            "errors": list(self.errors),
            "timings_ms": {k: round3(v) for k, v in self.timings_ms.items()},
            "elapsed_ms": round3(self.elapsed_ms),
        }


def to_json(record: dict[str, Any], indent: int | None = None) -> str:
    """One line of JSON that is always valid UTF-8.

    orjson writes it (compact, without spaces after `:` and `,`: a verdict took 0.06 ms
    with the standard library against 0.015 ms). The email package hands 8-bit header
    bytes (and the OS undecodable file names) back as lone surrogates, which no UTF-8
    file, pipe or database accepts and orjson refuses: such a record (or one orjson cannot
    write, such as an integer past 64 bits) is written by the standard library with
    \\uXXXX escapes instead: the same string for any JSON reader. With `indent`, the
    standard library writes it (for people).
    """
    if indent is None:
        try:
            return orjson.dumps(record).decode()
        except TypeError:  # orjson.JSONEncodeError
            return json.dumps(record)
    text = json.dumps(record, ensure_ascii=False, indent=indent)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(record, indent=indent)
    return text


def clean_text(value: Any) -> Any:
    """A string fit for a UTF-8 column or file: escaped bytes are decoded as UTF-8 where
    they are UTF-8 (most 8-bit headers are), anything else becomes U+FFFD or `?`."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            except UnicodeEncodeError:
                return value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_record(value: Any) -> Any:
    """`clean_text` through a whole record, for showing it to a person."""
    if isinstance(value, dict):
        return {key: clean_record(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_record(item) for item in value]
    return clean_text(value)


# What the parent process reads of a verdict; the rest travels as JSON text only.
LIGHT_KEYS = ("id", "source", "from", "to", "subject", "date", "size", "org", "score",
              "threshold", "action", "decided_by", "hits", "attachments", "errors", "elapsed_ms")
# skipped lists already serialised in this process, by the identity of their Skip records
# (the perimeter's offline list and the rule plans' lists are shared tuples, so nearly
# every message hits): hashing a list's ~80 frozen dataclasses by content cost 0.06 ms
# a message. An entry keeps its records alive, so no other record can take their ids.
_SKIPPED_JSON: dict[tuple[int, ...], tuple[tuple[Skip, ...], str]] = {}
# ... and by content, so equal lists made of other records share one text
_SKIPPED_TEXT: dict[tuple[tuple[str, str], ...], str] = {}

# (light fields, body, offset of the `null` standing for `skipped` in body, skipped as JSON)
Encoded = tuple[dict[str, Any], str, int, str]


def skipped_json(skipped: tuple[Skip, ...]) -> str:
    key = tuple(map(id, skipped))
    entry = _SKIPPED_JSON.get(key)
    if entry is not None:
        return entry[1]
    content = tuple((s.name, s.reason) for s in skipped)
    text = _SKIPPED_TEXT.get(content)
    if text is None:
        text = to_json([s.as_dict() for s in skipped])
        if len(_SKIPPED_TEXT) >= 64:
            _SKIPPED_TEXT.clear()
        _SKIPPED_TEXT[content] = text
    if len(_SKIPPED_JSON) >= 64:
        _SKIPPED_JSON.clear()
    _SKIPPED_JSON[key] = (skipped, text)
    return text


def encode(verdict: "Verdict") -> Encoded:
    """A verdict as its worker sends it to the parent.

    `skipped` is two thirds of a verdict's JSON and nearly the same list on every
    message (offline, each of ~80 network checks), so it travels and is stored apart
    from the rest (the body, where it reads `null`): the database keeps each distinct
    list once. The full record is the body with the list put back in its place.
    The body is the record written once with `skipped` as null; a record orjson refuses
    (see `to_json`) is written in two halves around it, as `to_json` writes each.
    """
    record = verdict.as_dict(skipped=None)
    light = {key: record[key] for key in LIGHT_KEYS}
    skipped = skipped_json(verdict.skipped)
    try:
        body = orjson.dumps(record).decode()
    except TypeError:  # orjson.JSONEncodeError: the two halves, each by to_json
        keys = list(record)
        at = keys.index("skipped")
        head_text = to_json({key: record[key] for key in keys[:at]})
        tail_text = to_json({key: record[key] for key in keys[at + 1:]})
        compact = head_text.startswith('{"id":')  # orjson's separators (see to_json)
        before = head_text[:-1] + (',"skipped":' if compact else ', "skipped": ')
        return light, before + ("null," if compact else "null, ") + tail_text[1:], \
            len(before), skipped
    # The last such key: what follows it (the errors' strings, the stage names of the
    # timings) cannot hold an unescaped quote or the key "skipped" with these neighbours.
    return light, body, body.rindex(_SKIPPED_NULL) + _SKIPPED_AT, skipped


_SKIPPED_NULL = ',"skipped":null,"errors":'
_SKIPPED_AT = len(',"skipped":')


def splice(body: str, offset: int, skipped: str) -> str:
    """The full verdict JSON: `skipped` put back in the body."""
    return body[:offset] + skipped + body[offset + 4:]



class VerdictView:
    """A verdict as it crossed a process boundary: the fields the parent reads, plus
    the rest as the JSON text the worker already made (see `encode`). Pickling the
    frozen dataclass and its hundred small records cost over 1 ms a message, decoding
    the full JSON in the parent 0.4 ms; these few fields cost next to nothing."""

    __slots__ = ("light", "body", "offset", "skipped", "_text", "_hits")

    def __init__(self, light: dict[str, Any], body: str, offset: int, skipped: str):
        self.light = light
        self.body = body
        self.offset = offset
        self.skipped = skipped
        self._text: str | None = None
        self._hits: tuple[ScoredHit, ...] | None = None

    @classmethod
    def of(cls, verdict: "Verdict") -> "VerdictView":
        return cls(*encode(verdict))

    @property
    def text(self) -> str:
        """The whole verdict as one line of JSON (what `--json` prints)."""
        if self._text is None:
            self._text = splice(self.body, self.offset, self.skipped)
        return self._text

    def as_dict(self) -> dict[str, Any]:
        return json.loads(self.text)

    @property
    def hits(self) -> tuple[ScoredHit, ...]:
        if self._hits is None:
            self._hits = tuple(ScoredHit(h["rule"], h["score"], h["group"], h["evidence"])
                               for h in self.light["hits"])
        return self._hits

    @property
    def action(self) -> Action:
        return Action(self.light["action"])

    @property
    def sender(self) -> str:
        return self.light["from"]

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(self.light["to"])

    id = property(lambda self: self.light["id"])
    source = property(lambda self: self.light["source"])
    subject = property(lambda self: self.light["subject"])
    date = property(lambda self: self.light["date"])
    size = property(lambda self: self.light["size"])
    org = property(lambda self: self.light["org"])
    score = property(lambda self: self.light["score"])
    threshold = property(lambda self: self.light["threshold"])
    decided_by = property(lambda self: self.light["decided_by"])
    elapsed_ms = property(lambda self: self.light["elapsed_ms"])
    errors = property(lambda self: tuple(self.light["errors"]))
    attachments = property(lambda self: tuple(self.light["attachments"]))
