"""How a verdict travels from a worker and is kept: the body and the `skipped` list apart,
each distinct list stored once, and every reader given the whole record back."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mailsphere_cli.config import load_config
from mailsphere_cli.sources import Location, RawMessage
from mailsphere_cli.store.db import SCHEMA_VERSION, Store
from mailsphere_cli.verdict import VerdictView, encode, splice, to_json
from mailsphere_cli.workers import Settings, build_pipeline, scan_one
from tests.conftest import ROOT, make_message

MINIPACK = str(ROOT / "tests" / "data" / "minipack")


def _verdicts(tmp_path: Path, messages: list[bytes]):
    pipeline = build_pipeline(Settings(config=load_config(None), rules_dirs=(MINIPACK,),
                                       offline=True, skip=("classifier",),
                                       data_dir=str(tmp_path)))
    import hashlib
    return [scan_one(pipeline, RawMessage(hashlib.sha256(data).hexdigest(), f"m{i}.eml", data,
                                          len(data), Location("eml", f"m{i}.eml")), 30)
            for i, data in enumerate(messages)]


def test_encoded_verdict_splices_back_to_exactly_the_whole_record(tmp_path: Path):
    prize = make_message("Urgent: claim", "Congratulations, you have won!")
    eight_bit = prize.replace(b"Subject: Urgent", b"Subject: Gr\xf6\xdfer Urgent")
    for verdict in _verdicts(tmp_path, [prize, eight_bit, make_message()]):
        light, body, offset, skipped = encode(verdict)
        whole = to_json(verdict.as_dict())
        assert splice(body, offset, skipped) == whole
        assert json.loads(body)["skipped"] is None and json.loads(skipped)  # offline: network checks
        assert VerdictView(light, body, offset, skipped).as_dict() == json.loads(whole)
        assert set(light) < set(json.loads(whole))


def test_each_skipped_list_is_stored_once_and_read_back_whole(tmp_path: Path):
    verdicts = _verdicts(tmp_path, [make_message(f"Meeting {i}", f"Notes {i}") for i in range(5)]
                         + [make_message("Urgent", "you have won")])
    store = Store(tmp_path / "data")
    run = store.start_run(["x"], "pack", {})
    store.record(run, "pack", [VerdictView.of(v) for v in verdicts[:3]])
    store.record(run, "pack", verdicts[3:])  # plain Verdicts are taken too
    assert store.db.execute("SELECT COUNT(*) FROM skipsets").fetchone()[0] == 1
    rows = store.db.execute("SELECT verdict, skipset FROM messages").fetchall()
    assert len(rows) == 6 and all(json.loads(r["verdict"])["skipped"] is None for r in rows)
    for verdict in verdicts:
        known = store.known(verdict.id, "pack")
        assert known == json.loads(to_json(verdict.as_dict()))
        assert list(known) == list(verdict.as_dict())  # the keys in the order of the output
    store.close()


def test_a_schema_1_data_directory_is_read_and_upgraded(tmp_path: Path, cli):
    verdict = _verdicts(tmp_path, [make_message("Urgent", "you have won")])[0]
    old = Store(tmp_path / "data")
    # Make it what schema 1 wrote: no skipsets, the whole record inline.
    # Make it what schema 1 wrote: no skipsets, the whole record inline, a table of hits.
    old.db.executescript("DROP TABLE skipsets; ALTER TABLE messages DROP COLUMN skipset; "
                         "DROP VIEW hits; CREATE TABLE hits (message_id TEXT NOT NULL, "
                         "rulepack TEXT NOT NULL, rule TEXT NOT NULL, score REAL NOT NULL, "
                         "grp TEXT, evidence TEXT); "
                         "CREATE INDEX hits_message ON hits (message_id, rulepack); "
                         "CREATE INDEX hits_rule ON hits (rule); "
                         "UPDATE meta SET value = '1' WHERE key = 'schema';")
    whole = to_json(verdict.as_dict())
    old.db.execute("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (verdict.id, "pack", 1, "m0.eml", verdict.sender, "[]", verdict.subject,
                    "", verdict.size, None, verdict.score, 5.0, verdict.action.value, "rules",
                    1.0, "2026-11-30T00:00:00+00:00", whole))
    expected = [(verdict.id, "pack", h.rule, round(h.score, 3), h.group, h.evidence)
                for h in verdict.hits]
    assert expected
    old.db.executemany("INSERT INTO hits VALUES (?,?,?,?,?,?)", expected)
    old.close()
    shown = cli("explain", verdict.id[:12], "--json")  # opens it read-only: no upgrade
    assert shown.exit_code == 0 and json.loads(shown.stdout)["skipped"] == verdict.as_dict()[
        "skipped"]
    store = Store(tmp_path / "data")
    assert store.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(
        SCHEMA_VERSION)
    assert store.known(verdict.id, "pack") == json.loads(whole)
    kinds = {tuple(r) for r in store.db.execute("SELECT type, name FROM sqlite_master WHERE "
                                                 "tbl_name = 'hits'")}
    assert kinds == {("view", "hits")}  # the table and its indexes are gone
    assert [tuple(r) for r in store.db.execute("SELECT * FROM hits")] == expected
    store.close()


def test_the_hits_view_gives_each_recorded_verdicts_hits_once(tmp_path: Path):
    verdicts = _verdicts(tmp_path, [make_message("Urgent", "you have won"),
                                    make_message("Urgent: claim", "Congratulations, you have won!"),
                                    make_message("Minutes", "Notes from the meeting")])
    store = Store(tmp_path / "data")
    run = store.start_run(["x"], "pack", {})
    store.record(run, "pack", verdicts)
    store.record(run, "pack", [VerdictView.of(verdicts[0])])  # recorded again: replaced
    expected = sorted((v.id, "pack", h.rule, round(h.score, 3), h.group, h.evidence)
                      for v in verdicts for h in v.hits)
    assert len(expected) >= 2
    assert sorted(tuple(r) for r in store.db.execute("SELECT * FROM hits")) == expected
    # a verdict that is not JSON (none is written so) hides its hits, not everyone's
    store.db.execute("UPDATE messages SET verdict = '{' WHERE id = ?", (verdicts[0].id,))
    assert sorted(tuple(r) for r in store.db.execute("SELECT * FROM hits")) == [
        row for row in expected if row[0] != verdicts[0].id]
    store.close()


def test_scan_output_explain_and_rescan_give_the_whole_skipped_list(cli, eml, tmp_path: Path):
    eml(make_message("Urgent", "you have won"))
    eml(make_message("Minutes", "Notes from the meeting"))
    folder = str(tmp_path / "mail")
    first = cli.scan_json("--rules", MINIPACK, folder)
    again = cli.scan_json("--rules", MINIPACK, folder)
    assert all(r["already_recorded"] for r in again)
    for record in first:
        assert {s["name"] for s in record["skipped"]} >= {"spf", "dkim", "dmarc"}
        recorded = next(r for r in again if r["id"] == record["id"])
        assert {k: v for k, v in recorded.items() if k != "already_recorded"} == record
        shown = json.loads(cli("explain", record["id"], "--json").stdout)
        assert shown == record
    db = sqlite3.connect(cli.data_dir / "mailsphere.db")
    assert db.execute("SELECT COUNT(DISTINCT skipset) FROM messages").fetchone()[0] == 1
    counts = json.loads(db.execute("SELECT counts FROM runs ORDER BY id").fetchone()[0])
    assert counts["cpu_s"]["startup"] > 0 and counts["cpu_s"]["parent"] > 0
    # the kernel's peak memory figures (bench_scan reports them): a Python process with
    # the pipeline built holds tens of MiB; a worker's is there, 0 when none was reaped
    assert 20 < counts["peak_rss_mib"]["parent"] < 4096
    assert 0 <= counts["peak_rss_mib"]["worker"] < 4096
    spam = next(r for r in first if r["action"] == "spam")
    [row] = db.execute("SELECT h.verdict FROM held_verdicts h JOIN quarantine q "
                       "ON q.qid = h.qid WHERE q.message_id = ?", (spam["id"],)).fetchall()
    assert json.loads(row[0]) == spam


def test_durable_writes_leave_no_temporary_files_and_replace_a_stale_one(tmp_path: Path):
    """Temporary names are made from the final ones; one left by a writer that died before
    its rename (same process and thread id) is replaced, never written into or kept."""
    import os
    import threading

    from mailsphere_cli.store.quarantine import durable_write, durable_write_many

    folder = tmp_path / "q" / "day"
    items = [(folder / f"{i}.eml", b"message %d\n" % i) for i in range(5)]
    folder.mkdir(parents=True)
    stale = folder / f".tmp-{os.getpid()}-{threading.get_native_id()}-3-3.eml"
    stale.write_bytes(b"half a message from a crashed run " * 100)
    durable_write_many(items)
    assert sorted(p.name for p in folder.iterdir()) == [f"{i}.eml" for i in range(5)]
    assert all(path.read_bytes() == data for path, data in items)
    assert oct(folder.joinpath("0.eml").stat().st_mode & 0o777) == oct(0o600)
    durable_write(tmp_path / "other" / "one.json", b"{}")  # a new folder, one file
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["one.json"]


def test_a_checkpoint_copies_the_log_and_never_waits_for_a_reader(tmp_path: Path):
    """Store.checkpoint (the scan's recorder runs it before the run ends) copies the
    write-ahead log into the database file; `last` also empties the log, and with another
    connection reading it gives up at once instead of waiting (30 s) for it."""
    import time
    verdicts = _verdicts(tmp_path, [make_message(f"Meeting {i}", f"Notes {i}") for i in range(4)])
    store = Store(tmp_path / "data")
    run = store.start_run(["x"], "pack", {})
    store.record(run, "pack", verdicts)
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.stat().st_size > 0
    store.checkpoint()
    frames = store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames[1] == frames[2]  # every frame of the log is in the database file
    reader = sqlite3.connect(store.path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 4
    store.record(run, "pack", verdicts[:1])  # new frames the reader's snapshot does not see
    began = time.monotonic()
    store.checkpoint(last=True)
    assert time.monotonic() - began < 5
    reader.rollback()
    reader.close()
    store.checkpoint(last=True)
    assert wal.stat().st_size == 0  # emptied once nobody reads
    store.close()
    again = sqlite3.connect(tmp_path / "data" / "mailsphere.db")
    assert again.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 4
    again.close()


def test_a_failing_checkpoint_does_not_fail_the_recording(tmp_path: Path):
    """The checkpoint is a head start for the last close: an error in it (here: its
    connection is already closed) is not the recording's error, and what was committed
    stays."""
    store = Store(tmp_path / "data")
    run = store.start_run(["x"], "pack", {})
    store.finish_run(run, "complete", {})
    store.db.close()
    store.checkpoint()
    store.checkpoint(last=True)
    again = sqlite3.connect(tmp_path / "data" / "mailsphere.db")
    assert again.execute("SELECT status FROM runs").fetchone()[0] == "complete"
    again.close()
