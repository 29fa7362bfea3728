"""The random-integer client as a library: fetch a stream under demand, and check it.

``python examples/tcp_client.py``, ``rxrand-client`` call :func:`main`. The implementation
lives in :mod:`rxrand.cli.client`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING as _TYPE_CHECKING

# The names load on first use (PEP 562's module __getattr__), as in rxrand/__init__.py:
# main() has a word to say to numpy before it is imported (see there).
if _TYPE_CHECKING:
    from .cli.client import ClientError, IntegerStreamChecker, OutputClosed, fetch

__all__ = ["ClientError", "IntegerStreamChecker", "OutputClosed", "fetch", "main"]

_EXPORTS = frozenset(("ClientError", "IntegerStreamChecker", "OutputClosed", "fetch"))


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point of ``examples/tcp_client.py`` and ``rxrand-client``; returns the exit status.

    The program does no linear algebra, so when numpy is not loaded yet, its BLAS is told
    to start no thread pool (``OPENBLAS_NUM_THREADS=1``, unless the environment says
    otherwise): the pool's threads cost about 0.05 to 0.1 s of CPU at numpy's import,
    a sixth of the whole client's for 30 M integers (measured).
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .cli.client import main as run

    return run(argv, prog=prog)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rxrand.client' has no attribute {name!r}")
    from .cli import client

    value = getattr(client, name)
    globals()[name] = value  # found once: later uses do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
