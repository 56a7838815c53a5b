"""The two ways mail leaves Mailsphere: a real SMTP relay (aiosmtpd on 127.0.0.1)
and the outbox folder."""
from __future__ import annotations

import pytest

from mailsphere_cli.config import parse_config
from mailsphere_cli.notify import DeliveryError, transport_for
from mailsphere_cli.notify.outbox import OutboxTransport
from mailsphere_cli.notify.smtp import SmtpTransport
from tests.smtp_fixtures import SmtpServer, free_port, smtp_server  # noqa: F401

MESSAGE = b"From: mailsphere@ours.test\r\nTo: bob@ours.test\r\nSubject: hello\r\n\r\nbody\r\n"


def _relay(table: dict, **kwargs) -> SmtpTransport:
    sleeps: list[float] = []
    transport = SmtpTransport(parse_config({"smtp": table}).smtp, sleep=sleeps.append, **kwargs)
    transport.sleeps = sleeps  # type: ignore[attr-defined]
    return transport


def test_plain_relay_delivers_to_the_envelope_recipient(smtp_server):
    where = _relay(smtp_server.config_table()).send("mailsphere@ours.test", ["bob@ours.test"],
                                                    MESSAGE, "k1")
    assert where == f"SMTP relay 127.0.0.1:{smtp_server.port}"
    [got] = smtp_server.messages
    assert got.mail_from == "mailsphere@ours.test"
    assert got.rcpt_tos == ["bob@ours.test"]
    assert got.message["Subject"] == "hello"


def test_starttls_and_login_with_password_from_the_environment(monkeypatch):
    with SmtpServer(tls=True, login=("relayuser", "s3cret")) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))
        monkeypatch.setenv("TEST_RELAY_PASSWORD", "s3cret")
        relay = _relay(server.config_table(starttls=True, username="relayuser",
                                           password_env="TEST_RELAY_PASSWORD"))
        relay.send("mailsphere@ours.test", ["bob@ours.test"], MESSAGE, "k")
        assert [m.rcpt_tos for m in server.messages] == [["bob@ours.test"]]

        monkeypatch.setenv("TEST_RELAY_PASSWORD", "wrong")
        with pytest.raises(DeliveryError) as failure:
            _relay(server.config_table(starttls=True, username="relayuser", retries=3,
                                       password_env="TEST_RELAY_PASSWORD")).send(
                "mailsphere@ours.test", ["bob@ours.test"], MESSAGE, "k")
        assert "login as relayuser failed" in str(failure.value)
        assert "535" in str(failure.value)
        assert len(server.messages) == 1


def test_a_relay_that_requires_starttls_refuses_plain_clients():
    with SmtpServer(tls=True) as server:
        with pytest.raises(DeliveryError) as failure:
            _relay(server.config_table()).send("a@ours.test", ["b@ours.test"], MESSAGE, "k")
        assert "530" in str(failure.value)  # "Must issue a STARTTLS command first"
        assert server.messages == []


def test_missing_password_variable_is_a_clear_error_without_connecting(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    relay = _relay({"host": "127.0.0.1", "port": free_port(), "username": "u",
                    "password_env": "NOT_SET_ANYWHERE"})
    with pytest.raises(DeliveryError, match="environment variable NOT_SET_ANYWHERE"):
        relay.send("a@ours.test", ["b@ours.test"], MESSAGE, "k")


def test_temporary_failures_are_retried_with_growing_pauses():
    with SmtpServer(fail_first=2) as server:
        relay = _relay(server.config_table(retries=2))
        relay.send("a@ours.test", ["b@ours.test"], MESSAGE, "k")
        assert server.temporary_failures == 2
        assert len(server.messages) == 1
        assert relay.sleeps == [1.0, 2.0]


def test_giving_up_names_the_relay_the_reply_and_the_attempts():
    with SmtpServer(fail_first=10) as server:
        relay = _relay(server.config_table(retries=1))
        with pytest.raises(DeliveryError) as failure:
            relay.send("a@ours.test", ["b@ours.test"], MESSAGE, "k")
        text = str(failure.value)
        assert f"127.0.0.1:{server.port}" in text and "451" in text and "2 attempts" in text
        assert server.messages == []


def test_permanent_refusal_is_not_retried():
    with SmtpServer(refuse=True) as server:
        relay = _relay(server.config_table(retries=3))
        with pytest.raises(DeliveryError, match="550"):
            relay.send("a@ours.test", ["nobody@ours.test"], MESSAGE, "k")
        assert relay.sleeps == []


def test_connection_refused():
    relay = _relay({"host": "127.0.0.1", "port": free_port(), "retries": 0, "timeout": 2.0})
    with pytest.raises(DeliveryError, match="connection refused"):
        relay.send("a@ours.test", ["b@ours.test"], MESSAGE, "k")


def test_outbox_writes_one_file_per_key(tmp_path):
    outbox = OutboxTransport(tmp_path / "outbox")
    first = outbox.send("a@ours.test", ["b@ours.test"], MESSAGE, "digest-7")
    again = outbox.send("a@ours.test", ["b@ours.test"], b"changed", "digest-7")
    assert first == again
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["digest-7.eml"]
    assert (tmp_path / "outbox" / "digest-7.eml").read_bytes() == MESSAGE


def test_transport_choice(tmp_path):
    assert transport_for(parse_config({}), tmp_path).name == "outbox"
    assert transport_for(parse_config({"smtp": {"host": "relay.ours.test"}}), tmp_path).name \
        == "smtp"
    chosen = transport_for(parse_config({"smtp": {"host": "relay.ours.test",
                                                  "outbox": str(tmp_path / "o")}}), tmp_path)
    assert chosen.name == "outbox" and chosen.directory == tmp_path / "o"
