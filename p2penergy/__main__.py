"""`python -m p2penergy` runs the command line (same as the `p2penergy` script)."""

from p2penergy.cli.main import main

main()
