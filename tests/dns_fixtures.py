"""Fixtures for perimeter tests: a real DNS server on 127.0.0.1 with test zones,
DKIM keys made at test time, and helpers to build, sign and run messages.

Import from a test module with `from tests.dns_fixtures import *`.
"""
from __future__ import annotations

import base64
import time
from dataclasses import replace
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.dnsserver import ZoneServer

__all__ = ["dkim_keys", "dns_server", "resolver", "make_message", "sign", "run_perimeter",
           "make_config", "ZONE_BASE", "build_zone", "OUR_MX", "zone_server_for"]

OUR_MX = "mx.ours.test"
NEVER = "never.test"  # the zone that never answers


class DkimKeys:
    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        import nacl.signing
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self.rsa_private = key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.TraditionalOpenSSL,
                                             serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.rsa_record = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
        seed = nacl.signing.SigningKey.generate()
        self.ed_private = base64.b64encode(bytes(seed))
        self.ed_record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(seed.verify_key)).decode()


def build_zone(keys: DkimKeys) -> dict[str, list[tuple[Any, ...]]]:
    """The test world. Senders live under .test; IPs are documentation ranges."""
    many_includes = " ".join(f"include:l{i}.toomany.test" for i in range(11))
    zone: dict[str, list[tuple[Any, ...]]] = {
        # SPF: a straightforward domain, include and redirect chains, every result.
        "good.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 include:_spf.partner.test -all"),
                      ("A", "192.0.2.10")],
        "_spf.partner.test": [("TXT", "v=spf1 ip4:198.51.100.0/25 ~all")],
        "redirected.test": [("TXT", "v=spf1 redirect=good.test")],
        "soft.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 ~all")],
        "neutral.test": [("TXT", "v=spf1 ?all")],
        "nospf.test": [("A", "192.0.2.77")],
        "loop.test": [("TXT", "v=spf1 include:loop2.test -all")],
        "loop2.test": [("TXT", "v=spf1 include:loop.test -all")],
        "toomany.test": [("TXT", f"v=spf1 {many_includes} -all")],
        "voids.test": [("TXT", "v=spf1 a:v1.voids.test a:v2.voids.test a:v3.voids.test -all")],
        "slow.test": [("TXT", f"v=spf1 include:spf.{NEVER} -all")],
        "broken.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 bogus:thing -all")],
        "helo.good.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
        # DKIM keys.
        "rsa._domainkey.good.test": [("TXT", keys.rsa_record)],
        "ed._domainkey.good.test": [("TXT", keys.ed_record)],
        "rsa._domainkey.other.test": [("TXT", keys.rsa_record)],
        f"rsa._domainkey.{NEVER}": [("TXT", keys.rsa_record)],
        # DMARC.
        "_dmarc.good.test": [("TXT", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@good.test")],
        "_dmarc.soft.test": [("TXT", "v=DMARC1; p=quarantine")],
        "_dmarc.neutral.test": [("TXT", "v=DMARC1; p=none")],
        "_dmarc.strict.test": [("TXT", "v=DMARC1; p=reject; adkim=s; aspf=s")],
        "strict.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
        "sub.strict.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
        "_dmarc.sampled.test": [("TXT", "v=DMARC1; p=reject; pct=0")],
        "sampled.test": [("TXT", "v=spf1 -all")],
        "_dmarc.other.test": [("TXT", "v=DMARC1; p=reject")],
        "other.test": [("TXT", "v=spf1 -all")],
        # Reverse and forward DNS.
        "10.2.0.192.in-addr.arpa": [("PTR", "mail.good.test")],
        "mail.good.test": [("A", "192.0.2.10")],
        "66.2.0.192.in-addr.arpa": [("PTR", "liar.good.test")],
        "liar.good.test": [("A", "192.0.2.99")],
        # Blocklists: 203.0.113.66 is listed, 203.0.113.77 hits the over-quota answer.
        "66.113.0.203.zen.spamhaus.org": [("A", "127.0.0.2"), ("A", "127.0.0.4")],
        "66.113.0.203.bl.spamcop.net": [("A", "127.0.0.2")],
        "77.113.0.203.zen.spamhaus.org": [("A", "127.255.255.254")],
        "10.2.0.192.list.dnswl.org": [("A", "127.0.10.3")],
        "evil.test.dbl.spamhaus.org": [("A", "127.0.1.2")],
        "evil.test.multi.surbl.org": [("A", "127.0.0.24")],
        "evil.test.multi.uribl.com": [("A", "127.0.0.1")],
        "9.113.0.203.multi.surbl.org": [("A", "127.0.0.16")],
    }
    # The IPv6 sender 2001:db8::66 on zen (nibble-reversed).
    from mailsphere_cli.perimeter.dns import reverse_name
    zone[reverse_name("2001:db8::66", "zen.spamhaus.org")] = [("A", "127.0.0.3")]
    return zone


ZONE_BASE = build_zone  # kept for readability in tests that extend the world


@pytest.fixture(scope="session")
def dkim_keys() -> DkimKeys:
    return DkimKeys()


def zone_server_for(keys: DkimKeys, **options: Any) -> ZoneServer:
    return ZoneServer(build_zone(keys), never_answer=[NEVER], servfail=["servfail.test"], **options)


@pytest.fixture(scope="session")
def dns_server(dkim_keys: DkimKeys):
    server = zone_server_for(dkim_keys).start()
    yield server
    server.stop()


@pytest.fixture()
def resolver(dns_server: ZoneServer):
    from mailsphere_cli.perimeter.dns import Resolver
    res = Resolver([dns_server.address], timeout=0.3, retries=0, budget=3.0)
    res.start_message()
    yield res
    res.close()


def make_message(*, received: list[str] | None = None, sender: str = "alice@good.test",
                 to: str = "bob@ours.test", return_path: str | None = None,
                 subject: str = "Quarterly figures", body: str = "Hello Bob,\r\nthe figures are attached.\r\n",
                 extra: list[str] | None = None, ip: str = "192.0.2.10", helo: str = "mail.good.test",
                 rdns: str = "mail.good.test") -> bytes:
    """A message as our MX (mx.ours.test, Postfix) would have stored it."""
    when = format_datetime(datetime(2024, 3, 5, 10, 0, tzinfo=timezone.utc))
    if received is None:
        received = [f"from {helo} ({rdns or 'unknown'} [{ip}]) by {OUR_MX} (Postfix) with ESMTPS "
                    f"id 4TqB1x for <{to}>; {when}"]
    lines = []
    if return_path is not None:
        lines.append(f"Return-Path: <{return_path}>")
    lines += [f"Received: {r}" for r in received]
    lines += [f"From: Alice <{sender}>", f"To: <{to}>", f"Subject: {subject}",
              f"Date: {when}", f"Message-ID: <{time.time_ns()}@good.test>", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8"]
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def sign(raw: bytes, keys: DkimKeys, *, domain: str = "good.test", selector: str = "rsa",
         algorithm: str = "rsa") -> bytes:
    """DKIM-sign with dkimpy; the signature goes under the Received trail's top?
    No: a signer adds it at the sending side, so it goes right above the From header."""
    import dkim
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    keep = [l for l in lines if not l.lower().startswith((b"received:", b"return-path:"))]
    trail = [l for l in lines if l.lower().startswith((b"received:", b"return-path:"))]
    message = b"\r\n".join(keep) + b"\r\n\r\n" + body
    if algorithm == "ed25519":
        sig = dkim.sign(message, selector.encode(), domain.encode(), keys.ed_private,
                        signature_algorithm=b"ed25519-sha256", include_headers=[b"from", b"to", b"subject", b"date"])
    else:
        sig = dkim.sign(message, selector.encode(), domain.encode(), keys.rsa_private,
                        include_headers=[b"from", b"to", b"subject", b"date"])
    return b"\r\n".join(trail) + b"\r\n" + sig.rstrip(b"\r\n") + b"\r\n" + message


def make_config(**orgs: dict[str, Any]):
    """A Config with organisations, e.g. make_config(ours={"domains": [...], ...})."""
    from mailsphere_cli.config import parse_config
    return parse_config({"orgs": orgs} if orgs else {})


def run_perimeter(raw: bytes, *, resolver=None, config=None, services: dict | None = None):
    """Run the perimeter stage on `raw` and return the context (offline without a resolver)."""
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.perimeter import build_services
    from mailsphere_cli.perimeter import stage
    config = config or make_config()
    base = build_services(config, offline=True)
    base.update(services or {})
    base["resolver"] = resolver
    ctx = Context(msg=ParsedMessage(raw), config=config, offline=resolver is None, services=base)
    stage.run(ctx.msg, ctx)
    return ctx
