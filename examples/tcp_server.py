"""The seed's random-integer server, the reactive way: ``python examples/tcp_server.py --help``.

Try it: ``nc 127.0.0.1 1234``, then type a count and Enter.
"""

import sys

from rxrand.server import main

if __name__ == "__main__":
    sys.exit(main())
