"""Ask the random-integer server for COUNT integers, with backpressure.

``python examples/tcp_client.py --help``; try it against ``python examples/tcp_server.py``
with ``python examples/tcp_client.py 1000000 --output ints.txt``.
"""

import sys

from rxrand.client import main

if __name__ == "__main__":
    sys.exit(main())
