"""What every command shares: the environment (streams, data directory), errors, exit codes."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console


class ExitStatus(IntEnum):
    OK = 0
    FAILED = 1  # the run could not complete (or --fail-on matched)
    USAGE = 2  # bad usage: options, paths, config


@dataclass
class Environment:
    """Streams and places a command works with; tests pass their own."""

    # emoji=False: text like `:smile:` in a file name or subject is shown as it is, and
    # rich's table of emoji names (7 ms of CPU to import) is not loaded by every command.
    stdout: Console = field(default_factory=lambda: Console(soft_wrap=True, emoji=False))
    stderr: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True,
                                                            emoji=False))

    @staticmethod
    def data_dir(option: Path | None) -> Path:
        if option is not None:
            return option
        env = os.environ.get("MAILSPHERE_HOME")
        return Path(env) if env else Path(".mailsphere")


ENV = Environment()


def fail(message: str, status: ExitStatus = ExitStatus.USAGE) -> NoReturn:
    """One clear line on stderr, then a non-zero exit."""
    ENV.stderr.print(f"[bold red]mailsphere: error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(int(status))


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, option: str = "--since") -> datetime | None:
    """`7d`, `12h`, `2w`, or an ISO date: the moment from which to count."""
    if not value:
        return None
    match = _DURATION.match(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return datetime.now(timezone.utc) - delta
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: use a duration like 7d, 12h, 30m, 2w or a date like 2026-11-01")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
