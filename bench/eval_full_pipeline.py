"""All layers together, offline, on the fixed split of the shared corpus.

    python3 bench/eval_full_pipeline.py [CORPUS] [--workers N]

Trains a classifier on the 80% side (bench/split.py), then runs the full
pipeline (perimeter, attachments, lists, rules, classifier, decisions) with
`--offline` over the 20% side and reports: spam+phish caught (any action but
deliver), ham flagged (any action but deliver), and what the classifier alone
would have done, so the layers' shares are visible.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_classifier import train_on_split  # noqa: E402
from split import DEFAULT_CORPUS, split  # noqa: E402

from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.sources import RawMessage, iter_sources  # noqa: E402
from mailsphere_cli.workers import Settings, Workers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", type=int, default=10, help="misses to list per side")
    args = parser.parse_args()
    parts = split(args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "split.joblib"
        seconds, report = train_on_split(args.corpus, model)
        print(f"classifier trained on the 80% side in {seconds:.1f} s: {report.why}")
        label_of = {}
        paths = []
        for folder in ("ham", "spam", "phish"):
            for path in parts.test[folder]:
                label_of[path] = folder
                paths.append(path)
        settings = Settings(config=Config(), offline=True, model=str(model),
                            message_timeout=30.0)
        workers = Workers(settings, workers=args.workers)
        workers.start()
        started = time.perf_counter()
        outcome: dict[str, Counter] = {k: Counter() for k in ("ham", "spam", "phish")}
        classifier_only: dict[str, Counter] = {k: Counter() for k in ("ham", "spam", "phish")}
        misses: dict[str, list[str]] = {"ham": [], "spam": [], "phish": []}
        errors = 0
        try:
            messages = (item for item in iter_sources(paths) if isinstance(item, RawMessage))
            for raw, verdict, _ in workers.scan(messages):
                folder = label_of[raw.origin]
                flagged = verdict.action.value != "deliver"
                outcome[folder]["flagged" if flagged else "delivered"] += 1
                errors += bool(verdict.errors)
                band = next((h.rule for h in verdict.hits if h.rule.startswith("CLASSIFIER_")),
                            "none")
                classifier_only[folder][band] += 1
                wrong = flagged if folder == "ham" else not flagged
                if wrong:
                    top = ", ".join(f"{h.rule} {h.score:+g}" for h in verdict.hits[:6])
                    misses[folder].append(f"{Path(raw.origin).name[:24]} {verdict.action.value} "
                                          f"{verdict.score:.1f}: {top}")
        finally:
            workers.close()
        elapsed = time.perf_counter() - started
    total = sum(sum(c.values()) for c in outcome.values())
    print(f"scanned {total} messages in {elapsed:.1f} s ({errors} with stage errors)")
    ham = outcome["ham"]
    spammy = outcome["spam"] + outcome["phish"]
    ham_total, spam_total = sum(ham.values()), sum(spammy.values())
    print(f"spam+phish caught: {spammy['flagged']}/{spam_total} = "
          f"{spammy['flagged'] / max(1, spam_total):.2%} (spam {outcome['spam']['flagged']}/"
          f"{sum(outcome['spam'].values())}, phish {outcome['phish']['flagged']}/"
          f"{sum(outcome['phish'].values())})")
    print(f"ham flagged: {ham['flagged']}/{ham_total} = {ham['flagged'] / max(1, ham_total):.2%}")
    for folder, bands in classifier_only.items():
        print(f"  classifier bands on {folder}: " + ", ".join(f"{b} {n}" for b, n in
                                                            sorted(bands.items())))
    for folder, lines in misses.items():
        for line in lines[: args.show]:
            print(f"  missed {folder}: {line}")


if __name__ == "__main__":
    main()
