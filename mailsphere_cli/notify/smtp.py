"""Delivery through the relay of `[smtp]`: STARTTLS, optional login, retries.

Temporary trouble (connection refused or dropped, timeouts, 4xx replies) is
retried `retries` times with a growing pause; a permanent refusal (5xx) or a
missing password is reported at once. The error names the relay and the reply.
"""
from __future__ import annotations

import os
import smtplib
import socket
import ssl
import time
from typing import Any, Callable

from mailsphere_cli.notify import DeliveryError


class _Permanent(Exception):
    pass


class SmtpTransport:
    name = "smtp"

    def __init__(self, smtp: Any, *, retry_delay: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.host = smtp.host
        self.port = int(smtp.port)
        self.starttls = bool(smtp.starttls)
        self.username = smtp.username
        self.password_env = smtp.password_env
        self.timeout = float(smtp.timeout)
        self.attempts = max(0, int(smtp.retries)) + 1
        self.retry_delay = retry_delay
        self.sleep = sleep

    @property
    def where(self) -> str:
        return f"SMTP relay {self.host}:{self.port}"

    def _password(self) -> str:
        if not self.username:
            return ""
        if not self.password_env:
            raise DeliveryError(f"{self.where}: [smtp] username is set but password_env is not "
                                f"(name the environment variable that holds the password)")
        password = os.environ.get(self.password_env)
        if password is None:
            raise DeliveryError(f"{self.where}: environment variable {self.password_env} "
                                f"(from [smtp] password_env) is not set")
        return password

    def send(self, sender: str, recipients: list[str], data: bytes, key: str) -> str:
        password = self._password()
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(self.retry_delay * (2 ** (attempt - 1)), 60.0))
            try:
                self._send_once(sender, recipients, data, password)
                return f"{self.where}"
            except _Permanent as exc:
                raise DeliveryError(f"{self.where} refused the message: {exc}") from None
            except (OSError, smtplib.SMTPException) as exc:
                last = _describe(exc)
        raise DeliveryError(f"{self.where}: {last} (gave up after {self.attempts} attempt"
                            f"{'s' if self.attempts != 1 else ''})")

    def _send_once(self, sender: str, recipients: list[str], data: bytes, password: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            client.ehlo()
            if self.starttls:
                if not client.has_extn("starttls"):
                    raise _Permanent("STARTTLS is required by [smtp] starttls but the relay "
                                     "does not offer it")
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.username:
                try:
                    _login(client, self.username, password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise _Permanent(f"login as {self.username} failed: {_describe(exc)}") \
                        from None
                except smtplib.SMTPNotSupportedError:
                    raise _Permanent("the relay offers no AUTH (after STARTTLS?)") from None
            try:
                refused = client.sendmail(sender, recipients, data)
            except smtplib.SMTPRecipientsRefused as exc:
                if _all_permanent(exc.recipients):
                    raise _Permanent(_refusals(exc.recipients)) from None
                raise
            except smtplib.SMTPResponseException as exc:
                if 500 <= exc.smtp_code < 600:
                    raise _Permanent(_describe(exc)) from None
                raise
            if refused:
                raise _Permanent(_refusals(refused))


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """PLAIN when offered (one round trip, and one clear answer on a wrong password;
    smtplib's login() would go on to try other mechanisms), else smtplib's choice."""
    mechanisms = client.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" in mechanisms:
        client.user, client.password = username, password
        client.auth("PLAIN", client.auth_plain)
    else:
        client.login(username, password)


def _all_permanent(refusals: dict) -> bool:
    return all(500 <= code < 600 for code, _ in refusals.values())


def _refusals(refusals: dict) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in
                     list(refusals.items())[:5])


def _text(message: Any) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return str(message).strip()[:200]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refusals(exc.recipients)
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
