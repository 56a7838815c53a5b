"""Compiled code of the functions the standard library writes as source text at import,
kept from one start of `mailsphere scan` to the next.

`dataclasses` makes every method of a dataclass (`__init__`, `__repr__`, `__eq__`...) by
writing its source and `exec`-ing it, and `collections.namedtuple` its `__new__` by
`eval`: the ~330 functions of the classes a scan imports (Mailsphere's ~80 dataclasses and
the libraries') were parsed and compiled again at every start. The compiling is what costs;
what it makes is a code object, which `marshal` writes and reads as it does for `.pyc`
files. This module keeps the code compiled from each source text in the artefact cache
(mailsphere_cli.artefacts: checksummed; the key names the exact Python build, so only the
interpreter that made an entry reads it) and at the next start gives `exec` / `eval` the
code object instead of the text: the same code, compiled the same way (file name
"<string>", no inherited `from __future__` flags, as the two modules compile theirs), run
in the same namespaces. Text met for the first time is compiled as always and added.

`install()` puts the two hooks in place (as module globals of `dataclasses` and
`collections`, which find `exec` and `eval` there before the builtins) for the rest of the
process; `save()`, once the command's start-up is over, stores what was added and ends the
recording. With the cache off, nothing is hooked.
"""
from __future__ import annotations

import marshal
import sys
import types
from typing import Any

_KIND = "code"
_LIMIT = 4096  # texts kept; a scan's start-up compiles ~400
_table: dict[tuple[str, str], bytes] = {}  # (mode, source text) -> marshalled code
_used: set[tuple[str, str]] = set()  # keys met while recording
_added = 0
_key: str | None = None
_installed = False
_recording = True  # until save()


def _code(mode: str, source: str) -> types.CodeType:
    global _added
    key = (mode, source)
    data = _table.get(key)
    if data is not None:
        try:
            code = marshal.loads(data)
        except Exception:  # noqa: BLE001 - an entry of another shape: compile it anew
            code = None
        if type(code) is types.CodeType:
            if _recording:
                _used.add(key)
            return code
        _table.pop(key, None)
    code = compile(source, "<string>", mode, dont_inherit=True)
    if _recording and len(_table) < _LIMIT:
        _table[key] = marshal.dumps(code)
        _used.add(key)
        _added += 1
    return code


def _cached_exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:  # noqa: A002
    if type(source) is str:
        source = _code("exec", source)
    return exec(source, globals, locals)  # noqa: S102 - the caller's own generated code


def _cached_eval(source: Any, globals: Any = None, locals: Any = None, /) -> Any:  # noqa: A002
    if type(source) is str:
        source = _code("eval", source)
    return eval(source, globals, locals)  # noqa: S307 - the caller's own generated code


def install() -> bool:
    """Serve the code of `dataclasses`' and `namedtuple`'s generated functions from the
    table (loaded from the artefact cache) from now on; whether the hooks are in place."""
    global _installed, _key
    if _installed:
        return True
    import collections
    import dataclasses

    # Only where the two modules call the builtins by name and nobody has put anything
    # of their own in their place.
    if "exec" in vars(dataclasses) or "eval" in vars(collections):
        return False
    from mailsphere_cli import artefacts

    if artefacts.cache_dir() is None:
        return False
    _key, stored = artefacts.load_table(_KIND, sys.modules[__name__])
    _table.update(stored)
    dataclasses.exec = _cached_exec  # type: ignore[attr-defined]
    collections.eval = _cached_eval  # type: ignore[attr-defined]
    _installed = True
    return True


def save() -> None:
    """The start-up is over: when it compiled text the table did not hold, store the code
    this start-up used (so the table keeps the size of one start), and add no more."""
    global _added, _recording
    if not _installed or not _recording:
        return
    _recording = False
    if not _added or _key is None:
        return
    from mailsphere_cli import artefacts
    artefacts.save_table(_KIND, _key, _table, _used)
    _added = 0
