"""A cache of what every start rebuilds from the same files: the checked rule pack, the
public suffix list, the compiled YARA rules, the classifier's weights and the
Hyperscan databases (rules/hyperscan_set.py, through `read` and `write`).

Where: $MAILSPHERE_CACHE_DIR, else $XDG_CACHE_HOME/mailsphere, else
~/.cache/mailsphere. Deleting the directory (or any file in it) is always safe: what
is missing is built again on the next start. MAILSPHERE_NO_CACHE=1 turns it off.

An entry is named by its kind and a key: a SHA-256 over every input it was built from
(the source files' bytes, Mailsphere's version, the Python and library versions, the
source of the code that builds it). A changed input gives another name, so a stale
entry is never read; each kind keeps its 16 most recently used entries. A file holds a magic
line, the SHA-256 of its payload and the payload: a file that is truncated, damaged,
of another format, not owned by this user or writable by others is not used, and the
artefact is built from its sources as if there were no cache (and written again).
Entries are written to a temporary file and renamed into place, so a reader never
sees half an entry. The payload is a pickle: the directory is trusted as the user's
own files are (like ~/.cache of any program); the checks above keep others' files and
accidents out.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from mailsphere_cli import __version__

T = TypeVar("T")
_MAGIC = b"mailsphere-cache 1\n"
_DIGEST = 64  # hex characters of the payload's SHA-256
KEEP = 16  # entries kept per kind, the most recently used


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is off or there is no home directory."""
    if os.environ.get("MAILSPHERE_NO_CACHE"):
        return None
    explicit = os.environ.get("MAILSPHERE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory: no cache, build every time
            return None
    return Path(base) / "mailsphere"


def _machine() -> str:
    """platform.machine() (the same value on Unix, where it is os.uname's) without importing
    `platform` on Unix: this module is imported before regex_cache is in place (which keys its
    table with key_of), and `platform` compiles a dozen regular expressions when imported."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform
    return platform.machine()


def key_of(kind: str, parts: Iterable[bytes | str]) -> str:
    """The entry name's key: the inputs, Mailsphere's version, Python and the machine."""
    digest = hashlib.sha256()
    for part in (kind, __version__, sys.version, _machine(), *parts):
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:40]


def source_of(*modules: Any) -> list[bytes]:
    """The source bytes of modules whose code shapes an artefact (a changed check in
    the rule loader must not be skipped by a pack cached before the change)."""
    out = []
    for module in modules:
        try:
            out.append(Path(module.__file__).read_bytes())
        except (OSError, TypeError, AttributeError):
            out.append(b"?" + getattr(module, "__name__", "?").encode())
    return out


def stamps(*modules: Any) -> list[bytes]:
    """Each module's file with its size and modification time: a library upgraded in
    place changes them. Pass compiled extensions themselves (re2._re2), not only the
    package that wraps them."""
    out = []
    for module in modules:
        name = getattr(module, "__file__", None) or ""
        info = os.stat(name) if name else None
        out.append(f"{getattr(module, '__name__', '?')}\0{name}\0"
                   f"{info.st_size if info else 0}\0{info.st_mtime_ns if info else 0}"
                   .encode("utf-8", "surrogateescape"))
    return out


def files_digest(paths: Iterable[Path | str], names: bool = True) -> list[bytes]:
    """Each file's bytes (and path, when the artefact records where its files were), as
    key parts; OSError when one cannot be read."""
    parts = []
    for path in paths:
        path = Path(path)
        if names:
            parts.append(str(path).encode("utf-8", "surrogateescape"))
        parts.append(hashlib.sha256(path.read_bytes()).digest())
    return parts


def _trusted(path: Path, writable_by: int = 0o022) -> bool:
    """Owned by this user and writable by nobody else (`writable_by`: the group and others
    for an entry, which this module writes 0600; others alone for the directory, which a
    umask of 002 makes group-writable where every user has a group of their own)."""
    if not hasattr(os, "getuid"):
        return True
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & writable_by


def read(kind: str, key: str) -> bytes | None:
    """The payload of an entry, or None when it is missing or cannot be trusted."""
    directory = cache_dir()
    if directory is None:
        return None
    path = directory / f"{kind}-{key}.bin"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_MAGIC) or not _trusted(path) or \
            not _trusted(directory, writable_by=0o002):
        return None
    head = len(_MAGIC)
    digest, payload = data[head:head + _DIGEST], data[head + _DIGEST + 1:]
    if data[head + _DIGEST:head + _DIGEST + 1] != b"\n" or \
            hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    try:  # in use: the pruning of older entries keeps it
        if time.time() - path.stat().st_mtime > 60:
            os.utime(path)
    except OSError:
        pass
    return payload


def write(kind: str, key: str, payload: bytes, keep: int = KEEP) -> None:
    """Store an entry (atomically) and drop the least recently used of its kind past
    `keep`; a cache that cannot be written costs the next start a build, nothing else."""
    directory = cache_dir()
    if directory is None:
        return
    temp = None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{kind}-", delete=False) as out:
            temp = out.name
            out.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(temp, directory / f"{kind}-{key}.bin")
    except OSError:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
        return
    try:
        entries = sorted(directory.glob(f"{kind}-*.bin"), key=lambda p: p.stat().st_mtime,
                         reverse=True)
        for old in entries[keep:]:
            old.unlink()
    except OSError:
        pass


def load_table(kind: str, module: Any) -> tuple[str, dict]:
    """The entry key of a start-up table kept by `module` (regex_cache, code_cache: keyed by
    the module's own source) and the table stored under it ({} when there is none or it
    does not unpickle to a dict)."""
    key = key_of(kind, source_of(module))
    payload = read(kind, key)
    if payload is not None:
        try:
            table = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - a damaged entry: start with an empty table
            table = None
        if isinstance(table, dict):
            return key, table
    return key, {}


def save_table(kind: str, key: str, table: dict, used: set, keep: int = 4) -> None:
    """Store the entries of `table` that this start used (so a table keeps the size of
    one start, however many starts it has served)."""
    try:
        payload = pickle.dumps({name: table[name] for name in used},
                               protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - never expected (plain data); just not cached
        return
    write(kind, key, payload, keep=keep)


def cached(kind: str, parts: Iterable[bytes | str], build: Callable[[], T],
           check: Callable[[Any], bool] = lambda value: True) -> T:
    """`build()`'s result, from the cache when an entry for exactly these inputs is there
    and unpickles to a value `check` accepts; else built (errors are build's own) and
    stored."""
    key = key_of(kind, parts)
    payload = read(kind, key)
    if payload is not None:
        try:
            value = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - a damaged entry fails in many ways: build instead
            value = None
        else:
            if check(value):
                return value
    value = build()
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - not picklable (a test's own objects): just not cached
        return value
    write(kind, key, data)
    return value


def parsed_toml(path: Path | str, universal_newlines: bool = True) -> dict:
    """tomllib's parse of a data file read at every start (brands, DNSBL zones, the
    attachment policy: ~25 ms of CPU together), from the cache when the same bytes were
    parsed before. `universal_newlines` reads the file as `Path.read_text` does (CR LF
    and CR become LF), else as `tomllib.load` on a binary file does. Errors are
    tomllib's (or UnicodeDecodeError's), raised when the file is parsed."""
    import tomllib
    raw = Path(path).read_bytes()

    def build() -> dict:
        text = raw.decode("utf-8")
        if universal_newlines:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return tomllib.loads(text)

    return cached("toml", [hashlib.sha256(raw).digest(), str(universal_newlines)], build,
                  check=lambda value: isinstance(value, dict))

