"""The verdict's JSON made cheaply is the JSON made plainly: round3 is round(x, 3), and
encode's one-pass body is the record `to_json` writes, with `skipped` spliced back."""
from __future__ import annotations

import json
import math
import random
import struct

from mailsphere_cli.verdict import (LIGHT_KEYS, Action, ScoredHit, Skip, Verdict, encode,
                                    round3, skipped_json, splice, to_json)


def _same(a, b) -> bool:
    """The same value of the same type, bit for bit (so 0.0 and -0.0 differ, nan is nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


def _candidates(rng: random.Random):
    for _ in range(30_000):  # all magnitudes, both signs
        yield rng.choice((1, -1)) * 10 ** rng.uniform(-7, 14)
    for _ in range(30_000):  # at and next to the halfway points between thousandths
        k = rng.randrange(0, 10 ** rng.randrange(3, 16))
        x = (k + 0.5) / 1000 * rng.choice((1, -1))
        for _ in range(rng.randrange(0, 4)):
            x = math.nextafter(x, rng.choice((math.inf, -math.inf)))
        yield x
    for _ in range(10_000):  # thousandths themselves and their neighbours
        x = rng.randrange(0, 5_000_000) / 1000
        yield x
        yield math.nextafter(x, math.inf)
        yield math.nextafter(x, -math.inf)
    for _ in range(10_000):  # what the clocks give: differences of perf_counter, in ms
        yield (rng.uniform(0, 50) * 1000 - rng.uniform(0, 50) * 1000)
    yield from (0.0, -0.0, 4294.9672955, 4294967.295, 4294967.2955, 5e6, -5e6, 1e300, -1e300,
                math.inf, -math.inf, math.nan, 5e-324, 0, 3, -7, True, 2 ** 70)


def test_round3_is_round_to_three_places_bit_for_bit():
    rng = random.Random(5)
    checked = 0
    for x in _candidates(rng):
        assert _same(round3(x), round(x, 3)), x
        checked += 1
    assert checked > 100_000


def _verdict(**changes) -> Verdict:
    fields = dict(
        id="ab" * 32, source="mail/m1.eml", sender="alice@example.net",
        recipients=("bob@example.com",), subject="Grüße \"quoted\" \\ back", score=7.123456,
        threshold=5.0, action=Action.SPAM, decided_by="rules",
        hits=(ScoredHit("R_ONE", 2.0005, "content", "said \"skipped\":null,\"errors\":", "d"),
              ScoredHit("R_TWO", -1.25, "header", "", "")),
        auth={"spf": None, "helo": "mx.example.net", "skipped": None, "errors": []},
        attachments=({"name": "a.pdf", "skipped": None},), decisions=({"table": "t"},),
        skipped=(Skip("spf", "offline"), Skip("dkim", "offline")),
        errors=('rules: ValueError: ,"skipped":null,"errors":',),
        timings_ms={"parse": 0.12345, "perimeter": 1.0005}, elapsed_ms=3.14159, size=1234,
        org=None, date="2026-03-03T10:00:00+00:00")
    fields.update(changes)
    return Verdict(**fields)


def _plain_encode(verdict: Verdict):
    """The verdict's two halves written apart by to_json, `skipped` as null between them."""
    record = verdict.as_dict()
    keys = list(record)
    at = keys.index("skipped")
    head_text = to_json({key: record[key] for key in keys[:at]})
    tail_text = to_json({key: record[key] for key in keys[at + 1:]})
    compact = head_text.startswith('{"id":')
    before = head_text[:-1] + (',"skipped":' if compact else ', "skipped": ')
    body = before + ("null," if compact else "null, ") + tail_text[1:]
    return {key: record[key] for key in LIGHT_KEYS}, body, len(before), skipped_json(verdict.skipped)


def test_encode_gives_the_whole_record_back_and_the_light_fields():
    cases = [_verdict(), _verdict(errors=(), skipped=(), hits=()),
             # a lone surrogate: orjson refuses it, the two halves are written apart
             _verdict(subject="8-bit \udcf6 subject"),
             _verdict(errors=("lone \udcff in an error",), org="acme")]
    for verdict in cases:
        light, body, offset, skipped = encode(verdict)
        whole = verdict.as_dict()
        assert (light, body, offset, skipped) == _plain_encode(verdict)
        assert json.loads(splice(body, offset, skipped)) == json.loads(to_json(whole))
        assert body[offset:offset + 4] == "null" and json.loads(body)["skipped"] is None
        assert json.loads(skipped) == whole["skipped"]
        assert list(light) == list(LIGHT_KEYS)
