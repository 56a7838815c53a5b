"""`python -m mailsphere_cli` and the `mailsphere` command."""


def main() -> None:
    # The regular expressions and the dataclasses' generated methods compiled at the last
    # start are served ready-made from here on (regex_cache, code_cache), before the command
    # line's libraries (typer, click, rich) are imported: they and the modules they import
    # (textwrap, gettext, tokenize, platform, locale...) compile ~90 patterns at import.
    from mailsphere_cli import code_cache, regex_cache
    regex_cache.install()
    code_cache.install()
    from mailsphere_cli.cli import main as command
    command()


if __name__ == "__main__":
    main()
