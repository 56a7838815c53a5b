"""What the in-process benchmarks share: the corpus folders to read and their messages.

    parser = argparse.ArgumentParser(...); add_corpus_args(parser)
    raws = corpus_messages(parser.parse_args())   # None (and a line on stderr): no corpus
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailsphere_cli.sources import RawMessage, iter_sources  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def add_corpus_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="*", default=[str(CORPUS / d) for d in ("ham", "spam", "phish")])
    parser.add_argument("--limit", type=int, default=0, help="messages per folder (0 = all)")


def corpus_messages(args: argparse.Namespace) -> list[RawMessage] | None:
    """The messages of every folder (the first `--limit` of each), in folder order."""
    if not all(Path(d).exists() for d in args.dirs):
        print("corpus not found; pass folders explicitly", file=sys.stderr)
        return None
    raws: list[RawMessage] = []
    for folder in args.dirs:
        items = [i for i in iter_sources([folder]) if isinstance(i, RawMessage)]
        raws.extend(items[: args.limit or None])
    return raws
