"""`python -m server.cli` runs the `cradle` command line."""

from server.cli import main

main()
