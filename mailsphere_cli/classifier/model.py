"""The deployed model: hashed tokens, one weight per hash bucket, a calibrated sigmoid.

Whatever family wins at training time (logistic regression, SGD, complement
naive Bayes), it is linear in the hashed features, so it is exported as plain
arrays: `p(spam) = sigmoid(x . weights + bias)`, Platt calibration folded in.
That keeps prediction a sparse dot product, keeps the file small, lets
`--update` continue from the weights without the training mail, and makes the
file independent of scikit-learn's pickled classes (only numpy arrays and a
dict are stored). The model card travels inside the file and beside it as JSON.
"""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

# scikit-learn and scipy are imported where training and the fallback hash need them,
# not here: scoring needs only numpy, and importing them cost every scan ~1.5 s of
# start-up.

from mailsphere_cli.classifier.features import FEATURE_VERSION, MAX_TOKENS

FORMAT = "mailsphere-linear"
FORMAT_VERSION = 1
N_FEATURES = 2 ** 18
MAX_MODEL_BYTES = 64 * 1024 * 1024


class ModelError(Exception):
    """A model file that cannot be used: one line saying why and what to do."""


def library_versions() -> dict[str, str]:
    import joblib
    import scipy
    import sklearn
    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__}


@lru_cache(maxsize=1)
def _hasher():
    from sklearn.feature_extraction import FeatureHasher
    return FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)


try:
    # The same MurmurHash3 (x86, 32 bits, seed 0, signed) that FeatureHasher and
    # `bucket_of` use, in C and about four times cheaper per call. Optional: without
    # it the buckets come from scikit-learn's function (and a cache), same numbers.
    from mmh3 import hash as _fast_murmur
except ImportError:  # pragma: no cover - depends on the installation
    _fast_murmur = None

_BUCKET_MASK = N_FEATURES - 1
_BUCKETS: dict[str, int] = {}
_BUCKET_CACHE_LIMIT = 300_000


def _utf8_clean(tokens: list[str]) -> bool:
    """No lone surrogates (mmh3 crashes on them; scikit-learn raises)."""
    joined = "".join(tokens)
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bucket_array(tokens: list[str]) -> np.ndarray:
    """The hash bucket of every token (repeats included), as int64."""
    if _fast_murmur is not None and _utf8_clean(tokens):
        buckets = np.fromiter(map(_fast_murmur, tokens), dtype=np.int64, count=len(tokens))
        np.abs(buckets, out=buckets)
        buckets &= _BUCKET_MASK  # the same as % N_FEATURES for these non-negative numbers
        return buckets
    # Words repeat from message to message, so their buckets are remembered per
    # worker (bounded: dropped and refilled past the limit); only tokens not seen
    # before are hashed.
    missing = set(tokens).difference(_BUCKETS)
    if missing:
        if len(_BUCKETS) + len(missing) > _BUCKET_CACHE_LIMIT:
            _BUCKETS.clear()
            missing = set(tokens)
        for token in missing:
            _BUCKETS[token] = bucket_of(token)
    return np.fromiter(map(_BUCKETS.__getitem__, tokens), dtype=np.int64, count=len(tokens))


# log1p of every count a bucket can reach in one message's row (tokens_of gives at
# most 2 * MAX_TOKENS tokens), looked up instead of computed per message.
_LOG1P = np.log1p(np.arange(2 * MAX_TOKENS + 2, dtype=np.float64))


def hashed_row(tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One message as (bucket indices, values): the numbers `vectorise` gives its row
    (indices sorted, one per bucket), without building sparse matrices. This is the
    per-message hot path, so the counting is a sort and a few array operations: in a
    worker each numpy call costs 5-15 us (its code and data evicted by the stages and
    tokens in between, against ~1 us in a loop), so there are as few as the numbers allow."""
    buckets = bucket_array(tokens)
    buckets.sort()
    size = buckets.size
    # A bucket starts wherever the sorted value changes; its count is the run length.
    starts = np.ones(size + 1, dtype=bool)
    np.not_equal(buckets[1:], buckets[:-1], out=starts[1:size])
    edges = starts.nonzero()[0]
    counts = edges[1:] - edges[:-1]
    values = _LOG1P[counts] if size < _LOG1P.size else np.log1p(counts.astype(np.float64))
    norm = math.sqrt(values.dot(values)) or 1.0
    values /= norm
    return buckets[edges[:-1]], values


def vectorise(token_lists: Iterable[list[str]]) -> "sparse.csr_matrix":
    """Hashed token counts, log-damped (one word said ten times is not ten words), unit length."""
    from scipy import sparse
    matrix = _hasher().transform(token_lists).tocsr().astype(np.float64)
    np.log1p(matrix.data, out=matrix.data)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


def bucket_of(token: str) -> int:
    """The hash bucket FeatureHasher puts `token` in (signed MurmurHash3, seed 0, abs, mod)."""
    from sklearn.utils import murmurhash3_32
    return abs(int(murmurhash3_32(token, 0))) % N_FEATURES


def sigmoid(value: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(value, -40, 40)))


@dataclass
class LinearModel:
    weights: np.ndarray  # float32, one per hash bucket
    bias: float
    card: dict[str, Any] = field(default_factory=dict)
    # (the float32 weights it was made from, the same weights as float64): scoring
    # reads float64, converted once per model instead of per message.
    _wide: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False,
                                                         compare=False)

    def wide_weights(self) -> np.ndarray:
        if self._wide is None or self._wide[0] is not self.weights:
            self._wide = (self.weights, self.weights.astype(np.float64))
        return self._wide[1]

    def decision(self, matrix: sparse.csr_matrix) -> np.ndarray:
        return matrix @ self.weights.astype(np.float64) + self.bias

    def probabilities(self, matrix: sparse.csr_matrix) -> np.ndarray:
        return sigmoid(self.decision(matrix))

    def probability(self, tokens: list[str]) -> float:
        indices, values = hashed_row(tokens)
        # float32 -> float64 is exact: the same numbers as converting the picked weights.
        score = float(values.dot(self.wide_weights()[indices])) + self.bias
        # math, not numpy, for one number: numpy's per-call overhead was most of it.
        return 1.0 / (1.0 + math.exp(-min(40.0, max(-40.0, score))))

    def contributions(self, tokens: list[str]) -> list[tuple[str, float]]:
        """Each distinct token's push on the log-odds, strongest first (positive = spammy)."""
        indices, values = hashed_row(tokens)
        value_of = {int(i): float(v) for i, v in zip(indices, values)}
        pushes: dict[str, float] = {}
        for token in dict.fromkeys(tokens):
            bucket = bucket_of(token)
            pushes[token] = value_of.get(bucket, 0.0) * float(self.weights[bucket])
        return sorted(pushes.items(), key=lambda kv: -abs(kv[1]))

    # -- incremental learning ---------------------------------------------
    def update(self, matrix: sparse.csr_matrix, labels: np.ndarray, *, epochs: int = 200,
               step: float = 1.0, anchor: float = 1e-3, target: float = 0.8) -> int:
        """Learn from a few new messages without the original training set.

        Gradient steps on the logistic loss of the new messages, with an L2 pull
        towards the current weights so one report does not make the model forget
        the rest. Stops once every new message sits on its side of 0.5 by
        `target` (or after `epochs`). Returns the epochs used.
        """
        start = self.weights.astype(np.float64)
        weights = start.copy()
        bias = self.bias
        y = labels.astype(np.float64)
        count = max(1, matrix.shape[0])
        for epoch in range(1, epochs + 1):
            p = sigmoid(matrix @ weights + bias)
            right = np.where(y == 1, p >= target, p <= 1 - target)
            if right.all():
                epoch -= 1
                break
            error = p - y
            gradient = (matrix.T @ error) / count + anchor * (weights - start)
            weights -= step * gradient
            bias -= step * 0.1 * float(error.mean())  # the prior moves slower than the words
        self.weights = weights.astype(np.float32)
        self.bias = float(bias)
        return epoch

    # -- files ------------------------------------------------------------
    def save(self, path: Path) -> Path:
        """`path` (joblib) and `path` with `.card.json` beside it. Returns the card path."""
        import joblib
        path.parent.mkdir(parents=True, exist_ok=True)
        self.card.update(format=FORMAT, format_version=FORMAT_VERSION,
                         feature_version=FEATURE_VERSION, n_features=N_FEATURES,
                         libraries=library_versions())
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION,
                   "weights": self.weights.astype(np.float32), "bias": float(self.bias),
                   "card": self.card}
        temp = path.with_name(path.name + ".tmp")
        joblib.dump(payload, temp, compress=3)
        temp.replace(path)
        card_path = card_path_for(path)
        card_path.write_text(json.dumps(self.card, indent=2, sort_keys=True, default=str) + "\n")
        return card_path


def card_path_for(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".joblib") + ".card.json")


def _major_minor(version: str) -> tuple[int, ...]:
    parts = []
    for piece in str(version).split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_compatible(card: dict[str, Any], where: str) -> None:
    if card.get("format") != FORMAT:
        raise ModelError(f"{where}: not a Mailsphere classifier model (format "
                         f"{card.get('format')!r}); retrain with `mailsphere train classifier`")
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{where}: model format {card.get('format_version')} but this build "
                         f"reads format {FORMAT_VERSION}; retrain with `mailsphere train "
                         f"classifier`")
    if card.get("feature_version") != FEATURE_VERSION or card.get("n_features") != N_FEATURES:
        raise ModelError(f"{where}: trained on feature set {card.get('feature_version')} "
                         f"({card.get('n_features')} buckets), this build computes feature set "
                         f"{FEATURE_VERSION} ({N_FEATURES}); retrain the model")
    # numpy stores the arrays; scikit-learn's FeatureHasher decides the buckets.
    for library, running in (("numpy", np.__version__),
                             ("scikit-learn", _installed("scikit-learn"))):
        made_with = str((card.get("libraries") or {}).get(library, ""))
        if made_with and _major_minor(made_with)[:1] != _major_minor(running)[:1]:
            raise ModelError(f"{where}: made with {library} {made_with}, this is {library} "
                             f"{running} (incompatible major version); retrain the model")


def _installed(distribution: str) -> str:
    """The installed version, read from package metadata (importing scikit-learn only to
    ask its version would cost a scan over a second)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _read_payload(path: Path) -> Any:
    """The model file's content: joblib.load, or the same bytes loaded before, from the
    artefact cache (the key is the file's SHA-256), which saves importing joblib at
    start-up (0.05-0.15 s of CPU). The checks of load_model run on either."""
    from mailsphere_cli import artefacts

    def build() -> Any:
        import joblib
        return joblib.load(path)

    try:
        parts = artefacts.files_digest([path], names=False) + [np.__version__]
    except OSError:
        return build()
    return artefacts.cached("model", parts, build, check=lambda value: isinstance(value, dict))


def load_model(path: str | Path) -> LinearModel:
    """Load and check a model; every failure is a ModelError with one clear line."""
    path = Path(path)
    where = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelError(f"{where}: {exc.strerror or 'cannot be read'}") from None
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{where}: {size} bytes, larger than any model this build makes")
    try:
        payload = _read_payload(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail in many ways
        raise ModelError(f"{where}: not a readable model file ({type(exc).__name__}); "
                         f"retrain with `mailsphere train classifier`") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("card"), dict):
        raise ModelError(f"{where}: not a Mailsphere classifier model")
    card = payload["card"]
    check_compatible(card, where)
    weights = payload.get("weights")
    bias = payload.get("bias")
    if not isinstance(weights, np.ndarray) or weights.shape != (N_FEATURES,) or \
            not isinstance(bias, float) or not math.isfinite(bias) or \
            not np.isfinite(weights).all():
        raise ModelError(f"{where}: model weights are damaged; retrain the model")
    return LinearModel(weights.astype(np.float32), bias, card)
