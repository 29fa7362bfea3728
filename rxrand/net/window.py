"""How many items to request, from what the kernel holds: sans I/O.

Rule 1: nothing here reads a socket. The writer measures (unsent bytes in the
kernel, the largest encoded item seen, items asked for and not yet received)
and asks :class:`KernelWindow` what to do; the numbers are the whole story,
so the policy is tested with numbers.

The bound it keeps, per connection: user space holds at most
``window_bytes`` (+ one item) of encoded bytes, and a request never brings
the kernel's unsent bytes above ``kernel_budget``. With ``TCP_NOTSENT_LOWAT``
the socket reports writable below ``lowat`` unsent bytes; at or above it the
writer waits.

A reader that keeps up gets an open window: once the kernel has sent every
byte given to it (none unsent) at ``OPEN_AFTER`` requests in a row, a request
may fill the whole room, up to 1.5 windows (never above the kernel budget),
until the kernel holds bytes back again. Fewer, larger writes per stream
(each write wakes the reader and costs a loop turn); a slow reader never
earns it, so the memory it costs stays a window's.
"""

from __future__ import annotations

from typing import Final, final

__all__ = [
    "INITIAL_ITEM_SIZE",
    "KERNEL_BUDGET",
    "NOTSENT_LOWAT",
    "OPEN_AFTER",
    "WINDOW_BYTES",
    "KernelWindow",
]

WINDOW_BYTES: Final = 64 * 1024
"""Most encoded bytes held in user space per connection (one request's worth)."""
NOTSENT_LOWAT: Final = 32 * 1024
"""TCP_NOTSENT_LOWAT: the socket reports writable below this many unsent bytes."""
KERNEL_BUDGET: Final = NOTSENT_LOWAT + WINDOW_BYTES
"""A request never brings the kernel's unsent bytes above this."""

#: Assumed largest encoded item before any was seen (``b"10000\r\n"`` is 7).
INITIAL_ITEM_SIZE: Final = 8
#: Requests in a row that found nothing unsent before the window opens to 1.5 windows.
OPEN_AFTER: Final = 3


@final
class KernelWindow:
    """Unsent bytes and item size in, items to request out.

    Args:
        window_bytes: Most encoded bytes one request may bring into user space
            (1.5 times that, within ``kernel_budget``, while the window is open).
        kernel_budget: Most unsent bytes a request may leave in the kernel.
        lowat: The socket's ``TCP_NOTSENT_LOWAT``: at or above it, wait.
    """

    __slots__ = (
        "_drained_streak",
        "_open_bytes",
        "_seen",
        "item_size",
        "kernel_budget",
        "lowat",
        "window_bytes",
    )

    def __init__(
        self,
        window_bytes: int = WINDOW_BYTES,
        kernel_budget: int = KERNEL_BUDGET,
        lowat: int = NOTSENT_LOWAT,
    ) -> None:
        if window_bytes < 1:
            raise ValueError(f"window_bytes must be >= 1, got {window_bytes}")
        self.window_bytes = window_bytes
        self.kernel_budget = kernel_budget
        self.lowat = lowat
        #: The largest encoded item seen (or announced): requests are sized by it.
        self.item_size = INITIAL_ITEM_SIZE
        self._seen = False
        self._open_bytes = min(kernel_budget, window_bytes + window_bytes // 2)
        # Requests in a row that found the kernel had sent everything.
        self._drained_streak = 0

    def saw_item_size(self, size: int) -> None:
        """An item (or a batch whose largest item) took ``size`` bytes encoded.

        The first size seen replaces the initial guess; after that it only grows.
        """
        if size > self.item_size or not self._seen:
            self.item_size = size
            self._seen = True

    def kernel_full(self, unsent: int | None) -> bool:
        """Whether to wait for the socket to be writable before asking for more.

        ``unsent`` is the kernel's unsent bytes, ``None`` where it cannot be
        read: then the writer's own partial writes are the only signal.
        """
        return unsent is not None and unsent >= self.lowat

    def items_to_request(self, unsent: int | None, outstanding: int) -> int:
        """Items to request now (0: the ``outstanding`` ones already fill the room).

        Sized by the largest item seen, so that what comes never holds more
        than the room in bytes (given items no larger than before).
        """
        room = self.window_bytes
        if unsent is not None:
            room = min(room, self.kernel_budget - unsent)
            if unsent:
                self._drained_streak = 0
            else:
                # The reader keeps up: after OPEN_AFTER such requests in a row, open
                # the window (nothing is unsent, so the kernel budget is all room).
                self._drained_streak += 1
                if self._drained_streak >= OPEN_AFTER:
                    room = max(room, self._open_bytes)
        return max(0, max(1, room // self.item_size) - outstanding)
