"""`mailsphere lists add|remove|show`: whitelists and blacklists.

Org-level entries live in the config (shown here, edited there); user-level
entries (and extra org-level ones) live in the database, so a portal can edit
them too.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from mailsphere_cli.cli.common import ENV, fail
from mailsphere_cli.config import ConfigError, load_config
from mailsphere_cli.lists import EntryError, validate_entry
from mailsphere_cli.store.db import Store
from mailsphere_cli.store.lifecycle import add_entry, list_entries, remove_entry

app = typer.Typer(help="Whitelists and blacklists, per organisation and per user.",
                  no_args_is_help=True)

_DATA_DIR = typer.Option(None, "--data-dir", envvar="MAILSPHERE_HOME",
                         help="Data directory (default ./.mailsphere).")
_CONFIG = typer.Option(None, "--config", "-c", help="TOML config (default ./mailsphere.toml).")
_ORG = typer.Option(..., "--org", help="Organisation name, as in [orgs.NAME] of the config.")
_USER = typer.Option(None, "--user", help="The recipient address whose own list this is "
                                          "(omit for the organisation's list).")
_WHITE = typer.Option(None, "--whitelist", help="Entry: address, domain, *@domain or *.domain.")
_BLACK = typer.Option(None, "--blacklist", help="Entry: address, domain, *@domain or *.domain.")


def _org(config_path: Optional[Path], name: str):
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
    org = config.orgs.get(name)
    if org is None:
        known = ", ".join(sorted(config.orgs)) or "none: pass --config with [orgs.NAME] tables"
        fail(f"--org {name!r}: no such organisation in the config (known: {known})")
    return config, org


def _kind_entry(whitelist: Optional[str], blacklist: Optional[str]) -> tuple[str, str]:
    if bool(whitelist) == bool(blacklist):
        fail("give exactly one of --whitelist ENTRY or --blacklist ENTRY")
    return ("whitelist", whitelist) if whitelist else ("blacklist", blacklist)  # type: ignore


def _user(org, user: Optional[str]) -> str:
    if not user:
        return ""
    user = user.strip().lower()
    if user.count("@") != 1 or not org.owns(user.rpartition("@")[2]):
        fail(f"--user {user!r}: not an address of organisation {org.name} "
             f"(domains: {', '.join(org.domains) or 'none'})")
    return user


def _change(operation, org: str, user: Optional[str], whitelist: Optional[str],
            blacklist: Optional[str], data_dir: Optional[Path], config_path: Optional[Path]):
    """Validate the options, then add or remove one entry in the database."""
    _, org_config = _org(config_path, org)
    kind, text = _kind_entry(whitelist, blacklist)
    address = _user(org_config, user)
    store = Store(ENV.data_dir(data_dir))
    try:
        entry, changed = operation(store, org, address, kind, text)
    except EntryError as exc:
        fail(str(exc))
    finally:
        store.close()
    return org_config, kind, address, entry, changed


@app.command()
def add(org: str = _ORG, user: Optional[str] = _USER, whitelist: Optional[str] = _WHITE,
        blacklist: Optional[str] = _BLACK, data_dir: Optional[Path] = _DATA_DIR,
        config_path: Optional[Path] = _CONFIG) -> None:
    """Add an entry to an organisation's or a user's list."""
    _, kind, address, entry, new = _change(add_entry, org, user, whitelist, blacklist, data_dir,
                                           config_path)
    where = f"{org} user {address}" if address else f"{org} (organisation)"
    ENV.stdout.print(f"{'added' if new else 'already listed'}: {kind} {entry} for {where}",
                     highlight=False)


@app.command()
def remove(org: str = _ORG, user: Optional[str] = _USER, whitelist: Optional[str] = _WHITE,
           blacklist: Optional[str] = _BLACK, data_dir: Optional[Path] = _DATA_DIR,
           config_path: Optional[Path] = _CONFIG) -> None:
    """Remove an entry added with `lists add` (config entries are edited in the config)."""
    org_config, kind, address, entry, removed = _change(remove_entry, org, user, whitelist,
                                                        blacklist, data_dir, config_path)
    if not removed:
        in_config = entry in [e.entry for e in list_entries(None, org_config, address or None)
                              if e.kind == kind]
        fail(f"{kind} {entry} is not in the database for {org}{' user ' + address if address else ''}"
             + ("; it comes from the config file: edit it there" if in_config else ""))
    ENV.stdout.print(f"removed: {kind} {entry}", highlight=False)


@app.command()
def show(org: str = _ORG, user: Optional[str] = _USER,
         fmt: str = typer.Option("table", "--format", help="table or json."),
         data_dir: Optional[Path] = _DATA_DIR, config_path: Optional[Path] = _CONFIG) -> None:
    """Show the lists of an organisation (config and database), or of one user."""
    if fmt not in ("table", "json"):
        fail(f"--format {fmt!r}: use table or json")
    _, org_config = _org(config_path, org)
    address = _user(org_config, user) or None
    directory = ENV.data_dir(data_dir)
    store = Store(directory) if (directory / "mailsphere.db").is_file() else None
    try:
        entries = list_entries(store, org_config, address)
    finally:
        if store:
            store.close()
    records = []
    for e in entries:
        try:
            validate_entry(e.entry, e.kind)
            problem = ""
        except EntryError as exc:
            problem = f"ignored: {exc}"
        records.append({"level": "user" if e.user else "org", "user": e.user, "kind": e.kind,
                        "entry": e.entry, "source": e.source, "added": e.added, "who": e.who,
                        "problem": problem})
    if fmt == "json":
        sys.stdout.write(json.dumps(records, indent=1) + "\n")
        return
    table = Table(title=f"Lists of {org}" + (f", user {address}" if address else ""))
    for column in ("level", "user", "kind", "entry", "source", "added", "who"):
        table.add_column(column, overflow="fold")
    for r in records:
        entry = escape(r["entry"]) + (f" [red]({escape(r['problem'])})[/]" if r["problem"] else "")
        table.add_row(r["level"], r["user"], r["kind"], entry, r["source"], r["added"], r["who"])
    ENV.stdout.print(table)
    if not records:
        ENV.stdout.print("no entries")
