"""Every Received header of a corpus parsed into a Relay, recorded as JSON and compared.

    python3 bench/compare_relays.py record OUT.json [CORPUS]
    python3 bench/compare_relays.py compare BEFORE.json [CORPUS]

`record` writes one entry per Received header (message id, position, the
header value, its parsed Relay) plus each message's handover hop. `compare`
parses the corpus again with the code as it is now and lists every header
whose Relay differs from the recording; the exit status is 1 when any does.
Run `record` before changing `perimeter/received.py` and `compare` after.
Both print the parse time per header (the corpus headers parsed in a loop).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailsphere_cli.message import ParsedMessage  # noqa: E402
from mailsphere_cli.perimeter.received import (  # noqa: E402
    _received_values, find_handover, parse_received)
from mailsphere_cli.sources import RawMessage, iter_sources  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"


def relay_record(relay) -> dict:
    return relay.as_dict() | {"raw": relay.raw, "id": relay.id}


def headers_of(corpus: Path) -> list[tuple[str, list[str]]]:
    """(message id, its Received values) for every readable message, in a stable order."""
    folders = sorted(str(p) for p in corpus.iterdir() if p.is_dir())
    found = []
    for item in iter_sources(folders):
        if not isinstance(item, RawMessage):
            continue
        try:
            values = _received_values(ParsedMessage(item.data))
        except Exception:  # noqa: BLE001 - a message the parser refuses has no trail to compare
            continue
        found.append((f"{item.origin}#{item.id}", values))
    return sorted(found)


def parse_all(messages: list[tuple[str, list[str]]]) -> tuple[dict, float]:
    started = time.perf_counter()
    parsed = [(key, [parse_received(v) for v in values]) for key, values in messages]
    seconds = time.perf_counter() - started
    count = sum(len(values) for _, values in messages) or 1
    record = {}
    for (key, values), (_, relays) in zip(messages, parsed):
        record[key] = {"headers": [{"value": v, "relay": relay_record(r)}
                                   for v, r in zip(values, relays)],
                       "handover": find_handover(relays)}
    return record, seconds / count * 1e6


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("record", "compare"):
        print(__doc__)
        return 2
    action, path = sys.argv[1], Path(sys.argv[2])
    corpus = Path(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_CORPUS
    messages = headers_of(corpus)
    now, per_header_us = parse_all(messages)
    headers = sum(len(v["headers"]) for v in now.values())
    print(f"{len(now)} messages, {headers} Received headers, {per_header_us:.1f} us per header")
    if action == "record":
        path.write_text(json.dumps(now, sort_keys=True))
        print(f"recorded in {path}")
        return 0
    before = json.loads(path.read_text())
    differences = 0
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), json.loads(json.dumps(now.get(key), sort_keys=True))
        if old == new:
            continue
        differences += 1
        if differences <= 20:
            print(f"DIFFERS {key}:\n  before {json.dumps(old)[:600]}\n  now    {json.dumps(new)[:600]}")
    print(f"{differences} messages differ" if differences else "identical: every Relay and handover")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
