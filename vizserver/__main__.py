"""``python -m vizserver`` runs the command line."""

from vizserver.cli.main import main

main()
