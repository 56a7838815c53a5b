"""The classifier alone on the fixed split: train on the 80%, score the 20%.

    python3 bench/bench_classifier.py [CORPUS]

Prints ROC AUC, spam+phish recall and ham false-positive rate at p >= 0.5 and
at the rule bands, the training time, the model size, and the time the
classifier stage adds per message (tokens + hashing + dot product, on a
message whose text, HTML and URLs earlier stages have already decoded).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from split import DEFAULT_CORPUS, split  # noqa: E402

from mailsphere_cli.classifier.features import tokens_of  # noqa: E402
from mailsphere_cli.classifier.model import load_model  # noqa: E402
from mailsphere_cli.classifier.training import read_corpus, train  # noqa: E402
from mailsphere_cli.message import ParsedMessage  # noqa: E402


def train_on_split(corpus_dir: Path, out: Path, parts=None) -> tuple[float, object]:
    """Train on the training side of `parts` (default: the fixed split) and save to `out`."""
    parts = parts or split(corpus_dir)
    started = time.perf_counter()
    corpus = read_corpus(parts.train["ham"], parts.train["spam"] + parts.train["phish"])
    report = train(corpus)
    report.model.save(out)
    return time.perf_counter() - started, report


def main() -> None:
    from sklearn.metrics import roc_auc_score

    corpus_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    parts = split(corpus_dir)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "split.joblib"
        seconds, report = train_on_split(corpus_dir, path)
        size = path.stat().st_size
        started = time.perf_counter()
        model = load_model(path)
        load_ms = (time.perf_counter() - started) * 1000
    print(f"trained on 80% in {seconds:.1f} s ({report.why}); model {size // 1024} KiB, "
          f"loads in {load_ms:.1f} ms")
    labels, probabilities, spent = [], [], []
    for folder, label in (("ham", 0), ("spam", 1), ("phish", 1)):
        for file in parts.test[folder]:
            msg = ParsedMessage(Path(file).read_bytes())
            msg.text, msg.html_text, msg.urls, msg.attachments  # what earlier stages decode
            began = time.perf_counter()
            probabilities.append(model.probability(tokens_of(msg)))
            spent.append(time.perf_counter() - began)
            labels.append(label)
    y, p = np.array(labels), np.array(probabilities)
    print(f"20% test side: {int((y == 0).sum())} ham, {int((y == 1).sum())} spam+phish; "
          f"ROC AUC {roc_auc_score(y, p):.5f}")
    for cut in (0.5, 0.8, 0.95, 0.99):
        print(f"  p >= {cut:<4}: spam+phish caught {(p[y == 1] >= cut).mean():.2%}, ham flagged "
              f"{(p[y == 0] >= cut).mean():.2%}")
    spent_ms = np.array(spent) * 1000
    print(f"classifier time per message: mean {spent_ms.mean():.3f} ms, median "
          f"{np.median(spent_ms):.3f} ms, p99 {np.percentile(spent_ms, 99):.3f} ms")


if __name__ == "__main__":
    main()
