"""The rule pack: lint over every rule and decision row, one fixture message per
rule of the content families, and the clean sample ham staying clean."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailsphere_cli.config import Config, OrgConfig
from mailsphere_cli.rules import expr
from mailsphere_cli.rules.checks import CHECKS
from mailsphere_cli.rules.loader import default_rules_dir, load_rules
from mailsphere_cli.sources import RawMessage, iter_sources
from mailsphere_cli.workers import Settings, build_pipeline
from tests.rules_fixture import build, load_cases

ROOT = Path(__file__).resolve().parent.parent
OWN_FILES = ("sender.toml", "mime.toml", "received.toml", "content.toml", "subject.toml",
             "url.toml", "html.toml", "ham.toml", "header.toml", "ip.toml")
FAMILIES = {"sender": 30, "ip": 30, "mime": 30, "received": 30, "url": 30, "attachment": 30,
            "html": 30}


@pytest.fixture(scope="session")
def pack():
    return load_rules()


@pytest.fixture(scope="session")
def pipeline():
    return build_pipeline(Settings(config=Config(), offline=True, skip=("classifier",)))


@pytest.fixture(scope="session")
def org_pipeline():
    org = OrgConfig(name="example", domains=["example.com"], authorised_ips=["192.0.2.0/24"])
    config = Config(orgs={"example": org})
    return build_pipeline(Settings(config=config, offline=True, skip=("classifier",)))


def _raw(data: bytes, name: str = "case") -> RawMessage:
    import hashlib
    from mailsphere_cli.sources import Location
    return RawMessage(hashlib.sha256(data).hexdigest(), name, data, len(data),
                      Location("eml", name))


# -- lint ------------------------------------------------------------------------

def test_pack_loads_with_enough_rules(pack):
    assert len(pack.rules) >= 400
    counts: dict[str, int] = {}
    for rule in pack.rules.values():
        counts[rule.group] = counts.get(rule.group, 0) + 1
    assert counts.get("content", 0) + counts.get("subject", 0) >= 30
    for group, minimum in FAMILIES.items():
        assert counts.get(group, 0) >= minimum, f"group {group}: {counts.get(group, 0)} rules"


def test_every_rule_is_well_formed(pack):
    import re2
    for rule in pack.rules.values():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", rule.id), rule.id
        assert rule.description.strip(), rule.id
        if rule.kind == "eval":
            assert rule.function in CHECKS, rule.id
        elif rule.kind == "meta":
            for ref in expr.references(expr.parse(rule.expr)):
                assert ref in pack.rules, f"{rule.id} names {ref}"
        else:
            re2.compile(rule.regex)  # raises when RE2 cannot take it


def test_the_fast_engine_takes_nearly_every_pattern(pack):
    """Hyperscan preselects the rules of the message texts and of the big header
    targets; a pattern it cannot take (see rules/hyperscan_set.py) falls back to
    RE2, which is correct but builds its automaton while scanning, so those stay few."""
    from mailsphere_cli.rules import hyperscan_set
    from mailsphere_cli.rules.matcher import PatternMatcher
    if not hyperscan_set.AVAILABLE:
        pytest.skip("hyperscan not installed")
    matcher = PatternMatcher(pack.rules.values())
    fast = [t for t in matcher.targets if t.fast is not None]
    assert {"body", "html", "uri"} <= {t.kind for t in fast}
    taken = sum(len(t.fast.indexes) for t in fast)
    left = [t.rules[i].id for t in fast for i in t.rest + t.always]
    assert taken >= 150 and len(left) <= 3, left


def test_metas_are_ordered_without_cycles(pack):
    seen: set[str] = set()
    for meta in pack.meta_order:
        for ref in expr.references(expr.parse(meta.expr)):
            if pack.rules[ref].kind == "meta":
                assert ref in seen, f"{meta.id} evaluated before {ref}"
        seen.add(meta.id)


def test_decision_rows_reference_real_rules(pack):
    assert len(pack.decisions) >= 25
    for row in pack.decisions:
        assert row.description
        assert row.add or row.action or row.remove, row.id
        for ref in expr.references(row.node) | {r for r in row.remove if not r.startswith("group:")}:
            assert ref in pack.rules, f"row {row.id} names {ref}"


def test_a_broken_rule_file_is_refused(tmp_path):
    from mailsphere_cli.rules.loader import RuleError
    (tmp_path / "bad.toml").write_text('[[rule]]\nid = "BAD_REGEX"\nkind = "body"\n'
                                       'pattern = "(?<=x)y"\nscore = 1\ndescription = "x"\n')
    with pytest.raises(RuleError, match="BAD_REGEX"):
        load_rules([tmp_path])


# -- one message per rule --------------------------------------------------------------

def _own_rule_ids() -> set[str]:
    import tomllib
    ids = set()
    for name in OWN_FILES:
        path = default_rules_dir() / name
        if path.is_file():
            ids |= {r["id"] for r in tomllib.loads(path.read_text("utf-8")).get("rule", [])}
    return ids


CASES = load_cases()


def test_every_rule_has_a_case():
    covered = {case["rule"] for case in CASES}
    missing = sorted(_own_rule_ids() - covered)
    assert not missing, f"rules without a fixture case: {missing}"


@pytest.mark.parametrize("case", CASES, ids=[c["rule"] for c in CASES])
def test_case_fires_its_rule(case, pipeline, org_pipeline):
    if case.get("network"):
        pytest.skip(case["network"])
    runner = org_pipeline if case.get("org") else pipeline
    verdict = runner.run(_raw(build(case), case["rule"]))
    fired = {h.rule: h for h in verdict.hits}
    assert case["rule"] in fired, (f"{case['rule']} did not fire; hits: {sorted(fired)}; "
                                   f"errors: {verdict.errors}")
    assert fired[case["rule"]].evidence


def test_clean_template_fires_nothing_that_scores(pipeline):
    verdict = pipeline.run(_raw(build({}), "template"))
    scoring = [h.rule for h in verdict.hits if h.score >= 1.0]
    assert not scoring
    assert verdict.action.value == "deliver"


# -- the sample ham ------------------------------------------------------------------

def _sample_ham() -> list[RawMessage]:
    readme = ROOT / "sample_mail" / "README.md"
    if not readme.is_file():
        pytest.skip("sample_mail/ is not present")
    paths: list[str] = []
    mbox_numbers: set[int] = set()
    for line in readme.read_text("utf-8").splitlines():
        match = re.match(r"\|\s*\d+\s*\|\s*`([^`]+)`\s*\|\s*ham\s*\|", line)
        if not match:
            continue
        where = match.group(1)
        if where.startswith("archive.mbox #"):
            mbox_numbers.add(int(where.split("#")[1]))
        else:
            paths.append(str(ROOT / "sample_mail" / where))
    found = [item for item in iter_sources(paths) if isinstance(item, RawMessage)]
    mbox = [i for i in iter_sources([str(ROOT / "sample_mail" / "archive.mbox")])
            if isinstance(i, RawMessage)]
    found += [m for n, m in enumerate(mbox, 1) if n in mbox_numbers]
    return found


def test_sample_ham_fires_no_high_scoring_rule(pipeline, pack):
    own = _own_rule_ids()
    messages = _sample_ham()
    assert messages
    for raw in messages:
        verdict = pipeline.run(raw)
        loud = [f"{h.rule} ({h.evidence})" for h in verdict.hits if h.rule in own and h.score >= 1.0]
        assert not loud, f"{raw.origin}: {loud}"


# -- decision rows over real combinations -------------------------------------------------

def test_phishing_combination_forces_spam(pipeline):
    case = {"set": {"From": "PayPal <service@paypal-secure.com>",
                    "Subject": "Security alert: verify your account"},
            "body": "Dear valued customer,\nplease verify your account within 48 hours:\n"
                    "http://www.paypal.com.secure-login.example.top/signin/webscr.php\n"}
    verdict = pipeline.run(_raw(build(case)))
    rows = {d["row"] for d in verdict.decisions}
    assert "PHISH_LURE_LOGIN_DECEPTIVE_DOMAIN" in rows
    assert verdict.action.value == "spam"
    assert verdict.decided_by == "decisions"


def test_hijacked_thread_loses_its_ham_credit(org_pipeline):
    case = {"set": {"From": "Accounts <accounts@exarnple.com>",
                    "Subject": "Re: Minutes of the Tuesday meeting"},
            "add": ["In-Reply-To: <20260104.XYZ@mail.example.com>"],
            "body": "Please note our bank details have changed, pay the outstanding invoice.\n"}
    verdict = org_pipeline.run(_raw(build(case)))
    rows = {d["row"] for d in verdict.decisions}
    assert {"SPOOFED_THREAD_REPLY", "BEC_LOOKALIKE_OWN_DOMAIN_PAYMENT"} <= rows
    credit = {h.rule: h.score for h in verdict.hits}
    assert credit.get("HAM_THREAD_REPLY") == 0.0  # consumed by the row
    assert verdict.action.value == "spam"


def test_reference_clock_is_the_handover_not_the_wall_clock(pipeline):
    old = "Tue, 05 Mar 2002 10:15:00 +0000"
    case = {"set": {"Date": old, "Received": "from mx1.example.com (mx1.example.com "
                    f"[192.0.2.25]) by mail.example.com (Postfix) with ESMTP id A1; {old}"}}
    case["add"] = []
    raw = build(case).replace(b"Mon, 05 Jan 2026 10:15:00 +0000", old.encode())
    verdict = pipeline.run(_raw(raw))
    assert not {h.rule for h in verdict.hits} & {"DATE_PAST_12_48", "DATE_PAST_48_240",
                                                  "DATE_PAST_240_PLUS", "DATE_FUTURE_03_12"}
