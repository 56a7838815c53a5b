"""`mailsphere digest`: schedules on a controllable clock (--now), one digest per
recipient with only what is new, nothing twice, crash-resume, a failed relay
leaves the digest due, the outbox fallback, and malicious-content notices."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailsphere_cli.cli import app
from mailsphere_cli.store.db import Store
from tests.smtp_fixtures import SmtpServer, free_port, hold_message, smtp_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
TUESDAY_0700 = "2026-12-01T07:00:00+00:00"
TUESDAY_0730 = "2026-12-01T07:30:00+00:00"
TUESDAY_0801 = "2026-12-01T08:01:00+00:00"


def _config(tmp_path: Path, smtp: dict | None, **org) -> Path:
    settings = {"domains": ["ours.test"], "digest_schedule": "0 8 * * 1-5",
                "portal_url": "https://portal.ours.test/q/{qid}"} | org
    text = "[orgs.ours]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    if smtp:
        text += "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in smtp.items())
    path = tmp_path / "mailsphere.toml"
    path.write_text(text)
    return path


def _digest(tmp_path: Path, *args: str):
    return CliRunner().invoke(app, ["digest", *args, "--data-dir", str(tmp_path / "data"),
                                    "--config", str(tmp_path / "mailsphere.toml")])


def _why(tmp_path: Path, *args: str) -> str:
    result = _digest(tmp_path, *args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["orgs"][0]["why"]


def _subprocess(tmp_path: Path, *args: str, crash_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILSPHERE_CRASH_AT"}
    if crash_at:
        env["MAILSPHERE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "mailsphere_cli", "digest", *args,
                           "--data-dir", str(tmp_path / "data"), "--config",
                           str(tmp_path / "mailsphere.toml")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _hold(tmp_path: Path, **kwargs) -> str:
    store = Store(tmp_path / "data")
    try:
        return hold_message(store, **kwargs)
    finally:
        store.close()


def _digests_to(server: SmtpServer, address: str) -> list:
    return [m for m in server.to(address) if m.message["X-Mailsphere-Digest"]]


def test_schedule_sends_only_when_due_and_only_what_is_new(tmp_path, smtp_server):
    _config(tmp_path, smtp_server.config_table())
    pills = _hold(tmp_path, subject="Cheap pills", recipients=("bob@ours.test",), score=9.5)
    loan = _hold(tmp_path, subject="Loan <approved>", sender="loan@spam.test",
                 recipients=("bob@ours.test", "carol@ours.test", "x@elsewhere.test"), score=7.25)

    assert _why(tmp_path, "--now", TUESDAY_0700).startswith("first run")
    [bob] = _digests_to(smtp_server, "bob@ours.test")
    [carol] = _digests_to(smtp_server, "carol@ours.test")
    assert smtp_server.to("x@elsewhere.test") == []  # not the organisation's
    assert bob.rcpt_tos == ["bob@ours.test"] and bob.mail_from == "mailsphere@ours.test"
    text, html = bob.text(), bob.html()
    for qid, subject, score in ((pills, "Cheap pills", "9.5"), (loan, "Loan <approved>", "7.2")):
        assert f"mailsphere quarantine release {qid} --config" in text
        assert f"https://portal.ours.test/q/{qid}" in text and f"q/{qid}" in html
        assert f"Subject: {subject}" in text and f"Score {score}" in text
    assert "Loan &lt;approved&gt;" in html and "<approved>" not in html  # escaped
    assert "BODY_PILLS" in text and "promo@spam.test" in text
    assert bob.message["Subject"] == "Quarantine digest: 2 messages held for you"
    assert carol.message["Subject"] == "Quarantine digest: 1 message held for you"

    assert _digest(tmp_path, "--now", TUESDAY_0700).exit_code == 0
    assert len(smtp_server.messages) == 2  # running twice sends nothing new

    newer = _hold(tmp_path, subject="Newer", recipients=("bob@ours.test",))
    assert _why(tmp_path, "--now", TUESDAY_0730) == "not due until 2026-12-01T08:00+00:00"
    assert len(smtp_server.messages) == 2
    assert _why(tmp_path, "--now", TUESDAY_0801) == "slot 2026-12-01T08:00+00:00 came due"
    second = _digests_to(smtp_server, "bob@ours.test")[1]
    assert newer in second.text() and pills not in second.text()
    assert len(_digests_to(smtp_server, "carol@ours.test")) == 1  # nothing new: nothing sent


def test_dry_run_shows_and_sends_nothing_then_org_forces_a_run(tmp_path, smtp_server):
    _config(tmp_path, smtp_server.config_table())
    _hold(tmp_path)
    dry = _digest(tmp_path, "--now", TUESDAY_0700, "--dry-run", "--format", "json")
    report = json.loads(dry.stdout)
    assert report["dry_run"] and report["orgs"][0]["digests"][0]["recipient"] == "bob@ours.test"
    assert smtp_server.messages == []
    assert _digest(tmp_path, "--now", TUESDAY_0700).exit_code == 0
    assert len(smtp_server.messages) == 1
    _hold(tmp_path, subject="another")
    assert _why(tmp_path, "--now", TUESDAY_0730).startswith("not due")
    assert _why(tmp_path, "--now", TUESDAY_0730, "--org", "ours") == "forced with --org"
    assert len(smtp_server.messages) == 2
    bad = _digest(tmp_path, "--org", "nope")
    assert bad.exit_code == 2 and "no such organisation" in bad.output


def test_a_failed_relay_leaves_the_digest_due(tmp_path):
    port = free_port()
    _config(tmp_path, {"host": "127.0.0.1", "port": port, "sender": "mailsphere@ours.test",
                       "retries": 0, "timeout": 2.0})
    _hold(tmp_path)
    failed = _digest(tmp_path, "--now", TUESDAY_0700)
    assert failed.exit_code == 1
    assert "not sent, still due" in failed.output and "connection refused" in failed.output
    server = SmtpServer()
    server.port = port
    with server:
        later = _digest(tmp_path, "--now", TUESDAY_0730, "--format", "json")
        assert later.exit_code == 0, later.output  # no new slot, but still due
        assert len(server.messages) == 1 and json.loads(later.stdout)["sent"][0]["resumed"]
        assert _digest(tmp_path, "--now", TUESDAY_0730).exit_code == 0
        assert len(server.messages) == 1


@pytest.mark.parametrize("crash_at", ["digest-claimed", "digest-recorded"])
def test_interrupted_run_resumes_without_duplicates(tmp_path, smtp_server, crash_at):
    _config(tmp_path, smtp_server.config_table())
    _hold(tmp_path, recipients=("bob@ours.test",), subject="one")
    _hold(tmp_path, recipients=("carol@ours.test",), subject="two")
    crashed = _subprocess(tmp_path, "--now", TUESDAY_0700, crash_at=crash_at)
    assert crashed.returncode == 86, crashed.stderr
    assert len(smtp_server.messages) == (0 if crash_at == "digest-claimed" else 1)
    resumed = _subprocess(tmp_path, "--now", TUESDAY_0700)
    assert resumed.returncode == 0, resumed.stderr
    assert len(_digests_to(smtp_server, "bob@ours.test")) == 1
    assert len(_digests_to(smtp_server, "carol@ours.test")) == 1
    assert _subprocess(tmp_path, "--now", TUESDAY_0801).returncode == 0
    assert len(smtp_server.messages) == 2


def test_outbox_out_of_the_box_and_a_crash_after_writing_adds_no_file(tmp_path):
    _config(tmp_path, None)
    _hold(tmp_path, recipients=("bob@ours.test",))
    crashed = _subprocess(tmp_path, "--now", TUESDAY_0700, crash_at="digest-sent")
    assert crashed.returncode == 86
    outbox = tmp_path / "data" / "outbox"
    assert [p.name for p in outbox.iterdir()] == ["digest-1.eml"]
    resumed = _subprocess(tmp_path, "--now", TUESDAY_0700)
    assert resumed.returncode == 0, resumed.stderr
    assert [p.name for p in outbox.iterdir()] == ["digest-1.eml"]
    assert b"To: bob@ours.test" in (outbox / "digest-1.eml").read_bytes()


def test_malicious_notices_name_the_attachment_and_carry_none_of_the_content(tmp_path,
                                                                            smtp_server):
    _config(tmp_path, smtp_server.config_table(), notify_malicious=["recipient", "sender"])
    qid = _hold(tmp_path, malicious=True, sender="evil@bad.test", body="SECRET-PAYLOAD-TEXT",
                notify=("recipient", "sender"))
    result = _digest(tmp_path, "--now", TUESDAY_0700)
    assert result.exit_code == 0, result.output
    to_bob = [m for m in smtp_server.to("bob@ours.test") if "Blocked" in m.message["Subject"]]
    to_sender = smtp_server.to("evil@bad.test")
    assert len(to_bob) == 1 and len(to_sender) == 1
    text = to_bob[0].text()
    assert qid in text and "invoice.exe" in text and "ab" * 32 in text
    assert "cannot be released" in text
    assert b"SECRET-PAYLOAD-TEXT" not in to_bob[0].data
    assert "You sent" not in text and "you sent" in to_sender[0].text()
    # The digest lists held spam only: no digest for a destroyed message.
    assert _digests_to(smtp_server, "bob@ours.test") == []
    assert _digest(tmp_path, "--now", TUESDAY_0801).exit_code == 0
    assert len(smtp_server.messages) == 2
