"""Plain option values converted without pydantic (cli/coercion.py) give typer's own results.

Every parameter of every command is fed the same values through the plain converter
and through typer's own (pydantic) converter: the same value, or the same error."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from typer import _coercion
from typer._click import Context

from mailsphere_cli.cli import app, coercion
from tests.conftest import ROOT, SAMPLE


def _parameters():
    found = []

    def walk(command, path):
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, path + [name])
        for param in command.params:
            if getattr(param, "type_descriptor", None) is not None:
                found.append((command, " ".join(path), param))

    walk(typer.main.get_command(app), [])
    return found


PARAMETERS = _parameters()


def _outcome(convert, value):
    try:
        result = convert(value)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("error", type(exc).__name__, str(getattr(exc, "message", exc)))
    return ("value", type(result).__name__, result)


def _both(command, param, value):
    ctx = Context(command)
    plain = coercion_runtime(param)
    typers = _coercion.build_runtime_param(param.type_descriptor)
    return (_outcome(lambda v: plain.coerce(v, param=param, ctx=ctx), value),
            _outcome(lambda v: typers.coerce(v, param=param, ctx=ctx), value))


def coercion_runtime(param):
    from typer import core
    return core.build_runtime_param(param.type_descriptor)


def test_installed_for_every_parameter_kind_in_use():
    coercion.install()
    kinds = {type(coercion_runtime(p)).__name__ for _, _, p in PARAMETERS}
    assert kinds == {"PlainRuntimeParam"}, kinds  # a new kind would go to pydantic: add it


VALUES = ["0", "1", "2", "17", "007", "-1", "+3", "1.5", "0.1", "0.05", "1e3", " 2", "2 ", "",
          "x", "1_000", "١", "inf", "nan", "99999999999999999999", "-", "auto",
          "spam", str(SAMPLE), str(SAMPLE / "README.md"), "/nonexistent/x", "a\x00b",
          ["a", "2"], ("3", "x"), [], True, False, 0, 5, 0.5, None, Path("p")]


@pytest.mark.parametrize("command, where, param", PARAMETERS,
                         ids=[f"{w}:{p.name}" for _, w, p in PARAMETERS])
def test_same_result_as_typer(command, where, param):
    for value in VALUES:
        plain, typers = _both(command, param, value)
        assert plain == typers, (where, param.name, value)


_PIECES = st.sampled_from(["0", "1", "9", ".", "-", "+", "e", "_", " ", "a", "/", "x", "٣"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_same_result_as_typer_generated(text):
    for command, _, param in PARAMETERS:
        plain, typers = _both(command, param, text)
        assert plain == typers, (param.name, text)


def test_scan_does_not_import_pydantic(tmp_path: Path):
    script = (
        "import sys\n"
        "from mailsphere_cli.cli import app\n"
        "try:\n"
        f"    app(['scan', {str(SAMPLE / 'eml')!r}, '--offline', '-j', '1', '--timeout', '20',"
        f" '--data-dir', {str(tmp_path / 'data')!r}, '--skip', 'classifier'])\n"
        "except SystemExit as stop:\n"
        "    assert stop.code in (0, None), stop.code\n"
        "print('pydantic' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_bad_value_keeps_typers_message(cli):
    result = cli("scan", str(SAMPLE / "eml"), "--workers", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--workers'" in result.output
    assert "greater than or equal" in result.output
    result = cli("scan", str(SAMPLE / "eml"), "--timeout", "soon")
    assert result.exit_code == 2
    assert "Invalid value for '--timeout'" in result.output
    assert "valid number" in result.output
