"""All layers together, offline, over k folds of the shared corpus: does the fixed split's
result hold on mail the model has not seen, whichever fifth that is?

    python3 bench/eval_kfold_pipeline.py [CORPUS] [--folds 5] [--workers N]

For each fold (bench/split.py `kfold`: the message identity decides the fold; with 5
folds, fold 0 is the fixed split's test side) a classifier is trained on the other
folds, and the full pipeline scans the held-out fold, as eval_full_pipeline.py does
for the fixed split. Prints each fold's spam+phish caught and ham flagged, the
spread, and the totals.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_classifier import train_on_split  # noqa: E402
from eval_full_pipeline import scan_test_side  # noqa: E402
from split import DEFAULT_CORPUS, kfold  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", type=int, default=5, help="misses to list per fold")
    parser.add_argument("--json", type=Path, help="also write the per-fold figures here")
    args = parser.parse_args()
    rows = []
    for index, parts in enumerate(kfold(args.corpus, args.folds)):
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "fold.joblib"
            seconds, report = train_on_split(args.corpus, model, parts)
            outcome = scan_test_side(parts, model, args.workers)
        caught, spam_total = outcome.caught
        ham_flagged, ham_total = outcome.ham_flagged
        rows.append({"fold": index, "caught": caught, "spam": spam_total,
                     "ham_flagged": ham_flagged, "ham": ham_total,
                     "family": report.chosen.family, "train_seconds": round(seconds, 1)})
        print(f"fold {index}: spam+phish caught {caught}/{spam_total} = "
              f"{caught / max(1, spam_total):.2%}, ham flagged {ham_flagged}/{ham_total} = "
              f"{ham_flagged / max(1, ham_total):.2%} ({report.chosen.family}, trained in "
              f"{seconds:.0f} s)", flush=True)
        for folder, lines in outcome.misses.items():
            for line in lines[: args.show]:
                print(f"    missed {folder}: {line}")
    recalls = [r["caught"] / r["spam"] for r in rows]
    fprs = [r["ham_flagged"] / r["ham"] for r in rows]
    caught = sum(r["caught"] for r in rows)
    spam = sum(r["spam"] for r in rows)
    flagged = sum(r["ham_flagged"] for r in rows)
    ham = sum(r["ham"] for r in rows)
    print(f"spam+phish caught per fold: min {min(recalls):.2%}, max {max(recalls):.2%}; "
          f"all folds {caught}/{spam} = {caught / spam:.2%}")
    print(f"ham flagged per fold: min {min(fprs):.2%}, max {max(fprs):.2%}; "
          f"all folds {flagged}/{ham} = {flagged / ham:.2%}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
