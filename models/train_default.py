"""Rebuild the shipped default classifier from the shared corpus.

    python3 models/train_default.py [--corpus ../shared/corpus] [--out models/default.joblib]

Ham is corpus/ham, spam is corpus/spam and corpus/phish. The model card
(models/default.card.json) records the cross-validation it went through.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailsphere_cli.classifier.training import read_corpus, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "default.joblib")
    args = parser.parse_args()
    if not (args.corpus / "ham").is_dir():
        sys.exit(f"no corpus at {args.corpus} (expected ham/, spam/, phish/ inside)")
    started = time.perf_counter()
    corpus = read_corpus([str(args.corpus / "ham")],
                         [str(args.corpus / "spam"), str(args.corpus / "phish")])
    read_seconds = time.perf_counter() - started
    report = train(corpus, org=None)
    report.model.card["corpus"] = "shared corpus: ham (SpamAssassin easy_ham 2002); spam " \
                                  "(SpamAssassin spam 2002) + phish (Nazario phishing0)"
    report.model.card["reading_seconds"] = round(read_seconds, 2)
    card = report.model.save(args.out)
    print(f"read {corpus.ham} ham, {corpus.spam} spam in {read_seconds:.1f} s "
          f"({corpus.duplicates} duplicates)")
    for e in report.evaluations:
        print(f"  {e.family:14} AUC {e.auc:.5f}  recall@0.5 {e.recall:.2%}  FPR@0.5 "
              f"{e.fpr:.2%}  recall@FPR<=0.5% {e.recall_at_target:.2%}  Brier {e.brier:.4f}")
    print(f"kept {report.why}")
    for side in ("spam", "ham"):
        print(f"top {side}: " + ", ".join(f"{t} {w:+.2f}" for t, w in report.top[side][:25]))
    print(f"training {report.seconds:.1f} s, total {time.perf_counter() - started:.1f} s; "
          f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB) and {card}")


if __name__ == "__main__":
    main()
