"""The fixed 80/20 split of the shared corpus, decided by each message's identity.

A message goes to the test side when the first 8 hex digits of the SHA-256 of
its bytes (its Mailsphere id), read as a number, modulo 100, are below 20. No
randomness, no state: anyone rerunning this gets the same split, and a message
keeps its side if files are added or renamed.

    python3 bench/split.py [CORPUS]      prints the counts per side and label

`kfold` cuts the same numbers into k folds (the hundred buckets in k runs); with
k = 5, fold 0 is exactly the 20% test side of the fixed split.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
LABELS = {"ham": "ham", "spam": "spam", "phish": "spam"}  # folder -> training label
TEST_PERCENT = 20


@dataclass
class Split:
    train: dict[str, list[str]] = field(default_factory=lambda: {"ham": [], "spam": [], "phish": []})
    test: dict[str, list[str]] = field(default_factory=lambda: {"ham": [], "spam": [], "phish": []})


def bucket_of(data: bytes) -> int:
    return int(hashlib.sha256(data).hexdigest()[:8], 16) % 100


def side_of(data: bytes) -> str:
    return "test" if bucket_of(data) < TEST_PERCENT else "train"


def _messages(corpus: Path):
    """(folder, path, bytes) of every message file of the labelled folders, in order."""
    for folder in LABELS:
        directory = corpus / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield folder, path, path.read_bytes()


def kfold(corpus: Path = DEFAULT_CORPUS, folds: int = 5) -> list[Split]:
    """k splits: in split i, the messages whose bucket falls in the i-th of k runs of
    the hundred buckets are the test side, every other message the training side."""
    parts = [Split() for _ in range(folds)]
    for folder, path, data in _messages(corpus):
        held_out = bucket_of(data) * folds // 100
        for index, part in enumerate(parts):
            side = part.test if index == held_out else part.train
            side[folder].append(str(path))
    return parts


def split(corpus: Path = DEFAULT_CORPUS) -> Split:
    result = Split()
    for folder, path, data in _messages(corpus):
        getattr(result, side_of(data))[folder].append(str(path))
    return result


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    if not corpus.is_dir():
        sys.exit(f"no corpus at {corpus}")
    parts = split(corpus)
    for side in ("train", "test"):
        counts = {k: len(v) for k, v in getattr(parts, side).items()}
        print(side, counts)


if __name__ == "__main__":
    main()
