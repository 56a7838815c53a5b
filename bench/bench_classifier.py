"""The classifier alone on the fixed split: train on the 80%, score the 20%.

    python3 bench/bench_classifier.py [CORPUS]
    python3 bench/bench_classifier.py --pipeline [--limit N] [--model FILE] [CORPUS]

Prints ROC AUC, spam+phish recall and ham false-positive rate at p >= 0.5 and
at the rule bands, the training time, the model size, and the time the
classifier stage adds per message (tokens + hashing + dot product, on a
message whose text, HTML and URLs earlier stages have already decoded).

`--pipeline` trains nothing: every message of CORPUS/{ham,spam,phish} goes
through the stages before the classifier (parse, perimeter, attachments,
lists, rules, offline) and then the classifier stage, as in a scan, with the
shipped model (or `--model`). The stage is timed in CPU time of this thread
(less disturbed by other load than the wall clock; still note `uptime`), then
timed again on the same messages split into its two halves: the tokens
(`tokens_of`) and the model's probability. The first figure is the one the
pipeline pays: views not built by earlier stages and per-worker caches still
empty are part of it, as in a worker.
"""
from __future__ import annotations

import argparse
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS,
                        help="folder with ham/, spam/, phish/ (default: ../shared/corpus)")
    parser.add_argument("--pipeline", action="store_true",
                        help="time the classifier stage inside the pipeline, no training")
    parser.add_argument("--limit", type=int, default=0,
                        help="with --pipeline: messages per folder (0 = all)")
    parser.add_argument("--model", help="with --pipeline: model file (default: the shipped one)")
    return parser.parse_args(argv)


def _summary(label: str, seconds: list[float]) -> str:
    spent_ms = np.array(seconds) * 1000
    return (f"{label}: mean {spent_ms.mean():.3f} ms, median {np.median(spent_ms):.3f} ms, "
            f"p99 {np.percentile(spent_ms, 99):.3f} ms")


def in_pipeline(corpus_dir: Path, limit: int, model_path: str | None) -> None:
    from mailsphere_cli import classifier
    from mailsphere_cli.config import Config
    from mailsphere_cli.context import Context
    from mailsphere_cli.sources import RawMessage, iter_sources
    from mailsphere_cli.workers import Settings, build_pipeline

    pipeline = build_pipeline(Settings(config=Config(), offline=True, model=model_path))
    model = pipeline.services["classifier"].default
    if model is None:
        raise SystemExit(f"no model: {pipeline.services['classifier'].default_problem}")
    stage, scored = [], []
    for folder in ("ham", "spam", "phish"):
        items = [i for i in iter_sources([str(corpus_dir / folder)]) if isinstance(i, RawMessage)]
        for raw in items[: limit or None]:
            msg = ParsedMessage(raw.data, pipeline.limits)
            ctx = Context(msg=msg, config=pipeline.config, offline=True,
                          services=pipeline.services)
            for name, module in pipeline.stages:
                if name == "classifier":
                    break
                if not isinstance(module, str):
                    module.run(msg, ctx)
            began = time.thread_time()
            classifier.run(msg, ctx)
            stage.append(time.thread_time() - began)
            scored.append(msg)
    tokens_s, probability_s = [], []
    for msg in scored:
        began = time.thread_time()
        tokens = tokens_of(msg)
        middle = time.thread_time()
        model.probability(tokens)
        tokens_s.append(middle - began)
        probability_s.append(time.thread_time() - middle)
    print(f"{len(stage)} messages, model {pipeline.services['classifier'].default_name}, "
          f"CPU time of this thread")
    print(_summary("classifier stage in the pipeline", stage))
    print(_summary("  again: tokens", tokens_s))
    print(_summary("  again: probability", probability_s))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not all((args.corpus / folder).is_dir() for folder in ("ham", "spam", "phish")):
        raise SystemExit(f"{args.corpus}: no ham/, spam/ and phish/ folders; pass the corpus")
    if args.pipeline:
        in_pipeline(args.corpus, args.limit, args.model)
        return
    from sklearn.metrics import roc_auc_score

    corpus_dir = args.corpus
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
            began = time.thread_time()
            probabilities.append(model.probability(tokens_of(msg)))
            spent.append(time.thread_time() - began)
            labels.append(label)
    y, p = np.array(labels), np.array(probabilities)
    print(f"20% test side: {int((y == 0).sum())} ham, {int((y == 1).sum())} spam+phish; "
          f"ROC AUC {roc_auc_score(y, p):.5f}")
    for cut in (0.5, 0.8, 0.95, 0.99):
        print(f"  p >= {cut:<4}: spam+phish caught {(p[y == 1] >= cut).mean():.2%}, ham flagged "
              f"{(p[y == 0] >= cut).mean():.2%}")
    print(_summary("classifier time per message (CPU)", spent))


if __name__ == "__main__":
    main()
