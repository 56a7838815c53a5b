"""Open archives without trusting them: every read is bounded.

A bomb must never expand in memory beyond the limits, so members are read in
chunks and reading stops as soon as a limit is crossed; each limit becomes its
own finding. The `Budget` is shared by every archive of one message, which is
what stops a 42.zip-style fan-out: the member count and expanded bytes are
counted across all nesting levels, not per archive.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

from mailsphere_cli.attachments.policy import Limits

CHUNK = 256 * 1024
# A member whose declared sizes already say "bomb" is still read this far,
# enough for typing and signatures, and no further.
BOMB_PREFIX = 64 * 1024

Finding = tuple[str, str]


@dataclass
class Budget:
    """What is left for the whole message."""

    limits: Limits
    members: int = 0
    expanded: int = 0
    members_exhausted: bool = False
    expanded_exhausted: bool = False

    @property
    def room(self) -> int:
        return max(0, self.limits.max_expanded - self.expanded)


@dataclass(slots=True)
class Member:
    name: str
    data: bytes
    truncated: bool = False  # only a prefix was kept


@dataclass
class Expansion:
    """Members of one archive, produced lazily; findings fill in as it runs."""

    label: str
    data: bytes
    budget: Budget
    passwords: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    encrypted: bool = False
    opened_with: str | None = None
    suggested_name: str = ""

    def __iter__(self) -> Iterator[Member]:
        opener = {
            "zip": self._zip, "7z": self._sevenzip, "tar": self._tar,
            "gzip": self._single, "bzip2": self._single, "xz": self._single,
        }.get(self.label)
        if opener is None:
            return iter(())
        return opener()

    # --- shared bounded reading -------------------------------------------

    def _note(self, rule: str, detail: str) -> None:
        if (rule, detail) not in self.findings:
            self.findings.append((rule, detail))

    def _admit_member(self, name: str) -> bool:
        budget = self.budget
        if budget.members >= budget.limits.max_members:
            if not budget.members_exhausted:
                budget.members_exhausted = True
                self._note("ATTACH_ARCHIVE_TOO_MANY_MEMBERS",
                           f"more than {budget.limits.max_members} members; stopped at {name!r}")
            return False
        if budget.expanded_exhausted:
            return False
        budget.members += 1
        return True

    def _read(self, stream: Any, name: str, compressed: int, declared: int | None = None) -> Member:
        """Read one member from `stream` in chunks, within every limit."""
        limits = self.budget.limits
        ratio_cap = max(limits.ratio_floor, int(compressed * limits.max_ratio))
        keep_cap = limits.max_object
        declared_bomb = declared is not None and declared > ratio_cap
        if declared_bomb:
            self._note("ATTACH_ARCHIVE_BOMB_RATIO",
                       f"{name!r} declares {declared} bytes from {compressed} "
                       f"(over {limits.max_ratio:g}:1)")
            keep_cap = ratio_cap = BOMB_PREFIX
        kept = bytearray()
        total = 0
        truncated = False
        while True:
            want = min(CHUNK, ratio_cap - total + 1, self.budget.room - total + 1)
            chunk = stream.read(max(1, want))
            if not chunk:
                break
            total += len(chunk)
            if total > ratio_cap:
                if not declared_bomb:
                    self._note("ATTACH_ARCHIVE_BOMB_RATIO",
                               f"{name!r} expands past {ratio_cap} bytes from {compressed} "
                               f"(over {limits.max_ratio:g}:1)")
                truncated = True
            elif total > self.budget.room:
                self.budget.expanded_exhausted = True
                self._note("ATTACH_ARCHIVE_TOO_LARGE",
                           f"archives expand past {limits.max_expanded} bytes at {name!r}")
                truncated = True
            space = min(keep_cap, ratio_cap, self.budget.room) - len(kept)
            if space > 0:
                kept += chunk[:space]
            if truncated:
                break
            if total > keep_cap:
                self._note("ATTACH_ARCHIVE_OBJECT_TOO_LARGE",
                           f"{name!r} is larger than {keep_cap} bytes; only its start was scanned")
                truncated = True
                break
        self.budget.expanded += min(total, self.budget.room)
        return Member(name, bytes(kept), truncated)

    # --- formats ------------------------------------------------------------

    def _zip(self) -> Iterator[Member]:
        declared_entries = _zip_entry_count(self.data)
        if declared_entries is not None and declared_entries > 10 * self.budget.limits.max_members:
            # Parsing a central directory that large is itself the attack.
            self._note("ATTACH_ARCHIVE_TOO_MANY_MEMBERS",
                       f"zip declares {declared_entries} members; not opened")
            self.budget.members_exhausted = True
            return
        try:
            import pyzipper  # on the first zip met: 0.1 s that a scan without zips saves

            archive = pyzipper.AESZipFile(io.BytesIO(self.data))
        except Exception as error:
            self._note("ATTACH_ARCHIVE_CORRUPT", f"zip: {error}")
            return
        with archive:
            try:
                yield from self._zip_members(archive)
            finally:
                if self.encrypted:
                    self._encrypted_finding("zip")

    def _zip_members(self, archive: Any) -> Iterator[Member]:
        password: bytes | None = None
        tried = False
        for info in archive.infolist():
            if info.is_dir():
                continue
            if not self._admit_member(info.filename):
                return
            if info.flag_bits & 0x1:
                self.encrypted = True
                if not tried:
                    tried = True
                    password, member = self._zip_try_passwords(archive, info)
                elif password is not None:
                    member = self._zip_member(archive, info, password)
                else:
                    member = None
            else:
                member = self._zip_member(archive, info, None)
            if member is not None:
                yield member
            if self.budget.expanded_exhausted:
                return

    def _zip_member(self, archive: Any, info: Any, password: bytes | None) -> Member | None:
        try:
            with archive.open(info, pwd=password) as stream:
                return self._read(stream, info.filename, info.compress_size, info.file_size)
        except Exception as error:
            self._note("ATTACH_ARCHIVE_CORRUPT", f"zip member {info.filename!r}: {error}")
            return None

    def _zip_try_passwords(self, archive: Any, info: Any) -> tuple[bytes | None, Member | None]:
        for candidate in self.passwords[: self.budget.limits.max_passwords]:
            secret = candidate.encode("utf-8", "replace")
            try:
                with archive.open(info, pwd=secret) as stream:
                    # A wrong ZipCrypto key passes the check byte 1 time in 256;
                    # the CRC at the end of the read catches it.
                    member = self._read(stream, info.filename, info.compress_size, info.file_size)
            except (RuntimeError, zipfile.BadZipFile, zlib.error, ValueError, NotImplementedError):
                continue
            except Exception:
                continue
            self.opened_with = candidate
            return secret, member
        return None, None

    def _encrypted_finding(self, kind: str) -> None:
        if self.opened_with is not None:
            self._note("ATTACH_ARCHIVE_ENCRYPTED",
                       f"{kind} is encrypted; opened with a password found in the message")
            self._note("ATTACH_ARCHIVE_PASSWORD_IN_BODY",
                       f"password {self.opened_with!r} from the message opens the {kind}")
        else:
            self._note("ATTACH_ARCHIVE_ENCRYPTED",
                       f"{kind} is encrypted and no password in the message opens it")

    def _sevenzip(self) -> Iterator[Member]:
        import py7zr  # imported on the first 7z met: 0.15 s that most scans never need

        candidates: list[str | None] = [None]
        try:
            with py7zr.SevenZipFile(io.BytesIO(self.data)) as archive:
                self.encrypted = archive.needs_password()
        except py7zr.PasswordRequired:
            self.encrypted = True  # even the member list is encrypted
        except Exception as error:
            self._note("ATTACH_ARCHIVE_CORRUPT", f"7z: {error}")
            return
        if self.encrypted:
            candidates = list(self.passwords[: self.budget.limits.max_passwords])
        members: list[Member] = []
        for candidate in candidates:
            extracted = self._sevenzip_extract(candidate)
            if extracted is not None:
                members = extracted
                self.opened_with = candidate
                break
        if self.encrypted:
            self._encrypted_finding("7z")
        yield from members

    def _sevenzip_extract(self, password: str | None) -> list[Member] | None:
        """All members of the 7z (py7zr pushes them to writers; ours are bounded).
        None when the password is wrong."""
        import py7zr

        from mailsphere_cli.attachments.sevenzip import BoundedWriterFactory
        factory = BoundedWriterFactory(self)
        budget = self.budget
        try:
            with py7zr.SevenZipFile(io.BytesIO(self.data), password=password) as archive:
                names = [e.filename for e in archive.list() if not e.is_directory]
                room = max(0, budget.limits.max_members - budget.members)
                if budget.expanded_exhausted:
                    room = 0
                admitted = names[:room]
                if len(names) > room and not budget.members_exhausted:
                    budget.members_exhausted = True
                    self._note("ATTACH_ARCHIVE_TOO_MANY_MEMBERS",
                               f"more than {budget.limits.max_members} members; "
                               f"stopped at {names[room]!r}")
                if admitted:
                    archive.extract(targets=admitted, factory=factory)
                budget.members += len(admitted)
        except _LimitStop:
            budget.members += len(factory.writers)
        except Exception as error:
            if password is not None:
                return None
            self._note("ATTACH_ARCHIVE_CORRUPT", f"7z: {error}")
        return factory.members()

    def _tar(self) -> Iterator[Member]:
        try:
            archive = tarfile.open(fileobj=io.BytesIO(self.data), mode="r:")
        except Exception as error:
            self._note("ATTACH_ARCHIVE_CORRUPT", f"tar: {error}")
            return
        with archive:
            try:
                for entry in archive:
                    if not entry.isfile():
                        continue
                    if not self._admit_member(entry.name):
                        return
                    stream = archive.extractfile(entry)
                    if stream is None:
                        continue
                    yield self._read(stream, entry.name, max(entry.size, 1), entry.size)
                    if self.budget.expanded_exhausted:
                        return
            except Exception as error:
                self._note("ATTACH_ARCHIVE_CORRUPT", f"tar: {error}")

    def _single(self) -> Iterator[Member]:
        """gzip, bzip2 and xz hold one stream; its name comes from the gzip
        header when there is one, else from the archive's own name."""
        name = _gzip_original_name(self.data) if self.label == "gzip" else ""
        name = name or _strip_suffix(self.suggested_name) or "content"
        if not self._admit_member(name):
            return
        opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[self.label]
        try:
            with opener(fileobj=io.BytesIO(self.data)) if self.label == "gzip" \
                    else opener(io.BytesIO(self.data)) as stream:
                member = self._read(stream, name, len(self.data))
        except Exception as error:
            self._note("ATTACH_ARCHIVE_CORRUPT", f"{self.label}: {error}")
            return
        yield member


class _LimitStop(Exception):
    """Raised inside py7zr's write path to stop extraction at a limit."""


def _zip_entry_count(data: bytes) -> int | None:
    """Entry count from the end-of-central-directory record, read without parsing."""
    tail = data[-(65536 + 22):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 12 > len(tail):
        return None
    count = int.from_bytes(tail[at + 10:at + 12], "little")
    if count == 0xFFFF:  # zip64: the real count lives in the zip64 record
        at64 = tail.rfind(b"PK\x06\x06")
        if at64 >= 0 and at64 + 40 <= len(tail):
            return int.from_bytes(tail[at64 + 32:at64 + 40], "little")
    return count


def _gzip_original_name(data: bytes) -> str:
    if len(data) < 10 or not data[3] & 0x08:
        return ""
    position = 10
    if data[3] & 0x04 and len(data) >= 12:
        position += 2 + int.from_bytes(data[10:12], "little")
    end = data.find(b"\x00", position, position + 1024)
    if end < 0:
        return ""
    return data[position:end].decode("latin-1")


def _strip_suffix(name: str) -> str:
    lowered = name.lower()
    for suffix, replacement in ((".tgz", ".tar"), (".gz", ""), (".bz2", ""), (".xz", ""),
                                (".tbz2", ".tar"), (".txz", ".tar")):
        if lowered.endswith(suffix):
            return name[: len(name) - len(suffix)] + replacement
    return ""
