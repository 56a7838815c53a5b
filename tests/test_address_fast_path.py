"""addresses(): the plain shapes answered by a regex give what email.utils.getaddresses
gives, on generated values (plain ones and near misses that must go the slow way)."""
from __future__ import annotations

import random

from mailsphere_cli import message


# The general path (getaddresses) that the fast shapes must agree with.
_reference = message._addresses_general


def _piece(rng: random.Random, alphabet: str, low: int = 1, high: int = 8) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _values(count: int, seed: int):
    rng = random.Random(seed)
    alnum = "abcXYZ019"
    local_chars = alnum + "_+-=" + rng.choice(["", ".", "..", '"', "(", " "])
    for _ in range(count):
        local = ".".join(_piece(rng, local_chars) for _ in range(rng.randint(1, 3)))
        domain = ".".join(_piece(rng, alnum + "-" + rng.choice(["", "_", "."]))
                          for _ in range(rng.randint(1, 4)))
        addr = f"{local}@{domain}"
        words = [_piece(rng, alnum + rng.choice(["", ".", ",", '"', "'", "(", ")", ":"]))
                 for _ in range(rng.randint(1, 4))]
        name = rng.choice([" ", "  ", " ", "\t"]).join(words)
        shape = rng.random()
        if shape < 0.35:
            yield addr
        elif shape < 0.8:
            yield f"{name} <{addr}>"
        elif shape < 0.9:
            yield f'"{name}" <{addr}>'
        else:
            yield rng.choice([f"{name}<{addr}>", f"<{addr}>", f"<{addr}", f"{addr}>", f"<<{addr}>>", f" {addr}", f"{addr} ", f"{name} <{addr}> x",
                              f"{addr}, {addr}", f"<{addr}>", f"{name} {addr}"])


def test_fast_shapes_agree_with_getaddresses():
    plain = 0
    for value in _values(6000, seed=11):
        if message._PLAIN.fullmatch(value):
            plain += 1
        assert message.addresses.__wrapped__(value) == _reference(value), value
    assert plain > 400  # the fast path was taken often enough to mean something


def test_fast_shape_examples():
    assert message.addresses("Jane Doe <Jane.Doe@Example.COM>") == (("Jane Doe", "jane.doe@example.com"),)
    assert message.addresses("a+b@x.org") == (("", "a+b@x.org"),)


def test_fast_shapes_by_hand_agree_with_getaddresses():
    values = ['"Jane Doe" <jane@example.com>', '"Jane" <J.Doe@mail.example.co.uk>',
              "Bank 24 <no-reply@bank24.example>", '"Jane  Doe" <jane@example.com>',
              '"Jane Doe"<jane@example.com>', "x_y+z@a-b.example", "a.b.c@d.e.f",
              '"" <jane@example.com>', "Jane <jane@example>", "Jane <.jane@example.com>",
              "<bounce-12=jane=example.com@lists.example.org>", "<jane@example.com", "jane@example.com>"]
    for value in values:
        assert message.addresses.__wrapped__(value) == _reference(value), value
    assert sum(1 for v in values if message._PLAIN.fullmatch(v)) >= 5
