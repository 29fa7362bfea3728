"""Kernel queries on a TCP socket: how much is unsent, how much the peer acknowledged.

POSIX, and Linux for the precise parts. Importing this module never fails where ``fcntl``
is missing: the queries then answer ``None`` and the callers use their portable fallbacks
(the writer's own partial writes; bytes written rather than acknowledged).

* ``TCP_NOTSENT_LOWAT`` makes "writable" mean "fewer than ``NOTSENT_LOWAT`` unsent bytes
  queued", instead of "the 4 MB send buffer has room";
* ``SIOCOUTQNSD`` reads the unsent bytes (what :class:`~rxrand.net.window.KernelWindow`
  sizes each request from);
* ``TCP_INFO``'s ``tcpi_bytes_acked`` tells what the client has taken, for the idle clock.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from types import ModuleType
from typing import Final, final

from .window import NOTSENT_LOWAT

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not POSIX: no kernel queries, the portable fallbacks apply
    fcntl = None

__all__ = [
    "SIOCOUTQ",
    "SIOCOUTQNSD",
    "KernelGauge",
    "acked_bytes",
    "configure_stream_socket",
    "lift_notsent_lowat",
    "make_kernel_aware",
    "set_notsent_lowat",
    "unsent_bytes",
]

#: Linux ioctl: bytes in the send queue not yet sent (linux/sockios.h).
SIOCOUTQNSD: Final = 0x894B
#: Linux ioctl (TIOCOUTQ): bytes in the send queue not yet acknowledged.
SIOCOUTQ: Final = 0x5411
_TCP_NOTSENT_LOWAT: Final[int | None] = getattr(socket, "TCP_NOTSENT_LOWAT", None)
_TCP_INFO: Final[int | None] = getattr(socket, "TCP_INFO", None)
#: struct tcp_info (linux/tcp.h): tcpi_bytes_acked is the u64 at offset 120 (Linux 4.1+).
_BYTES_ACKED_OFFSET: Final = 120
_TCP_INFO_SIZE: Final = 256
_U64: Final = struct.Struct("=Q")
_INT: Final = struct.Struct("i")
#: TCP_NOTSENT_LOWAT as high as it goes: the kernel's own default (no mark).
_NO_LOWAT: Final = 2**31 - 1


def configure_stream_socket(sock: socket.socket, lowat: int = NOTSENT_LOWAT) -> bool:
    """Make ``sock`` non-blocking, ``TCP_NODELAY``, and kernel-aware where possible.

    Returns:
        Whether ``TCP_NOTSENT_LOWAT`` could be set.
    """
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _TCP_NOTSENT_LOWAT is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, lowat)
    except OSError:
        return False
    return True


def make_kernel_aware(sock: socket.socket) -> bool:
    """Configure ``sock`` (:func:`configure_stream_socket`); whether its kernel queue can be
    read too (``SIOCOUTQNSD``): the ``kernel_aware`` that :class:`SocketObserver` takes."""
    return configure_stream_socket(sock) and unsent_bytes(sock) is not None


def set_notsent_lowat(sock: socket.socket, lowat: int) -> None:
    """Move ``sock``'s ``TCP_NOTSENT_LOWAT`` (the window opens, widens or closes)."""
    if _TCP_NOTSENT_LOWAT is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, lowat)


def lift_notsent_lowat(sock: socket.socket) -> None:
    """Let the kernel take bytes whatever it holds unsent: for the last bytes of a stream.

    With ``TCP_NOTSENT_LOWAT`` set, ``send`` takes nothing more once the
    unsent bytes reach the mark, even with the send buffer nearly empty. A
    stream cut short (shutdown, idle timeout) owes the rest of the line the
    kernel has begun, then an error line: a few bytes, bounded, that must
    not wait for a reader who may never read again (the truncation rule
    would then end in a reset). Linux wakes the writer as the mark changes.
    """
    if _TCP_NOTSENT_LOWAT is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, _NO_LOWAT)


def _ioctl_int(sock: socket.socket, request: int) -> int | None:
    if fcntl is None:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    except (OSError, ValueError):
        return None
    value: int = _INT.unpack(raw)[0]
    return value


def unsent_bytes(sock: socket.socket) -> int | None:
    """Bytes queued in the kernel and not yet sent (``SIOCOUTQNSD``); ``None`` if unknown."""
    return _ioctl_int(sock, SIOCOUTQNSD)


def acked_bytes(sock: socket.socket, written: int) -> int:
    """How many bytes the client's TCP has acknowledged: the progress of a stream.

    ``TCP_INFO``'s ``tcpi_bytes_acked`` where Linux has it; else ``written``
    (what the kernel accepted) minus ``SIOCOUTQ`` (what it still holds,
    unacknowledged); else ``written`` itself, the portable approximation.
    """
    if _TCP_INFO is not None:
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
        except (OSError, ValueError):
            info = b""
        if len(info) >= _BYTES_ACKED_OFFSET + 8:
            acked: int = _U64.unpack_from(info, _BYTES_ACKED_OFFSET)[0]
            return acked
    queued = _ioctl_int(sock, SIOCOUTQ)
    if queued is not None:
        return written - queued
    return written


@final
class KernelGauge:
    """One socket's send queue as its writer sees it: the unsent bytes, and the low-water mark.

    Args:
        sock: The socket.
        aware: Whether :func:`unsent_bytes` can be read on it (:func:`make_kernel_aware`);
            if not, :meth:`unsent` answers ``None``.
        lowat: The ``TCP_NOTSENT_LOWAT`` the socket was configured with.
    """

    __slots__ = ("_lowat", "_sock", "aware")

    def __init__(self, sock: socket.socket, aware: bool, lowat: int = NOTSENT_LOWAT) -> None:
        self._sock = sock
        self.aware = aware
        self._lowat = lowat

    def unsent(self) -> int | None:
        """The kernel's unsent bytes; ``None`` where they cannot be read."""
        return unsent_bytes(self._sock) if self.aware else None

    def follow(self, lowat: int) -> None:
        """Move the socket's ``TCP_NOTSENT_LOWAT`` to ``lowat`` (nothing if it is there)."""
        if lowat != self._lowat:
            self._lowat = lowat
            set_notsent_lowat(self._sock, lowat)
