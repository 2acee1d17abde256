"""`python -m oasis` is the `oasis` command."""

from oasis.cli import main

main()
