"""Where mail comes from: Maildir, mbox, .eml files, folders of them, or stdin.

Every source is a stream of `RawMessage` (identity = SHA-256 of the bytes) and
`SourceProblem` (a file that was skipped, with the reason, or could not be
read). Nothing is read whole into memory: an mbox is framed line by line and
a message larger than the size limit keeps only its head (its identity still
covers every byte).
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

FORMATS = ("auto", "maildir", "mbox", "eml")
_CHUNK = 1 << 20
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]{1,200}:")
_MBOX_SEPARATOR = re.compile(rb"^From \S*")
_QUOTED_FROM = re.compile(rb"^>+From ")
MBOX_SUFFIXES = (".mbox", ".mbx", ".mbs")


@dataclass(frozen=True, slots=True)
class Location:
    """Enough to find (and, on request, remove) the message in its source."""

    kind: str  # "maildir", "eml", "mbox", "stdin"
    path: str
    offset: int = -1  # mbox: byte offset of the From_ line
    length: int = 0  # mbox: bytes from the From_ line to the next one

    # These records cross the process boundary in every chunk (see FileRef): pickled as
    # their class and field values, not through the Python-level state functions that
    # dataclasses give frozen classes with slots (16 FileRefs: 79 -> 31 us to pickle,
    # 62 -> 23 us to unpickle).
    def __reduce__(self):
        return Location, (self.kind, self.path, self.offset, self.length)


@dataclass(frozen=True, slots=True)
class RawMessage:
    id: str
    origin: str
    data: bytes
    size: int
    location: Location
    truncated: bool = False

    def __reduce__(self):  # see Location
        return RawMessage, (self.id, self.origin, self.data, self.size, self.location,
                            self.truncated)


@dataclass(frozen=True, slots=True)
class SourceProblem:
    origin: str
    kind: str  # "skipped" (not a message) or "error" (could not be read)
    reason: str


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file of a folder or Maildir not read yet: the worker process that analyses it
    reads it (`read_ref`), so its bytes cross no process boundary."""

    path: str
    kind: str  # "maildir": a Maildir entry; "file": a file in a folder (.eml or mbox)

    def __reduce__(self):  # see Location
        return FileRef, (self.path, self.kind)


Item = Union[RawMessage, SourceProblem]


class SourceError(Exception):
    """A path the user gave that cannot be scanned at all."""


def _read_bounded(stream: BinaryIO, limit: int) -> tuple[bytes, str, int, bool]:
    """Keep the first `limit` bytes, hash all of them."""
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if len(head) < limit:
            head += chunk[: limit - len(head)]
    return bytes(head), digest.hexdigest(), size, size > limit


def _looks_like_message(head: bytes) -> str | None:
    """None when `head` starts like a message, else the reason it does not."""
    if not head.strip():
        return "empty file"
    if b"\x00" in head[:4096]:
        return "binary file, not a message"
    lines = head.lstrip(b"\r\n").split(b"\n", 2)
    first = lines[0]
    if first.startswith(b"From ") or first.startswith(b">From "):
        first = lines[1] if len(lines) > 1 else b""
    if _HEADER_LINE.match(first):
        return None
    return "does not start with a mail header"


# Files are opened without blocking: opening a FIFO (or a device) for reading waits for a
# writer, so a named pipe planted in a spool would hang the scan. Such a file is told by its
# mode once open and skipped; for a regular file the flag changes nothing.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _open_descriptor(origin: str) -> tuple[int, int] | SourceProblem:
    """A descriptor of the regular file at `origin` and its size, or why it cannot be read."""
    try:
        descriptor = os.open(origin, _OPEN_FLAGS)
    except OSError as exc:
        return _problem(origin, exc)
    try:
        status = os.fstat(descriptor)
    except OSError as exc:
        os.close(descriptor)
        return _problem(origin, exc)
    mode = status.st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        return SourceProblem(origin, "skipped", "is a directory" if stat.S_ISDIR(mode)
                             else "not a regular file (a pipe, socket or device)")
    return descriptor, status.st_size


def _open(path: Path | str) -> BinaryIO | SourceProblem:
    """The file opened for reading, or why it cannot be read."""
    opened = _open_descriptor(str(path))
    if isinstance(opened, SourceProblem):
        return opened
    return os.fdopen(opened[0], "rb")


def _problem(origin: str, exc: OSError) -> SourceProblem:
    """Why a file could not be opened."""
    if isinstance(exc, FileNotFoundError):
        return SourceProblem(origin, "error", "vanished before it could be read")
    if isinstance(exc, PermissionError):
        return SourceProblem(origin, "error", "permission denied")
    if isinstance(exc, IsADirectoryError):
        return SourceProblem(origin, "skipped", "is a directory")
    return SourceProblem(origin, "error", exc.strerror or str(exc))


def read_file(path: Path | str, kind: str, limit: int) -> Item:
    origin = str(path) if isinstance(path, Path) else _normal_path(path)
    stream = _open(origin)
    if isinstance(stream, SourceProblem):
        return stream
    try:
        with stream:
            data, digest, size, truncated = _read_bounded(stream, limit)
    except OSError as exc:
        return SourceProblem(origin, "error", exc.strerror or str(exc))
    reason = _looks_like_message(data[:8192])
    if reason:
        return SourceProblem(origin, "skipped", reason)
    return RawMessage(digest, origin, data, size, Location(kind, origin), truncated)


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def iter_maildir(root: Path, limit: int, defer: bool = False) -> Iterator[Item | FileRef]:
    """cur/ and new/ of the Maildir and of each Maildir++ subfolder (.Name)."""
    folders = [root]
    try:
        folders += sorted(p for p in root.iterdir() if p.name.startswith(".") and p.is_dir()
                          and p.name not in (".", "..") and is_maildir(p))
    except OSError as exc:
        yield SourceProblem(str(root), "error", exc.strerror or str(exc))
    for folder in folders:
        for sub in ("new", "cur"):
            directory = folder / sub
            if not directory.is_dir():
                continue
            try:
                names = sorted(os.listdir(directory))
            except OSError as exc:
                yield SourceProblem(str(directory), "error", exc.strerror or str(exc))
                continue
            for name in names:
                if name.startswith("."):
                    continue  # Maildir readers ignore dotfiles by convention
                if defer:
                    yield FileRef(os.path.join(directory, name), "maildir")
                else:
                    yield read_file(directory / name, "maildir", limit)


def _unquote(line: bytes) -> bytes:
    return line[1:] if _QUOTED_FROM.match(line) else line


def iter_mbox(path: Path, limit: int, force: bool = False) -> Iterator[Item]:
    """Frame an mbox line by line; mboxrd `>From ` lines lose one `>`.

    A separator is a `From ` line at the start of the file or after an empty line.
    A file with one message and no mbox name is reported as that file, not `file#0`.
    """
    origin = str(path)
    stream = _open(path)
    if isinstance(stream, SourceProblem):
        yield stream
        return
    named_mbox = force or _named_mbox(path)
    try:
        small = _read_small(stream, limit)
    except OSError:
        small = None
    single = _single_message_mbox(small, origin, named_mbox) if small else None
    if single is not None:
        stream.close()
        yield single
        return
    pending: RawMessage | None = None
    index = 0
    with stream:
        first = stream.readline()
        if not _MBOX_SEPARATOR.match(first):
            if _looks_like_message(first + stream.read(4096)) is None:
                stream.seek(0)
                yield read_file(path, "eml", limit)
            else:
                yield SourceProblem(origin, "skipped", "not an mbox (no From_ line at the start)")
            return
        start = 0
        position = len(first)
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        previous_blank = False
        last_line = b""

        def finish(end: int) -> RawMessage:
            nonlocal head, digest, size
            data = bytes(head)
            total = size
            # The empty line before the next separator belongs to the framing.
            if last_line in (b"\n", b"\r\n") and size <= limit:
                data = data[: len(data) - len(last_line)]
                digest = hashlib.sha256(data)
                total = len(data)
            message = RawMessage(digest.hexdigest(), f"{origin}#{index}", data, total,
                                 Location("mbox", origin, start, end - start), size > limit)
            digest, head, size = hashlib.sha256(), bytearray(), 0
            return message

        for line in stream:
            if previous_blank and _MBOX_SEPARATOR.match(line):
                if pending is not None:
                    yield pending
                pending = finish(position)
                index += 1
                start = position
                position += len(line)
                previous_blank = False
                last_line = b""
                continue
            position += len(line)
            body_line = _unquote(line)
            digest.update(body_line)
            size += len(body_line)
            if len(head) < limit:
                head += body_line[: limit - len(head)]
            previous_blank = line in (b"\n", b"\r\n")
            last_line = line
        if pending is not None:
            yield pending
        last = finish(position)
        if index == 0 and not named_mbox:
            last = RawMessage(last.id, origin, last.data, last.size,
                              Location("mbox", origin, 0, position), last.truncated)
        if last.size or index == 0:
            yield last


_QUOTED_FROM_LINES = re.compile(rb"(?m)^>(>*From )")
_SMALL = 4 << 20


def _single_message_mbox(data: bytes, origin: str, named_mbox: bool) -> RawMessage | None:
    """Fast path for a small file (all of it in `data`) holding one message behind a From_
    line (one message a file is how many archives and corpora come): framed in one go,
    exactly as the line-by-line reader would frame it; None when that reader must decide."""
    first_end = data.find(b"\n") + 1
    if not first_end or not _MBOX_SEPARATOR.match(data):
        return None
    body = data[first_end:]
    if b"\n\nFrom " in body or b"\n\r\nFrom " in body or body.startswith((b"From ", b"\n", b"\r\n")):
        return None  # more than one message, or an odd start: the general reader decides
    if b">From " in body:
        body = _QUOTED_FROM_LINES.sub(rb"\1", body)
    if body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    elif body.endswith(b"\n\n"):
        body = body[:-1]
    return RawMessage(hashlib.sha256(body).hexdigest(), f"{origin}#0" if named_mbox else origin,
                      body, len(body), Location("mbox", origin, 0, len(data)))


def _read_small(stream: BinaryIO, limit: int) -> bytes | None:
    """All of a small file (up to 4 MiB and the size limit) in one read, else None."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except OSError:
        return None
    if size > min(_SMALL, limit):
        return None
    data = stream.read(size + 1)
    stream.seek(0)
    return data if len(data) <= size else None  # it grew while read: the general readers


def _read_small_file(path: str, limit: int) -> bytes | SourceProblem | None:
    """`_read_small` of the file at `path` opened by `_open`, through the file's descriptor
    alone (a buffered stream cost 5-10 us a file more); None as there (a large file, one
    that grew while read, a read error), the problem `_open` would give when it cannot be
    opened (a directory, pipe or device is told by its mode)."""
    opened = _open_descriptor(path)
    if isinstance(opened, SourceProblem):
        return opened
    descriptor, size = opened
    try:
        if size > min(_SMALL, limit):
            return None
        data = b""
        while len(data) <= size:  # up to size + 1 bytes or the end, as a buffered read
            chunk = os.read(descriptor, size + 1 - len(data))
            if not chunk:
                break
            data += chunk
        return data if len(data) <= size else None
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _named_mbox(path: Path | str) -> bool:
    name = path.name if isinstance(path, Path) else path.rpartition("/")[2]
    return _suffix(name).lower() in MBOX_SUFFIXES or name.lower() in ("mbox", "inbox")


def _suffix(name: str) -> str:
    """PurePath(name).suffix of a file name."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _normal_path(path: str) -> str:
    """str(Path(path)), without making the Path when `path` already has that form (no
    repeated slash, no "." part, no trailing slash), as the paths of a folder walk have:
    a file's pathlib objects cost more than reading a small one."""
    if path and "//" not in path and "/./" not in path and not path.startswith("./") \
            and not path.endswith(("/", "/.")):
        return path
    return str(Path(path))


def iter_file(path: Path, limit: int) -> Iterator[Item]:
    """A file found in a folder, its kind told by its name and first line: opened once and,
    when small, read in one go (what nearly every file of a folder of mail is)."""
    return expand_ref(FileRef(str(path), "file"), limit)


def read_folder_file(path: Path | str, limit: int) -> Item | None:
    """What `iter_file` yields when the file holds one message (or is skipped, or cannot be
    read); None for an mbox that the line-by-line reader must frame (`iter_mbox`)."""
    origin = str(path) if isinstance(path, Path) else _normal_path(path)
    data = _read_small_file(origin, limit)
    if isinstance(data, SourceProblem):
        return data
    is_mbox = _suffix(origin.rpartition("/")[2]).lower() in MBOX_SUFFIXES
    if data is None:
        if not is_mbox and _detect_file(Path(origin)) == "mbox":
            is_mbox = True
    elif data.startswith(b"From "):
        is_mbox = True
    if is_mbox:
        return _single_message_mbox(data, origin, _named_mbox(origin)) if data else None
    if data is None:
        return read_file(Path(origin), "eml", limit)
    reason = _looks_like_message(data[:8192])
    if reason:
        return SourceProblem(origin, "skipped", reason)
    return RawMessage(hashlib.sha256(data).hexdigest(), origin, data, len(data),
                      Location("eml", origin))


def read_ref(ref: FileRef, limit: int) -> Item | None:
    """The message (or problem) a `FileRef` stands for, exactly as the reader of its folder
    would have yielded it; None for an mbox of several messages (see `expand_ref`)."""
    if ref.kind == "maildir":
        return read_file(ref.path, "maildir", limit)
    return read_folder_file(ref.path, limit)


def expand_ref(ref: FileRef, limit: int) -> Iterator[Item]:
    """Everything a `FileRef` stands for, an mbox of several messages included."""
    item = read_ref(ref, limit)
    if item is None:
        yield from iter_mbox(Path(ref.path), limit)
    else:
        yield item


def _detect_file(path: Path) -> str:
    if path.suffix.lower() in MBOX_SUFFIXES:
        return "mbox"
    stream = _open(path)
    if isinstance(stream, SourceProblem):
        return "eml"  # read_file meets the same problem and reports it
    try:
        with stream:
            first = stream.read(5)
    except OSError:
        return "eml"
    return "mbox" if first == b"From " else "eml"


def iter_folder(root: Path, limit: int, defer: bool = False) -> Iterator[Item | FileRef]:
    for directory, subdirs, files in os.walk(root, onerror=None):
        here = Path(directory)
        subdirs.sort()
        files.sort()
        kept = []
        for name in subdirs:
            sub = here / name
            if is_maildir(sub):
                yield from iter_maildir(sub, limit, defer)
            elif not name.startswith("."):
                kept.append(name)
        subdirs[:] = kept
        for name in files:
            if name.startswith("."):
                yield SourceProblem(str(here / name), "skipped", "hidden file")
            elif defer:
                yield FileRef(os.path.join(directory, name), "file")
            else:
                yield from iter_file(here / name, limit)


def iter_stdin(limit: int, stream: BinaryIO | None = None) -> Iterator[Item]:
    stream = stream or sys.stdin.buffer
    data, digest, size, truncated = _read_bounded(stream, limit)
    if data.startswith(b"From ") and b"\n\nFrom " in data:
        yield SourceProblem("-", "skipped", "stdin holds an mbox; pass it as a file")
        return
    reason = _looks_like_message(data[:8192])
    if reason:
        yield SourceProblem("-", "skipped", reason)
        return
    yield RawMessage(digest, "-", data, size, Location("stdin", "-"), truncated)


def check_paths(paths: list[str], fmt: str = "auto") -> None:
    """Fail early, with one clear line, on paths that cannot be scanned at all."""
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    for raw in paths:
        if raw == "-":
            continue
        path = Path(raw)
        if not path.exists():
            raise SourceError(f"{raw}: no such file or directory")
        if fmt == "maildir" and not is_maildir(path):
            raise SourceError(f"{raw}: not a Maildir (no cur/ or new/ inside)")


def iter_sources(paths: list[str], fmt: str = "auto", limit: int = 25 * 1024 * 1024,
                 stdin: BinaryIO | None = None, defer: bool = False) -> Iterator[Item | FileRef]:
    """Every message and problem of `paths`, in order. `defer`: the files of folders and
    Maildirs come as `FileRef`s, to be read (`read_ref`) where they are analysed."""
    check_paths(paths, fmt)
    for raw in paths:
        if raw == "-":
            yield from iter_stdin(limit, stdin)
            continue
        path = Path(raw)
        if path.is_dir():
            if fmt == "maildir" or (fmt == "auto" and is_maildir(path)):
                yield from iter_maildir(path, limit, defer)
            else:
                yield from iter_folder(path, limit, defer)
        elif fmt == "mbox":
            yield from iter_mbox(path, limit, force=True)
        elif fmt == "auto":
            yield from iter_file(path, limit)
        else:
            yield read_file(path, "eml", limit)
