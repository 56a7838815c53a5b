"""TNEF (winmail.dat): the files Outlook wraps inside it are found and judged."""
from __future__ import annotations

import struct

from mailsphere_cli.verdict import Action
from tests.test_attachments_builders import EICAR, eml, findings_by_path, scan, tiny_pe


def _attribute(level: int, ident: int, data: bytes) -> bytes:
    # level, attribute id, length, data, 16-bit additive checksum of the data
    return struct.pack("<BII", level, ident, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    blob = struct.pack("<IH", 0x223E9F78, 0x0101)
    blob += _attribute(1, 0x00089006, struct.pack("<I", 0x00010000))  # TNEF version
    blob += _attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # OEM code page
    for name, data in files:
        blob += _attribute(2, 0x00069002, b"\x00" * 14)  # attachment rendering: starts one
        blob += _attribute(2, 0x00018010, name.encode() + b"\x00")  # title
        blob += _attribute(2, 0x0006800F, data)  # the file
    return blob


def test_files_inside_winmail_dat_are_extracted_and_judged():
    ctx = scan(eml([("winmail.dat", tnef([("notes.txt", b"plain words\n"),
                                          ("setup.exe", tiny_pe())]),
                     "application/ms-tnef")]))
    found = findings_by_path(ctx)
    inner = {path: rules for path, rules in found.items() if path != "winmail.dat"}
    assert any(path.endswith("setup.exe") and "ATTACH_EXECUTABLE" in rules
               for path, rules in inner.items()), found
    assert any(path.endswith("notes.txt") and rules == [] for path, rules in inner.items()), found
    assert [f.action for f in ctx.forced] == [Action.MALICIOUS]


def test_eicar_inside_tnef_is_found_by_yara():
    ctx = scan(eml([("winmail.dat", tnef([("report.txt", EICAR)]), "application/ms-tnef")]))
    inner = [rules for path, rules in findings_by_path(ctx).items() if path.endswith("report.txt")]
    assert inner and "ATTACH_YARA_MALICIOUS" in inner[0]
