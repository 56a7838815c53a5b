"""Mailsphere: a batch mail-protection analyser for mailboxes and spools."""

__version__ = "0.1.0"
