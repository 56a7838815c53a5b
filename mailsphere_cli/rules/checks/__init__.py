"""Registry of code checks that `eval` rules name.

A check is a function `fn(msg, ctx, **args)` returning evidence when it fires:
a non-empty string (or True, which becomes the rule's description), and a
falsy value when it does not. It reads the parsed message and the context and
changes neither. Checks that need the network are declared so, and in offline
mode the engine lists them under `skipped` instead of calling them.

A check that cannot fire without some part of the message (its HTML, its
links, the handover hop, attachment records) declares it with `requires=`
(the names are `features.INPUTS`); the engine does not call it for a message
that lacks it, as it would only return nothing.

A check that many rules call with different arguments may also register a
batch form (`@batch("name")`): `batch(msg, ctx, args_list)` returns one result
per argument dict, exactly what `fn(msg, ctx, **args)` would return for each,
so that the work they share is done once per message. If the batch raises,
the engine calls `fn` rule by rule, so each failure is recorded as before.

A check whose result (for given arguments) depends on nothing but one of the
facts in `features.KEYS` (the sender headers, say) and the configuration
declares it with `key=`: the engine then remembers the results of a run of
such rules per value of that fact, across messages, and serves a message with
a value seen before from there (mail repeats its senders).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass, replace
from typing import Any, Callable

CheckFn = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    fn: CheckFn
    network: bool = False
    needs: str = ""  # stage whose results the check reads, e.g. "perimeter"
    batch: CheckFn | None = None  # batch(msg, ctx, args_list) -> [result per args]
    requires: str = ""  # an input (features.INPUTS) without which it never fires
    key: str = ""  # a fact (features.KEYS) that, with the rule's arguments, decides the result


CHECKS: dict[str, Check] = {}


class DuplicateCheck(Exception):
    pass


def check(name: str, *, network: bool = False, needs: str = "",
          requires: str = "", key: str = "") -> Callable[[CheckFn], CheckFn]:
    """Register `fn` as the eval function `name`. Registering a name twice fails loudly."""

    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS and CHECKS[name].fn is not fn:
            raise DuplicateCheck(f"eval function {name!r} is registered twice "
                                 f"({CHECKS[name].fn.__module__} and {fn.__module__})")
        CHECKS[name] = Check(name, fn, network, needs, requires=requires, key=key)
        return fn

    return register


_UNSET = object()  # per_message: nothing kept yet


def per_message(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Cache `fn(msg)` on the message being scanned, so the checks that share a
    derived view (the links with their hosts, the top Content-Type) compute it once.

    The value is kept in the message's own attribute dict under a key no
    attribute can have, so it lives and dies with the message: another message
    (even an equal one) computes its own, and nothing keeps a finished message
    or its HTML tree alive into the next one. Callers must treat the value as
    read-only. A raising `fn` caches nothing. An object without an attribute
    dict gets no caching.
    """
    key = f"per_message:{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def cached(msg: Any) -> Any:
        try:
            store = msg.__dict__
        except AttributeError:
            return fn(msg)
        value = store.get(key, _UNSET)  # not try/except KeyError: raising costs ~0.5 us
        if value is _UNSET:
            value = store[key] = fn(msg)
        return value

    return cached


def runs_of(chars: str, others: str, shortest: int) -> re.Pattern[str]:
    """The pattern `chars{shortest,}` (a character class, e.g. [A-Za-z], and `others`
    its complement, e.g. [^A-Za-z]): its matches are the maximal runs of `shortest`
    or more such characters (words). count_upto counts it fast (`_runs_ahead`)."""
    pattern = re.compile(f"{chars}{{{shortest},}}")
    _RUNS[pattern] = (chars, others, shortest)
    return pattern


_RUNS: dict[re.Pattern[str], tuple[str, str, int]] = {}


@functools.lru_cache(maxsize=64)
def _runs_ahead(pattern: re.Pattern[str], limit: int) -> re.Pattern[str] | None:
    """For a `runs_of` pattern, one that matches at the start of a text exactly when the
    text holds `limit` of its runs: each step skips other characters and runs too
    short (possessively: nothing is tried twice), then takes one long run whole."""
    shape = _RUNS.get(pattern)
    if shape is None:
        return None
    chars, others, shortest = shape
    short = f"(?:{chars}{{1,{shortest - 1}}}+{others}++)*+" if shortest > 1 else ""
    return re.compile(f"(?:{others}*+{short}{chars}{{{shortest},}}+){{{limit}}}")


def count_upto(pattern: Any, text: str, limit: int) -> int:
    """How many times `pattern` (which cannot match the empty string) occurs in `text`,
    counting no further than `limit` (checks that only ask "fewer than N?" need not
    scan the rest).

    Python's re makes a match object per match and starts a search for each (about
    0.3 us a word). For a `runs_of` pattern one match of `_runs_ahead` answers "at
    least `limit`" (15 words: 3.2 us instead of 8.1); below that, and for other
    patterns, `subn` counts: the same non-overlapping matches as `finditer`, without
    a match object each."""
    if limit <= 0:
        return 0
    ahead = _runs_ahead(pattern, limit) if pattern in _RUNS else None
    if ahead is not None and ahead.match(text) is not None:
        return limit
    return pattern.subn("", text, limit)[1]


def for_text(pattern: Any, ascii_pattern: Any, text: str) -> Any:
    """`ascii_pattern` for ASCII text, else `pattern`: a letter class such as
    [^\\W\\d_] is [A-Za-z] on ASCII characters, and re tests a range faster than
    Unicode categories (about twice as fast over a message's text)."""
    return ascii_pattern if text.isascii() else pattern


_kinds_seen: dict[int, tuple[list[dict], int, list[str] | None]] = {}


def kinds_of(args_list: list[dict]) -> list[str] | None:
    """The `kind` argument of each rule, when every rule passes `kind` and nothing
    else; None otherwise (the batch then calls its plain form with the rules'
    own arguments, so that a bad argument is reported as usual).

    The engine passes the same argument list (one per eval plan) with every
    message, so the answer is remembered for that list object (held here, so
    its id cannot be reused); the caller must not change the list returned.
    """
    seen = _kinds_seen.get(id(args_list))
    if seen is not None and seen[0] is args_list and seen[1] == len(args_list):
        return seen[2]
    kinds: list[str] | None = []
    for args in args_list:
        if len(args) != 1 or "kind" not in args:
            kinds = None
            break
        kinds.append(args["kind"])
    if len(_kinds_seen) >= 512:
        _kinds_seen.clear()
    _kinds_seen[id(args_list)] = (args_list, len(args_list), kinds)
    return kinds


def each_kind(args_list: list[dict], kind_fn: Callable[..., Any], *lead: Any) -> list:
    """The batch form of a check whose rules differ only by `kind`: `kind_fn(*lead,
    kind)` per rule, or with each rule's own arguments when they are not just a kind
    (so that a bad argument is reported as usual)."""
    kinds = kinds_of(args_list)
    if kinds is None:
        return [kind_fn(*lead, **args) for args in args_list]
    return [kind_fn(*lead, kind) for kind in kinds]


def batch(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register the batch form of the already registered check `name`."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = replace(CHECKS[name], batch=fn)
        return fn

    return register


_loaded = False


def load_all() -> dict[str, Check]:
    """Import every module of this package once, so their checks register."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
    return CHECKS
