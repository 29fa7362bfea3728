"""``python -m rxrand``: start the random-integer server (the same as ``rxrand-server``)."""

import sys

from .cli.server import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m rxrand"))
