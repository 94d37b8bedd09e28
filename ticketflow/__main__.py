"""`python -m ticketflow ...`: the same command line as `ticketflow ...`."""
import sys

from ticketflow.cli import main

sys.exit(main())
