"""Compiled regular expressions kept from one start of `mailsphere scan` to the next.

Python's `re` compiles a pattern in Python code (its parser and code generator): the ~300
patterns that Mailsphere's modules and the libraries it imports compile when they are
imported were 0.05-0.08 s of CPU of every scan's start-up. What that compilation ends in
is one call, `_sre.compile(pattern, flags, code, groups, groupindex, indexgroup)`, whose
arguments are plain data (the code is a list of integers). This module records those
arguments as `re` itself passes them (nothing of its compiler is re-implemented here),
keeps them in the artefact cache (mailsphere_cli.artefacts: checksummed, the key names the
exact Python build, so only the interpreter that made an entry reads it), and on the next
start hands them straight to `_sre.compile`: the pattern object is the one `re` would
have made. A pattern met for the first time is compiled by `re` as always and added.

`install()` hooks this into `re` for the rest of the process (the scan's forked workers
inherit it); `save()`, once the command's start-up is over, stores what was added and
ends the recording. With an `re` laid out otherwise, or the cache off, `re` is left as
it is.
"""
from __future__ import annotations

import sys
import threading
import types
from typing import Any

_KIND = "regex"
_LIMIT = 4096  # patterns kept; a start compiles ~300, more come only from unusual use
# A few patterns are new at every start (the email package builds four from sets, whose
# order changes from one process to the next): the table is written again only when more
# than these were new, not at every start.
_NEW_EVERY_TIME = 8
_table: dict[tuple[bool, str | bytes, int], tuple[Any, ...]] = {}
_used: set[tuple[bool, str | bytes, int]] = set()  # keys met while recording
_added = 0
_key: str | None = None
_installed = False
_loaded = 0  # patterns the table held when loaded
_recording = True  # until save(): patterns compiled later (from what a scan reads) are not kept
_seen = threading.local()  # the arguments of the last `_sre.compile` call on this thread


def install() -> bool:
    """Serve `re`'s compilation of string patterns from the table (loaded from the
    artefact cache) from now on; whether the hook is in place."""
    global _installed, _key, _loaded
    if _installed:
        return True
    try:
        import _sre
        from re import _compiler
        real_compile = _compiler.compile
        if _compiler._sre is not _sre or not callable(real_compile) \
                or not hasattr(_compiler, "SRE_FLAG_DEBUG"):
            return False
    except (ImportError, AttributeError):
        return False
    from mailsphere_cli import artefacts

    if artefacts.cache_dir() is None:
        return False
    _key, stored = artefacts.load_table(_KIND, sys.modules[__name__])
    _table.update(stored)
    _loaded = len(_table)
    debug = _compiler.SRE_FLAG_DEBUG

    # `_compiler` reaches `_sre` through its module global: a copy of the module whose
    # `compile` notes its arguments before making the pattern.
    noting = types.ModuleType(_sre.__name__, _sre.__doc__)
    noting.__dict__.update(_sre.__dict__)

    def note_and_compile(*args: Any) -> Any:
        _seen.args = args
        return _sre.compile(*args)

    noting.compile = note_and_compile

    def compile(p: Any, flags: int = 0) -> Any:  # re._compile calls this on a miss of its own cache
        global _added
        if type(p) not in (str, bytes) or flags & debug:
            return real_compile(p, flags)
        key = (isinstance(p, bytes), p, int(flags))
        args = _table.get(key)
        if args is not None:
            try:
                if args[0] != p:
                    raise ValueError("entry of another pattern")
                pattern = _sre.compile(*args)
            except Exception:  # noqa: BLE001 - an entry of another shape: compile it anew
                _table.pop(key, None)
            else:
                if _recording:
                    _used.add(key)
                return pattern
        _seen.args = None
        pattern = real_compile(p, flags)
        args, _seen.args = _seen.args, None
        if args is not None and args[0] is p and _recording and len(_table) < _LIMIT:
            _table[key] = _plain(args)
            _used.add(key)
            _added += 1
        return pattern

    _compiler._sre = noting
    _compiler.compile = compile
    _installed = True
    return True


def _plain(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments with `re`'s named integer constants (the opcodes in the code list,
    which do not pickle) as the plain integers `_sre.compile` reads them as."""
    return tuple([int(c) for c in a] if isinstance(a, list)
                 else int(a) if isinstance(a, int) and type(a) is not bool else a
                 for a in args)


def save() -> None:
    """The start-up is over: when it compiled more patterns the table did not hold than
    the few that are new every time, store the patterns this start-up used (so the table
    keeps the size of one start), and add no more (what is compiled from here on may be
    made from mail)."""
    global _added, _recording
    if not _installed or not _recording:
        return
    _recording = False
    if _added <= (_NEW_EVERY_TIME if _loaded else 0) or _key is None:
        return
    from mailsphere_cli import artefacts
    artefacts.save_table(_KIND, _key, _table, _used)
    _added = 0
