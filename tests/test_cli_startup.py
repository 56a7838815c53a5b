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


def test_numpy_starts_no_blas_threads_under_the_command_line():
    """Workers are processes: a BLAS thread pool in each would only compete with them.
    Without the limit OpenBLAS starts one thread per core beyond the first at import."""
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("no /proc to count threads in")
    script = ("import os\n"
              "import mailsphere_cli.cli\n"
              "import numpy\n"
              "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
    # The user's own setting wins.
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(env, OPENBLAS_NUM_THREADS="3"), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "3"
