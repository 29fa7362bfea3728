"""The random-integer client as a library: fetch a stream under demand, and check it.

``python examples/tcp_client.py``, ``rxrand-client`` call :func:`main`. The implementation
lives in :mod:`rxrand.cli.client`.
"""

from .cli.client import ClientError, IntegerStreamChecker, OutputClosed, fetch, main

__all__ = ["ClientError", "IntegerStreamChecker", "OutputClosed", "fetch", "main"]
