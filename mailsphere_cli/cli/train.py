"""`mailsphere train classifier`: learn from an organisation's ham and spam, update, explain."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mailsphere_cli.cli.common import ENV, ExitStatus, fail

app = typer.Typer(help="Train the learning classifier.", no_args_is_help=True)


def _target(out: Optional[Path], org: Optional[str], data_dir: Path) -> Path:
    from mailsphere_cli.classifier import org_model_path
    if out is not None:
        return out
    return org_model_path(data_dir, org or "default")


def _explain(key: str, model_path: Path, data_dir: Path) -> None:
    from mailsphere_cli.classifier import ModelError, load_model
    from mailsphere_cli.classifier.lookup import NotFound, message_bytes
    from mailsphere_cli.classifier.training import explain
    from mailsphere_cli.message import ParsedMessage

    try:
        model = load_model(model_path)
        raw = message_bytes(key, data_dir)
    except (ModelError, NotFound) as exc:
        fail(str(exc))
    result = explain(model, ParsedMessage(raw))
    out = ENV.stdout
    out.print(f"spam probability [bold]{result.probability:.3f}[/] "
              f"({model_path.name}, {model.card.get('family', '?')})")
    for title, items in (("towards spam", result.towards_spam), ("towards ham", result.towards_ham)):
        table = Table(title=f"Tokens pushing {title}")
        table.add_column("token")
        table.add_column("push (log-odds)", justify="right")
        for token, push in items:
            table.add_row(token, f"{push:+.3f}")
        out.print(table)


def _read(ham: list[str], spam: list[str]):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mailsphere_cli.classifier.training import read_corpus
    from mailsphere_cli.sources import SourceError

    with Progress(TextColumn("reading mail"), BarColumn(), MofNCompleteColumn(),
                  console=ENV.stderr, transient=True,
                  disable=not ENV.stderr.is_terminal) as bar:
        task = bar.add_task("read", total=None)
        try:
            return read_corpus(ham, spam, progress=lambda n: bar.advance(task, n))
        except SourceError as exc:
            fail(str(exc))


@app.command("classifier")
def classifier(
    ham: list[str] = typer.Option([], "--ham", help="Ham: Maildir, mbox, .eml or folder "
                                                    "(repeatable)."),
    spam: list[str] = typer.Option([], "--spam", help="Spam and phishing (repeatable)."),
    org: Optional[str] = typer.Option(None, "--org", help="Organisation the model is for "
                                                          "(saved as DATA_DIR/models/ORG.joblib)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to save the model."),
    update: bool = typer.Option(False, "--update", help="Learn the new mail on top of the "
                                                        "existing model instead of retraining."),
    explain_key: Optional[str] = typer.Option(None, "--explain", metavar="ID|FILE",
                                              help="Show the tokens that pushed one message "
                                                   "towards spam and towards ham."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model to update or explain "
                                                               "with (default: the org's, else "
                                                               "the shipped one)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME",
                                            help="Data directory (default ./.mailsphere)."),
) -> None:
    """Train (or --update, or --explain with) the classifier on ham and spam mail."""
    from mailsphere_cli.classifier import ModelError, default_model_path, load_model
    from mailsphere_cli.classifier.training import TrainingError, train
    from mailsphere_cli.classifier.training import update as update_model

    directory = ENV.data_dir(data_dir)
    target = _target(out, org, directory)
    if explain_key:
        chosen = model or (target if target.exists() else default_model_path())
        _explain(explain_key, chosen, directory)
        return
    if not ham and not spam:
        fail("give training mail with --ham PATH and --spam PATH")
    if update:
        source = model or target
        try:
            current = load_model(source)
        except ModelError as exc:
            fail(f"--update: {exc}")
        corpus = _read(ham, spam)
        try:
            record = update_model(current, corpus)
        except TrainingError as exc:
            fail(str(exc))
        current.save(out or source)
        ENV.stdout.print(f"updated {out or source} with {record['ham']} ham and "
                         f"{record['spam']} spam in {record['epochs']} epochs (mean error "
                         f"{record['mean_error_before']} -> {record['mean_error_after']})")
        return
    if not ham or not spam:
        fail("training needs both --ham and --spam mail")
    corpus = _read(ham, spam)
    try:
        report = train(corpus, org=org)
    except TrainingError as exc:
        fail(str(exc))
    for warning in report.warnings:
        ENV.stderr.print(f"[yellow]warning:[/] {warning}")
    card_path = report.model.save(target)
    _print_report(report, target, card_path, corpus)


def _print_report(report, target: Path, card_path: Path, corpus) -> None:
    out = ENV.stdout
    out.print(f"read {corpus.ham} ham and {corpus.spam} spam ({corpus.duplicates} duplicates, "
              f"{corpus.conflicts} labelled both ways, {corpus.unreadable} unreadable)")
    table = Table(title="Stratified cross-validation")
    for column in ("family", "ROC AUC", "recall @0.5", "ham FPR @0.5", "recall @FPR<=0.5%",
                   "Brier", "seconds"):
        table.add_column(column, justify="left" if column == "family" else "right")
    for e in report.evaluations:
        mark = " *" if e is report.chosen else ""
        table.add_row(e.family + mark, f"{e.auc:.5f}", f"{e.recall:.2%}", f"{e.fpr:.2%}",
                      f"{e.recall_at_target:.2%}", f"{e.brier:.4f}", f"{e.seconds:.1f}")
    out.print(table)
    out.print(f"kept {report.why}")
    c = report.chosen.confusion
    out.print(f"confusion at p >= 0.5: ham kept {c['ham_as_ham']}, ham flagged "
              f"{c['ham_as_spam']}, spam missed {c['spam_as_ham']}, spam caught "
              f"{c['spam_as_spam']}")
    out.print("calibration: " + "; ".join(
        f"{b['from']:g}-{b['to']:g}: predicted {b['mean_predicted']:.3f}, spam "
        f"{b['spam_fraction']:.3f} (n={b['messages']})" for b in report.chosen.calibration))
    for side in ("spam", "ham"):
        out.print(f"top {side} tokens: " + ", ".join(f"{t} {w:+.2f}"
                                                      for t, w in report.top[side][:20]),
                  highlight=False)
    out.print(f"training took {report.seconds:.1f} s; saved {target} and {card_path}")


__all__ = ["app", "ExitStatus"]
