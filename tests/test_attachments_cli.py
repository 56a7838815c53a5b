"""End to end through the real CLI: `scan --json` on generated .eml files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_attachments_builders import EICAR, EICAR_SHA256, eml, zip_of

REPO = Path(__file__).resolve().parents[1]


def scan_json(tmp_path: Path, raw: bytes) -> dict:
    message = tmp_path / "message.eml"
    message.write_bytes(raw)
    done = subprocess.run(
        [sys.executable, "-m", "mailsphere_cli", "scan", "--json", "--offline", "--workers", "1",
         "--data-dir", str(tmp_path / "data"), str(message)],
        cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_eicar_in_zip_is_malicious_and_decided_by_attachments(tmp_path):
    verdict = scan_json(tmp_path, eml([("docs.zip", zip_of([("eicar.com", EICAR)]), "application/zip")]))
    assert verdict["action"] == "malicious"
    assert verdict["decided_by"] == "attachments"
    records = {r["path"]: r for r in verdict["attachments"]}
    assert set(records) == {"docs.zip", "docs.zip/eicar.com"}
    member = records["docs.zip/eicar.com"]
    assert member["sha256"] == EICAR_SHA256 and member["size"] == len(EICAR)
    assert member["names"] == ["eicar.com"] and member["true_type"] == "text"
    assert [f.split(":")[0] for f in member["findings"]] == ["ATTACH_BANNED_EXT", "ATTACH_YARA_MALICIOUS"]
    yara = next(h for h in verdict["hits"] if h["rule"] == "ATTACH_YARA_MALICIOUS")
    assert EICAR_SHA256 in yara["evidence"] and "EICAR_Test_File" in yara["evidence"]
    assert yara["score"] > 0


def test_suspicious_attachment_is_scored_once_not_forced(tmp_path):
    archive = zip_of([("a.txt", b"hello")], password=b"nobody-knows-this")
    verdict = scan_json(tmp_path, eml([("secure.zip", archive, "application/zip")],
                                      text="Please see the file."))
    assert verdict["decided_by"] != "attachments"
    encrypted = [h for h in verdict["hits"] if h["rule"] == "ATTACH_ARCHIVE_ENCRYPTED"]
    assert len(encrypted) == 1 and encrypted[0]["score"] == 2.5
    assert "secure.zip (sha256 " in encrypted[0]["evidence"]
