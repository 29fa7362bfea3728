"""The random-integer TCP server as a library: configure it, serve it, or run its command line.

``python examples/tcp_server.py``, ``rxrand-server`` and ``python -m rxrand`` all call
:func:`main`. Embedded in a program of one's own::

    import asyncio
    from rxrand.server import ServerConfig, serve

    asyncio.run(serve(ServerConfig(port=0)))  # until SIGINT, SIGTERM or SIGHUP

The implementation lives in :mod:`rxrand.net.server` (the connection driver) and
:mod:`rxrand.cli.server` (arguments, signals, workers).
"""

from .cli.server import main, serve
from .net.server import RandomIntegerServer, ServerConfig

__all__ = ["RandomIntegerServer", "ServerConfig", "main", "serve"]
