"""The command line: one thin module per command group."""
from __future__ import annotations

import atexit
import os
import sys
import threading

import typer

from mailsphere_cli import __version__
from mailsphere_cli.cli import coercion
from mailsphere_cli.cli import explain, quarantine, report, rules, scan
from mailsphere_cli.cli import digest, lists
from mailsphere_cli.cli import train

coercion.install()  # plain option values converted without importing pydantic
app = typer.Typer(
    name="mailsphere",
    help="Batch mail-protection analyser: scan mailboxes and spools, quarantine what is caught, "
         "explain every verdict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailsphere {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    pass


app.command("scan")(scan.scan)
app.command("report")(report.report)
app.command("explain")(explain.explain)
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(rules.app, name="rules")
app.add_typer(lists.app, name="lists")
app.command("digest")(digest.digest)
app.add_typer(train.app, name="train")


def main() -> None:
    """The `mailsphere` command. Once the command is done, the process ends the short way:
    what a normal exit does that matters (other threads finish, exit handlers run, output is
    flushed) is done, the teardown of every module and object (compiled rules, model: 0.3-0.4 s
    of CPU after a scan) is not. Tests call `app` itself and are not affected."""
    try:
        app()
        status: object = 0
    except SystemExit as stop:
        status = stop.code
    _end(status)


def _end(status: object) -> None:
    if status is None:
        status = 0
    elif not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    # The interpreter's own first steps of an exit (CPython): the pool's exit hooks, then
    # waiting for the other non-daemon threads, then the atexit handlers.
    threading._shutdown()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        status = status or 120  # what Python's own exit reports when stdout cannot be flushed
    try:
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(status)
