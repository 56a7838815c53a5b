"""code_cache: the methods dataclasses and namedtuple generate are compiled at one start and
served ready-made at the next, and behave as the ones compiled from their text. Each case
runs in its own interpreter (the hooks change `dataclasses` and `collections` for the whole
process)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, hooked_runs, run_after_damage, run_with_cache

# Classes of many shapes (defaults, factories, frozen, order, slots, keyword-only, InitVar,
# __post_init__, a ClassVar, unhashable, namedtuple with defaults and renamed fields); each
# is made, used and compared, and what it did is printed.
SCRIPT = r'''
import json, sys
from mailsphere_cli import code_cache
hooked = code_cache.install() if sys.argv[1] == "hook" else False
import dataclasses
from collections import namedtuple
from dataclasses import InitVar, dataclass, field
from typing import ClassVar

@dataclass
class Plain:
    a: int
    b: str = "x"
    c: list = field(default_factory=list)

@dataclass(frozen=True, order=True)
class Frozen:
    x: int
    y: float = 1.5

@dataclass(slots=True, kw_only=True)
class Slotted:
    name: str
    size: int = 0

@dataclass
class Derived:
    total: int = 0
    scale: InitVar[int] = 2
    kind: ClassVar[str] = "derived"
    def __post_init__(self, scale):
        self.total *= scale

@dataclass(eq=True, unsafe_hash=True)
class Hashed:
    key: str
    n: int = field(default=3, compare=False)

Point = namedtuple("Point", ["x", "y", "def"], rename=True, defaults=[0])
out = []
p = Plain(1); p.c.append(2)
out.append([repr(p), p == Plain(1, "x", [2]), repr(Plain(2, "y"))])
f = Frozen(3)
try:
    f.x = 4
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
out.append([repr(f), frozen, f < Frozen(4), sorted([Frozen(2, 9.0), Frozen(1)]) == [Frozen(1), Frozen(2, 9.0)],
            hash(f) == hash(Frozen(3))])
s = Slotted(name="n")
out.append([repr(s), hasattr(s, "__dict__"), Slotted.__slots__])
try:
    Slotted("n")
    positional = True
except TypeError:
    positional = False
out.append([positional, repr(Derived(5)), repr(Derived(5, 3)), Derived.kind])
out.append([repr(Hashed("k")), hash(Hashed("k", 1)) == hash(Hashed("k", 2)), Hashed("k", 1) == Hashed("k", 2)])
pt = Point(1, 2)
out.append([repr(pt), pt._fields, tuple(pt), repr(Point(1, 2, 3)._replace(x=9))])
try:
    Plain()
    missing = None
except TypeError as exc:
    missing = str(exc)
out.append([missing, Plain.__init__.__code__.co_filename, Plain.__init__.__qualname__,
            {k: repr(v) for k, v in Plain.__init__.__annotations__.items()}])
served = len(code_cache._used) - code_cache._added if hooked else 0
code_cache.save()
print(json.dumps({"hooked": hooked, "results": out, "served": served}))
'''


def _run(mode: str, cache: Path) -> dict:
    return run_with_cache(SCRIPT, mode, cache)


def test_generated_methods_from_the_cache_behave_as_compiled_ones(tmp_path: Path):
    cache = tmp_path / "cache"
    first, second = hooked_runs(SCRIPT, cache, "code")
    assert second["served"] >= 15  # the methods of the five classes and the namedtuple's __new__


def test_a_damaged_entry_is_ignored(tmp_path: Path):
    run_after_damage(SCRIPT, tmp_path / "cache", "code")


def test_an_entry_of_another_shape_is_compiled_anew(tmp_path: Path):
    """A table entry that does not unmarshal to code (or a code of another text) cannot
    reach a class: the text is compiled as without the cache."""
    script = (
        "from mailsphere_cli import code_cache\n"
        "assert code_cache.install()\n"
        "import marshal\n"
        "from collections import namedtuple\n"
        "P = namedtuple('P', 'a b')\n"
        "key = next(k for k in code_cache._table if k[0] == 'eval')\n"
        "code_cache._table[key] = b'not marshal data'\n"
        "Q = namedtuple('Q', 'a b')\n"
        "print(repr(Q(1, 2)))\n"
    )
    env = dict(os.environ, MAILSPHERE_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env.pop("MAILSPHERE_NO_CACHE", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "Q(a=1, b=2)"
