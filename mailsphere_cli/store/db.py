"""The results database: SQLite in WAL mode, written only by the parent process."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from mailsphere_cli.verdict import Verdict, VerdictView, clean_text

# 2: a verdict's `skipped` list is kept once per distinct list in `skipsets` (the
# message row names it in `skipset`; its verdict JSON reads "skipped": null). Rows
# written by version 1 keep the list inline and `skipset` empty; both read the same.
# 3: no index on hits.rule: no query reads hits by rule alone, and keeping it up to date
# cost 17 % of the instructions spent recording a verdict (12-13 hits a message).
# 4: `hits` is a view over the hits in each message's verdict JSON (which always held
# them) instead of a table written beside it: the 12-13 rows a message and their index
# were three quarters of the parent's CPU spent recording a verdict (0.12-0.14 of
# 0.16-0.18 ms). Same columns as the table had; always what the verdicts say.
SCHEMA_VERSION = 4

# The columns of the table `hits` was up to schema 3, read from the verdicts. A verdict
# that is not valid JSON (none is written so) contributes no rows instead of failing
# every query of the view.
_HITS_VIEW = """
CREATE VIEW IF NOT EXISTS hits (message_id, rulepack, rule, score, grp, evidence) AS
    SELECT m.id, m.rulepack, json_extract(h.value, '$.rule'),
           CAST(json_extract(h.value, '$.score') AS REAL), json_extract(h.value, '$.group'),
           json_extract(h.value, '$.evidence')
    FROM messages AS m, json_each(m.verdict, '$.hits') AS h
    WHERE json_valid(m.verdict);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    paths TEXT NOT NULL, rulepack TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}',
    counts TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT NOT NULL, rulepack TEXT NOT NULL, run_id INTEGER NOT NULL,
    source TEXT NOT NULL, sender TEXT, recipients TEXT, subject TEXT, date TEXT,
    size INTEGER, org TEXT, score REAL, threshold REAL, action TEXT NOT NULL,
    decided_by TEXT, elapsed_ms REAL, scanned_at TEXT NOT NULL, verdict TEXT NOT NULL,
    skipset TEXT,
    PRIMARY KEY (id, rulepack)
);
CREATE TABLE IF NOT EXISTS skipsets (key TEXT PRIMARY KEY, skipped TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_scanned ON messages (scanned_at);
CREATE INDEX IF NOT EXISTS messages_action ON messages (action);
CREATE TABLE IF NOT EXISTS problems (
    run_id INTEGER NOT NULL, origin TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    qid TEXT PRIMARY KEY, message_id TEXT NOT NULL, created TEXT NOT NULL,
    org TEXT, sender TEXT, recipients TEXT, subject TEXT, score REAL,
    action TEXT NOT NULL, reason TEXT, path TEXT, meta_path TEXT,
    content_destroyed INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'held',
    source TEXT, size INTEGER
);
CREATE INDEX IF NOT EXISTS quarantine_created ON quarantine (created);
-- The verdict of a held message as it was when held (its headers are in the .eml; for
-- malicious mail the QID.json file keeps both, since the content is destroyed).
CREATE TABLE IF NOT EXISTS held_verdicts (qid TEXT PRIMARY KEY, verdict TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL,
    what TEXT NOT NULL, qid TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, qid TEXT NOT NULL, kind TEXT NOT NULL,
    recipient TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'due', created TEXT NOT NULL,
    sent TEXT, error TEXT, UNIQUE (qid, kind, recipient)
);
-- Lists (issue 7): user-level (and database-kept org-level, user '') entries.
CREATE TABLE IF NOT EXISTS list_entries (
    org TEXT NOT NULL, user TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL, entry TEXT NOT NULL,
    added TEXT NOT NULL, who TEXT NOT NULL, PRIMARY KEY (org, user, kind, entry)
);
-- Releases: one row per quarantined message and delivery target, so a resumed
-- release delivers only what is still pending.
CREATE TABLE IF NOT EXISTS deliveries (
    qid TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    created TEXT NOT NULL, sent TEXT, attempts INTEGER NOT NULL DEFAULT 0, detail TEXT,
    PRIMARY KEY (qid, target)
);
-- Digests: per-org schedule state, each digest sent (or pending), and which
-- quarantined items each recipient has been told about.
CREATE TABLE IF NOT EXISTS digest_runs (org TEXT PRIMARY KEY, last_run TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, recipient TEXT NOT NULL,
    created TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', sent TEXT, via TEXT,
    items TEXT NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS digest_items (
    recipient TEXT NOT NULL, qid TEXT NOT NULL, digest_id INTEGER NOT NULL,
    PRIMARY KEY (recipient, qid)
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def who() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER") or str(os.getuid())


class Store:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "mailsphere.db"
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA + _HITS_VIEW)  # the view: not over an old table
        self._migrate()
        self._skipsets: dict[str, str] = {}  # skipped list JSON -> its key, known to be stored
        self._skipped: dict[str, str] = {}  # key -> skipped list JSON, as read back

    def _migrate(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and int(row["value"]) >= SCHEMA_VERSION:
            return
        with self.transaction():
            columns = {r["name"] for r in self.db.execute("PRAGMA table_info(messages)")}
            if "skipset" not in columns:  # a data directory made by schema 1
                self.db.execute("ALTER TABLE messages ADD COLUMN skipset TEXT")
            kind = self.db.execute("SELECT type FROM sqlite_master WHERE name = 'hits'"
                                   ).fetchone()
            if kind is not None and kind[0] == "table":
                # Schemas 1-3 wrote each hit twice, in the verdict and as a row here: the
                # table goes (its indexes with it) and the view reads the verdicts.
                self.db.execute("DROP TABLE hits")
                self.db.execute(_HITS_VIEW)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)",
                            (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.db.close()

    def checkpoint(self, last: bool = False) -> None:
        """Copy what the write-ahead log holds into the database file now, as far as
        readers allow (it never waits for them), rather than leave it all to the last
        connection's close: the close of a database whose log held 400 verdicts took
        20-25 ms (copying and syncing them), 4-8 ms when only a few pages were new, 1-2 ms
        when the log was also emptied. `last`: this connection closes next, so the log is
        emptied too (which needs no other connection reading: it does not wait for one)."""
        try:
            if not last:
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                return
            self.db.execute("PRAGMA busy_timeout = 0")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            # Only a head start: what is committed is in the log either way, and the last
            # connection's close copies it, as it did before this existed.
            pass

    # -- runs --------------------------------------------------------------
    def start_run(self, paths: list[str], rulepack: str, options: dict[str, Any]) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (started, status, paths, rulepack, options) VALUES (?, 'running', ?, ?, ?)",
            (now_iso(), json.dumps(paths), rulepack, json.dumps(options)))
        return int(cursor.lastrowid)

    def resumable_run(self, paths: list[str], rulepack: str) -> int | None:
        row = self.db.execute(
            "SELECT id FROM runs WHERE status IN ('running', 'interrupted') AND paths = ? "
            "AND rulepack = ? ORDER BY id DESC LIMIT 1", (json.dumps(paths), rulepack)).fetchone()
        return int(row["id"]) if row else None

    def has_run_of(self, rulepack: str) -> bool:
        """Whether any run used this rule pack (verdicts are recorded only by runs)."""
        return self.db.execute("SELECT 1 FROM runs WHERE rulepack = ? LIMIT 1",
                               (rulepack,)).fetchone() is not None

    def reopen_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET status = 'running' WHERE id = ?", (run_id,))

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any]) -> None:
        self.db.execute("UPDATE runs SET finished = ?, status = ?, counts = ? WHERE id = ?",
                        (now_iso(), status, json.dumps(counts), run_id))

    # -- messages ----------------------------------------------------------
    def known(self, message_id: str, rulepack: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT verdict, skipset FROM messages WHERE id = ? AND "
                              "rulepack = ?", (message_id, rulepack)).fetchone()
        if row is None:
            return None
        record = json.loads(row["verdict"])
        key = row["skipset"]
        if key is not None:
            if key not in self._skipped:
                self._skipped[key] = _skipped_text(self.db, key)
            record["skipped"] = json.loads(self._skipped[key])
        return record

    def record(self, run_id: int, rulepack: str,
               verdicts: Iterable[Verdict | VerdictView]) -> None:
        """Write a batch of verdicts in one transaction (replacing an earlier record)."""
        stamp = now_iso()
        # One row per message: the last verdict wins when a message came twice.
        latest = {v.id: v for v in (v if isinstance(v, VerdictView) else VerdictView.of(v)
                                    for v in verdicts)}
        with self.transaction():
            messages = []
            for v in latest.values():
                light = v.light
                key = self._skipsets.get(v.skipped)
                if key is None:
                    key = hashlib.sha256(v.skipped.encode()).hexdigest()[:24]
                    self.db.execute("INSERT OR IGNORE INTO skipsets VALUES (?, ?)",
                                    (key, v.skipped))
                    self._skipsets[v.skipped] = key
                messages.append((v.id, rulepack, run_id, clean_text(light["source"]),
                                 clean_text(light["from"]), json.dumps(light["to"]),
                                 clean_text(light["subject"]), clean_text(light["date"]),
                                 light["size"], light["org"], light["score"], light["threshold"],
                                 light["action"], light["decided_by"], light["elapsed_ms"],
                                 stamp, v.body, key))
            self.db.executemany(
                "INSERT OR REPLACE INTO messages (id, rulepack, run_id, source, sender, "
                "recipients, subject, date, size, org, score, threshold, action, decided_by, "
                "elapsed_ms, scanned_at, verdict, skipset) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", messages)

    def record_problems(self, run_id: int, problems: Iterable[tuple[str, str, str]]) -> None:
        stamp = now_iso()
        with self.transaction():
            self.db.executemany("INSERT INTO problems VALUES (?,?,?,?,?)",
                                [(run_id, clean_text(o), k, clean_text(r), stamp)
                                 for o, k, r in problems])

    def transaction(self) -> "_Transaction":
        return _Transaction(self.db)

    def event(self, what: str, qid: str | None, detail: str = "", actor: str | None = None) -> None:
        self.db.execute("INSERT INTO events (at, who, what, qid, detail) VALUES (?,?,?,?,?)",
                        (now_iso(), actor or who(), what, qid, detail))

    def query(self, sql: str, params: tuple = ()) -> Iterator[sqlite3.Row]:
        return iter(self.db.execute(sql, params).fetchall())


def stored_verdict(db: sqlite3.Connection, verdict: str, skipset: str | None) -> dict[str, Any]:
    """A recorded verdict as a whole record, its `skipped` list put back from `skipsets`."""
    record = json.loads(verdict)
    if skipset is not None:
        record["skipped"] = json.loads(_skipped_text(db, skipset))
    return record


def _skipped_text(db: sqlite3.Connection, key: str) -> str:
    row = db.execute("SELECT skipped FROM skipsets WHERE key = ?", (key,)).fetchone()
    return row[0] if row else "[]"


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, tb) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
