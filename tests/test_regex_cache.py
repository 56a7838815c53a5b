"""regex_cache: patterns compiled at one start are served ready-made at the next, and are
the patterns `re` itself makes. Each case runs in its own interpreter (the hook changes
`re` for the whole process)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, hooked_runs, run_after_damage, run_with_cache

# Patterns of many shapes (groups, names, flags, look-around, bytes, classes, Unicode);
# each is compiled, then asked about every sample.
SCRIPT = r'''
import json, re, sys
from mailsphere_cli import regex_cache
hooked = regex_cache.install() if sys.argv[1] == "hook" else False
PATTERNS = [
    (r"(?P<user>[\w.+-]+)@(?P<host>[\w-]+(?:\.[\w-]+)+)", 0),
    (r"^subject:\s*(re|fwd?):", re.I | re.M),
    (r"(?<![\w-])(?:paypal|amazon)\.com\b", 0),
    (r"\b(\d{1,3})(?:\.(\d{1,3})){3}\b", 0),
    (r"[^\x00-\x7f]{3,}", 0),
    (r"(a|b)*?c(?=d)", re.S),
    (r"caf\u00e9|stra\u00dfe", re.I),
    (rb"\r?\n\r?\n", 0),
    (rb"^From (?P<who>\S+)", re.M),
    (r"x{2,5}y+z?", re.X),
]
SAMPLES = ["bob.smith+tag@mail.example.com", "Subject: RE: hello\nSubject: fwd: x",
           "see paypal.com or not-amazon.com", "ip 192.168.10.1 here", "caf\u00e9 Stra\u00dfe",
           "\u65e5\u672c\u8a9e\u306e\u6587", "ababcd", "xxxyyy", "plain text"]
out = []
for source, flags in PATTERNS:
    p = re.compile(source, flags)
    texts = [s.encode() for s in SAMPLES] if isinstance(source, bytes) else SAMPLES
    found = [[(m.span(), m.groups(), m.groupdict()) for m in p.finditer(t)] for t in texts]
    out.append([repr(p.pattern), p.flags, p.groups, dict(p.groupindex), repr(found)])
served = len(regex_cache._used) - regex_cache._added if hooked else 0
regex_cache.save()
late = re.compile(r"compiled(after)?the[- ]start-up")  # not kept: may be made from mail
print(json.dumps({"hooked": hooked, "results": out, "served": served,
                  "late_kept": (False, late.pattern, 0) in regex_cache._table}))
'''


def _run(mode: str, cache: Path) -> dict:
    return run_with_cache(SCRIPT, mode, cache)


def test_patterns_from_the_cache_are_the_patterns_re_makes(tmp_path: Path):
    cache = tmp_path / "cache"
    first, second = hooked_runs(SCRIPT, cache, "regex")
    assert second["served"] >= 10  # the ten patterns above at least came ready-made
    assert not first["late_kept"] and not second["late_kept"]


def test_a_damaged_entry_is_ignored(tmp_path: Path):
    run_after_damage(SCRIPT, tmp_path / "cache", "regex")


def test_without_a_cache_re_is_left_alone(tmp_path: Path):
    env = dict(os.environ, MAILSPHERE_NO_CACHE="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT, "hook"], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["hooked"] is False


def test_an_entry_of_another_shape_is_compiled_anew(tmp_path: Path):
    script = (
        "import re\n"
        "from mailsphere_cli import regex_cache\n"
        "assert regex_cache.install()\n"
        "regex_cache._table[(False, 'ab+c', 0)] = ('other', 0, [1, 2], 0, {}, ())\n"
        "regex_cache._table[(False, 'x(y)z', 0)] = ('x(y)z', 0, 'not code', 0, {}, ())\n"
        "print(re.compile('ab+c').findall('abbc ac'), re.compile('x(y)z').findall('xyz'))\n")
    env = dict(os.environ, MAILSPHERE_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env.pop("MAILSPHERE_NO_CACHE", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["['abbc']", "['y']"]
