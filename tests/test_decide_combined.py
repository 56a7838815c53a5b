"""The decision rows evaluated as one function (expr.compile_rows) fire exactly the rows
that each row compiled alone fires, on the shipped pack and random pictures (hits, counts, auth, score)."""
from __future__ import annotations

import random

from mailsphere_cli.rules import expr
from mailsphere_cli.rules.engine import CompiledRules
from mailsphere_cli.rules.loader import load_rules


def test_combined_rows_fire_as_the_row_functions():
    compiled = CompiledRules(load_rules(None))
    fires = compiled.fire_decisions
    alone = [expr.compile_node(row.node, lazy_score=True) for row in compiled.decisions]
    assert len(alone) >= 25
    rng = random.Random(7)
    ids = list(compiled.pack.rules)
    auths = [{}, {"dmarc": {"result": "fail", "policy": "reject"}},
             {"dmarc": {"result": "pass", "policy": "none"}, "spf": "fail"}]
    seen_fired = 0
    for _ in range(300):
        present = set(rng.sample(ids, rng.randint(0, 40)))
        groups = {g: rng.randint(0, 6) for g in ("url", "html", "header", "body")}
        tags = {t: rng.randint(0, 5) for t in ("phish", "pitch", "topic", "money", "bulk", "list", "ham")}
        auth = rng.choice(auths)
        score = rng.uniform(-3, 15)
        expected = [i for i, fn in enumerate(alone) if fn(present, groups, tags, auth, lambda: score)]
        fired, error = fires(present, groups, tags, auth, lambda: score)
        assert error is None
        assert fired == expected
        seen_fired += len(fired)
    assert seen_fired > 50


def test_score_read_only_when_a_row_needs_it():
    compiled = CompiledRules(load_rules(None))
    calls = []
    compiled.fire_decisions(set(), {}, {}, {}, lambda: calls.append(1) or 0.0)
    assert calls == []  # no row gets as far as the score on an empty picture
