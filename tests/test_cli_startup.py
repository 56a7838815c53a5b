"""What a command's start-up leaves out: the other commands' modules, dnspython offline."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mailsphere_cli.cli import COMMANDS, app, build_app
from tests.conftest import ROOT


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_command_alone_has_the_same_help(name: str):
    runner = CliRunner()
    alone = build_app(name)
    assert [c.name for c in alone.registered_commands] + \
        [g.name for g in alone.registered_groups] == [name]
    full = runner.invoke(app, [name, "--help"], catch_exceptions=False)
    own = runner.invoke(alone, [name, "--help"], catch_exceptions=False)
    assert full.exit_code == own.exit_code == 0
    assert own.output == full.output


def _run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_scan_imports_only_its_own_command_module():
    others = [f"mailsphere_cli.cli.{module}" for name, module, _ in COMMANDS if name != "scan"]
    out = _run("import sys\n"
               "from mailsphere_cli.cli import build_app\n"
               "build_app('scan')\n"
               f"print(*[m in sys.modules for m in {others!r}], 'mailsphere_cli.cli.scan' in "
               f"sys.modules)\n")
    assert out == ["False"] * len(others) + ["True"]


def test_dnspython_only_for_a_scan_that_may_use_dns():
    script = ("import sys\n"
              "from mailsphere_cli.config import Config\n"
              "from mailsphere_cli.workers import Settings, build_pipeline\n"
              "build_pipeline(Settings(config=Config(), offline={offline}))\n"
              "print('dns.message' in sys.modules)\n")
    assert _run(script.format(offline=True)) == ["False"]
    assert _run(script.format(offline=False)) == ["True"]
