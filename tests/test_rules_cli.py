"""`mailsphere rules list / show / lint / test` through the real Typer app, on the
shipped pack and on small folders of real sample mail."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from mailsphere_cli.cli import app
from tests.conftest import make_message

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "sample_mail" / "eml"


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_list_json_gives_every_rule_with_its_fields():
    result = _run("rules", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    assert len(rules) >= 400
    assert len({r["id"] for r in rules}) == len(rules)
    for rule in rules:
        assert {"id", "kind", "group", "score", "description"} <= rule.keys()
    url = json.loads(_run("rules", "list", "--group", "url", "--format", "json").stdout)
    assert url and all(r["group"] == "url" for r in url)
    assert len(url) < len(rules)


def test_show_gives_the_definition_and_who_uses_the_rule():
    result = _run("rules", "show", "BODY_CLICK_HERE")
    assert result.exit_code == 0, result.output
    assert "score: +0.5" in result.stdout
    assert "definition: body =~" in result.stdout
    assert "used by decision rows:" in result.stdout
    missing = _run("rules", "show", "NO_SUCH_RULE_ANYWHERE")
    assert missing.exit_code != 0
    assert "NO_SUCH_RULE_ANYWHERE" in missing.output


def test_lint_passes_the_shipped_pack_and_refuses_a_broken_one(tmp_path):
    result = _run("rules", "lint")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok:")
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "bad.toml").write_text(
        '[[rule]]\nid = "BAD_META"\nkind = "meta"\nexpr = "NOT_A_RULE & ALSO_NOT"\n'
        'score = 1.0\ngroup = "content"\ndescription = "refers to rules that do not exist"\n')
    refused = _run("rules", "lint", "--rules", str(broken))
    assert refused.exit_code != 0
    assert "NOT_A_RULE" in refused.output or "BAD_META" in refused.output


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    ham, spam = tmp_path / "ham", tmp_path / "spam"
    ham.mkdir()
    spam.mkdir()
    for index in range(4):
        (ham / f"h{index}.eml").write_bytes(make_message(
            subject=f"Minutes of meeting {index}", body="Notes from Thursday attached inline.\n"))
    for name in ("docusign-html-form.eml", "work-from-home-broken-mime.eml"):
        shutil.copy(SAMPLES / name, spam / name)
    return ham, spam


def test_rules_test_measures_recall_false_positives_and_each_rule(tmp_path):
    ham, spam = _folders(tmp_path)
    result = _run("rules", "test", "--ham", str(ham), "--spam", str(spam), "--offline",
                  "--skip", "classifier", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert f"{spam}: 2/2 caught = 100.00%" in result.stdout
    assert f"{ham}: 0/4 flagged (false positives) = 0.00%" in result.stdout
    assert "spam recall 100.00%, ham false positives 0.00%" in result.stdout

    rows = list(csv.DictReader(io.StringIO(_run(
        "rules", "test", "--ham", str(ham), "--spam", str(spam), "--offline",
        "--skip", "classifier", "--jobs", "2", "--format", "csv").stdout)))
    assert rows and {"rule", "group", "score", "spam_pct", "ham_pct", "s_o"} <= rows[0].keys()
    fired_in_spam = {r["rule"] for r in rows if int(r["spam_hits"]) > 0}
    # the scan's own verdicts say which rules fired on the spam: the QA tool must agree
    scanned = runner.invoke(app, ["scan", str(spam), "--json", "--offline", "-j", "1",
                                  "--skip", "classifier", "--data-dir", str(tmp_path / "data")])
    verdicts = [json.loads(line) for line in scanned.stdout.splitlines() if line.startswith("{")]
    assert fired_in_spam == {h["rule"] for v in verdicts for h in v["hits"]}
    for row in rows:
        if int(row["spam_hits"]) and not int(row["ham_hits"]):
            assert float(row["s_o"]) == 1.0


def test_rules_test_refuses_a_missing_folder_in_one_line(tmp_path):
    result = _run("rules", "test", "--ham", str(tmp_path / "nope"))
    assert result.exit_code != 0
    assert "nope: no such file or directory" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_rules_test_goes_on_past_hostile_files(tmp_path):
    ham, spam = _folders(tmp_path)
    (spam / "garbage.eml").write_bytes(b"\x00\xff" * 50 + b"\n\n--\n")
    (ham / "broken.eml").write_bytes(make_message(
        content_type='multipart/mixed; boundary="never-closed"',
        body="--never-closed\nContent-Type: text/plain\n\nhello\n"))
    result = _run("rules", "test", "--ham", str(ham), "--spam", str(spam), "--offline",
                  "--skip", "classifier", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert f"{spam}: 2/2 caught" in result.stdout  # what is not mail is not counted
    assert f"{ham}: 0/5 flagged" in result.stdout  # the broken message is analysed
