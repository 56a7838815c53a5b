from mailsphere_cli.cli import main

main()
