"""`mailsphere train classifier` through the real Typer app."""
from __future__ import annotations

import json
import mailbox
import random

from typer.testing import CliRunner

from mailsphere_cli.cli import app
from tests.classifier_corpus import make_message, write_corpus

runner = CliRunner()


def test_train_org_model_then_explain_and_update(tmp_path):
    ham = write_corpus(tmp_path / "ham", "ham", 30)
    # Spam from an mbox: any source kind is training mail.
    box = mailbox.mbox(str(tmp_path / "spam.mbox"))
    rng = random.Random(2)
    for index in range(30):
        box.add(make_message("spam", index, rng))
    box.flush()
    data = tmp_path / "data"
    result = runner.invoke(app, ["train", "classifier", "--ham", str(ham), "--spam",
                                 str(tmp_path / "spam.mbox"), "--org", "acme",
                                 "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "read 30 ham and 30 spam" in result.output
    assert "Stratified cross-validation" in result.output and "top spam tokens" in result.output
    model = data / "models" / "acme.joblib"
    card = json.loads((data / "models" / "acme.card.json").read_text())
    assert model.is_file() and card["organisation"] == "acme"

    sample = tmp_path / "one.eml"
    sample.write_bytes(make_message("spam", 99, random.Random(99), words=["prize"] * 20))
    result = runner.invoke(app, ["train", "classifier", "--org", "acme", "--data-dir",
                                 str(data), "--explain", str(sample)])
    assert result.exit_code == 0, result.output
    assert "spam probability" in result.output and "w:prize" in result.output

    reported = write_corpus(tmp_path / "fp", "ham", 3, seed=7)
    result = runner.invoke(app, ["train", "classifier", "--org", "acme", "--data-dir",
                                 str(data), "--update", "--ham", str(reported)])
    assert result.exit_code == 0, result.output
    assert "updated" in result.output and "3 ham and 0 spam" in result.output
    card = json.loads((data / "models" / "acme.card.json").read_text())
    assert card["updates"][-1]["ham"] == 3


def test_too_little_mail_is_a_usage_error(tmp_path):
    ham = write_corpus(tmp_path / "ham", "ham", 4)
    spam = write_corpus(tmp_path / "spam", "spam", 4)
    result = runner.invoke(app, ["train", "classifier", "--ham", str(ham), "--spam", str(spam),
                                 "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "at least 20 of each" in result.output


def test_missing_path_and_missing_model_are_usage_errors(tmp_path):
    result = runner.invoke(app, ["train", "classifier", "--ham", str(tmp_path / "nope"),
                                 "--spam", str(tmp_path / "nope2")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(app, ["train", "classifier", "--update", "--ham", str(tmp_path),
                                 "--model", str(tmp_path / "absent.joblib")])
    assert result.exit_code == 2 and "--update" in result.output
