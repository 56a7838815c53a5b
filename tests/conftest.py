"""Shared fixtures: the real CLI in-process, a scratch data directory, message builders."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailsphere_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_mail"
CORPUS = ROOT.parent / "shared" / "corpus"


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
