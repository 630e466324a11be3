"""`python -m incidentlab`: the same command line as the `incidentlab` script."""

from .cli import main

main()
