"""OneNote: files embedded in a .one section are carved out and judged."""
from __future__ import annotations

from mailsphere_cli.verdict import Action
from tests.test_attachments_builders import eml, findings_by_path, scan, tiny_pe

ONENOTE_MAGIC = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
FILE_DATA_STORE = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")


def onenote_with(payload: bytes) -> bytes:
    # A section file header, some of its other structures, then one FileDataStoreObject:
    # GUID, 64-bit length, 12 reserved bytes, the file.
    record = FILE_DATA_STORE + len(payload).to_bytes(8, "little") + bytes(12) + payload
    return ONENOTE_MAGIC + bytes(1024) + record + bytes(64)


def test_executable_embedded_in_onenote_is_found():
    ctx = scan(eml([("Invoice.one", onenote_with(tiny_pe()), "application/onenote")]))
    found = findings_by_path(ctx)
    assert "ONENOTE_EMBEDDED_FILE" in found["Invoice.one"]
    inner = [rules for path, rules in found.items() if path.startswith("Invoice.one/")]
    assert inner and "ATTACH_EXECUTABLE" in inner[0]
    assert [f.action for f in ctx.forced] == [Action.MALICIOUS]


def test_onenote_without_embedded_files_is_quiet():
    ctx = scan(eml([("Notes.one", ONENOTE_MAGIC + bytes(4096), "application/onenote")]))
    assert findings_by_path(ctx) == {"Notes.one": []}
    assert ctx.forced == []
