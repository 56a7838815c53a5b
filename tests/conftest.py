"""Shared fixtures: the real CLI in-process, a scratch data directory, message builders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailsphere_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_mail"
CORPUS = ROOT.parent / "shared" / "corpus"


def run_with_cache(script: str, mode: str, cache: Path) -> dict:
    """`script` in a new interpreter with the artefact cache at `cache` and `mode` as its
    argument; what it printed, as JSON (the regex and code cache tests)."""
    env = dict(os.environ, MAILSPHERE_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    env.pop("MAILSPHERE_NO_CACHE", None)
    done = subprocess.run([sys.executable, "-c", script, mode], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def hooked_runs(script: str, cache: Path, kind: str) -> tuple[dict, dict]:
    """A start-up cache's two first runs of `script` (the first compiles and stores, the
    second is served from the table), each checked against a run without the cache."""
    plain = run_with_cache(script, "plain", cache)
    first = run_with_cache(script, "hook", cache)
    assert first["hooked"] and first["results"] == plain["results"] and first["served"] == 0
    assert list(cache.glob(f"{kind}-*.bin"))
    second = run_with_cache(script, "hook", cache)
    assert second["results"] == plain["results"]
    return first, second


def run_after_damage(script: str, cache: Path, kind: str) -> None:
    """A run of `script` after its cache entries were damaged (a byte flipped near the end
    of each: the checksum no longer matches) gives what a run without the cache gives, and
    nothing from the table."""
    plain = run_with_cache(script, "plain", cache)
    run_with_cache(script, "hook", cache)
    for entry in cache.glob(f"{kind}-*.bin"):
        data = bytearray(entry.read_bytes())
        data[-20] ^= 0xFF
        entry.write_bytes(bytes(data))
    again = run_with_cache(script, "hook", cache)
    assert again["results"] == plain["results"] and again["served"] == 0


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


class Cli:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, input: bytes | str | None = None, data: bool = True):
        argv = list(args)
        if data and argv and argv[0] in ("scan", "report", "explain", "quarantine") \
                and "--data-dir" not in argv:
            argv += ["--data-dir", str(self.data_dir)]
        return self.runner.invoke(app, argv, input=input, catch_exceptions=False)

    def scan_json(self, *args: str, input: bytes | None = None) -> list[dict]:
        result = self("scan", "--json", "--offline", "-j", "1", *args, input=input)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


def make_message(subject: str = "Hello", body: str = "Just checking in about Thursday.",
                 sender: str = "alice@example.net", to: str = "bob@example.com",
                 extra: str = "", content_type: str = "text/plain; charset=utf-8") -> bytes:
    text = (f"From: Alice <{sender}>\nTo: {to}\nSubject: {subject}\n"
            f"Date: Tue, 03 Mar 2026 10:00:00 +0000\nMessage-ID: <{abs(hash(subject + body))}@example.net>\n"
            f"MIME-Version: 1.0\nContent-Type: {content_type}\n{extra}\n{body}\n")
    return text.encode()


@pytest.fixture
def eml(tmp_path: Path):
    counter = iter(range(10_000))

    def write(data: bytes | None = None, name: str | None = None, **kwargs) -> Path:
        path = tmp_path / "mail" / (name or f"m{next(counter)}.eml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if data is not None else make_message(**kwargs))
        return path

    return write
