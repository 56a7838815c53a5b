"""Where the files that ship with Mailsphere (rules/, models/) are found.

From a source checkout or an editable install they sit beside the package; a
wheel installs them under `<prefix>/share/mailsphere/` (see pyproject.toml).
"""
from __future__ import annotations

import sys
from pathlib import Path

_ROOTS = (Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / "mailsphere")


def shipped(*parts: str) -> Path:
    for root in _ROOTS:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return _ROOTS[0].joinpath(*parts)
