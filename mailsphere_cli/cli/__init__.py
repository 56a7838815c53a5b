"""The command line: one thin module per command group."""
from __future__ import annotations

import typer

from mailsphere_cli import __version__
from mailsphere_cli.cli import explain, quarantine, report, rules, scan
from mailsphere_cli.cli import digest, lists
from mailsphere_cli.cli import train

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
    app()
