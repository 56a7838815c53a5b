"""Train, evaluate, update and explain: everything the `train classifier` command calls.

Rows are hashed token counts, log-damped and L2-normalised (`vectorise`), then
each bucket is scaled by its inverse document frequency in the training mail, so
words every message has ("the", "and", text/plain) weigh less than the words
that say what a message is about. The scaling comes after the normalisation, so
it folds into the exported weights: the deployed model stays one dot product.

Three linear families are cross-validated on the same folds; the one with the
best spam recall at a ham false-positive rate of at most 0.5% (ties: ROC AUC)
is fitted on all the mail, calibrated with a sigmoid fitted on its
out-of-fold scores, and exported as a `LinearModel`.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import numpy as np
from scipy import sparse

from mailsphere_cli.classifier.features import tokens_of
from mailsphere_cli.classifier.model import LinearModel, bucket_of, sigmoid, vectorise

MIN_PER_CLASS = 20
IMBALANCE_WARNING = 10.0  # one class this many times the other
FOLDS = 5
TARGET_FPR = 0.005
FAMILIES = ("logistic", "sgd", "complement_nb")

Progress = Callable[[int], None]


class TrainingError(Exception):
    """Training cannot go on (too little mail, nothing readable): one clear line."""


@dataclass
class Corpus:
    """Labelled token lists, deduplicated by message identity."""

    tokens: list[list[str]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # 1 spam, 0 ham
    duplicates: int = 0
    conflicts: int = 0  # the same message offered as ham and as spam: left out
    unreadable: int = 0
    _seen: dict[str, int] = field(default_factory=dict)

    def add(self, identities: Iterable[str], tokens: list[str], label: int) -> None:
        keys = [k for k in identities if k]
        for key in keys:
            if key in self._seen:
                index = self._seen[key]
                if index >= 0 and self.labels[index] != label:
                    self.conflicts += 1
                    self.labels[index] = -1  # dropped at the end
                self.duplicates += 1
                return
        for key in keys:
            self._seen[key] = len(self.labels)
        self.tokens.append(tokens)
        self.labels.append(label)

    def finished(self) -> "Corpus":
        keep = [i for i, label in enumerate(self.labels) if label >= 0]
        return Corpus([self.tokens[i] for i in keep], [self.labels[i] for i in keep],
                      self.duplicates, self.conflicts, self.unreadable)

    @property
    def ham(self) -> int:
        return self.labels.count(0)

    @property
    def spam(self) -> int:
        return self.labels.count(1)


def message_identities(raw_id: str, msg: Any) -> list[str]:
    """The bytes' SHA-256, and the Message-ID (the same mail saved twice differs in bytes)."""
    keys = [f"sha256:{raw_id}"]
    message_id = (msg.message_id or "").strip()
    if 6 <= len(message_id) <= 500:
        keys.append(f"mid:{message_id.lower()}")
    return keys


def read_corpus(ham: list[str], spam: list[str], progress: Progress | None = None,
                corpus: Corpus | None = None) -> Corpus:
    """Read training mail from any source kind (Maildir, mbox, .eml, folders)."""
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.sources import RawMessage, iter_sources

    corpus = corpus or Corpus()
    for paths, label in ((ham, 0), (spam, 1)):
        if not paths:
            continue
        for item in iter_sources(list(paths)):
            if progress:
                progress(1)
            if not isinstance(item, RawMessage):
                corpus.unreadable += 1
                continue
            try:
                msg = ParsedMessage(item.data)
                tokens = tokens_of(msg)
                identities = message_identities(item.id, msg)
            except Exception:  # noqa: BLE001 - a message that cannot be parsed is not training data
                corpus.unreadable += 1
                continue
            corpus.add(identities, tokens, label)
    return corpus.finished()


def check_enough(corpus: Corpus, minimum: int = MIN_PER_CLASS) -> list[str]:
    """Raise when a class is too small; return warnings (imbalance)."""
    if corpus.ham < minimum or corpus.spam < minimum:
        raise TrainingError(f"too little mail to train on: {corpus.ham} ham and {corpus.spam} "
                            f"spam after removing duplicates; at least {minimum} of each "
                            f"are needed")
    warnings = []
    ratio = max(corpus.ham, corpus.spam) / min(corpus.ham, corpus.spam)
    if ratio >= IMBALANCE_WARNING:
        bigger = "ham" if corpus.ham > corpus.spam else "spam"
        warnings.append(f"classes are imbalanced ({corpus.ham} ham, {corpus.spam} spam: "
                        f"{ratio:.0f} times more {bigger}); probabilities lean towards {bigger}")
    return warnings


# -- the families ------------------------------------------------------------
# The idf to the power 0.75, not 1: measured on the shared corpus, full idf cross-validated
# a little better (recall 99.56% against 99.45% at ham FPR <= 0.5%) but made the model
# surer about mail unlike its training mail (modern shop notices and invoices in
# sample_mail/ at p 0.99 against 0.96-0.97).
IDF_POWER = 0.75


def idf_weights(matrix) -> np.ndarray:
    """Smoothed inverse document frequency of every hash bucket: ln((n+1)/(df+1)) + 1."""
    df = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
    return (np.log((matrix.shape[0] + 1.0) / (df + 1.0)) + 1.0) ** IDF_POWER


def _fit_family(name: str, matrix, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit one family on idf-scaled rows; return its decision function on the
    unscaled rows (`vectorise`) as (weights, bias): the idf folded into the weights."""
    idf = idf_weights(matrix)
    weights, bias = _fit_scaled(name, sparse.csr_matrix(matrix @ sparse.diags(idf)), labels)
    return weights * idf, bias


def _fit_scaled(name: str, matrix, labels: np.ndarray) -> tuple[np.ndarray, float]:
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression
        # dual: far fewer messages than hash buckets, where liblinear's dual solver is fastest.
        model = LogisticRegression(C=20.0, solver="liblinear", dual=True, max_iter=300)
        model.fit(matrix, labels)
        return model.coef_.ravel(), float(model.intercept_[0])
    if name == "sgd":
        from sklearn.linear_model import SGDClassifier
        model = SGDClassifier(loss="log_loss", alpha=2e-4, max_iter=40, tol=1e-4,
                              random_state=7)
        model.fit(matrix, labels)
        return model.coef_.ravel(), float(model.intercept_[0])
    if name == "complement_nb":
        from sklearn.naive_bayes import ComplementNB
        model = ComplementNB(alpha=0.1)
        model.fit(matrix, labels)
        log_prob = model.feature_log_prob_
        return log_prob[1] - log_prob[0], 0.0
    raise ValueError(f"unknown model family {name!r}")


@dataclass
class Evaluation:
    family: str
    auc: float
    recall: float          # spam caught at p >= 0.5 after calibration
    fpr: float             # ham flagged at p >= 0.5
    recall_at_target: float  # best recall with ham FPR <= TARGET_FPR
    threshold_at_target: float
    brier: float
    confusion: dict[str, int]
    calibration: list[dict[str, float]]
    platt: tuple[float, float]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "roc_auc": round(self.auc, 5),
                "recall": round(self.recall, 5), "ham_fpr": round(self.fpr, 5),
                "operating_threshold": 0.5,
                "recall_at_fpr_0.5pct": round(self.recall_at_target, 5),
                "threshold_at_fpr_0.5pct": round(self.threshold_at_target, 5),
                "brier": round(self.brier, 5), "confusion": self.confusion,
                "calibration": self.calibration, "seconds": round(self.seconds, 2)}


def _platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    fit = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _recall_at_fpr(probabilities: np.ndarray, labels: np.ndarray, fpr: float
                   ) -> tuple[float, float]:
    ham = np.sort(probabilities[labels == 0])[::-1]
    allowed = int(np.floor(fpr * len(ham)))
    # Flag strictly above the (allowed+1)-th highest ham score.
    threshold = float(ham[allowed]) if allowed < len(ham) else 0.0
    spam = probabilities[labels == 1]
    return float((spam > threshold).mean()), threshold


def evaluate(family: str, matrix, labels: np.ndarray, folds: int = FOLDS) -> Evaluation:
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    scores = np.zeros(len(labels))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=11)
    for train_index, test_index in splitter.split(np.zeros(len(labels)), labels):
        weights, bias = _fit_family(family, matrix[train_index], labels[train_index])
        scores[test_index] = matrix[test_index] @ weights + bias
    a, c = _platt(scores, labels)
    probabilities = sigmoid(a * scores + c)
    flagged = probabilities >= 0.5
    spam, ham = labels == 1, labels == 0
    recall_target, threshold = _recall_at_fpr(probabilities, labels, TARGET_FPR)
    calibration = []
    edges = [0, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0001]
    for low, high in zip(edges, edges[1:]):
        inside = (probabilities >= low) & (probabilities < high)
        if inside.any():
            calibration.append({"from": low, "to": min(high, 1.0), "messages": int(inside.sum()),
                                "mean_predicted": round(float(probabilities[inside].mean()), 4),
                                "spam_fraction": round(float(labels[inside].mean()), 4)})
    return Evaluation(
        family=family, auc=float(roc_auc_score(labels, scores)),
        recall=float(flagged[spam].mean()), fpr=float(flagged[ham].mean()),
        recall_at_target=recall_target, threshold_at_target=threshold,
        brier=float(brier_score_loss(labels, probabilities)),
        confusion={"ham_as_ham": int((~flagged & ham).sum()),
                   "ham_as_spam": int((flagged & ham).sum()),
                   "spam_as_ham": int((~flagged & spam).sum()),
                   "spam_as_spam": int((flagged & spam).sum())},
        calibration=calibration, platt=(a, c), seconds=time.perf_counter() - started)


def _better(a: Evaluation, b: Evaluation) -> bool:
    return (a.recall_at_target, a.auc) > (b.recall_at_target, b.auc)


def top_tokens(model: LinearModel, corpus: Corpus, count: int = 25
               ) -> dict[str, list[tuple[str, float]]]:
    """The tokens behind the heaviest weights, read back through the training mail."""
    names: dict[int, Counter] = {}
    for tokens in corpus.tokens:
        for token in set(tokens):
            names.setdefault(bucket_of(token), Counter())[token] += 1
    ranked = sorted(names, key=lambda b: float(model.weights[b]))
    def label(bucket: int) -> str:
        # A bucket can hold several tokens (hash collisions): name the commonest.
        return names[bucket].most_common(1)[0][0]
    return {"spam": [(label(b), round(float(model.weights[b]), 3)) for b in ranked[::-1][:count]],
            "ham": [(label(b), round(float(model.weights[b]), 3)) for b in ranked[:count]]}


@dataclass
class TrainingReport:
    model: LinearModel
    chosen: Evaluation
    evaluations: list[Evaluation]
    warnings: list[str]
    top: dict[str, list[tuple[str, float]]]
    seconds: float
    why: str


def train(corpus: Corpus, *, org: str | None = None, families: tuple[str, ...] = FAMILIES,
          folds: int = FOLDS, minimum: int = MIN_PER_CLASS) -> TrainingReport:
    started = time.perf_counter()
    warnings = check_enough(corpus, minimum)
    labels = np.asarray(corpus.labels, dtype=np.int64)
    matrix = vectorise(corpus.tokens)
    folds = max(2, min(folds, corpus.ham, corpus.spam))
    evaluations = [evaluate(family, matrix, labels, folds) for family in families]
    chosen = evaluations[0]
    for candidate in evaluations[1:]:
        if _better(candidate, chosen):
            chosen = candidate
    others = ", ".join(f"{e.family} {e.recall_at_target:.2%}/AUC {e.auc:.4f}"
                       for e in evaluations if e is not chosen)
    why = (f"{chosen.family}: spam recall {chosen.recall_at_target:.2%} at ham FPR <= "
           f"{TARGET_FPR:.1%}, AUC {chosen.auc:.4f} (others: {others or 'none'})")
    weights, bias = _fit_family(chosen.family, matrix, labels)
    a, c = chosen.platt
    model = LinearModel((a * weights).astype(np.float32), float(a * bias + c))
    seconds = time.perf_counter() - started
    model.card = {
        "organisation": org, "family": chosen.family, "trained_at": _now(),
        "counts": {"ham": corpus.ham, "spam": corpus.spam, "duplicates": corpus.duplicates,
                   "conflicts": corpus.conflicts, "unreadable": corpus.unreadable},
        "features": {"hashing": "sklearn FeatureHasher, alternate_sign=False",
                     "weighting": "log1p counts, L2-normalised rows, scaled by the training "
                                  "mail's inverse document frequency (folded into the "
                                  "weights)",
                     "sources": ["subject words and their character 3-5-grams",
                                 "body words and word pairs", "link domains and "
                                 "path words", "HTML tags", "MIME shape",
                                 "attachment true types", "sender display name and domain",
                                 "mailer product"],
                     "left_out": ["recipients", "Received hosts", "dates", "Message-ID",
                                  "list-software headers", "header names", "charsets",
                                  "a mailing list's subject tag, footer and footer links"]},
        "cross_validation": {"folds": folds, "chosen": chosen.as_dict(),
                             "compared": [e.as_dict() for e in evaluations], "why": why},
        "training_seconds": round(seconds, 2), "updates": [], "warnings": warnings,
    }
    top = top_tokens(model, corpus)
    model.card["top_features"] = {side: [f"{t} {w:+.3f}" for t, w in items[:15]]
                                  for side, items in top.items()}
    return TrainingReport(model, chosen, evaluations, warnings, top, seconds, why)


def update(model: LinearModel, corpus: Corpus) -> dict[str, Any]:
    """Learn from new ham/spam on top of the current weights (no retraining from scratch)."""
    if not corpus.labels:
        raise TrainingError("no new mail to learn from")
    labels = np.asarray(corpus.labels, dtype=np.int64)
    matrix = vectorise(corpus.tokens)
    before = model.probabilities(matrix)
    epochs = model.update(matrix, labels)
    after = model.probabilities(matrix)
    record = {"at": _now(), "ham": corpus.ham, "spam": corpus.spam, "epochs": epochs,
              "mean_error_before": round(float(np.abs(before - labels).mean()), 4),
              "mean_error_after": round(float(np.abs(after - labels).mean()), 4)}
    model.card.setdefault("updates", []).append(record)
    return record


@dataclass
class Explanation:
    probability: float
    towards_spam: list[tuple[str, float]]
    towards_ham: list[tuple[str, float]]


def explain(model: LinearModel, msg: Any, count: int = 15) -> Explanation:
    tokens = tokens_of(msg)
    pushes = model.contributions(tokens)
    return Explanation(model.probability(tokens),
                       [p for p in pushes if p[1] > 0][:count],
                       [p for p in pushes if p[1] < 0][:count])


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
