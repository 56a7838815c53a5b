"""The real CLI, end to end: output contract, store, quarantine, move, resume, bad usage."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from mailsphere_cli.rules.checks import check
from tests.conftest import ROOT, make_message

MINIPACK = str(ROOT / "tests" / "data" / "minipack")
SLEEPYPACK = str(ROOT / "tests" / "data" / "sleepypack")


@check("test_sleep")
def _test_sleep(msg, ctx, seconds: float = 0) -> str | None:
    """Sleeps when the subject says so: lets a test overrun the per-message budget."""
    if "SLEEP" in msg.subject:
        time.sleep(5)
    if "CRASH" in msg.subject and os.getpid() != _PARENT:
        os._exit(3)  # a worker dying under a message, as a segfault in a C library would
    return None


_PARENT = os.getpid()


def ham(i: int) -> bytes:
    return make_message(f"Minutes of meeting {i}", f"Notes number {i} from the team meeting.")


def spam(i: int) -> bytes:
    return make_message(f"Urgent notice {i}", f"Congratulations, you have won! Ref {i}.",
                        sender=f"promo{i}@prize.example")


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(4):
        (box / "cur" / f"{i}.M{i}.host:2,S").write_bytes(ham(i))
    for i in range(2):
        (box / "new" / f"{10 + i}.M{i}.host").write_bytes(spam(i))
    return box


def scan(cli, *args, rules=MINIPACK):
    # The classifier's own banded hits would mix into these rule-pack assertions.
    return cli.scan_json("--rules", rules, "--skip", "classifier", *args)


def test_json_contract_and_verdicts(cli, mailbox: Path):
    records = scan(cli, str(mailbox))
    assert len(records) == 6
    keys = {"id", "source", "from", "to", "subject", "score", "threshold", "action", "decided_by",
            "hits", "auth", "attachments", "skipped", "errors", "elapsed_ms"}
    for record in records:
        assert keys <= set(record)
    spam_records = [r for r in records if r["action"] == "spam"]
    assert len(spam_records) == 2
    for record in spam_records:
        rules = {h["rule"]: h for h in record["hits"]}
        assert rules["MINI_PRIZE"]["evidence"] == "you have won"
        assert rules["MINI_PRIZE"]["score"] == 6.0 and rules["MINI_PRIZE"]["group"] == "content"
        assert record["score"] == 7.0 and record["threshold"] == 5.0
        assert record["decided_by"] == "rules"
    skipped = {s["name"]: s["reason"] for s in records[0]["skipped"]}
    assert skipped["classifier"] == "skipped on request (--skip)"
    assert skipped["spf"] == "offline"  # network checks are listed, never scored as misses
    for record in records:
        if record["action"] == "deliver":
            assert record["score"] < 5.0


def test_quarantine_holds_spam_and_rescan_is_idempotent(cli, mailbox: Path):
    scan(cli, str(mailbox))
    listed = json.loads(cli("quarantine", "list", "--format", "json").stdout)
    assert len(listed) == 2 and {q["action"] for q in listed} == {"spam"}
    files = sorted(p.name for p in (cli.data_dir / "quarantine").rglob("*.eml"))
    assert len(files) == 2
    # the quarantine copy is byte-identical to the source
    held = next((cli.data_dir / "quarantine").rglob("*.eml")).read_bytes()
    assert held in (spam(0), spam(1))
    second = scan(cli, str(mailbox))
    assert len(second) == 6 and all(r.get("already_recorded") for r in second)
    db = sqlite3.connect(cli.data_dir / "mailsphere.db")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6
    assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM hits WHERE rule = 'MINI_PRIZE'").fetchone()[0] == 2
    # source untouched without --move
    assert len(list((mailbox / "new").iterdir())) == 2


def test_output_files_jsonl_and_csv(cli, mailbox: Path, tmp_path: Path):
    scan(cli, str(mailbox), "--output", str(tmp_path / "out.jsonl"))
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line)["id"] for line in lines)
    scan(cli, str(mailbox), "--rescan", "--output", str(tmp_path / "out.csv"))
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0].startswith("id,source,from,to,subject,score") and len(rows) == 7
    assert sum("MINI_PRIZE=6.0" in row for row in rows) == 2


def test_terminal_summary(cli, mailbox: Path):
    result = cli("scan", "--offline", "-j", "1", "--rules", MINIPACK, str(mailbox))
    assert result.exit_code == 0
    assert "Scan summary" in result.stdout and "MINI_PRIZE" in result.stdout
    assert "messages/s" in result.stdout


def test_fail_on_spam_exit_code(cli, mailbox: Path):
    result = cli("scan", "--offline", "-j", "1", "--rules", MINIPACK, "--json", "--fail-on",
                 "spam", str(mailbox))
    assert result.exit_code == 1
    clean = mailbox.parent / "clean"
    clean.mkdir()
    (clean / "a.eml").write_bytes(ham(99))
    result = cli("scan", "--offline", "-j", "1", "--rules", MINIPACK, "--json", "--fail-on",
                 "spam", str(clean))
    assert result.exit_code == 0


def test_stdin(cli):
    records = cli.scan_json("--rules", MINIPACK, "-", input=spam(5))
    assert len(records) == 1 and records[0]["source"] == "-" and records[0]["action"] == "spam"


def test_pool_gives_the_same_verdicts_as_one_process(cli, mailbox: Path):
    one = {r["id"]: (r["action"], r["score"]) for r in scan(cli, str(mailbox))}
    result = cli("scan", "--json", "--offline", "-j", "2", "--rescan", "--rules", MINIPACK,
                 str(mailbox))
    assert result.exit_code == 0
    pool = {json.loads(l)["id"]: (json.loads(l)["action"], json.loads(l)["score"])
            for l in result.stdout.splitlines()}
    assert pool == one
    db = sqlite3.connect(cli.data_dir / "mailsphere.db")
    counts = json.loads(db.execute("SELECT counts FROM runs ORDER BY id DESC").fetchone()[0])
    db.close()
    # the pool's workers were reaped: the kernel's peak for the largest of them is recorded
    assert 10 < counts["peak_rss_mib"]["worker"] < 4096


def test_a_pool_reading_files_itself_finds_what_one_process_finds(cli, tmp_path: Path):
    """With a pool the workers read the files of folders and Maildirs themselves
    (sources.FileRef), an mbox of several messages goes back to the parent to be framed,
    and a file that is not mail comes back as a problem: one process reads them all
    itself, and both runs must see the same messages, verdicts, problems and held mail."""
    box = tmp_path / "mixed"
    (box / "sub").mkdir(parents=True)
    (box / "a.eml").write_bytes(ham(1))
    (box / "b.eml").write_bytes(spam(2))
    (box / "notes.txt").write_bytes(b"just some text, no headers\n")
    (box / "empty.eml").write_bytes(b"")
    (box / ".hidden").write_bytes(ham(3))
    separator = b"From someone@example.org Mon Jan  1 00:00:00 2024\n"
    (box / "sub" / "many.mbox").write_bytes(
        b"".join(separator + m + b"\n" for m in (ham(4), spam(5), ham(6))))
    (box / "sub" / "one").write_bytes(separator + spam(7) + b"\n")
    for sub in ("cur", "new", "tmp"):
        (box / "Box" / sub).mkdir(parents=True)
    (box / "Box" / "cur" / "1.M1.host:2,S").write_bytes(spam(8))
    (box / "Box" / "new" / "2.M2.host").write_bytes(b"\x00\x01 binary")

    def run(workers: str) -> tuple[list, list, list, list]:
        data = tmp_path / f"data{workers}"
        result = cli("scan", "--json", "--offline", "-j", workers, "--rules", MINIPACK,
                     "--skip", "classifier", "--data-dir", str(data), str(box))
        assert result.exit_code == 0, result.output
        records = sorted((r["source"], r["id"], r["action"], r["score"], r["size"])
                         for r in map(json.loads, result.stdout.splitlines()))
        db = sqlite3.connect(data / "mailsphere.db")
        problems = sorted(db.execute("SELECT origin, kind, reason FROM problems"))
        held = sorted(db.execute("SELECT qid, action, size FROM quarantine"))
        kept = sorted((p.name, p.read_bytes()) for p in (data / "quarantine").rglob("*.eml"))
        return records, problems, held, kept

    one, pool = run("1"), run("2")
    assert pool == one
    records, problems, held, kept = pool
    assert len(records) == 7 and len(problems) == 4 and len(held) == 4 and len(kept) == 4
    assert {Path(r[0]).name for r in records} >= {"many.mbox#0", "many.mbox#2", "one"}


def test_message_overrunning_its_budget_becomes_an_error_and_the_run_goes_on(cli, tmp_path):
    box = tmp_path / "slow"
    box.mkdir()
    (box / "a.eml").write_bytes(make_message("please SLEEP now"))
    (box / "b.eml").write_bytes(ham(1))
    began = time.monotonic()
    records = scan(cli, str(box), "--timeout", "0.5", rules=SLEEPYPACK)
    assert time.monotonic() - began < 4
    by_source = {Path(r["source"]).name: r for r in records}
    assert by_source["a.eml"]["action"] == "error"
    assert by_source["a.eml"]["errors"] == ["timed out after 0.5 s"]
    assert by_source["b.eml"]["action"] == "deliver"


@pytest.mark.parametrize("workers", ["1", "2"])  # 2: the workers read the Maildir's files
def test_move_removes_spam_from_maildir_only_after_quarantine(cli, mailbox: Path, workers):
    scan(cli, str(mailbox), "--move", "-j", workers)
    assert list((mailbox / "new").iterdir()) == []
    assert len(list((mailbox / "cur").iterdir())) == 4
    held = sorted(p.read_bytes() for p in (cli.data_dir / "quarantine").rglob("*.eml"))
    assert held == sorted([spam(0), spam(1)])
    db = sqlite3.connect(cli.data_dir / "mailsphere.db")
    assert db.execute("SELECT COUNT(*) FROM events WHERE what = 'moved'").fetchone()[0] == 2


def test_move_rewrites_mbox_keeping_everything_else_byte_for_byte(cli, tmp_path: Path):
    box = tmp_path / "inbox.mbox"
    entries = [ham(1), spam(1), ham(2), spam(2), ham(3)]
    framed = [b"From sender@example.net Tue Mar  3 10:00:00 2026\n" + e for e in entries]
    box.write_bytes(b"\n".join(framed))
    scan(cli, str(box), "--move")
    left = box.read_bytes()
    assert left == b"\n".join([framed[0], framed[2], framed[4]])
    assert not box.with_name("inbox.mbox.lock").exists()
    records = scan(cli, str(box), "--rescan")
    assert [r["action"] for r in records] == ["deliver"] * 3


def test_move_leaves_a_message_that_changed_since_the_scan(cli, mailbox: Path, monkeypatch):
    """The source copy is removed only if it still holds the bytes that were scanned."""
    from mailsphere_cli.store import move as move_module

    original = move_module._file_digest

    def tampered(path: Path) -> str:
        path.write_bytes(path.read_bytes() + b"\nappended later\n")
        return original(path)

    monkeypatch.setattr(move_module, "_file_digest", tampered)
    result = cli("scan", "--offline", "-j", "1", "--rules", MINIPACK, "--move", str(mailbox))
    assert result.exit_code == 0
    assert len(list((mailbox / "new").iterdir())) == 2
    assert "changed since it was scanned" in result.stdout


def test_resume_continues_an_interrupted_run(cli, mailbox: Path):
    db_path = cli.data_dir / "mailsphere.db"
    scan(cli, str(mailbox / "cur"))  # pretend part of the box was done before a crash...
    db = sqlite3.connect(db_path)
    db.execute("UPDATE runs SET status = 'interrupted', paths = ?", (json.dumps([str(mailbox)]),))
    db.commit()
    records = scan(cli, str(mailbox), "--resume")
    assert sum(1 for r in records if r.get("already_recorded")) == 4
    assert sum(1 for r in records if not r.get("already_recorded")) == 2
    runs = db.execute("SELECT id, status FROM runs").fetchall()
    assert runs == [(1, "complete")]


def test_report_and_explain(cli, mailbox: Path):
    records = scan(cli, str(mailbox))
    report = json.loads(cli("report", "--since", "7d", "--format", "json").stdout)
    assert report["messages"] == 6
    assert {a["action"]: a["messages"] for a in report["actions"]} == {"deliver": 4, "spam": 2}
    assert report["top_rules"][0]["rule"] == "MINI_PRIZE"
    assert report["top_senders"][0]["flagged"] == 1
    csv_out = cli("report", "--format", "csv").stdout
    assert "action,spam,2" in csv_out
    target = next(r for r in records if r["action"] == "spam")
    shown = cli("explain", target["id"][:12])
    assert shown.exit_code == 0 and "MINI_PRIZE" in shown.stdout and "you have won" in shown.stdout


@pytest.mark.parametrize("args, message", [
    (["scan", "/no/such/dir"], "/no/such/dir: no such file or directory"),
    (["scan", "--skip", "lunch", "."], "--skip 'lunch': not a stage"),
    (["scan", "--format", "pst", "."], "unknown format 'pst'"),
    (["scan", "--fail-on", "ham", "."], "--fail-on 'ham'"),
    (["report", "--since", "yesterday"], "--since 'yesterday'"),
])
def test_bad_usage_is_one_clear_line_and_exit_2(cli, args, message, mailbox):
    scan(cli, str(mailbox))  # so report has a database
    result = cli(*args)
    assert result.exit_code == 2
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_bad_config_names_the_key_and_file(cli, tmp_path: Path, mailbox: Path):
    config = tmp_path / "bad.toml"
    config.write_text('[orgs.acme]\ndomains = ["acme.example"]\nthreshhold = 4\n')
    result = cli("scan", "--config", str(config), str(mailbox))
    assert result.exit_code == 2
    assert "bad.toml" in result.stderr and "orgs.acme.threshhold" in result.stderr
    config.write_text('[network]\ntrusted = ["10.0.0.0/33"]\n')
    result = cli("scan", "--config", str(config), str(mailbox))
    assert result.exit_code == 2 and "network.trusted" in result.stderr


def test_unknown_option_exits_2(cli):
    result = cli("scan", "--bogus", ".")
    assert result.exit_code == 2


def test_org_threshold_from_config(cli, tmp_path: Path, mailbox: Path):
    config = tmp_path / "c.toml"
    config.write_text('[orgs.ex]\ndomains = ["example.com"]\nthreshold = 8.0\n')
    records = scan(cli, "--config", str(config), str(mailbox))
    assert {r["threshold"] for r in records} == {8.0}
    assert all(r["action"] == "deliver" for r in records) and all(r["org"] == "ex" for r in records)


def test_the_same_message_twice_in_one_run_is_recorded_once(cli, tmp_path: Path):
    box = tmp_path / "dupes"
    box.mkdir()
    for name in ("a.eml", "b.eml"):
        (box / name).write_bytes(spam(7))
    records = scan(cli, str(box))
    assert len(records) == 2 and {r["id"] for r in records} == {records[0]["id"]}
    db = sqlite3.connect(cli.data_dir / "mailsphere.db")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM hits WHERE rule = 'MINI_PRIZE'").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 1


def test_a_message_that_kills_its_worker_is_an_error_and_the_rest_is_scanned(cli, tmp_path):
    box = tmp_path / "crashy"
    box.mkdir()
    for i in range(40):
        (box / f"{i:02d}.eml").write_bytes(ham(i))
    (box / "20-bad.eml").write_bytes(make_message("please CRASH here"))
    result = cli("scan", "--json", "--offline", "-j", "2", "--rules", SLEEPYPACK, "--skip",
                 "classifier", str(box))
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(r["source"]).name: r for r in records}
    assert len(by_name) == 41
    assert by_name["20-bad.eml"]["action"] == "error"
    assert by_name["20-bad.eml"]["errors"][0].startswith("worker crashed")
    assert all(r["action"] == "deliver" for n, r in by_name.items() if n != "20-bad.eml")


def test_an_unusable_model_is_one_warning_and_the_scan_goes_on(cli, mailbox: Path, tmp_path):
    bad = tmp_path / "broken.joblib"
    bad.write_bytes(b"not a model at all")
    result = cli("scan", "--json", "--offline", "-j", "1", "--rules", MINIPACK, "--model",
                 str(bad), str(mailbox))
    assert result.exit_code == 0
    warnings = [l for l in result.stderr.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "classifier off" in warnings[0]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 6
    assert all(any(s["name"] == "classifier" for s in r["skipped"]) for r in records)


def eight_bit_spam() -> bytes:
    """Raw 8-bit bytes in the headers, as EAI mail and careless mailers send them: the email
    package hands them back as lone surrogates, which no UTF-8 file or database takes."""
    return (b"Received: from mx.prize.example (mx.prize.example [203.0.113.9]) by mx.example.com"
            b" with ESMTP id 6EF7 for <dangl\xc3\xbce@example.com>; Tue, 03 Mar 2026 10:00:00 +0000\n"
            b"From: Preis <promo@prize.example>\nTo: bob@example.com\n"
            b"Subject: Urgent: Gr\xf6\xdfer Gewinn \xe2\x82\xac\n"
            b"Date: Tue, 03 Mar 2026 10:00:00 +0000\nMessage-ID: <8bit@prize.example>\n\n"
            b"Congratulations, you have won!\n")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_eight_bit_headers_and_file_names_never_break_the_record(cli, tmp_path: Path, workers):
    box = tmp_path / "eight-bit"
    box.mkdir()
    (box / os.fsdecode(b"pr\xeamio.eml")).write_bytes(eight_bit_spam())
    (box / "plain.eml").write_bytes(ham(1))
    out = tmp_path / "out.csv"
    result = cli("scan", "--json", "--offline", "-j", workers, "--rules", MINIPACK, "--skip",
                 "classifier", "--output", str(out), str(box))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for line in lines:
        line.encode("utf-8")  # every line is valid UTF-8 text
    records = {Path(json.loads(line)["source"]).name: json.loads(line) for line in lines}
    prize = records[os.fsdecode(b"pr\xeamio.eml")]
    assert prize["action"] == "spam" and prize["subject"].startswith("Urgent: Gr")
    assert "dangl" in json.dumps(prize["auth"])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    db = sqlite3.connect(cli.data_dir / "mailsphere.db")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 1
    shown = cli("explain", prize["id"][:12])
    assert shown.exit_code == 0 and "MINI_PRIZE" in shown.stdout
    again = cli("scan", "--json", "--offline", "-j", workers, "--rules", MINIPACK, "--skip",
                "classifier", str(box))
    assert again.exit_code == 0
    recorded = [json.loads(line) for line in again.stdout.splitlines()]
    assert all(r["already_recorded"] for r in recorded)
    assert {r["id"]: r["subject"] for r in recorded} == {r["id"]: r["subject"]
                                                         for r in records.values()}
    table = cli("scan", "--offline", "-j", workers, "--rules", MINIPACK, "--skip", "classifier",
                "--rescan", str(box))
    assert table.exit_code == 0 and "Scan summary" in table.stdout


def test_the_installed_command_exits_with_the_scan_status_and_all_output(tmp_path: Path,
                                                                          mailbox: Path):
    """`mailsphere` (not the in-process app) ends without tearing every module down: its exit
    status and everything written to stdout and --output must still be there."""
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "mailsphere_cli", "scan", "--offline",
                               "-j", "2", "--rules", MINIPACK, "--skip", "classifier", "--json",
                               "--data-dir", str(tmp_path / "data"), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in os.environ.items()
                                   if k != "PYTHONUNBUFFERED"})  # stdout buffered, as usual

    out = tmp_path / "verdicts.jsonl"
    done = run("--output", str(out), "--fail-on", "spam", str(mailbox))
    assert done.returncode == 1, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(printed) == 6 and [json.loads(l) for l in out.read_text().splitlines()] == printed
    assert sum(r["action"] == "spam" for r in printed) == 2
    assert run(str(mailbox)).returncode == 0  # already recorded, nothing to fail on
    bad = run(str(tmp_path / "missing"))
    assert bad.returncode == 2 and "no such file" in bad.stderr
