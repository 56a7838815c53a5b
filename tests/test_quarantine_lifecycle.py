"""The quarantine lifecycle through the real CLI: show, release (SMTP relay and
Maildir, never twice, resumable after a crash), delete, purge, and the record
of every change. Crashes are real: a subprocess dies at a fault-injection point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailsphere_cli.cli import app
from mailsphere_cli.store.db import Store
from tests.smtp_fixtures import SmtpServer, free_port, hold_message, smtp_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, smtp: dict | None) -> Path:
    text = "[orgs.ours]\ndomains = [\"ours.test\"]\nretention_days = 7\n"
    if smtp:
        text += "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in smtp.items())
    path = tmp_path / "mailsphere.toml"
    path.write_text(text)
    return path


def _cli(tmp_path: Path, *args: str, config: bool = True):
    extra = ["--config", str(tmp_path / "mailsphere.toml")] if config else []
    return CliRunner().invoke(app, list(args) + ["--data-dir", str(tmp_path / "data")] + extra)


def _subprocess(tmp_path: Path, *args: str, crash_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILSPHERE_CRASH_AT"}
    if crash_at:
        env["MAILSPHERE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "mailsphere_cli", *args, "--data-dir",
                           str(tmp_path / "data"), "--config", str(tmp_path / "mailsphere.toml")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data")


def _state(tmp_path: Path, qid: str) -> str:
    store = _store(tmp_path)
    try:
        return store.db.execute("SELECT state FROM quarantine WHERE qid = ?",
                                (qid,)).fetchone()["state"]
    finally:
        store.close()


def _events(tmp_path: Path, qid: str) -> list[str]:
    store = _store(tmp_path)
    try:
        return [r["what"] for r in store.query("SELECT what FROM events WHERE qid = ? ORDER BY id",
                                                (qid,))]
    finally:
        store.close()


def _held(tmp_path: Path, **kwargs) -> str:
    store = _store(tmp_path)
    try:
        return hold_message(store, **kwargs)
    finally:
        store.close()


# -- release ------------------------------------------------------------------------
def test_scan_quarantines_then_release_through_the_relay_once(tmp_path, smtp_server):
    config = _config(tmp_path, smtp_server.config_table())
    config.write_text(config.read_text().replace("retention_days = 7",
                                                 "retention_days = 7\nblacklist = [\"spam.test\"]"))
    mail = tmp_path / "in.eml"
    mail.write_bytes(b"From: Promo <promo@spam.test>\r\nTo: bob@ours.test, carol@ours.test, "
                     b"x@elsewhere.test\r\nSubject: Deal\r\nMessage-ID: <deal-1@spam.test>\r\n"
                     b"\r\nbuy\r\n")
    scanned = _cli(tmp_path, "scan", str(mail), "--offline", "-j", "1")
    assert scanned.exit_code == 0, scanned.output
    listed = json.loads(_cli(tmp_path, "quarantine", "list", "--format", "json",
                             config=False).stdout)
    [item] = listed
    assert item["reason"] == "LIST_BLACKLIST_ORG" and item["state"] == "held"
    qid = item["qid"]

    result = _cli(tmp_path, "quarantine", "release", qid)
    assert result.exit_code == 0, result.output
    assert f"{qid}: released" in result.stdout
    # Only the organisation's own recipients get it back, each once.
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == \
        ["bob@ours.test", "carol@ours.test"]
    delivered = smtp_server.messages[0].message
    assert delivered["Message-ID"] == "<deal-1@spam.test>"
    assert delivered["X-Mailsphere-Released"].startswith(qid)
    assert _state(tmp_path, qid) == "released"

    again = _cli(tmp_path, "quarantine", "release", qid)
    assert again.exit_code == 1 and "already released" in again.output
    assert len(smtp_server.messages) == 2
    assert _events(tmp_path, qid) == ["quarantined", "release-started", "delivered", "delivered",
                                      "released"]
    shown = _cli(tmp_path, "quarantine", "show", qid[:8])
    assert shown.exit_code == 0, shown.output
    assert "LIST_BLACKLIST_ORG" in shown.stdout and "Subject: Deal" in shown.stdout
    assert "smtp:bob@ours.test: sent" in shown.stdout


def test_release_into_a_maildir(tmp_path):
    _config(tmp_path, None)
    qid = _held(tmp_path)
    maildir = tmp_path / "Restored"
    result = _cli(tmp_path, "quarantine", "release", qid, "--to-maildir", str(maildir))
    assert result.exit_code == 0, result.output
    [delivered] = list((maildir / "new").iterdir())
    assert b"Subject: Cheap pills" in delivered.read_bytes()
    assert _state(tmp_path, qid) == "released"


def test_release_without_a_relay_or_maildir_is_a_clear_error(tmp_path):
    _config(tmp_path, None)
    qid = _held(tmp_path)
    result = _cli(tmp_path, "quarantine", "release", qid)
    assert result.exit_code == 1
    assert "no [smtp] relay is configured" in result.output and "--to-maildir" in result.output
    assert _state(tmp_path, qid) == "held"


def test_malicious_items_cannot_be_released(tmp_path, smtp_server):
    _config(tmp_path, smtp_server.config_table())
    qid = _held(tmp_path, malicious=True)
    result = _cli(tmp_path, "quarantine", "release", qid)
    assert result.exit_code == 1 and "content was destroyed" in result.output
    shown = _cli(tmp_path, "quarantine", "show", qid)
    assert "content destroyed" in shown.stdout and "invoice.exe" in shown.stdout
    assert smtp_server.messages == []


def test_release_with_whitelist_sender(tmp_path, smtp_server):
    _config(tmp_path, smtp_server.config_table())
    qid = _held(tmp_path, sender="News@Vendor.test", recipients=("bob@ours.test",))
    result = _cli(tmp_path, "quarantine", "release", qid, "--whitelist-sender")
    assert result.exit_code == 0, result.output
    assert "whitelisted ours/bob@ours.test: news@vendor.test" in result.stdout
    shown = _cli(tmp_path, "lists", "show", "--org", "ours", "--user", "bob@ours.test",
                 "--format", "json")
    assert [(r["kind"], r["entry"]) for r in json.loads(shown.stdout)] == \
        [("whitelist", "news@vendor.test")]


def test_a_relay_failure_leaves_the_release_pending_and_a_retry_finishes_it(tmp_path):
    port = free_port()
    _config(tmp_path, {"host": "127.0.0.1", "port": port, "retries": 0, "timeout": 2.0})
    qid = _held(tmp_path, recipients=("bob@ours.test",))
    failed = _cli(tmp_path, "quarantine", "release", qid)
    assert failed.exit_code == 1
    assert "not delivered" in failed.output and "connection refused" in failed.output
    assert _state(tmp_path, qid) == "releasing"
    server = SmtpServer()
    server.port = port  # the relay comes back where the config says
    with server:
        done = _cli(tmp_path, "quarantine", "release", "--resume")
        assert done.exit_code == 0, done.output
        assert [m.rcpt_tos for m in server.messages] == [["bob@ours.test"]]
    assert _state(tmp_path, qid) == "released"


@pytest.mark.parametrize("crash_at", ["release-marked", "release-recorded"])
def test_interrupted_smtp_release_delivers_each_recipient_exactly_once(tmp_path, smtp_server,
                                                                       crash_at):
    _config(tmp_path, smtp_server.config_table())
    qid = _held(tmp_path, recipients=("bob@ours.test", "carol@ours.test"))
    crashed = _subprocess(tmp_path, "quarantine", "release", qid, crash_at=crash_at)
    assert crashed.returncode == 86, crashed.stderr
    assert _state(tmp_path, qid) == "releasing"
    before = len(smtp_server.messages)
    assert before == (0 if crash_at == "release-marked" else 1)
    finished = _subprocess(tmp_path, "quarantine", "release", qid)
    assert finished.returncode == 0, finished.stderr
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == \
        ["bob@ours.test", "carol@ours.test"]
    assert _state(tmp_path, qid) == "released"
    if before:
        assert "already done by an earlier run" in finished.stdout


def test_maildir_release_interrupted_between_delivery_and_record_is_not_duplicated(tmp_path):
    _config(tmp_path, None)
    qid = _held(tmp_path)
    maildir = tmp_path / "Restored"
    crashed = _subprocess(tmp_path, "quarantine", "release", qid, "--to-maildir", str(maildir),
                          crash_at="release-delivered")
    assert crashed.returncode == 86
    assert len(list((maildir / "new").iterdir())) == 1
    finished = _subprocess(tmp_path, "quarantine", "release", qid)
    assert finished.returncode == 0, finished.stderr
    assert len(list((maildir / "new").iterdir())) == 1
    assert _state(tmp_path, qid) == "released"


def test_spam_is_one_file_and_shows_its_headers_and_verdict(tmp_path):
    """Held spam is its .eml alone (the verdict as held is in the database); malicious mail
    is its metadata file alone; an item held with a metadata file beside its .eml (before
    schema 4) still shows from that file."""
    _config(tmp_path, None)
    spam = _held(tmp_path, subject="One file please")
    bad = _held(tmp_path, malicious=True, body="other")
    files = sorted(p.name for p in (tmp_path / "data" / "quarantine").rglob("*") if p.is_file())
    assert files == sorted([f"{spam}.eml", f"{bad}.json"])
    shown = json.loads(_cli(tmp_path, "quarantine", "show", spam, "--json").stdout)
    assert "Subject: One file please" in shown["headers"] and "buy now" not in shown["headers"]
    assert [h["rule"] for h in shown["verdict"]["hits"]] == ["BODY_PILLS"]
    shown = json.loads(_cli(tmp_path, "quarantine", "show", bad, "--json").stdout)
    assert shown["content_destroyed"] and "Subject: Cheap pills" in shown["headers"]
    assert shown["verdict"]["attachments"][0]["name"] == "invoice.exe"

    store = _store(tmp_path)
    try:
        path = Path(store.db.execute("SELECT path FROM quarantine WHERE qid = ?",
                                     (spam,)).fetchone()[0])
        old = path.with_suffix(".json")
        old.write_text(json.dumps({"qid": spam, "headers": "Subject: from the old file",
                                   "verdict": {"hits": [{"rule": "OLD_RULE"}]}}))
        with store.transaction() as db:
            db.execute("UPDATE quarantine SET meta_path = ? WHERE qid = ?", (str(old), spam))
            db.execute("DELETE FROM held_verdicts WHERE qid = ?", (spam,))
    finally:
        store.close()
    shown = json.loads(_cli(tmp_path, "quarantine", "show", spam, "--json").stdout)
    assert shown["headers"] == "Subject: from the old file"
    assert shown["verdict"]["hits"] == [{"rule": "OLD_RULE"}]


# -- delete and purge ---------------------------------------------------------------------
def test_delete_removes_the_files_and_keeps_the_record(tmp_path):
    _config(tmp_path, None)
    qid = _held(tmp_path)
    store = _store(tmp_path)
    row = dict(store.db.execute("SELECT path, meta_path FROM quarantine WHERE qid = ?",
                                (qid,)).fetchone())
    store.close()
    assert Path(row["path"]).is_file()
    result = _cli(tmp_path, "quarantine", "delete", qid)
    assert result.exit_code == 0 and f"{qid}: deleted" in result.stdout
    assert row["meta_path"] is None and not Path(row["path"]).exists()
    assert _state(tmp_path, qid) == "deleted"
    store = _store(tmp_path)
    try:  # the verdict quotes the content: it goes with the file
        assert store.db.execute("SELECT COUNT(*) FROM held_verdicts").fetchone()[0] == 0
    finally:
        store.close()
    assert _events(tmp_path, qid)[-1] == "deleted"
    refused = _cli(tmp_path, "quarantine", "release", qid, "--to-maildir", str(tmp_path / "m"))
    assert refused.exit_code == 1 and "deleted" in refused.output
    missing = _cli(tmp_path, "quarantine", "delete", "0000000000")
    assert missing.exit_code == 1 and "no such quarantined message" in missing.output


def _age(tmp_path: Path, qid: str, days: int) -> None:
    store = _store(tmp_path)
    old = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
    store.db.execute("UPDATE quarantine SET created = ? WHERE qid = ?", (old, qid))
    store.close()


def test_purge_older_than_and_by_retention(tmp_path):
    _config(tmp_path, None)
    old = _held(tmp_path, subject="old")
    week = _held(tmp_path, subject="a week")
    fresh = _held(tmp_path, subject="fresh")
    _age(tmp_path, old, 40)
    _age(tmp_path, week, 10)
    result = _cli(tmp_path, "quarantine", "purge", "--older-than", "30d")
    assert result.exit_code == 0 and "purged 1 item(s)" in result.stdout
    assert [_state(tmp_path, q) for q in (old, week, fresh)] == ["purged", "held", "held"]
    by_retention = _cli(tmp_path, "quarantine", "purge")  # the org keeps 7 days
    assert "purged 1 item(s)" in by_retention.stdout
    assert [_state(tmp_path, q) for q in (week, fresh)] == ["purged", "held"]
    listed = json.loads(_cli(tmp_path, "quarantine", "list", "--format", "json",
                             config=False).stdout)
    assert {r["qid"]: r["state"] for r in listed}[fresh] == "held"
