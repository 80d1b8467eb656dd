"""`python -m tastemaker` runs the command line."""

from tastemaker.cli.app import main

main()
