"""The README's quickstart: the sample mail gets the verdict its README table promises."""
from __future__ import annotations

import re

from tests.conftest import SAMPLE

ROW = re.compile(r"^\| \d+ \| `([^`]+)` \| (\w+) \| (\w+) \|", re.M)


def expected() -> dict[str, tuple[str, str]]:
    table = {}
    for name, kind, verdict in ROW.findall((SAMPLE / "README.md").read_text()):
        mbox = re.fullmatch(r"(.+\.mbox) #(\d+)", name)
        key = f"{mbox.group(1)}#{int(mbox.group(2)) - 1}" if mbox else name
        table[key] = (kind, verdict)
    assert len(table) == 25
    return table


def scanned(cli, *extra: str) -> dict[str, dict]:
    records = cli.scan_json(str(SAMPLE), *extra)
    return {r["source"].split("sample_mail/", 1)[1]: r for r in records}


def test_with_the_sample_config_every_message_gets_its_documented_verdict(cli):
    records = scanned(cli, "--config", str(SAMPLE / "mailsphere.toml"))
    table = expected()
    assert set(records) == set(table)
    wrong = {name: (records[name]["action"], verdict, records[name]["score"])
             for name, (_, verdict) in table.items() if records[name]["action"] != verdict}
    assert not wrong
    spoof = next(r for n, r in records.items() if table[n][0] == "spoof")
    assert spoof["decided_by"] == "perimeter"
    assert any(h["rule"] == "SPOOFED_OWN_DOMAIN" for h in spoof["hits"])


def test_built_in_defaults_show_every_verdict_they_can_give(cli):
    """No config: no organisation, so no anti-spoofing; content still catches the spoof."""
    records = scanned(cli)
    table = expected()
    actions = {r["action"] for r in records.values()}
    assert {"deliver", "spam", "malicious"} <= actions
    for name, (kind, verdict) in table.items():
        got = records[name]["action"]
        if verdict == "deliver":
            assert got == "deliver", (name, records[name]["score"])
        elif verdict == "malicious":
            assert got == "malicious" and records[name]["decided_by"] == "attachments"
        else:
            assert got in ("spam", "malicious"), (name, records[name]["score"])


def test_quickstart_terminal_output(cli):
    result = cli("scan", "--offline", str(SAMPLE))
    assert result.exit_code == 0
    for word in ("Verdicts", "Scan summary", "malicious", "messages/s"):
        assert word in result.stdout
