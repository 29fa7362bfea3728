"""UpstreamInlet and GrantWindow: upstream news recorded for the drain, never signalled by them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rxrand.core.buffer import BoundedBuffer, BufferOverflowError, Overflow
from rxrand.core.demand import COMPLETE, DrainInbox
from rxrand.ops.inlet import COUNTDOWN, GrantWindow, UpstreamIgnoredCancelError, UpstreamInlet
from rxrand.ops.upstream import UpstreamLink


class _Drain:
    """Stands in for the subscription's drain: counts its runs, releases at once."""

    def __init__(self, inbox: DrainInbox, demand: int = 0) -> None:
        self.inbox = inbox
        self.demand = demand
        self.runs = 0

    def run(self) -> None:
        self.runs += 1
        self.inbox.release()

    def room(self) -> int:
        return self.demand


def _inlet(
    capacity: int = 4, demand: int = 0
) -> tuple[UpstreamInlet[Any], DrainInbox, _Drain, BoundedBuffer[Any]]:
    inbox = DrainInbox()
    drain = _Drain(inbox, demand)
    buffer: BoundedBuffer[Any] = BoundedBuffer(capacity, Overflow.ERROR)
    inlet = UpstreamInlet(inbox, buffer, UpstreamLink(), None, drain.run, drain.room)
    return inlet, inbox, drain, buffer


def test_inlet_records_completion_in_the_inbox_and_wakes_the_drain() -> None:
    inlet, inbox, drain, _ = _inlet()
    inlet.on_completed()
    assert inbox.terminal is COMPLETE
    assert drain.runs == 1


def test_inlet_keeps_the_first_end_it_is_told() -> None:
    inlet, inbox, _, _ = _inlet()
    error = RuntimeError("first")
    inlet.on_error(error)
    inlet.on_completed()
    inlet.on_error(RuntimeError("second"))
    assert inbox.terminal is error


def test_inlet_refuses_on_error_none_and_records_nothing() -> None:
    inlet, inbox, _, _ = _inlet()
    with pytest.raises(
        TypeError, match=r"^on_error\(None\): an exception is required \(rule 2\.13\)$"
    ):
        inlet.on_error(None)  # type: ignore[arg-type]
    assert inbox.terminal is None


def test_inlet_pushed_items_beyond_room_and_capacity_record_an_overflow() -> None:
    inlet, inbox, _, _ = _inlet(capacity=4, demand=2)
    for value in range(6):
        inlet.on_next(value)
    assert inbox.terminal is None
    inlet.on_next(6)
    assert isinstance(inbox.terminal, BufferOverflowError)


def test_inlet_item_after_an_overflow_stops_the_source_at_once() -> None:
    inlet, _, _, _ = _inlet(capacity=1)
    inlet.on_next(1)
    inlet.on_next(2)  # overflows: recorded, the upstream disposed
    with pytest.raises(UpstreamIgnoredCancelError):
        inlet.on_next(3)  # the source ignored the dispose


def test_inlet_items_after_a_cancel_are_let_through_up_to_a_limit() -> None:
    inlet, inbox, _, _ = _inlet()
    inbox.cancel()
    for value in range(1024):
        inlet.on_next(value)
    with pytest.raises(UpstreamIgnoredCancelError):
        inlet.on_next(1024)


def test_grant_window_sends_within_budget_and_collects_the_rest() -> None:
    window: GrantWindow[int] = GrantWindow()
    sent: list[int] = []
    window.open(sent.append, 5)
    assert window.thread != 0
    assert window.direct == sent.append
    window.record(3, [10, 11])
    window.record(1, [12])
    assert window.budget == 1
    assert window.close() == 4
    assert window.thread == 0
    assert window.take_collected() == [10, 11, 12]
    assert window.take_collected() == []


def test_grant_window_clear_drops_what_was_collected() -> None:
    window: GrantWindow[int] = GrantWindow()
    window.open(lambda _: None, 0)
    window.record(0, [1, 2])
    window.clear()
    assert window.take_collected() == []


class _Link:
    """What the ledger reads of a CreditLink in a burst."""

    credit = 0
    swallowed = 0
    parent = None


def test_inlet_items_of_a_burst_that_completes_inside_it_still_reach_the_buffer() -> None:
    # A producer on another thread (a loop, a hop) completes inside its last burst: the
    # items before the completion must not be dropped with it.
    inlet, inbox, _, buffer = _inlet(capacity=8, demand=8)
    link: Any = _Link()
    assert inlet.burst_begin(link)
    inlet.on_next(1)
    inlet.on_next(2)
    inlet.on_completed()
    inlet.burst_end(link, 2, True)
    assert inbox.terminal is not None
    assert buffer.take(100) == [1, 2]


def test_inlet_items_of_a_burst_after_an_error_are_dropped() -> None:
    inlet, _, _, buffer = _inlet(capacity=8, demand=8)
    link: Any = _Link()
    assert inlet.burst_begin(link)
    inlet.on_next(1)
    inlet.on_error(RuntimeError("boom"))
    inlet.burst_end(link, 1, True)
    assert buffer.take(100) == []


def test_rlock_is_owned_answers_for_the_holding_thread_only() -> None:
    # What UpstreamInlet.on_next relies on: the standard library RLock's _is_owned (the
    # method threading.Condition uses) is True on the holding thread only.
    lock = threading.RLock()
    assert not lock._is_owned()
    with lock:
        assert lock._is_owned()
        seen: list[bool] = []
        other = threading.Thread(target=lambda: seen.append(lock._is_owned()))
        other.start()
        other.join()
        assert seen == [False]
    assert not lock._is_owned()


def test_inlet_item_from_another_thread_during_a_burst_takes_the_locked_path() -> None:
    inlet, _, _, buffer = _inlet(capacity=8, demand=8)
    link: Any = _Link()
    sent: list[int] = []
    inlet.grants.open(sent.append, 8)
    assert inlet.burst_begin(link)
    inlet.on_next(1)  # on the bursting thread, within the window: on the spot
    other = threading.Thread(target=inlet.on_next, args=(2,))
    other.start()
    other.join()
    inlet.burst_end(link, 1, True)
    assert inlet.grants.close() == 1
    assert sent == [1]
    assert buffer.take(100) == [2]


def test_inlet_burst_delivers_on_the_spot_past_one_countdown_up_to_the_window() -> None:
    # A burst longer than COUNTDOWN goes on counting down from what the window has left;
    # past the window, the items are collected for the drain, in order.
    inlet, _, _, _ = _inlet(capacity=512, demand=8)
    link: Any = _Link()
    link.credit = 700
    sent: list[int] = []
    window = COUNTDOWN * 2 + 88
    inlet.grants.open(sent.append, window)
    assert inlet.burst_begin(link)
    for value in range(700):
        inlet.on_next(value)
    inlet.burst_end(link, 700, True)
    assert inlet.grants.close() == window
    assert sent == list(range(window))
    assert inlet.grants.take_collected() == list(range(window, 700))
