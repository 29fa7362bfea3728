"""The one place where ``OSError`` from a socket is translated.

Every socket call in rxrand goes through :func:`would_block` /
:class:`ConnectionLost`: either the call must be retried when the loop says
so, or the connection is gone. Nothing else leaks out.
"""

from __future__ import annotations

import errno
from typing import Final

__all__ = ["ConnectionLost", "out_of_resources", "translate_os_error"]

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
    name = errno.errorcode.get(error.errno or 0, "error") if error.errno else type(error).__name__
    return ConnectionLost(f"{name}: {error.strerror or error}", error.errno)


def out_of_resources(error: OSError) -> bool:
    """Whether ``accept`` failed for want of descriptors or memory (wait, don't spin)."""
    return error.errno in _EXHAUSTED
