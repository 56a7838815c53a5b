"""PDF: active content by its names, including names hidden behind #xx escapes.

Names are normalised before matching (/J#61vaScript is /JavaScript), and
Flate streams (where object streams hide dictionaries) are inflated within a
bound and searched too.
"""
from __future__ import annotations

import re
import zlib

Finding = tuple[str, str]

MAX_STREAMS = 200
MAX_INFLATED = 4 * 1024 * 1024      # per stream
MAX_INFLATED_TOTAL = 32 * 1024 * 1024
MANY_URIS = 25

_NAME = re.compile(rb"/([A-Za-z0-9#_.\-]{1,64})")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n")
_URI_ACTION = re.compile(rb"/URI\s*\(")


def analyse(data: bytes) -> list[Finding]:
    findings: list[Finding] = []
    names: dict[bytes, int] = {}
    obfuscated: set[bytes] = set()
    uri_count = 0
    for chunk in _searchable(data):
        for match in _NAME.finditer(chunk):
            raw = match.group(1)
            name = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw) if b"#" in raw else raw
            if name != raw:
                obfuscated.add(name)
            names[name] = names.get(name, 0) + 1
        uri_count += len(_URI_ACTION.findall(chunk))

    def has(*wanted: bytes) -> bool:
        return any(w in names for w in wanted)

    if has(b"JavaScript", b"JS"):
        findings.append(("PDF_JAVASCRIPT", f"/JavaScript or /JS x{names.get(b'JavaScript', 0) + names.get(b'JS', 0)}"))
        if has(b"OpenAction", b"AA"):
            findings.append(("PDF_AUTO_JAVASCRIPT", "JavaScript with /OpenAction or /AA"))
    if has(b"OpenAction"):
        findings.append(("PDF_OPENACTION", "/OpenAction"))
    if has(b"Launch"):
        findings.append(("PDF_LAUNCH", "/Launch action"))
    if has(b"EmbeddedFile", b"EmbeddedFiles"):
        findings.append(("PDF_EMBEDDED_FILE", "/EmbeddedFile"))
    if has(b"XFA"):
        findings.append(("PDF_XFA", "/XFA form"))
    if uri_count >= MANY_URIS:
        findings.append(("PDF_MANY_URIS", f"{uri_count} URI actions"))
    interesting = {b"JavaScript", b"JS", b"OpenAction", b"AA", b"Launch", b"EmbeddedFile",
                   b"EmbeddedFiles", b"XFA", b"URI", b"AcroForm", b"RichMedia", b"ObjStm"}
    hidden = sorted(n.decode("latin-1") for n in obfuscated & interesting)
    if hidden:
        findings.append(("PDF_OBFUSCATED_NAMES", "escaped names " + ", ".join("/" + n for n in hidden)))
    return findings


def _searchable(data: bytes):
    """The file itself, then its Flate streams inflated within the bounds."""
    yield data
    total = 0
    for count, match in enumerate(_STREAM.finditer(data)):
        if count >= MAX_STREAMS or total >= MAX_INFLATED_TOTAL:
            return
        start = match.end()
        end = data.find(b"endstream", start)
        if end < 0:
            return
        inflater = zlib.decompressobj()
        try:
            inflated = inflater.decompress(data[start:end], MAX_INFLATED)
        except zlib.error:
            continue
        total += len(inflated)
        if inflated:
            yield inflated
