"""Prove that an optimisation changed no verdict: record a golden file, then check against it.

    python3 bench/compare_verdicts.py record [--golden /tmp/golden_verdicts.jsonl]
    python3 bench/compare_verdicts.py check  [--golden /tmp/golden_verdicts.jsonl]

Options: --rules DIR (default /tmp/frozen_rules: a frozen copy of rules/, so
that edits to the rule data made meanwhile do not show up as differences; the
checks' reference data is read from DIR/data too), --jobs N (processes),
--skip STAGE (repeatable, e.g. classifier), and folders to scan (default
../shared/corpus/{ham,spam,phish,malformed}).

For every message the full pipeline runs offline and one JSON line records its
hits (rule, score, evidence), score, action, decided_by, the decision rows that
fired, the skipped checks and the errors. `check` reruns the same scan and
prints every message whose line differs (first differing fields shown); it
exits 1 when any differs, 0 when all are identical. Record before changing
code; run `check` before each commit.

When other engineers change other stages meanwhile (the classifier, the
parser), their changes show up as differences too. Then record the baseline
from a snapshot of the current tree with only your own files put back to
HEAD (copy mailsphere_cli/ and bench/ elsewhere, `git show HEAD:path` your
files into it, run `record` there with the corpus folders given explicitly),
and compare with `--skip classifier` when the classifier is in flux.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailsphere_cli.sources import RawMessage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORPUS = ROOT.parent / "shared" / "corpus"
_PIPELINE = None


def _init(rules_dir: str, skip: tuple[str, ...]) -> None:
    global _PIPELINE
    from mailsphere_cli.rules import loader
    frozen = Path(rules_dir)
    loader.default_rules_dir = lambda: frozen  # the checks' data files come from the frozen copy
    from mailsphere_cli.config import Config
    from mailsphere_cli.workers import Settings, build_pipeline
    _PIPELINE = build_pipeline(Settings(config=Config(), offline=True, rules_dirs=(rules_dir,),
                                        skip=skip))


def _record(item: tuple[str, "RawMessage"], rules_dir: str, skip: tuple[str, ...]) -> str:
    key, raw = item
    if _PIPELINE is None:  # built lazily so that a build error ends the run instead of looping
        _init(rules_dir, skip)
    verdict = _PIPELINE.run(raw)
    line = {
        "id": key,
        "score": round(verdict.score, 6),
        "action": verdict.action.value,
        "decided_by": verdict.decided_by,
        "hits": sorted([h.rule, round(h.score, 6), h.evidence] for h in verdict.hits),
        "decisions": [d["row"] for d in verdict.decisions],
        "skipped": [[s.name, s.reason] for s in verdict.skipped],
        "errors": list(verdict.errors),
    }
    return json.dumps(line, sort_keys=True)


def _messages(folders: list[str]) -> list[tuple[str, "RawMessage"]]:
    from mailsphere_cli.sources import RawMessage, iter_sources
    out = []
    seen: dict[str, int] = {}
    for folder in folders:
        for item in iter_sources([folder]):
            if isinstance(item, RawMessage):
                key = f"{Path(folder).name}/{item.id}"
                seen[key] = seen.get(key, 0) + 1
                out.append((f"{key}#{seen[key]}" if seen[key] > 1 else key, item))
    return out


def scan(folders: list[str], rules_dir: str, jobs: int, skip: tuple[str, ...]) -> list[str]:
    messages = _messages(folders)
    record = partial(_record, rules_dir=rules_dir, skip=skip)
    if jobs <= 1:
        return [record(m) for m in messages]
    with Pool(jobs) as pool:
        return pool.map(record, messages, chunksize=32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "check"))
    parser.add_argument("folders", nargs="*",
                        default=[str(CORPUS / d) for d in ("ham", "spam", "phish", "malformed")])
    parser.add_argument("--golden", default="/tmp/golden_verdicts.jsonl")
    parser.add_argument("--rules", default="/tmp/frozen_rules")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip", action="append", default=[])
    args = parser.parse_args()
    lines = scan(args.folders, args.rules, args.jobs, tuple(args.skip))
    golden = Path(args.golden)
    if args.mode == "record":
        golden.write_text("\n".join(lines) + "\n", "utf-8")
        print(f"recorded {len(lines)} messages to {golden}")
        return 0
    expected = {json.loads(l)["id"]: json.loads(l) for l in golden.read_text("utf-8").splitlines()}
    differing = 0
    for line in lines:
        got = json.loads(line)
        want = expected.pop(got["id"], None)
        if want == got:
            continue
        differing += 1
        if differing <= 20:
            if want is None:
                print(f"{got['id']}: not in the golden file")
                continue
            for field in sorted(set(want) | set(got)):
                if want.get(field) != got.get(field):
                    print(f"{got['id']}: {field}\n  golden: {want.get(field)}\n  now:    {got.get(field)}")
    differing += len(expected)
    for key in list(expected)[:20]:
        print(f"{key}: missing from this scan")
    print(f"{len(lines)} messages, {differing} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
