"""The command line: one thin module per command group."""
from __future__ import annotations

import atexit
import gc
import os
import sys
import threading

# One BLAS thread a process unless the user says otherwise: Mailsphere parallelises with
# its own worker processes, and numpy's OpenBLAS otherwise starts a thread per core when it
# is imported, for dot products of a few hundred numbers (`import numpy` here: 0.32-0.34 ->
# 0.23-0.25 s of CPU; a scan's start-up 0.42 -> 0.29-0.34 s). Set before anything imports
# numpy.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import typer  # noqa: E402

from mailsphere_cli import __version__, code_cache, regex_cache  # noqa: E402
from mailsphere_cli.cli import coercion  # noqa: E402

coercion.install()  # plain option values converted without importing pydantic

# Every command: (name, module, attribute); a `typer.Typer` attribute is a group.
COMMANDS = (
    ("scan", "scan", "scan"),
    ("report", "report", "report"),
    ("explain", "explain", "explain"),
    ("quarantine", "quarantine", "app"),
    ("rules", "rules", "app"),
    ("lists", "lists", "app"),
    ("digest", "digest", "digest"),
    ("train", "train", "app"),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailsphere {__version__}")
        raise typer.Exit()


def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    pass


def build_app(only: str | None = None) -> typer.Typer:
    """The command line with every command, or with the command `only` alone: `mailsphere
    scan` then imports the scan command's module and not the seven others (their
    modules and what they import cost a scan's start-up ~0.05 s of CPU). Help and
    usage of that command are the same; `mailsphere --help` builds them all."""
    import importlib

    app = typer.Typer(
        name="mailsphere",
        help="Batch mail-protection analyser: scan mailboxes and spools, quarantine what is "
             "caught, explain every verdict.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name, module_name, attribute in COMMANDS:
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(f"mailsphere_cli.cli.{module_name}"), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def __getattr__(name: str):
    if name == "app":  # the whole command line, built when first asked for (tests, docs)
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The `mailsphere` command. Once the command is done, the process ends the short way:
    what a normal exit does that matters (other threads finish, exit handlers run, output is
    flushed) is done, the teardown of every module and object (compiled rules, model: 0.3-0.4 s
    of CPU after a scan) is not. Tests call `app` itself and are not affected."""
    # the patterns and generated code compiled at the last start, ready-made (done already
    # when started by mailsphere_cli.__main__, before this module's imports)
    regex_cache.install()
    code_cache.install()
    first = sys.argv[1] if len(sys.argv) > 1 else None
    # Importing the command's modules makes tens of thousands of long-lived objects and
    # next to no garbage: the collector's passes over them were 0.02-0.03 s of CPU of a
    # scan's start-up, for nothing to free. They are frozen out of its care (as a scan's
    # pool does with the pipeline) before it comes back on, so it does not walk them then.
    gc.disable()
    try:
        command_line = build_app(first if first in {c[0] for c in COMMANDS} else None)
    finally:
        gc.freeze()
        gc.enable()
    try:
        command_line()
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
