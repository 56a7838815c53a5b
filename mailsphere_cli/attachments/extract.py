"""Find every object a message carries, wherever it hides.

MIME leaves (nested message/rfc822 included: the parser flattens them),
uuencoded blocks in text, TNEF winmail.dat members, base64 `data:` URIs in
HTML, and, when the MIME structure looks tampered with, base64 blocks in the
raw bytes that no MIME part accounts for.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Finding = tuple[str, str]

MAX_TEXT_SCAN = 8 * 1024 * 1024
MAX_UU_BLOCKS = 20
MAX_DATA_URIS = 50
MAX_RAW_BLOCKS = 50
MAX_TNEF_MEMBERS = 100
MIN_RAW_BLOCK = 64
TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"


@dataclass
class FoundObject:
    names: list[str]
    declared_type: str
    data: bytes
    source: str                    # mime | uuencode | tnef | data-uri | raw
    label: str                     # how it is shown when it has no name
    findings: list[Finding] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.names[0] if self.names else self.label


def find_objects(msg: Any) -> list[FoundObject]:
    objects: list[FoundObject] = []
    parts = getattr(msg, "parts", [])
    for part in parts:
        payload = part.payload or b""
        is_body_text = _is_body_text(part)
        if not is_body_text:
            found = FoundObject(list(part.filenames), part.content_type, payload, "mime",
                                f"part-{part.path}")
            objects.append(found)
            if _is_tnef(part, payload):
                objects.extend(_tnef_members(found))
        if part.content_type.startswith("text/") or is_body_text:
            text = payload[:MAX_TEXT_SCAN]
            objects.extend(_uuencoded(text, f"part {part.path}"))
            if part.content_type == "text/html":
                objects.extend(_data_uris(text, f"part {part.path}"))
    if mime_is_suspicious(msg):
        # Hashes of what the MIME parts hold, so a raw block that is one of them is skipped.
        known_hashes = {hashlib.sha256(part.payload or b"").hexdigest() for part in parts}
        objects.extend(_raw_blocks(getattr(msg, "raw", b"") or b"", known_hashes))
    return objects


def _is_body_text(part: Any) -> bool:
    flag = getattr(part, "is_text", None)
    if flag is not None:
        return bool(flag)
    return part.content_type in ("text/plain", "text/html") and part.disposition != "attachment" \
        and not part.filenames


# --- uuencode -----------------------------------------------------------------

_UU_BEGIN = re.compile(rb"^begin(?:-base64)? +[0-7]{3,4} +([^\r\n]{1,255})\r?$", re.M)


def _uuencoded(text: bytes, where: str) -> list[FoundObject]:
    if b"begin" not in text:  # the pattern's literal start: most text has none
        return []
    found = []
    for match in list(_UU_BEGIN.finditer(text))[:MAX_UU_BLOCKS]:
        name = match.group(1).decode("utf-8", "replace").strip()
        body_start = match.end() + 1
        end = re.compile(rb"^(?:end|====)\s*$", re.M).search(text, body_start)
        block = text[body_start:end.start() if end else len(text)]
        data = _uudecode(block) if not match.group(0).startswith(b"begin-base64") \
            else _b64(block)
        if data:
            found.append(FoundObject([name], mimetypes.guess_type(name)[0] or "", data, "uuencode",
                                     name, [("ATTACH_UUENCODED", f"uuencoded {name!r} in {where}")]))
    return found


def _uudecode(block: bytes) -> bytes:
    out = bytearray()
    for line in block.splitlines():
        if not line.strip() or line.strip() == b"`":
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Some encoders pad lines oddly; the length byte says what is real.
            try:
                length = (line[0] - 32) & 63
                out += binascii.a2b_uu(line[: (length * 4 + 5) // 3 + 1])
            except (binascii.Error, IndexError):
                continue
    return bytes(out)


def _b64(block: bytes) -> bytes:
    try:
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", block) + b"==", validate=False)
    except (binascii.Error, ValueError):
        return b""


# --- data: URIs ---------------------------------------------------------------

_DATA_URI = re.compile(rb"data:([a-z0-9.+\-]+/[a-z0-9.+\-]+)?((?:;[a-z0-9.+\-]+=[^;,\s\"']*)*);base64,"
                       rb"([A-Za-z0-9+/=\s]{16,})", re.I)


# What every data: URI match contains, in any case (re.I on bytes folds ASCII letters
# alone, as bytes.lower() does, without a lowercased copy of the whole text).
_BASE64_MARK = re.compile(rb";base64,", re.I)


def _data_uris(html: bytes, where: str) -> list[FoundObject]:
    if _BASE64_MARK.search(html) is None:
        return []
    found = []
    for index, match in enumerate(_DATA_URI.finditer(html)):
        if index >= MAX_DATA_URIS:
            break
        mime = (match.group(1) or b"").decode("ascii", "replace").lower()
        data = _b64(match.group(3))
        if not data:
            continue
        name_match = re.search(rb";name=([^;,]+)", match.group(2) or b"")
        names = [name_match.group(1).decode("utf-8", "replace")] if name_match else []
        findings = [] if mime.startswith("image/") else [
            ("ATTACH_DATA_URI_FILE", f"data:{mime or 'unknown'} URI in {where}")]
        found.append(FoundObject(names, mime, data, "data-uri", f"data-uri-{index + 1}", findings))
    return found


# --- TNEF ---------------------------------------------------------------------

def _is_tnef(part: Any, payload: bytes) -> bool:
    names = [n.lower() for n in part.filenames]
    return payload.startswith(TNEF_SIGNATURE) or part.content_type in (
        "application/ms-tnef", "application/vnd.ms-tnef") or "winmail.dat" in names


def _tnef_members(container: FoundObject) -> list[FoundObject]:
    try:
        from tnefparse import TNEF

        parsed = TNEF(container.data)
    except Exception as error:
        container.findings.append(("ATTACH_TNEF", f"unreadable TNEF: {type(error).__name__}"))
        return []
    members = []
    for attachment in list(parsed.attachments)[:MAX_TNEF_MEMBERS]:
        try:
            name = attachment.long_filename() or attachment.name or "tnef-member"
        except Exception:
            name = getattr(attachment, "name", "") or "tnef-member"
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        data = bytes(getattr(attachment, "data", b"") or b"")
        members.append(FoundObject([str(name).strip("\x00")], "", data, "tnef",
                                   f"{container.display_name}/{name}"))
    container.findings.append(("ATTACH_TNEF", f"TNEF container with {len(members)} file(s)"))
    return members


# --- raw fallback ---------------------------------------------------------------

_B64_BLOCK = re.compile(rb"(?:^[A-Za-z0-9+/]{40,100}={0,2}\r?\n){4,}", re.M)
# re.I on bytes: the matches of the pattern in the lowercased bytes, without the copy
# (its literal "\n" still lets `re` skip ahead fast).
_CTE_BASE64 = re.compile(rb"\ncontent-transfer-encoding:[ \t]*base64", re.I)
_SUSPICIOUS_DEFECTS = ("Boundary", "Multipart", "base64", "Invariant", "Missing", "Misplaced")


def mime_is_suspicious(msg: Any) -> bool:
    """True when the MIME structure may be hiding a part from a MIME-only reader."""
    defects = list(getattr(msg, "defects", []) or [])
    for part in getattr(msg, "parts", []):
        defects.extend(part.defects or [])
    if any(any(word in d for word in _SUSPICIOUS_DEFECTS) for d in defects):
        return True
    raw = getattr(msg, "raw", b"") or b""
    declared = len(_CTE_BASE64.findall(raw, 0, MAX_TEXT_SCAN * 4))
    decoded = sum(1 for p in getattr(msg, "parts", []) if p.cte == "base64")
    return declared > decoded


def _raw_blocks(raw: bytes, known_hashes: set[str]) -> list[FoundObject]:
    found = []
    for index, match in enumerate(_B64_BLOCK.finditer(raw)):
        if index >= MAX_RAW_BLOCKS:
            break
        data = _b64(match.group(0))
        if len(data) < MIN_RAW_BLOCK or hashlib.sha256(data).hexdigest() in known_hashes:
            continue
        known_hashes.add(hashlib.sha256(data).hexdigest())
        found.append(FoundObject([], "", data, "raw", f"raw-block-{index + 1}",
                                 [("ATTACH_HIDDEN_PART",
                                   f"base64 block at byte {match.start()} outside any MIME part")]))
    return found


# --- passwords ------------------------------------------------------------------

_PASSWORD_NEAR = re.compile(
    r"(?:password|passwort|kennwort|passcode|mot de passe|contrase(?:ñ|n)a|senha|wachtwoord|"
    r"has(?:ł|l)o|parola|pass|pwd|pw|code|key)\b\s*(?:is|ist|est|:|=|-|–)?\s*[:=]?\s*"
    r"[\"'“«]?([^\s\"'”»]{2,64})", re.I)
_LONE_TOKEN = re.compile(r"^\s*[\"'“«]?([A-Za-z0-9!@#$%^&*_\-+=.]{3,32})[\"'”»]?\s*$", re.M)


class LazyPasswords(Sequence):
    """Password candidates, searched for only when an encrypted archive asks (rarely)."""

    def __init__(self, msg: Any, limit: int):
        self._msg, self._limit, self._items = msg, limit, None

    def _all(self) -> list[str]:
        if self._items is None:
            self._items = password_candidates(self._msg, self._limit)
        return self._items

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())


def password_candidates(msg: Any, limit: int = 20) -> list[str]:
    """Words the sender may have given as the archive password, likeliest first."""
    texts = [getattr(msg, "subject", "") or "", getattr(msg, "text", "") or "",
             getattr(msg, "html_text", "") or ""]
    text = "\n".join(texts)[:256 * 1024]
    seen: dict[str, None] = {}
    for match in _PASSWORD_NEAR.finditer(text):
        seen.setdefault(match.group(1).rstrip(".,;:!)"), None)
        seen.setdefault(match.group(1), None)
    for match in _LONE_TOKEN.finditer(text):
        seen.setdefault(match.group(1), None)
    return [p for p in seen if p][:limit]
