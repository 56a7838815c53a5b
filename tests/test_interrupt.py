"""Ctrl-C keeps everything finished; --resume finishes the rest without analysing it twice."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_message

MINIPACK = str(ROOT / "tests" / "data" / "minipack")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_interrupt_then_resume(tmp_path: Path, workers: str):
    box = tmp_path / "box"
    box.mkdir()
    total = 1200
    for i in range(total):
        (box / f"{i:05d}.eml").write_bytes(make_message(f"Report {i}", "word " * 200 + str(i)))
    data = tmp_path / "data"
    args = [sys.executable, "-m", "mailsphere_cli", "scan", str(box), "--offline", "--json",
            "-j", workers, "--rules", MINIPACK, "--data-dir", str(data)]
    out_path = tmp_path / "out.jsonl"
    out_file = open(out_path, "wb")  # a file, not a pipe: a full pipe would stall the scan
    proc = subprocess.Popen(args, stdout=out_file, stderr=subprocess.PIPE, cwd=ROOT)
    db_path = data / "mailsphere.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if out_path.read_bytes().count(b"\n") >= 50:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    out_file.close()
    assert proc.returncode == 1, err.decode()[-2000:]
    printed = len(out_path.read_bytes().splitlines())
    db = sqlite3.connect(db_path)
    saved = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert 50 <= saved < total
    assert saved >= printed - 1  # what was reported was recorded (allow the line in flight)
    assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    resumed = subprocess.run(args + ["--resume"], capture_output=True, cwd=ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    records = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert len(records) == total
    assert sum(1 for r in records if r.get("already_recorded")) == saved
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == total
    assert db.execute("SELECT id, status FROM runs").fetchall() == [(1, "complete")]
