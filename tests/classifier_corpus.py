"""Small generated corpora for the classifier tests: ham about work, spam about money."""
from __future__ import annotations

import random
from email.message import EmailMessage
from pathlib import Path

HAM_WORDS = ("meeting agenda budget review draft schedule project team report minutes "
             "deadline quarter release build tests patch module design notes thanks").split()
SPAM_WORDS = ("free money winner prize cash offer guaranteed viagra casino bonus credit "
              "unsubscribe discount million lottery investment urgent claim").split()
NEUTRAL = "the a of to and in for is on with this that it we you".split()


def make_message(kind: str, index: int, rng: random.Random, *, to: str = "staff@example.com",
                 words: list[str] | None = None) -> bytes:
    vocabulary = HAM_WORDS if kind == "ham" else SPAM_WORDS
    chosen = words or [rng.choice(vocabulary) if rng.random() < 0.5 else rng.choice(NEUTRAL)
                       for _ in range(60)]
    msg = EmailMessage()
    sender = f"colleague{index}@example.org" if kind == "ham" else f"promo{index}@offers.test"
    msg["From"] = f"{'Alex Colleague' if kind == 'ham' else 'Best Deals'} <{sender}>"
    msg["To"] = to
    msg["Subject"] = ("Re: " if kind == "ham" else "") + " ".join(chosen[:4])
    msg["Message-ID"] = f"<{kind}-{index}@gen.test>"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    msg.set_content(" ".join(chosen) + "\n")
    return bytes(msg)


def write_corpus(folder: Path, kind: str, count: int, seed: int = 1) -> Path:
    rng = random.Random(f"{kind}-{seed}")
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"{kind}{index:03}.eml").write_bytes(make_message(kind, index + 1000 * seed,
                                                                    rng))
    return folder
