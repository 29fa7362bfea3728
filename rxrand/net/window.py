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
may fill 1.5 windows (within the kernel budget), and each time the reader
has taken ``WIDEN_AFTER`` budgets' worth in drained requests, that doubles, up
to ``open_budget`` (``OPEN_BUDGET``, 384 KiB, by default), with the low-water
mark raised to match so that the kernel takes a whole request in one ``send``
(TCP's slow start, in short: the bytes a new connection's receive buffer
absorbs before a slow reader pushes back do not widen it). The first request that finds bytes still
unsent closes it again: the window, the budget and the mark return to their
closed values. Fewer, larger writes per stream (each write wakes the reader
and costs a loop turn and an ``epoll`` wait: a reader that keeps up is served
as a plain blocking loop would serve it); a slow reader never earns it, so the
memory it costs stays a window's.
"""

from __future__ import annotations

from typing import Final, final

__all__ = [
    "INITIAL_ITEM_SIZE",
    "KERNEL_BUDGET",
    "NOTSENT_LOWAT",
    "OPEN_AFTER",
    "OPEN_BUDGET",
    "WIDEN_AFTER",
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
#: Most unsent bytes a request may leave in the kernel while the window is open (the
#: reader keeps up); with the default budget only: a custom budget is never exceeded.
OPEN_BUDGET: Final = 384 * 1024
#: Budgets' worth of drained requests an open window takes before it doubles.
WIDEN_AFTER: Final = 16


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
        "_base_lowat",
        "_drained_bytes",
        "_drained_streak",
        "_first_open",
        "_level",
        "_open_budget",
        "_seen",
        "item_size",
        "kernel_budget",
        "window_bytes",
    )

    def __init__(
        self,
        window_bytes: int = WINDOW_BYTES,
        kernel_budget: int = KERNEL_BUDGET,
        lowat: int = NOTSENT_LOWAT,
        open_budget: int | None = None,
    ) -> None:
        if window_bytes < 1:
            raise ValueError(f"window_bytes must be >= 1, got {window_bytes}")
        self.window_bytes = window_bytes
        self.kernel_budget = kernel_budget
        self._base_lowat = lowat
        #: The largest encoded item seen (or announced): requests are sized by it.
        self.item_size = INITIAL_ITEM_SIZE
        self._seen = False
        self._first_open = min(kernel_budget, window_bytes + window_bytes // 2)
        if open_budget is None:
            open_budget = OPEN_BUDGET if kernel_budget == KERNEL_BUDGET else kernel_budget
        self._open_budget = max(open_budget, self._first_open)
        # Requests in a row that found the kernel had sent everything.
        self._drained_streak = 0
        # 0: closed; k >= 1: open, the budget doubled k - 1 times.
        self._level = 0
        # Bytes granted in drained requests at this level (it widens past WIDEN_AFTER budgets).
        self._drained_bytes = 0

    @property
    def lowat(self) -> int:
        """The low-water mark for now: the socket's ``TCP_NOTSENT_LOWAT``, and when to wait.

        The closed window's mark; while open, high enough that the kernel takes a whole
        request in one ``send`` (its budget less a window).
        """
        if not self._level:
            return self._base_lowat
        return max(self._base_lowat, self._budget() - self.window_bytes)

    def _budget(self) -> int:
        """Most unsent bytes after a request while open (level >= 1); 0 when closed."""
        if not self._level:
            return 0
        return min(self._open_budget, self._first_open << (self._level - 1))

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
        than the room in bytes (given items no larger than before). May open,
        widen or close the window, and so change :attr:`lowat`.
        """
        room = self.window_bytes
        if unsent is not None:
            if unsent:
                # The kernel holds bytes back: the reader does not keep up (or not now).
                self._drained_streak = 0
                self._level = 0
                self._drained_bytes = 0
                room = min(room, self.kernel_budget - unsent)
                if room <= 0:
                    return 0  # a wide window is draining: wait for the closed mark
            else:
                # The reader keeps up: after OPEN_AFTER such requests in a row, open
                # the window (nothing is unsent: the budget is all room), and widen it
                # each time WIDEN_AFTER budgets went through, up to the open budget.
                self._drained_streak += 1
                if not self._level:
                    if self._drained_streak >= OPEN_AFTER:
                        self._level = 1
                elif (
                    self._drained_bytes >= WIDEN_AFTER * self._budget()
                    and self._budget() < self._open_budget
                ):
                    self._level += 1
                    self._drained_bytes = 0
                if self._level:
                    room = self._budget()
                    self._drained_bytes += room
                else:
                    room = min(room, self.kernel_budget)
        return max(0, max(1, room // self.item_size) - outstanding)
