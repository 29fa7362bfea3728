"""The kernel window, sans I/O: numbers in, items to request out."""

from __future__ import annotations

import pytest

from rxrand.net import KERNEL_BUDGET, NOTSENT_LOWAT, WINDOW_BYTES, KernelWindow
from rxrand.net.window import OPEN_AFTER, OPEN_BUDGET, WIDEN_AFTER


def test_window_asks_for_a_window_of_items_by_the_largest_size_seen() -> None:
    window = KernelWindow()
    assert window.items_to_request(None, 0) == WINDOW_BYTES // 8  # the initial guess
    window.saw_item_size(7)  # the first size seen replaces the guess
    window.saw_item_size(3)  # smaller items do not shrink the size
    assert window.item_size == 7
    assert window.items_to_request(None, 0) == WINDOW_BYTES // 7
    window.saw_item_size(22)
    assert window.items_to_request(None, 0) == WINDOW_BYTES // 22


def test_window_opens_to_one_and_a_half_windows_once_the_reader_keeps_up() -> None:
    window = KernelWindow()
    window.saw_item_size(8)
    asked = [window.items_to_request(0, 0) for _ in range(OPEN_AFTER + 1)]
    normal = WINDOW_BYTES // 8
    opened = min(KERNEL_BUDGET, WINDOW_BYTES * 3 // 2) // 8
    assert asked == [normal] * (OPEN_AFTER - 1) + [opened, opened]
    assert opened > normal


def test_window_closes_as_soon_as_the_kernel_holds_bytes_back() -> None:
    window = KernelWindow()
    for _ in range(OPEN_AFTER):
        window.items_to_request(0, 0)
    assert window.items_to_request(1, 0) == WINDOW_BYTES // 8
    # ...and earns the open window again only by OPEN_AFTER drained requests in a row.
    assert window.items_to_request(0, 0) == WINDOW_BYTES // 8


def test_window_never_opens_without_a_view_of_the_kernel() -> None:
    window = KernelWindow()
    assert {window.items_to_request(None, 0) for _ in range(10)} == {WINDOW_BYTES // 8}


def test_window_opened_stays_within_the_kernel_budget() -> None:
    window = KernelWindow(window_bytes=1000, kernel_budget=1200)
    window.saw_item_size(10)
    asked = [window.items_to_request(0, 0) for _ in range(OPEN_AFTER)]
    assert asked == [100] * (OPEN_AFTER - 1) + [120]


def test_window_never_requests_beyond_the_kernel_budget() -> None:
    window = KernelWindow()
    unsent = KERNEL_BUDGET - 800
    assert window.items_to_request(unsent, 0) == 800 // 8


def test_window_counts_what_is_already_outstanding() -> None:
    window = KernelWindow()
    assert window.items_to_request(None, WINDOW_BYTES // 8) == 0
    assert window.items_to_request(None, WINDOW_BYTES // 8 - 5) == 5


def test_window_waits_at_the_low_water_mark() -> None:
    window = KernelWindow()
    assert not window.kernel_full(None)
    assert not window.kernel_full(NOTSENT_LOWAT - 1)
    assert window.kernel_full(NOTSENT_LOWAT)


def test_window_always_asks_for_at_least_one_item() -> None:
    window = KernelWindow(window_bytes=4)
    assert window.items_to_request(None, 0) == 1


def test_window_rejects_an_empty_window() -> None:
    with pytest.raises(ValueError, match=r"^window_bytes must be >= 1, got 0$"):
        KernelWindow(window_bytes=0)


def test_window_drained_or_open_never_asks_beyond_a_budget_smaller_than_the_window() -> None:
    window = KernelWindow(window_bytes=1000, kernel_budget=500)
    window.saw_item_size(10)
    assert {window.items_to_request(0, 0) for _ in range(2 * OPEN_AFTER)} == {50}


def test_window_widens_by_doubling_after_each_few_budgets_then_stays_at_the_open_budget() -> None:
    window = KernelWindow()
    window.saw_item_size(8)
    budgets = [window.items_to_request(0, 0) * 8 for _ in range(OPEN_AFTER + 3 * WIDEN_AFTER + 4)]
    first = WINDOW_BYTES * 3 // 2
    assert budgets[: OPEN_AFTER - 1] == [WINDOW_BYTES] * (OPEN_AFTER - 1)
    # Each level is held for WIDEN_AFTER drained requests, then doubles.
    levels = budgets[OPEN_AFTER - 1 :]
    assert levels[:WIDEN_AFTER] == [first] * WIDEN_AFTER
    assert levels[WIDEN_AFTER : 2 * WIDEN_AFTER] == [2 * first] * WIDEN_AFTER
    assert set(levels[2 * WIDEN_AFTER :]) == {OPEN_BUDGET}
    # The kernel takes a whole request in one send: the mark is the budget less a window.
    assert window.lowat == OPEN_BUDGET - WINDOW_BYTES


def test_window_wide_then_held_back_closes_and_waits_for_the_closed_mark() -> None:
    window = KernelWindow()
    for _ in range(OPEN_AFTER + 2 * WIDEN_AFTER):
        window.items_to_request(0, 0)
    assert window.lowat > NOTSENT_LOWAT
    unsent = KERNEL_BUDGET + 1000  # a wide window's bytes, not yet taken
    assert window.items_to_request(unsent, 0) == 0
    assert window.lowat == NOTSENT_LOWAT
    assert window.kernel_full(unsent)  # so the writer waits for the closed mark
    assert window.items_to_request(0, 0) == WINDOW_BYTES // 8  # and earns it again


def test_window_slow_start_a_receive_buffer_filling_up_does_not_widen_it() -> None:
    # A new connection's receive buffer takes ~2 windows before a slow reader pushes back:
    # the drained requests meanwhile open the window, but do not widen it.
    window = KernelWindow()
    for _ in range(OPEN_AFTER + 1):
        window.items_to_request(0, 0)
    assert window.lowat == NOTSENT_LOWAT  # open at 1.5 windows: the closed mark still
    assert window.items_to_request(NOTSENT_LOWAT - 1, 0) * 8 <= KERNEL_BUDGET


def test_window_custom_budget_is_never_exceeded_while_open() -> None:
    window = KernelWindow(window_bytes=1000, kernel_budget=1200)
    window.saw_item_size(10)
    assert {window.items_to_request(0, 0) for _ in range(50)} <= {100, 120}
