"""All layers together, offline, on the fixed split of the shared corpus.

    python3 bench/eval_full_pipeline.py [CORPUS] [--workers N]

Trains a classifier on the 80% side (bench/split.py), then runs the full
pipeline (perimeter, attachments, lists, rules, classifier, decisions) with
`--offline` over the 20% side and reports: spam+phish caught (any action but
deliver), ham flagged (any action but deliver), and what the classifier alone
would have done, so the layers' shares are visible. `eval_kfold_pipeline.py`
repeats this over k folds.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_classifier import train_on_split  # noqa: E402
from split import DEFAULT_CORPUS, Split, split  # noqa: E402

from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.sources import RawMessage, iter_sources  # noqa: E402
from mailsphere_cli.workers import Settings, Workers  # noqa: E402


@dataclass
class Outcome:
    flagged: dict[str, Counter] = field(
        default_factory=lambda: {k: Counter() for k in ("ham", "spam", "phish")})
    bands: dict[str, Counter] = field(
        default_factory=lambda: {k: Counter() for k in ("ham", "spam", "phish")})
    misses: dict[str, list[str]] = field(
        default_factory=lambda: {"ham": [], "spam": [], "phish": []})
    errors: int = 0
    seconds: float = 0.0

    @property
    def caught(self) -> tuple[int, int]:
        spammy = self.flagged["spam"] + self.flagged["phish"]
        return spammy["flagged"], sum(spammy.values())

    @property
    def ham_flagged(self) -> tuple[int, int]:
        return self.flagged["ham"]["flagged"], sum(self.flagged["ham"].values())


def scan_test_side(parts: Split, model: Path, workers: int) -> Outcome:
    """The full pipeline, offline, with `model`, over the test side of `parts`."""
    label_of = {}
    paths = []
    for folder in ("ham", "spam", "phish"):
        for path in parts.test[folder]:
            label_of[path] = folder
            paths.append(path)
    settings = Settings(config=Config(), offline=True, model=str(model), message_timeout=30.0)
    pool = Workers(settings, workers=workers)
    pool.start()
    outcome = Outcome()
    started = time.perf_counter()
    try:
        messages = (item for item in iter_sources(paths) if isinstance(item, RawMessage))
        for raw, verdict in pool.scan(messages):
            folder = label_of[raw.origin]
            flagged = verdict.action.value != "deliver"
            outcome.flagged[folder]["flagged" if flagged else "delivered"] += 1
            outcome.errors += bool(verdict.errors)
            band = next((h.rule for h in verdict.hits if h.rule.startswith("CLASSIFIER_")),
                        "none")
            outcome.bands[folder][band] += 1
            wrong = flagged if folder == "ham" else not flagged
            if wrong:
                top = ", ".join(f"{h.rule} {h.score:+g}" for h in verdict.hits[:6])
                outcome.misses[folder].append(f"{Path(raw.origin).name[:24]} "
                                              f"{verdict.action.value} {verdict.score:.1f}: {top}")
    finally:
        pool.close()
    outcome.seconds = time.perf_counter() - started
    return outcome


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
        outcome = scan_test_side(parts, model, args.workers)
    caught, spam_total = outcome.caught
    ham_flagged, ham_total = outcome.ham_flagged
    print(f"scanned {spam_total + ham_total} messages in {outcome.seconds:.1f} s "
          f"({outcome.errors} with stage errors)")
    flagged = outcome.flagged
    print(f"spam+phish caught: {caught}/{spam_total} = {caught / max(1, spam_total):.2%} "
          f"(spam {flagged['spam']['flagged']}/{sum(flagged['spam'].values())}, phish "
          f"{flagged['phish']['flagged']}/{sum(flagged['phish'].values())})")
    print(f"ham flagged: {ham_flagged}/{ham_total} = {ham_flagged / max(1, ham_total):.2%}")
    for folder, bands in outcome.bands.items():
        print(f"  classifier bands on {folder}: " + ", ".join(f"{b} {n}" for b, n in
                                                            sorted(bands.items())))
    for folder, lines in outcome.misses.items():
        for line in lines[: args.show]:
            print(f"  missed {folder}: {line}")


if __name__ == "__main__":
    main()
