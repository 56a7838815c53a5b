"""Office, RTF and OneNote documents: macros, DDE, remote templates, embedded objects.

oletools does the hard parts (VBA decompression and keyword analysis, XLM,
RTF objects, OLE packages); the OOXML relationship and field checks are small
enough to do here on bounded reads of the zip. Embedded files come back as
children so the stage types, bans and signature-scans them like any other.
"""
from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass, field

Finding = tuple[str, str]

MAX_CODE = 2 * 1024 * 1024        # VBA source analysed per document
MAX_XML_PART = 8 * 1024 * 1024    # one OOXML part read for fields/relationships
MAX_CHILDREN = 50
MAX_CHILD = 20 * 1024 * 1024

# Keywords olevba reports that mean "starts or fetches something", as opposed
# to merely odd; auto-exec plus one of these is a dropper.
_RUN_OR_FETCH = re.compile(
    r"^(shell|wscript\.shell|shellexecute|shellexecutea|run|urldownloadtofile|urldownloadtofilea|"
    r"xmlhttp|msxml2\.xmlhttp|microsoft\.xmlhttp|winhttp\.winhttprequest|serverxmlhttp|powershell|"
    r"adodb\.stream|savetofile|macscript|exec|createprocess|createprocessa|callbyname|"
    r"shell\.application|virtualalloc|rtlmovememory|cmd\.exe|mshta|certutil|bitsadmin)$", re.I)

_ONENOTE_FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")

for _name in ("olevba", "oleobj", "rtfobj", "olefile", "oletools"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


@dataclass
class OfficeReport:
    findings: list[Finding] = field(default_factory=list)
    macro_source: str = ""
    children: list[tuple[str, bytes]] = field(default_factory=list)

    def note(self, rule: str, detail: str) -> None:
        if (rule, detail) not in self.findings:
            self.findings.append((rule, detail))

    def child(self, name: str, data: bytes) -> None:
        if len(self.children) < MAX_CHILDREN and data:
            self.children.append((name, data[:MAX_CHILD]))


def analyse(data: bytes, label: str) -> OfficeReport:
    """Everything worth knowing about an Office-family document."""
    report = OfficeReport()
    if label == "onenote":
        _onenote(data, report)
        return report
    if label == "rtf":
        _rtf(data, report)
        return report
    _macros(data, report)
    if data.startswith(b"PK"):
        _ooxml(data, report)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        _ole(data, report)
    return report


def _macros(data: bytes, report: OfficeReport) -> None:
    try:
        from oletools import olevba
    except ImportError:  # pragma: no cover - oletools is a dependency
        return
    try:
        parser = olevba.VBA_Parser("document", data=data, relaxed=True)
    except Exception:
        return
    try:
        if parser.ole_file is not None and parser.detect_is_encrypted():
            report.note("OFFICE_ENCRYPTED", "document is encrypted")
        if parser.detect_vba_macros():
            _vba(parser, report, olevba)
        try:
            if parser.detect_xlm_macros():
                report.note("OFFICE_XLM_MACRO", "Excel 4.0 macro sheet present")
        except Exception:
            pass
    except Exception:
        pass
    finally:
        try:
            parser.close()
        except Exception:
            pass


def _vba(parser, report: OfficeReport, olevba) -> None:
    modules: list[str] = []
    code_parts: list[str] = []
    size = 0
    for _subfile, _stream, module, code in parser.extract_macros():
        if isinstance(code, bytes):
            code = code.decode("latin-1")
        modules.append(str(module))
        if size < MAX_CODE:
            code_parts.append(code[: MAX_CODE - size])
            size += len(code_parts[-1])
        if len(modules) >= 500:
            break
    source = "\n".join(code_parts)
    report.macro_source = source
    report.note("OFFICE_MACRO", f"VBA macros in {len(modules)} module(s)")
    try:
        results = olevba.VBA_Scanner(source).scan(include_decoded_strings=False)
    except Exception:
        results = []
    autoexec = sorted({kw for kind, kw, _ in results if kind == "AutoExec"})
    suspicious = sorted({kw for kind, kw, _ in results if kind == "Suspicious"})
    if autoexec:
        report.note("OFFICE_MACRO_AUTOEXEC", "runs on its own via " + ", ".join(autoexec[:8]))
    if suspicious:
        report.note("OFFICE_MACRO_SUSPICIOUS", "keywords " + ", ".join(suspicious[:12]))
    starters = [kw for kw in suspicious if _RUN_OR_FETCH.match(kw)]
    if autoexec and starters:
        report.note("OFFICE_MACRO_DROPPER",
                    f"auto-exec {', '.join(autoexec[:3])} with {', '.join(starters[:6])}")


_RELATIONSHIP = re.compile(rb"<Relationship\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(rb'(\w+)\s*=\s*"([^"]*)"')
_FIELD_CODE = re.compile(rb"<w:instrText[^>]*>([^<]*)</w:instrText>|w:instr=\"([^\"]*)\"", re.I)
_DDE = re.compile(r"^\s*(DDE|DDEAUTO)\b", re.I)


def _ooxml(data: bytes, report: OfficeReport) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:
        return
    with archive:
        entries = archive.infolist()[:2000]
        for info in entries:
            name = info.filename
            lowered = name.lower()
            if lowered.endswith(".rels"):
                _relationships(_read_part(archive, info), name, report)
            elif lowered in ("word/document.xml", "word/header1.xml", "word/footer1.xml") \
                    or lowered.startswith(("word/header", "word/footer")):
                _word_fields(_read_part(archive, info), name, report)
            elif lowered.startswith("xl/externallinks/") and b"ddeLink" in _read_part(archive, info):
                report.note("OFFICE_DDE", f"DDE link in {name}")
            elif "/embeddings/" in lowered or lowered.endswith("/activex/activex1.bin"):
                report.note("OFFICE_OLE_OBJECT", f"embedded object {name}")
                _embedded_object(_read_part(archive, info, MAX_CHILD), name, report)


def _read_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_XML_PART) -> bytes:
    try:
        with archive.open(info) as stream:
            return stream.read(limit)
    except Exception:
        return b""


def _relationships(xml: bytes, part: str, report: OfficeReport) -> None:
    for element in _RELATIONSHIP.findall(xml)[:5000]:
        attributes = {k.lower(): v for k, v in _ATTRIBUTE.findall(element)}
        target = attributes.get(b"target", b"").decode("utf-8", "replace")
        kind = attributes.get(b"type", b"").decode("utf-8", "replace").rsplit("/", 1)[-1]
        external = attributes.get(b"targetmode", b"").lower() == b"external"
        scheme_trick = target.lower().startswith(("mhtml:", "ms-msdt:", "ms-search:", "search-ms:"))
        if not external and not scheme_trick:
            continue
        if kind in ("attachedTemplate", "subDocument", "frame"):
            report.note("OFFICE_REMOTE_TEMPLATE", f"{kind} loaded from {target[:200]}")
        elif kind in ("oleObject", "package") or scheme_trick:
            report.note("OFFICE_EXTERNAL_OLE_LINK", f"{kind} linked to {target[:200]}")


def _word_fields(xml: bytes, part: str, report: OfficeReport) -> None:
    # Field codes may be split over several runs; join them before matching.
    text = " ".join((a or b).decode("utf-8", "replace") for a, b in _FIELD_CODE.findall(xml)[:10000])
    for code in re.split(r"\s{2,}|(?=\bDDE)", text):
        if _DDE.match(code):
            report.note("OFFICE_DDE", f"field {code.strip()[:120]!r} in {part}")
            return


def _embedded_object(data: bytes, name: str, report: OfficeReport) -> None:
    """An embedding may be an OLE file holding an Ole10Native package: unwrap it."""
    if not data.startswith(b"\xd0\xcf\x11\xe0"):
        report.child(name.rsplit("/", 1)[-1], data)
        return
    before = len(report.children)
    _ole_packages(data, name, report)
    if len(report.children) == before:
        report.child(name.rsplit("/", 1)[-1], data)


def _ole(data: bytes, report: OfficeReport) -> None:
    try:
        import olefile

        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return
    try:
        streams = ["/".join(entry) for entry in ole.listdir(streams=True, storages=False)][:5000]
        if any(s.startswith("ObjectPool/") or s.endswith("\x01Ole10Native") for s in streams):
            report.note("OFFICE_OLE_OBJECT", "embedded OLE objects present")
        if "EncryptedPackage" in streams or "EncryptionInfo" in streams:
            report.note("OFFICE_ENCRYPTED", "document is encrypted")
        if "WordDocument" in streams:
            body = ole.openstream("WordDocument").read(MAX_XML_PART)
            if re.search(rb"\x13\s*DDE(AUTO)?\b|\x13\x00\s\x00D\x00D\x00E\x00", body):
                report.note("OFFICE_DDE", "DDE field in WordDocument stream")
    except Exception:
        pass
    finally:
        ole.close()
    _ole_packages(data, "ole", report)


def _ole_packages(data: bytes, name: str, report: OfficeReport) -> None:
    try:
        import olefile
        from oletools.oleobj import OleNativeStream

        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return
    try:
        for entry in ole.listdir(streams=True, storages=False)[:5000]:
            if entry[-1] != "\x01Ole10Native":
                continue
            raw = ole.openstream(entry).read(MAX_CHILD)
            try:
                native = OleNativeStream(bindata=raw)
                filename = native.filename or native.src_path or "package"
                payload = bytes(native.data or b"")
            except Exception:
                continue
            report.note("OFFICE_OLE_OBJECT", f"OLE package {str(filename)[:120]!r}")
            report.child(str(filename).replace("\\", "/").rsplit("/", 1)[-1] or "package", payload)
    except Exception:
        pass
    finally:
        ole.close()


def _rtf(data: bytes, report: OfficeReport) -> None:
    try:
        from oletools.rtfobj import RtfObjParser

        parser = RtfObjParser(data[: 32 * 1024 * 1024])
        parser.parse()
    except Exception:
        return
    for index, obj in enumerate(parser.objects[:MAX_CHILDREN]):
        try:
            if obj.is_package:
                name = obj.filename or f"package{index}"
                report.note("OFFICE_OLE_OBJECT", f"RTF package {name!r}")
                report.child(name.replace("\\", "/").rsplit("/", 1)[-1], bytes(obj.olepkgdata or b""))
            elif obj.is_ole:
                class_name = (obj.class_name or b"").decode("latin-1", "replace")
                report.note("OFFICE_OLE_OBJECT", f"RTF object {class_name or 'unnamed'}")
                report.child(f"rtf-object{index}", bytes(obj.oledata or b""))
            elif obj.rawdata:
                report.child(f"rtf-data{index}", bytes(obj.rawdata))
        except Exception:
            continue


def _onenote(data: bytes, report: OfficeReport) -> None:
    """Embedded files live in FileDataStoreObject records: a GUID, a 64-bit
    length, 12 reserved bytes, then the file itself."""
    position = 0
    count = 0
    while count < MAX_CHILDREN:
        at = data.find(_ONENOTE_FILE_DATA, position)
        if at < 0 or at + 36 > len(data):
            break
        length = int.from_bytes(data[at + 16:at + 24], "little")
        start = at + 36
        payload = data[start:start + min(length, MAX_CHILD)]
        position = start + max(len(payload), 1)
        count += 1
        report.child(f"onenote-embedded{count}", payload)
    if count:
        report.note("ONENOTE_EMBEDDED_FILE", f"{count} embedded file(s)")
