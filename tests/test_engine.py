"""The rule engine: every rule kind hits and misses, meta logic, decisions, bad rule files."""
from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from mailsphere_cli.config import Config
from mailsphere_cli.rules.decisions import DecisionError
from mailsphere_cli.rules.loader import RuleError, load_rules
from mailsphere_cli.sources import Location, RawMessage
from mailsphere_cli.workers import Settings, build_pipeline

RULES = '''
[[rule]]
id = "T_SUBJ_MONEY"
kind = "header"
target = "Subject"
pattern = '\\bmoney\\b'
flags = "i"
score = 1.5
group = "subject"
description = "Money in the subject"

[[rule]]
id = "T_FROM_ADDR_BIZ"
kind = "header"
target = "From:addr"
pattern = '\\.biz$'
score = 1.0
group = "sender"
description = "Sender address in .biz"

[[rule]]
id = "T_ALL_XMAILER"
kind = "header"
target = "ALL"
pattern = '(?m)^X-Mailer: MassBlaster'
score = 2.0
group = "header"
description = "Bulk mailer"

[[rule]]
id = "T_BODY_WINNER"
kind = "body"
pattern = 'you are a winner'
flags = "i"
score = 2.0
group = "content"
description = "Prize claim"

[[rule]]
id = "T_RAWBODY_FONT"
kind = "rawbody"
pattern = '<font[^>]+size="?1'
flags = "i"
score = 0.5
group = "html"
description = "Tiny font markup"

[[rule]]
id = "T_URI_IP"
kind = "uri"
pattern = '^https?://\\d+\\.\\d+\\.\\d+\\.\\d+/'
score = 1.5
group = "url"
description = "Link to an IP"

[[rule]]
id = "T_HTML_FORM"
kind = "html"
pattern = '<form\\b'
flags = "i"
score = 1.0
group = "html"
description = "A form in the mail"

[[rule]]
id = "T_FULL_MARKER"
kind = "full"
pattern = 'X-Campaign-Id: \\d+'
score = 0.1
group = "header"
description = "Campaign id anywhere in the raw message"

[[rule]]
id = "T_NO_DATE"
kind = "eval"
function = "header_missing"
args = { name = "Date" }
score = 0.7
group = "header"
description = "No Date header"

[[rule]]
id = "T_HELPER_ZERO"
kind = "header"
target = "X-Priority"
pattern = '^1'
score = 0
group = "header"
description = "Highest priority (helper for meta rules)"

[[rule]]
id = "T_META_AND"
kind = "meta"
expr = "T_BODY_WINNER && (T_URI_IP || T_HTML_FORM) && !T_NOT_PRESENT"
score = 1.0
group = "content"
description = "Prize claim with a dubious link"

[[rule]]
id = "T_NOT_PRESENT"
kind = "body"
pattern = 'this text never appears zq'
score = 5
group = "content"
description = "Never hits"

[[rule]]
id = "T_META_SUM"
kind = "meta"
expr = "(T_SUBJ_MONEY + T_HELPER_ZERO + T_NO_DATE + T_NOT_PRESENT) >= 3"
score = 1.0
group = "content"
description = "Three weak signs together"

[[rule]]
id = "T_META_OF_META"
kind = "meta"
expr = "T_META_AND & T_META_SUM & group:url >= 1"
score = 0.25
group = "content"
description = "Meta over metas and a group count"
'''

DECISIONS = '''
[[row]]
id = "D_FORCE"
when = "T_META_OF_META"
action = "spam"
description = "Everything at once"

[[row]]
id = "D_BONUS"
when = "T_FROM_ADDR_BIZ & score > 5"
add = 2.0
description = "Adds two points"

[[row]]
id = "D_CONSUME"
when = "T_FULL_MARKER & T_ALL_XMAILER"
remove = ["T_ALL_XMAILER"]
description = "Campaign mail from a known tool: the mailer alone proves nothing"
'''

SPAMMY = b"""From: Prize Desk <desk@prizes.biz>
To: you@example.com
Subject: MONEY waiting
X-Priority: 1
X-Mailer: MassBlaster 5
X-Campaign-Id: 7781
Content-Type: multipart/alternative; boundary=ZZ

--ZZ
Content-Type: text/plain

You are a WINNER. Visit http://198.51.100.7/claim now.
--ZZ
Content-Type: text/html

<p>You are a winner</p><font size="1">hidden</font><form action="http://198.51.100.7/c"></form>
--ZZ--
"""

CLEAN = b"""From: Alice <alice@example.net>
To: bob@example.com
Subject: Lunch on Thursday
Date: Tue, 03 Mar 2026 10:00:00 +0000
Content-Type: text/plain

Shall we meet at the usual place? https://example.org/menu
"""


def raw(data: bytes) -> RawMessage:
    return RawMessage(hashlib.sha256(data).hexdigest(), "test", data, len(data),
                      Location("eml", "test"))


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    (tmp_path / "test.toml").write_text(RULES)
    (tmp_path / "decisions.toml").write_text(DECISIONS)
    return tmp_path


@pytest.fixture
def pipeline(pack_dir: Path):
    return build_pipeline(Settings(config=Config(), rules_dirs=(str(pack_dir),), offline=True))


def hits_of(verdict) -> dict[str, str]:
    return {h.rule: h.evidence for h in verdict.hits}


def test_every_kind_hits_with_evidence(pipeline):
    verdict = pipeline.run(raw(SPAMMY))
    hits = hits_of(verdict)
    assert hits["T_SUBJ_MONEY"] == "Subject: MONEY"
    assert hits["T_FROM_ADDR_BIZ"] == "From:addr: .biz"
    assert hits["T_ALL_XMAILER"].startswith("ALL: X-Mailer: MassBlaster")
    assert hits["T_BODY_WINNER"] == "You are a WINNER"
    assert hits["T_RAWBODY_FONT"] == '<font size="1'
    assert hits["T_URI_IP"] == "http://198.51.100.7/claim"
    assert hits["T_HTML_FORM"] == "<form"
    assert hits["T_FULL_MARKER"] == "X-Campaign-Id: 7781"
    assert hits["T_NO_DATE"] == "no Date header"
    assert "T_HELPER_ZERO" in hits
    assert hits["T_META_AND"] == "T_BODY_WINNER & T_HTML_FORM & T_URI_IP"
    assert "T_META_SUM" in hits and "T_META_OF_META" in hits
    assert "T_NOT_PRESENT" not in hits


def test_clean_message_hits_nothing(pipeline):
    verdict = pipeline.run(raw(CLEAN))
    assert hits_of(verdict) == {}
    assert verdict.action.value == "deliver" and verdict.score == 0


def test_scores_decisions_and_removals(pipeline):
    verdict = pipeline.run(raw(SPAMMY))
    scored = {h.rule: h.score for h in verdict.hits}
    assert scored["T_ALL_XMAILER"] == 0.0  # consumed by D_CONSUME
    assert scored["T_HELPER_ZERO"] == 0.0
    rows = [d["row"] for d in verdict.decisions]
    assert rows == ["D_FORCE", "D_BONUS", "D_CONSUME"]
    expected = 1.5 + 1.0 + 2.0 + 0.5 + 1.5 + 1.0 + 0.1 + 0.7 + 1.0 + 1.0 + 0.25 + 2.0
    assert verdict.score == pytest.approx(expected)
    assert verdict.action.value == "spam" and verdict.decided_by == "decisions"


def test_score_override_file(pack_dir: Path):
    (pack_dir / "local.toml").write_text("[scores]\nT_SUBJ_MONEY = -3.0\n")
    pack = load_rules([pack_dir])
    assert pack.rules["T_SUBJ_MONEY"].score == -3.0


BAD = {
    "bad regex": ('[[rule]]\nid = "B_ONE"\nkind = "body"\npattern = "(?<=x)y"\nscore = 1\n'
                  'description = "d"\n', "B_ONE: pattern does not compile under RE2"),
    "missing function": ('[[rule]]\nid = "B_TWO"\nkind = "eval"\nfunction = "nope"\nscore = 1\n'
                         'description = "d"\n', "B_TWO: eval function 'nope' does not exist"),
    "unknown meta ref": ('[[rule]]\nid = "B_THREE"\nkind = "meta"\nexpr = "GHOST && B_X"\n'
                         'score = 1\ndescription = "d"\n', "names unknown rule"),
    "meta cycle": ('[[rule]]\nid = "B_A"\nkind = "meta"\nexpr = "B_B"\nscore = 1\n'
                   'description = "d"\n[[rule]]\nid = "B_B"\nkind = "meta"\nexpr = "!B_A"\n'
                   'score = 1\ndescription = "d"\n', "meta cycle B_A -> B_B -> B_A"),
    "duplicate id": ('[[rule]]\nid = "B_D"\nkind = "body"\npattern = "a"\nscore = 1\n'
                     'description = "d"\n[[rule]]\nid = "B_D"\nkind = "body"\npattern = "b"\n'
                     'score = 1\ndescription = "d"\n', "B_D: id already defined"),
    "no description": ('[[rule]]\nid = "B_E"\nkind = "body"\npattern = "a"\nscore = 1\n',
                       "B_E: description is missing"),
    "bad toml": ('[[rule]\nid=', "not valid TOML"),
    "bad kind": ('[[rule]]\nid = "B_F"\nkind = "smell"\npattern = "a"\nscore = 1\n'
                 'description = "d"\n', "B_F: kind must be one of"),
    "bad meta syntax": ('[[rule]]\nid = "B_G"\nkind = "meta"\nexpr = "B_A && (B_B"\nscore = 1\n'
                        'description = "d"\n', "B_G: bad expr"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rule_files_fail_at_load_with_file_id_and_reason(tmp_path: Path, case: str):
    text, reason = BAD[case]
    (tmp_path / "broken.toml").write_text(text)
    with pytest.raises(RuleError) as error:
        load_rules([tmp_path])
    assert "broken.toml" in str(error.value) and reason in str(error.value)


def test_bad_decision_row_fails_at_load(tmp_path: Path):
    (tmp_path / "r.toml").write_text('[[rule]]\nid = "R_A"\nkind = "body"\npattern = "a"\n'
                                     'score = 1\ndescription = "d"\n')
    (tmp_path / "decisions.toml").write_text('[[row]]\nid = "X"\nwhen = "R_A & R_MISSING"\n'
                                             'add = 1\ndescription = "d"\n')
    with pytest.raises(DecisionError, match="row X: names unknown rule R_MISSING"):
        load_rules([tmp_path])


def test_shipped_rule_pack_loads_with_every_family():
    from collections import Counter
    pack = load_rules()
    groups = Counter(rule.group for rule in pack.rules.values())
    assert len(pack.rules) >= 400 and len(pack.decisions) >= 25 and pack.version
    for family in ("sender", "ip", "mime", "received", "url", "attachment", "html"):
        assert groups[family] >= 30, (family, groups[family])
    assert groups["content"] + groups["subject"] >= 30
