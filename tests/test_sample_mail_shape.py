"""The shipped sample mail has the shape the README and the quickstart promise."""
from __future__ import annotations

import email
import email.policy
import hashlib
import io
import ipaddress
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "sample_mail"
MAILDIR = SAMPLE / "Maildir"
MBOX = SAMPLE / "archive.mbox"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
DOCUMENTATION_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
MAILDIR_NAME = re.compile(r"^\d{10}\.M\d+P\d+\.mailhost$")
MBOX_SEPARATOR = re.compile(rb"^From \S+ (Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
                            rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d 2026$")


def maildir_messages(folder: Path) -> list[Path]:
    # Maildir readers skip dotfiles (tmp/.keep exists only so git keeps tmp/).
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).iterdir() if not p.name.startswith("."))


def all_message_files() -> list[Path]:
    return maildir_messages(MAILDIR) + maildir_messages(MAILDIR / ".Lists") + sorted((SAMPLE / "eml").glob("*.eml"))


def mbox_entries() -> list[bytes]:
    """Split the mboxrd file on From_ lines and undo the >From quoting."""
    entries: list[list[bytes]] = []
    for line in MBOX.read_bytes().split(b"\n"):
        if line.startswith(b"From "):
            entries.append([])
            continue
        if re.match(rb"^>+From ", line):
            line = line[1:]
        entries[-1].append(line)
    # The blank line before each separator belongs to the mbox, not the message.
    return [b"\n".join(lines[:-1] if lines and lines[-1] == b"" else lines) for lines in entries]


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def attachment(path: Path, filename: str) -> bytes:
    for part in parse(path.read_bytes()).walk():
        if part.get_filename() == filename:
            return part.get_payload(decode=True)
    raise AssertionError(f"{path.name} has no attachment {filename}")


def test_maildir_has_cur_new_tmp_and_a_maildir_plus_plus_folder():
    for folder in (MAILDIR, MAILDIR / ".Lists"):
        for sub in ("cur", "new", "tmp"):
            assert (folder / sub).is_dir(), f"{folder / sub} missing"
        assert all(p.name.startswith(".") for p in (folder / "tmp").iterdir()), "tmp/ must hold no messages"
    assert len(maildir_messages(MAILDIR)) == 10
    assert len(maildir_messages(MAILDIR / ".Lists")) == 2


def test_maildir_file_names_carry_flags_only_in_cur():
    for folder in (MAILDIR, MAILDIR / ".Lists"):
        for path in (folder / "new").iterdir():
            if not path.name.startswith("."):
                assert MAILDIR_NAME.match(path.name), path.name
        for path in (folder / "cur").iterdir():
            base, sep, flags = path.name.partition(":2,")
            assert sep and MAILDIR_NAME.match(base) and "S" in flags, path.name


def test_mbox_is_mboxrd_with_six_messages_and_no_final_newline():
    data = MBOX.read_bytes()
    separators = [line for line in data.split(b"\n") if line.startswith(b"From ")]
    assert len(separators) == 6
    assert all(MBOX_SEPARATOR.match(line) for line in separators), separators
    assert data.startswith(b"From ")
    assert not data.endswith(b"\n")
    lines = data.split(b"\n")
    assert any(line.startswith(b">From ") for line in lines)
    assert any(line.startswith(b">>From ") for line in lines)


def test_mbox_unquotes_to_messages_that_parse():
    entries = mbox_entries()
    assert len(entries) == 6
    subjects = [parse(raw)["subject"] for raw in entries]
    assert subjects[0] == "Short outage on the file server last night"
    assert b"\nFrom the logs it looks like" in entries[0]
    # The >>From line unquotes to a body line that really starts with ">From ".
    assert b"\n>From what I can see we need 14 pallets" in entries[2]
    assert entries[5].endswith(b"--")  # last message, cut at the file's end


def test_every_message_file_parses_with_the_email_package():
    files = all_message_files()
    assert len(files) == 19
    for path in files:
        message = parse(path.read_bytes())
        assert message["From"], path
        assert message["Subject"], path
        assert message["Received"], path
        assert list(message.walk()), path


def test_broken_messages_are_broken_on_purpose():
    broken = parse((SAMPLE / "eml" / "work-from-home-broken-mime.eml").read_bytes())
    assert any("CloseBoundary" in type(defect).__name__ for defect in broken.defects)
    legacy = (SAMPLE / "eml" / "legacy-8bit-headers.eml").read_bytes()
    head = legacy.split(b"\n\n", 1)[0]
    assert re.search(rb"^Subject: .*[\x80-\xff]", head, re.M)
    assert b'charset="x-legacy-westeuro"' in head


def test_eicar_zip_member_is_the_exact_test_file():
    archive = attachment(SAMPLE / "eml" / "eicar-in-zip.eml", "Payment_Details_0302.zip")
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert zipped.namelist() == ["eicar.com"]
        member = zipped.read("eicar.com")
    assert len(member) == 68
    assert member.startswith(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR")
    assert hashlib.sha256(member).hexdigest() == EICAR_SHA256


def test_double_extension_attachment_is_shaped_like_a_pe():
    data = attachment(SAMPLE / "eml" / "invoice-pdf-exe.eml", "invoice.pdf.exe")
    assert data[:2] == b"MZ"
    e_lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[e_lfanew:e_lfanew + 4] == b"PE\0\0"


def test_harmless_pdf_has_a_correct_xref_table():
    invoice = next(p for p in maildir_messages(MAILDIR) if b"BP-2026-0117.pdf" in p.read_bytes())
    pdf = attachment(invoice, "BP-2026-0117.pdf")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    rows = pdf[xref_at:].split(b"\n")[3:8]
    for number, row in enumerate(rows, start=1):
        offset = int(row[:10])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)


def test_only_documentation_addresses_appear():
    blobs = [p.read_bytes() for p in all_message_files()] + [MBOX.read_bytes()]
    for blob in blobs:
        for literal in re.findall(rb"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])", blob):
            try:
                address = ipaddress.ip_address(literal.decode())
            except ValueError:
                continue
            assert any(address in net for net in DOCUMENTATION_NETS), literal


def test_readme_table_lists_every_message():
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 25
    for path in all_message_files():
        assert f"`{path.relative_to(SAMPLE).as_posix()}`" in readme, path
    for number in range(1, 7):
        assert f"`archive.mbox #{number}`" in readme
    verdicts = [row.split("|")[4].strip() for row in rows]
    assert {"deliver", "spam", "malicious", "reject"} <= set(verdicts)
    assert verdicts.count("deliver") > len(verdicts) / 2  # ham is the majority, as in real life
    assert verdicts.count("spam") >= 8 and verdicts.count("malicious") >= 2


def test_build_script_reproduces_the_committed_files(tmp_path):
    shutil.copy(SAMPLE / "build.py", tmp_path / "build.py")
    subprocess.run([sys.executable, str(tmp_path / "build.py")], check=True, capture_output=True, timeout=60)
    for path in sorted(SAMPLE.rglob("*")):
        relative = path.relative_to(SAMPLE)
        if path.is_file() and relative.parts[0] in ("Maildir", "eml", "archive.mbox", "README.md"):
            rebuilt = tmp_path / relative
            assert rebuilt.is_file(), f"build.py no longer makes {relative}"
            assert rebuilt.read_bytes() == path.read_bytes(), f"{relative} differs from build.py's output"
    made = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    shipped = {p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file()}
    assert made - shipped == set(), "build.py makes files that are not committed"


def test_example_config_uses_the_contract_keys_and_loads():
    data = tomllib.loads((SAMPLE / "mailsphere.toml").read_text(encoding="utf-8"))
    assert set(data) == {"dns", "network", "smtp", "orgs"}
    org = data["orgs"]["example"]
    assert org["domains"] == ["example.com"]
    assert org["authorised_ips"] == ["192.0.2.0/24"]
    assert org["threshold"] == 5.0 and org["retention_days"] == 30
    assert org["digest_schedule"] == "0 8 * * 1-5" and org["notify_malicious"] == ["recipient"]
    assert org["whitelist"] and org["blacklist"]
    config_module = pytest.importorskip("mailsphere_cli.config")
    parse_config = config_module.parse_config

    config = parse_config(data, "sample_mail/mailsphere.toml")
    assert config.org_for("ceo@example.com").authorised_ips == ("192.0.2.0/24",)
    assert "bob@example.com" in config.orgs["example"].users
