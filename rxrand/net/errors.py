"""The one place where ``OSError`` from a socket is translated.

Every socket call in rxrand that can fail hands its ``OSError`` to
:func:`translate_os_error` (or, for a call that cannot block, to
:func:`connection_lost`): either the call must be retried when the loop says
so (``None``), or the connection is gone (:class:`ConnectionLost`, with a
reason such as ``ECONNRESET: Connection reset by peer``). Nothing else leaks out.
"""

from __future__ import annotations

import errno
from typing import Final

__all__ = ["ConnectionLost", "connection_lost", "out_of_resources", "translate_os_error"]

_RETRY: Final = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})
_EXHAUSTED: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class ConnectionLost(ConnectionError):
    """The peer is gone (reset, broken pipe, closed) or the socket failed."""

    def __init__(self, reason: str, errno_: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = errno_


def translate_os_error(error: OSError) -> ConnectionLost | None:
    """``None`` if the call would block (retry later), else the :class:`ConnectionLost` to raise."""
    if isinstance(error, BlockingIOError | InterruptedError) or error.errno in _RETRY:
        return None
    return connection_lost(error)


def connection_lost(error: OSError, doing: str = "") -> ConnectionLost:
    """The :class:`ConnectionLost` for a failed call that is not retried.

    Args:
        error: what the call raised.
        doing: what failed, put before the reason (``"shutdown: ENOTCONN: ..."``).
    """
    name = errno.errorcode.get(error.errno or 0, "error") if error.errno else type(error).__name__
    reason = f"{name}: {error.strerror or error}"
    return ConnectionLost(f"{doing}: {reason}" if doing else reason, error.errno)


def out_of_resources(error: OSError) -> bool:
    """Whether ``accept`` failed for want of descriptors or memory (wait, don't spin)."""
    return error.errno in _EXHAUSTED
