"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: collects what it is sent.

    with SmtpServer() as server: ...; server.messages  # [Delivered(mail_from, rcpt_tos, data)]

Options: `tls=True` offers STARTTLS with a certificate made at test time (for
127.0.0.1; `server.cafile` is what a client must trust) and requires it;
`login=("user", "secret")` requires AUTH (after STARTTLS); `fail_first=N`
answers the first N DATA commands with a temporary 451; `refuse=True`
answers every RCPT with a permanent 550.

Import from a test module with `from tests.smtp_fixtures import *`.
"""
from __future__ import annotations

import datetime
import email
import ipaddress
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from email import policy
from pathlib import Path

import pytest

__all__ = ["SmtpServer", "Delivered", "smtp_server", "free_port", "hold_message"]


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)

    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""

    def html(self) -> str:
        body = self.message.get_body(("html",))
        return body.get_content() if body is not None else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailsphere test relay")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "relay.pem", directory / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        if self.server.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        with self.server.lock:
            if self.server.fail_first > 0:
                self.server.fail_first -= 1
                self.server.temporary_failures += 1
                return "451 4.3.0 try again later"
            self.server.messages.append(Delivered(
                envelope.mail_from, list(envelope.rcpt_tos),
                envelope.original_content or envelope.content))
        return "250 2.0.0 queued"


class SmtpServer:
    def __init__(self, *, tls: bool = False, login: tuple[str, str] | None = None,
                 fail_first: int = 0, refuse: bool = False):
        self.tls = tls
        self.login = login
        self.fail_first = fail_first
        self.refuse = refuse
        self.temporary_failures = 0
        self.messages: list[Delivered] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.cafile: Path | None = None
        self._dir = tempfile.TemporaryDirectory()
        self._controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult
        ok = (self.login is not None and auth_data.login.decode() == self.login[0]
              and auth_data.password.decode() == self.login[1])
        return AuthResult(success=ok, handled=False)

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller
        kwargs: dict = {}
        if self.tls:
            cert, key = _certificate(Path(self._dir.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs.update(tls_context=context, require_starttls=True)
            self.cafile = cert
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._dir.cleanup()

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def to(self, address: str) -> list[Delivered]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def config_table(self, **extra) -> dict:
        """An `[smtp]` table that points at this server."""
        table = {"host": self.host, "port": self.port, "sender": "mailsphere@ours.test",
                 "timeout": 5.0, "retries": 0}
        table.update(extra)
        return table


@pytest.fixture()
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


# -- quarantined items for lifecycle and digest tests -----------------------------------
def hold_message(store, *, sender: str = "promo@spam.test",
                 recipients: tuple[str, ...] = ("bob@ours.test",), subject: str = "Cheap pills",
                 score: float = 9.5, malicious: bool = False, org: str | None = "ours",
                 body: str = "buy now", notify: tuple[str, ...] = ("recipient",)) -> str:
    """Put one message into the quarantine the way a scan does; return its qid."""
    import hashlib

    from mailsphere_cli.store.quarantine import Quarantine
    from mailsphere_cli.verdict import Action, ScoredHit, Verdict
    raw = (f"From: <{sender}>\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{hashlib.sha1(body.encode() + subject.encode()).hexdigest()}@spam.test>"
           f"\r\n\r\n{body}\r\n").encode()
    hits = (ScoredHit("BODY_PILLS", score, "content", "matched 'buy now'"),)
    attachments: tuple = ()
    if malicious:
        attachments = ({"name": "invoice.exe", "true_type": "pe", "size": 4096,
                        "sha256": "ab" * 32, "findings": ["ATTACH_BANNED_TYPE: executable"]},)
    verdict = Verdict(id=hashlib.sha256(raw).hexdigest(), source="test.eml", sender=sender,
                      recipients=tuple(recipients), subject=subject, score=score, threshold=5.0,
                      action=Action.MALICIOUS if malicious else Action.SPAM,
                      decided_by="attachments" if malicious else "rules", hits=hits,
                      attachments=attachments, org=org, size=len(raw))
    return Quarantine(store).hold(verdict, raw, notify)
