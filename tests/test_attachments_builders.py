"""Builders for attachment test files, made here rather than stored as binaries.

No Python library writes VBA projects, so the macro document is hand-built:
a minimal OLE compound file (with a mini stream) holding a VBA project whose
`dir` stream and module are MS-OVBA "compressed" using literal tokens only.
The tests at the bottom prove the builders produce what real parsers accept.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import io
import struct
import zipfile
from email.message import EmailMessage

import py7zr
import pyzipper

from mailsphere_cli.context import Context
from mailsphere_cli.message import ParsedMessage

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def tiny_pe() -> bytes:
    """MZ header pointing at a PE signature: enough to be a program by content."""
    head = bytearray(256)
    head[0:2] = b"MZ"
    head[0x3C:0x40] = struct.pack("<I", 0x80)
    head[0x80:0x84] = b"PE\x00\x00"
    head[0x4E:0x4E + 38] = b"This program cannot be run in DOS mode"
    return bytes(head)


# --- archives ---------------------------------------------------------------

def zip_of(files: list[tuple[str, bytes]], *, password: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    if password:
        with pyzipper.AESZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED,
                                 encryption=pyzipper.WZ_AES) as archive:
            archive.setpassword(password)
            for name, data in files:
                archive.writestr(name, data)
    else:
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files:
                archive.writestr(name, data)
    return buffer.getvalue()


def sevenzip_of(files: list[tuple[str, bytes]], *, password: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password=password,
                            header_encryption=bool(password)) as archive:
        for name, data in files:
            archive.writestr(data, name)
    return buffer.getvalue()


def gzip_of(data: bytes, name: str = "") -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, mtime=0) as stream:
        stream.write(data)
    return buffer.getvalue()


def uuencode(name: str, data: bytes) -> str:
    lines = [f"begin 644 {name}"]
    for start in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[start:start + 45]).decode("ascii").rstrip("\n"))
    lines += ["`", "end"]
    return "\n".join(lines)


# --- messages -----------------------------------------------------------------

def eml(attachments: list[tuple[str, bytes, str]] = (), *, text: str = "Hello, see attached.",
        html: str | None = None, subject: str = "Documents") -> bytes:
    message = EmailMessage()
    message["From"] = "Sender <sender@outside.example>"
    message["To"] = "user@example.org"
    message["Subject"] = subject
    message["Message-ID"] = "<test@outside.example>"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def scan(raw: bytes, services: dict | None = None, org=None) -> Context:
    from mailsphere_cli.attachments import default_services, stage

    msg = ParsedMessage(raw)
    ctx = Context(msg=msg, config=None, org=org, services=dict(services or default_services()))
    stage.run(msg, ctx)
    return ctx


def findings_by_path(ctx: Context) -> dict[str, list[str]]:
    return {r["path"]: [f.split(":", 1)[0] for f in r["findings"]] for r in ctx.attachments}


# --- hand-built VBA macro document ------------------------------------------

def _ovba_compress(data: bytes) -> bytes:
    """MS-OVBA container made of literal-only compressed chunks."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 3500):
        piece = data[start:start + 3500]
        body = bytearray()
        for group in range(0, len(piece), 8):
            body.append(0)  # eight literal tokens follow
            body += piece[group:group + 8]
        size = len(body) + 2
        out += struct.pack("<H", 0x8000 | 0x3000 | (size - 3))
        out += body
    return bytes(out)


def _record(ident: int, data: bytes) -> bytes:
    return struct.pack("<HI", ident, len(data)) + data


def _dir_stream(module: str) -> bytes:
    u16 = module.encode("utf-16-le")
    name = module.encode("latin-1")
    project = (
        _record(0x01, struct.pack("<I", 1))
        + _record(0x02, struct.pack("<I", 0x409)) + _record(0x14, struct.pack("<I", 0x409))
        + _record(0x03, struct.pack("<H", 1252)) + _record(0x04, b"VBAProject")
        + _record(0x05, b"") + struct.pack("<HI", 0x40, 0)
        + _record(0x06, b"") + struct.pack("<HI", 0x3D, 0)
        + _record(0x07, struct.pack("<I", 0)) + _record(0x08, struct.pack("<I", 0))
        + struct.pack("<HIIH", 0x09, 4, 1, 0)
        + _record(0x0C, b"") + struct.pack("<HI", 0x3C, 0)
        + struct.pack("<HIH", 0x0F, 2, 1) + struct.pack("<HIH", 0x13, 2, 0xFFFF)
    )
    module_records = (
        _record(0x19, name) + _record(0x47, u16)
        + _record(0x1A, name) + struct.pack("<HI", 0x32, len(u16)) + u16
        + _record(0x1C, b"") + struct.pack("<HI", 0x48, 0)
        + _record(0x31, struct.pack("<I", 0)) + _record(0x1E, struct.pack("<I", 0))
        + _record(0x2C, struct.pack("<H", 0xFFFF))
        + struct.pack("<HI", 0x21, 0) + struct.pack("<HI", 0x2B, 0)
    )
    return project + module_records + struct.pack("<HI", 0x10, 0)


def _cfb(entries: list[dict]) -> bytes:
    """A version-3 compound file; every stream is small, so all live in the mini stream.

    `entries[0]` is the root; each entry: name, type (1 storage, 2 stream, 5 root),
    data (streams), child / right (indexes or -1).
    """
    free, end, fat_sector = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    mini = bytearray()
    minifat: list[int] = []
    for entry in entries:
        if entry["type"] != 2:
            continue
        data = entry["data"]
        entry["start"] = len(mini) // 64
        count = max(1, -(-len(data) // 64))
        for index in range(count):
            minifat.append(entry["start"] + index + 1 if index < count - 1 else end)
        mini += data + b"\x00" * (count * 64 - len(data))
    dir_sectors = -(-len(entries) // 4)
    minifat_sectors = -(-len(minifat) // 128)
    mini_sectors = -(-len(mini) // 512)
    first_dir, first_minifat = 1, 1 + dir_sectors
    first_mini = first_minifat + minifat_sectors
    total = first_mini + mini_sectors
    fat = [fat_sector]
    for first, count in ((first_dir, dir_sectors), (first_minifat, minifat_sectors),
                         (first_mini, mini_sectors)):
        fat += [first + i + 1 if i < count - 1 else end for i in range(count)]
    fat += [free] * (128 - len(fat))
    assert total <= 128
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 40, 0, 1, first_dir, 0, 4096, first_minifat,
                     minifat_sectors, end)
    struct.pack_into("<I", header, 76, 0)
    for slot in range(1, 109):
        struct.pack_into("<I", header, 76 + slot * 4, free)
    directory = bytearray()
    for entry in entries:
        record = bytearray(128)
        name = entry["name"].encode("utf-16-le") + b"\x00\x00"
        record[0:len(name)] = name
        struct.pack_into("<HBB", record, 64, len(name), entry["type"], 1)
        struct.pack_into("<III", record, 68, entry.get("left", -1) & free,
                         entry.get("right", -1) & free, entry.get("child", -1) & free)
        if entry["type"] == 5:
            struct.pack_into("<II", record, 116, first_mini if mini else end, len(mini))
        elif entry["type"] == 2:
            struct.pack_into("<II", record, 116, entry["start"], len(entry["data"]))
        directory += record
    directory += b"\x00" * (dir_sectors * 512 - len(directory))
    minifat_bytes = b"".join(struct.pack("<I", v) for v in minifat)
    minifat_bytes += struct.pack("<I", free) * (minifat_sectors * 128 - len(minifat))
    body = struct.pack("<128I", *fat) + bytes(directory) + minifat_bytes
    body += bytes(mini) + b"\x00" * (mini_sectors * 512 - len(mini))
    return bytes(header) + body


def vba_project(source: str, module: str = "Module1") -> bytes:
    code = source.replace("\n", "\r\n").encode("latin-1")
    project = (f'ID="{{00000000-0000-0000-0000-000000000000}}"\r\nModule={module}\r\n'
               'Name="VBAProject"\r\n').encode("latin-1")
    return _cfb([
        {"name": "Root Entry", "type": 5, "child": 1},
        {"name": "VBA", "type": 1, "child": 2, "right": 5},
        {"name": "dir", "type": 2, "data": _ovba_compress(_dir_stream(module)), "right": 3},
        {"name": "_VBA_PROJECT", "type": 2, "data": b"\xcc\x61\xff\xff\x00\x00\x00", "right": 4},
        {"name": module, "type": 2, "data": _ovba_compress(code)},
        {"name": "PROJECT", "type": 2, "data": project},
    ])


def docm(source: str) -> bytes:
    content_types = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                     b'package/2006/content-types"><Default Extension="bin" ContentType='
                     b'"application/vnd.ms-office.vbaProject"/></Types>')
    return zip_of([("[Content_Types].xml", content_types),
                   ("word/document.xml", b"<w:document><w:body><w:p/></w:body></w:document>"),
                   ("word/vbaProject.bin", vba_project(source))])


def docx_with_remote_template(url: str) -> bytes:
    rels = (f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/attachedTemplate" Target="{url}" '
            f'TargetMode="External"/></Relationships>').encode()
    return zip_of([("[Content_Types].xml", b"<Types/>"),
                   ("word/document.xml", b"<w:document><w:body/></w:document>"),
                   ("word/_rels/settings.xml.rels", rels)])


def docx_with_dde(command: str) -> bytes:
    document = (f'<w:document><w:body><w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
                f'<w:r><w:instrText xml:space="preserve"> DDEAUTO {command} </w:instrText></w:r>'
                f'<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:body></w:document>').encode()
    return zip_of([("[Content_Types].xml", b"<Types/>"), ("word/document.xml", document)])


AUTOEXEC_MACRO = '''Attribute VB_Name = "Module1"
Sub AutoOpen()
    Dim command As String
    command = "powershell -nop -w hidden -c calc"
    Shell command, vbHide
End Sub
'''
PLAIN_MACRO = '''Attribute VB_Name = "Module1"
Sub MakeBold()
    Selection.Font.Bold = True
End Sub
'''


# --- PDF and HTML -------------------------------------------------------------

def pdf_with(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    for number, body in enumerate(objects, 1):
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    out += b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    return bytes(out)


def smuggling_page(payload: bytes, name: str = "invoice.zip") -> str:
    encoded = base64.b64encode(payload).decode()
    return f"""<!DOCTYPE html><html><body><p>Loading your document...</p>
<script>
var raw = atob("{encoded}");
var bytes = new Uint8Array(raw.length);
for (var i = 0; i < raw.length; i++) {{ bytes[i] = raw.charCodeAt(i); }}
var blob = new Blob([bytes], {{type: "application/octet-stream"}});
if (window.navigator.msSaveOrOpenBlob) {{ window.navigator.msSaveOrOpenBlob(blob, "{name}"); }}
else {{ var a = document.createElement("a"); a.href = URL.createObjectURL(blob);
        a.download = "{name}"; document.body.appendChild(a); a.click(); }}
</script></body></html>"""


# --- the builders themselves work --------------------------------------------

def test_hand_built_vba_project_is_read_by_olevba():
    from oletools.olevba import VBA_Parser

    parser = VBA_Parser("sample.docm", data=docm(AUTOEXEC_MACRO))
    assert parser.detect_vba_macros()
    modules = list(parser.extract_macros())
    assert any("Shell command, vbHide" in code for _, _, _, code in modules)


def test_uuencode_round_trips():
    from mailsphere_cli.attachments.extract import _uudecode

    block = uuencode("x.bin", EICAR).split("\n", 1)[1].rsplit("\nend", 1)[0]
    assert _uudecode(block.encode()) == EICAR
