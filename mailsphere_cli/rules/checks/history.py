"""Eval checks on the message's history: hop count, dates against the message's
own clock, headers a real MTA or client adds.

The reference clock is the message's, never the wall clock: a batch analyser
reads mailboxes from any year, so "now" is when our side received the message
(the handover Received timestamp), else the newest Received timestamp, else
the Date header.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from mailsphere_cli.rules.checks import batch, check, each_kind, kinds_of
from mailsphere_cli.rules.checks.url import lookalike_of

_IP_DOMAIN = re.compile(r"@\[?\d{1,3}(?:\.\d{1,3}){3}\]?$")
_BIG_PROVIDER = re.compile(r"(?:^|\.)(hotmail|yahoo|aol|msn|gmail|google|outlook|live|mail\.ru|"
                           r"yandex|excite|lycos|juno|earthlink|compuserve|prodigy|att|verizon|comcast)"
                           r"\.(?:com|net|ru)$")


# how a name _BIG_PROVIDER matches ends ($ also matches before a final line break)
_PROVIDER_ENDS = (".com", ".net", ".ru", ".com\n", ".net\n", ".ru\n")


def reference_clock(msg: Any, ctx: Any) -> tuple[datetime | None, str]:
    """(the message's own "now", where it came from)."""
    relays = ctx.relays or []
    if ctx.handover is not None and ctx.handover < len(relays) and relays[ctx.handover].timestamp:
        return relays[ctx.handover].timestamp, "handover Received"
    for relay in relays:
        if relay.timestamp is not None:
            return relay.timestamp, "newest Received"
    date = _aware(msg.date)
    return (date, "Date header") if date else (None, "")


def _aware(stamp: datetime | None) -> datetime | None:
    if stamp is None:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)


@check("date_offset", needs="perimeter")
def date_offset(msg: Any, ctx: Any, direction: str, hours: float, max_hours: float = 0) -> str:
    """The Date header is `hours` ahead of ("future") or behind ("past") the arrival time.

    With max_hours, only offsets below it count (so bands do not overlap).
    """
    date = _aware(msg.date)
    now, source = reference_clock(msg, ctx)
    if date is None or now is None or source == "Date header":
        return ""
    return _offset(msg, date, now, source, direction, hours, max_hours)


def _offset(msg: Any, date: datetime, now: datetime, source: str, direction: str, hours: float,
            max_hours: float = 0) -> str:
    try:
        delta = (date - now) if direction == "future" else (now - date)
    except (TypeError, OverflowError):
        return ""
    return _band(msg, delta, now, source, direction, hours, max_hours)


def _band(msg: Any, delta: timedelta, now: datetime, source: str, direction: str, hours: float,
          max_hours: float = 0) -> str:
    if delta < _hours(hours) or (max_hours and delta >= _hours(max_hours)):
        return ""
    return f"Date {msg.header('Date')} is {delta} {'after' if direction == 'future' else 'before'} " \
           f"the {source} time {now.isoformat()}"


@lru_cache(maxsize=64)
def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


@check("received_count")
def received_count(msg: Any, ctx: Any, minimum: int = 0, maximum: int = 10_000) -> str:
    count = len(ctx.relays) if ctx.relays else len(msg.raw_header_values("Received"))
    return f"{count} Received headers" if minimum <= count <= maximum else ""


@batch("received_count")
def received_count_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    if not _only_args(args_list, _COUNT_ARGS):
        return [received_count(msg, ctx, **args) for args in args_list]
    count = len(ctx.relays) if ctx.relays else len(msg.raw_header_values("Received"))
    return [f"{count} Received headers" if args.get("minimum", 0) <= count <= args.get("maximum", 10_000)
            else "" for args in args_list]


_COUNT_ARGS = frozenset(("minimum", "maximum"))


_args_seen: list[Any] = [None, 0, None, False]  # the last argument list, its length, names, answer


def _only_args(args_list: list[dict], names: frozenset[str]) -> bool:
    """Every rule passes no argument but these (else the plain form reports the bad one);
    remembered for the last argument list (the engine's, the same every message)."""
    seen = _args_seen
    if seen[0] is not args_list or seen[1] != len(args_list) or seen[2] is not names:
        seen[:] = [args_list, len(args_list), names, all(names.issuperset(args) for args in args_list)]
    return seen[3]


@check("hops_before_handover", needs="perimeter")
def hops_before_handover(msg: Any, ctx: Any, minimum: int = 0, maximum: int = 0) -> str:
    """Received hops written outside our side (below the handover)."""
    if ctx.handover is None:
        return ""
    outside = len(ctx.relays) - ctx.handover - 1
    return f"{outside} hops before ours" if minimum <= outside <= maximum else ""


@check("received_helo_claims_provider", needs="perimeter")
def received_helo_claims_provider(msg: Any, ctx: Any) -> str:
    """The handover client says HELO as a big mail provider, from an address whose
    recorded name is not that provider's: a forged origin."""
    if ctx.handover is None:
        return ""
    hop = ctx.relays[ctx.handover]
    helo = (hop.helo or "").lower().rstrip(".")
    big = _BIG_PROVIDER.search(helo) if helo.endswith(_PROVIDER_ENDS) else None
    if not big or hop.rdns is None:
        return ""
    name = big.group(1)
    if name in (hop.rdns or ""):
        return ""
    return f"HELO {hop.helo} from {hop.ip} ({hop.rdns or 'no rDNS'})"


@check("date_shape")
def date_shape(msg: Any, ctx: Any, kind: str) -> str:
    value = msg.header("Date")
    if value is None:
        return ""
    return _date_kind(msg, value, kind)


@batch("date_shape")
def date_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    value = msg.header("Date")
    if value is None:
        return [""] * len(args_list)
    kinds = kinds_of(args_list)
    if kinds is None:
        return [_date_kind(msg, value, **args) for args in args_list]
    found = _every_date_kind(msg.date, value)  # an unknown kind raises KeyError: redone rule by rule
    return [found[kind] for kind in kinds]


def _every_date_kind(date: datetime | None, value: str) -> dict[str, str]:
    """What each _date_kind kind answers for a present Date header `value` read as `date`
    (worked out together; tested against _date_kind)."""
    if date is None:
        return {"unparseable": f"Date: {value[:80]}", "no_zone": "", "odd_zone": ""}
    if date.tzinfo is None:
        return {"unparseable": "", "no_zone": f"Date: {value[:80]}", "odd_zone": ""}
    odd = ""
    offset = date.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        if abs(minutes) > 14 * 60 or minutes % 15:
            odd = f"Date zone {value[-12:]}"
    return {"unparseable": "", "no_zone": "", "odd_zone": odd}


def _date_kind(msg: Any, value: str, kind: str) -> str:
    if kind == "unparseable":
        return f"Date: {value[:80]}" if msg.date is None else ""
    if kind == "no_zone":
        return f"Date: {value[:80]}" if msg.date is not None and msg.date.tzinfo is None else ""
    if kind == "odd_zone":
        date = msg.date
        if date is None or date.tzinfo is None:
            return ""
        offset = date.utcoffset()
        if offset is None:
            return ""
        minutes = int(offset.total_seconds() // 60)
        return f"Date zone {value[-12:]}" if abs(minutes) > 14 * 60 or minutes % 15 else ""
    raise ValueError(f"unknown date_shape kind {kind!r}")


@check("received_date_spread", needs="perimeter")
def received_date_spread(msg: Any, ctx: Any, hours: float) -> str:
    """The oldest and newest Received timestamps are more than `hours` apart."""
    stamps = [r.timestamp for r in ctx.relays if r.timestamp is not None]
    if len(stamps) < 2:
        return ""
    try:
        spread = max(stamps) - min(stamps)
    except TypeError:
        return ""
    return f"hops span {spread}" if spread > _hours(hours) else ""


@check("message_id_shape")
def message_id_shape(msg: Any, ctx: Any, kind: str) -> str:
    value = msg.message_id
    return _message_id_kind(value, value.strip().strip("<>") if value else "", kind)


@batch("message_id_shape")
def message_id_shape_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    value = msg.message_id
    if not value:
        return ["no Message-ID" if args["kind"] == "missing" else "" for args in args_list]
    kinds = kinds_of(args_list)
    if kinds is None or not _known_id_kinds(kinds):
        inner = value.strip().strip("<>")
        return [_message_id_kind(value, inner, **args) for args in args_list]
    found = _every_message_id_kind(value)
    return [found[kind] for kind in kinds]


_id_kinds_seen: list[Any] = [None, 0, False]  # the last kinds list asked about, its length, the answer


def _known_id_kinds(kinds: list[str]) -> bool:
    """Every kind is one of _MESSAGE_ID_KINDS (remembered for the last list of kinds:
    kinds_of hands the same list for every message of the same plan)."""
    seen = _id_kinds_seen
    if seen[0] is not kinds or seen[1] != len(kinds):
        seen[:] = [kinds, len(kinds), all(kind in _MESSAGE_ID_KINDS for kind in kinds)]
    return seen[2]


def _every_message_id_kind(value: str) -> dict[str, str]:
    """What each _MESSAGE_ID_KINDS judge answers for a present Message-ID `value`,
    worked out together (tested against the judges)."""
    inner = value.strip().strip("<>")
    at = "@" in inner
    domain = inner.rpartition("@")[2]
    return {
        "missing": "",
        "no_angle": "" if value.startswith("<") and value.rstrip().endswith(">") else value,
        "no_at": "" if at else value,
        # a match starts at the last "@": the domain then begins with "[" or a digit
        "domain_ip": value if at and domain[:1] in _IP_DOMAIN_FIRST and _IP_DOMAIN.search(inner)
        else "",
        "from_domain_lookalike": lookalike_of(domain.lower()) if "." in domain else "",
        "no_dot_domain": value if at and "." not in domain else "",
        "spaces": value if " " in inner else "",
    }


_IP_DOMAIN_FIRST = frozenset("[0123456789")


def _message_id_kind(value: str, inner: str, kind: str) -> str:
    if kind == "missing":
        return "" if value else "no Message-ID"
    if not value:
        return ""
    judge = _MESSAGE_ID_KINDS.get(kind)
    if judge is None:
        raise ValueError(f"unknown message_id_shape kind {kind!r}")
    return judge(_MessageId(value, inner))


class _MessageId:
    """A present Message-ID: its value, what is inside the angle brackets, its domain."""
    __slots__ = ("value", "inner", "domain")

    def __init__(self, value: str, inner: str | None = None):
        self.value = value
        self.inner = value.strip().strip("<>") if inner is None else inner
        self.domain = self.inner.rpartition("@")[2]


def _msgid_domain_lookalike(m: _MessageId) -> str:
    domain = m.domain.lower()
    return lookalike_of(domain) if "." in domain else ""


_MESSAGE_ID_KINDS: dict[str, Any] = {
    "missing": lambda m: "",  # a present one
    "no_angle": lambda m: m.value if not (m.value.startswith("<") and m.value.rstrip().endswith(">"))
    else "",
    "no_at": lambda m: m.value if "@" not in m.inner else "",
    "domain_ip": lambda m: m.value if _IP_DOMAIN.search(m.inner) else "",
    "from_domain_lookalike": _msgid_domain_lookalike,
    "no_dot_domain": lambda m: m.value if "@" in m.inner and "." not in m.domain else "",
    "spaces": lambda m: m.value if " " in m.inner else "",
}


@batch("date_offset")
def date_offset_batch(msg: Any, ctx: Any, args_list: list[dict]) -> list[str]:
    date = msg.date
    if date is None:
        return [""] * len(args_list)
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    # reference_clock, but for a message without a Received time (its clock would be the
    # Date header itself, which no rule compares with itself)
    relays = ctx.relays
    if not relays:
        return [""] * len(args_list)
    handover = ctx.handover
    now = relays[handover].timestamp if handover is not None and handover < len(relays) else None
    if now:
        source = "handover Received"
    else:
        for relay in relays:
            now = relay.timestamp
            if now is not None:
                break
        else:
            return [""] * len(args_list)
        source = "newest Received"
    try:
        ahead = date - now
    except (TypeError, OverflowError):  # now - date would fail alike
        return [""] * len(args_list)
    least_future, least_past = _least_offsets(args_list)
    if (least_future is None or ahead < least_future) and (least_past is None or -ahead < least_past):
        return [""] * len(args_list)  # within every band's lower bound: none fires
    deltas = {"future": ahead, "past": -ahead}  # -(date - now) is exactly now - date
    out = []
    for args in args_list:
        direction = args["direction"]
        delta = deltas.get(direction, deltas["past"])
        out.append(_band(msg, delta, now, source, **args))
    return out


_offsets_seen: dict[int, tuple[list[dict], int, tuple[Any, Any]]] = {}


def _least_offsets(args_list: list[dict]) -> tuple[timedelta | None, timedelta | None]:
    """The smallest `hours` of the "future" rules and of the others (which _band counts
    as "past"), as timedeltas (None without such a rule): an offset below both fires
    no rule. Remembered for the engine's argument list (held here, so its id is not
    reused); a bad argument raises, and the engine then runs the rules one by one."""
    seen = _offsets_seen.get(id(args_list))
    if seen is not None and seen[0] is args_list and seen[1] == len(args_list):
        return seen[2]
    future = [_hours(args["hours"]) for args in args_list if args["direction"] == "future"]
    past = [_hours(args["hours"]) for args in args_list if args["direction"] != "future"]
    least = (min(future) if future else None, min(past) if past else None)
    if len(_offsets_seen) >= 512:
        _offsets_seen.clear()
    _offsets_seen[id(args_list)] = (args_list, len(args_list), least)
    return least
