"""rxrand.core.producer: the base every producer keeps its credit, link and end with."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxrand.core import UNBOUNDED, DemandChannel, LockedProducer, Outlet, Producer
from rxrand.core.producer import Signals

from .test_channel import Owner


def _ignore(*_: object) -> None:
    return None


class Recorder:
    """The three signals, recorded in order with the channel owner's events."""

    def __init__(self, events: list[tuple[Any, ...]]) -> None:
        self.events = events

    def on_next(self, value: int) -> None:
        self.events.append(("next", value))

    def on_error(self, error: Exception) -> None:
        self.events.append(("error", error))

    def on_completed(self) -> None:
        self.events.append(("completed",))


class Counter(Producer[int]):
    """Emits its credit as consecutive integers, a burst of at most ``burst`` at a time."""

    def __init__(self, recorder: Recorder, burst: int = 4, on_next: Any = None) -> None:
        super().__init__(
            Signals(on_next or recorder.on_next, recorder.on_error, recorder.on_completed)
        )
        self.next = 0
        self.burst = burst
        self.depth = 0
        self.deepest = 0
        self.released = 0

    def _on_credit(self) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        try:
            while self.credit > 0 and not self.stopped:
                n = min(self.credit, self.burst)
                sent = self.emit(list(range(self.next, self.next + n)))
                self.next += sent
                self.spend(sent)
        finally:
            self.depth -= 1

    def _release(self) -> None:
        self.released += 1


def pulled(producer_of: Any) -> tuple[Any, Owner, list[tuple[Any, ...]]]:
    """A producer attached to a channel whose owner records into the same list."""
    owner = Owner()
    producer = producer_of(Recorder(owner.events))
    channel = DemandChannel(None, owner)
    assert producer.attach(channel)
    producer.open()
    return producer, owner, owner.events


def names(events: list[tuple[Any, ...]]) -> list[Any]:
    return [event[0] if event[0] != "next" else event[1] for event in events]


def test_producer_brackets_each_burst_and_reports_its_count() -> None:
    producer, _, events = pulled(lambda recorder: Counter(recorder, burst=4))
    producer.request(6)
    assert names(events) == ["attached", "begin", 0, 1, 2, 3, "end", "begin", 4, 5, "end"]
    assert [event[2] for event in events if event[0] == "end"] == [4, 2]
    assert producer.credit == 0


def test_producer_emit_stops_at_the_next_item_once_stopped_from_inside_on_next() -> None:
    """Rules 1.8, 3.12: a cancel inside on_next ends the burst after that item (it counts)."""
    events: list[tuple[Any, ...]] = []
    producer: list[Producer[int]] = []

    def on_next(value: int) -> None:
        events.append(("next", value))
        if value == 2:
            producer[0].stop()

    producer.append(
        Producer(Signals(on_next, Recorder(events).on_error, Recorder(events).on_completed))
    )
    assert producer[0].emit([0, 1, 2, 3, 4]) == 3
    assert events == [("next", 0), ("next", 1), ("next", 2)]


def test_producer_emit_does_not_count_an_item_whose_on_next_raised() -> None:
    owner = Owner()

    def on_next(value: int) -> None:
        if value == 2:
            raise RuntimeError("subscriber broke rule 2.13")

    producer: Producer[int] = Producer(Signals(on_next, _ignore, _ignore))
    producer.attach(DemandChannel(None, owner))
    with pytest.raises(RuntimeError):
        producer.emit([0, 1, 2, 3])
    end = owner.events[-1]
    assert (end[0], end[2]) == ("end", 2)


@given(
    size=st.integers(0, 40),
    stop_at=st.none() | st.integers(0, 40),
    raise_at=st.none() | st.integers(0, 40),
)
def test_producer_emit_reports_exactly_the_items_whose_on_next_returned(
    size: int, stop_at: int | None, raise_at: int | None
) -> None:
    owner = Owner()
    returned: list[int] = []
    producer: list[Producer[int]] = []

    def on_next(value: int) -> None:
        if value == raise_at:
            raise RuntimeError("broke")
        returned.append(value)
        if value == stop_at:
            producer[0].stop()

    producer.append(Producer(Signals(on_next, _ignore, _ignore)))
    producer[0].attach(DemandChannel(None, owner))
    try:
        producer[0].emit(list(range(size)))
    except RuntimeError:
        pass
    [end] = [event for event in owner.events if event[0] == "end"]
    assert end[2] == len(returned)


def test_producer_terminates_once_then_detaches() -> None:
    """Rules 1.6, 1.7: the terminal signal, then the link lets go; nothing after it."""
    producer, _, events = pulled(lambda recorder: Counter(recorder))
    assert producer.terminate(None)
    assert not producer.terminate(ValueError("late"))
    producer.stop()
    producer.request(3)
    assert names(events) == ["attached", "completed", "detached"]
    assert producer.released == 1


def test_producer_end_signalled_inside_a_burst_detaches_after_the_burst_count() -> None:
    """What a completion sets off belongs to its burst; the owner gets the count, then the
    detach."""

    producer, _, events = pulled(lambda recorder: Counter(recorder))
    producer.emit([0, 1], None)
    assert names(events) == ["attached", "begin", 0, 1, "completed", "end", "detached"]


def test_producer_stop_is_idempotent_and_releases_once() -> None:
    """Rules 3.5, 3.7, 3.13."""
    producer, _, events = pulled(lambda recorder: Counter(recorder))
    producer.stop()
    producer.stop()
    assert not producer.terminate(None)  # rule 1.8: no terminal signal after a cancel
    assert names(events) == ["attached", "detached"]
    assert producer.released == 1
    assert producer.stopped


def test_producer_request_from_inside_on_next_does_not_recurse() -> None:
    """Rule 3.3: each item asks for one more; the running turn picks the credit up."""
    count = 10 * sys.getrecursionlimit()
    producer: list[Counter] = []
    seen: list[int] = []

    def on_next(value: int) -> None:
        seen.append(value)
        if len(seen) < count:
            producer[0].request(1)

    producer.append(Counter(Recorder([]), burst=1, on_next=on_next))
    producer[0].request(1)
    assert len(seen) == count
    assert producer[0].deepest == 1


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 2**62)), max_size=30))
def test_producer_credit_is_additive_saturates_and_stays_unbounded(
    steps: list[tuple[bool, int]],
) -> None:
    """Rules 3.8 and 3.17."""
    producer: Producer[int] = Producer(Signals(_ignore, _ignore, _ignore))
    expected = 0
    for grant, n in steps:
        if grant:
            producer._grant(n)
            expected = min(expected + n, UNBOUNDED)
        else:
            producer.spend(n)
            expected = expected if expected >= UNBOUNDED else expected - n
        assert producer.credit == expected


def test_producer_open_without_a_channel_takes_unbounded_credit() -> None:
    seen: list[int] = []

    def on_next(value: int) -> None:
        seen.append(value)
        if value == 4:
            producer.stop()

    producer = Counter(Recorder([]), burst=3, on_next=on_next)
    assert not producer.attach(None)
    producer.open()
    assert seen == [0, 1, 2, 3, 4]
    assert producer.credit == UNBOUNDED  # never spent


def test_locked_producer_credit_from_many_threads_adds_up() -> None:
    producer: LockedProducer[int] = LockedProducer(Signals(_ignore, _ignore, _ignore))

    def grant_and_spend() -> None:
        for _ in range(2000):
            producer._grant(3)
            producer.spend(2)

    threads = [threading.Thread(target=grant_and_spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert producer.credit == 4 * 2000


def test_outlet_tells_its_feeder_of_credit_and_of_the_stop_once() -> None:
    requested: list[int] = []
    stops: list[str] = []
    events: list[tuple[Any, ...]] = []
    recorder = Recorder(events)
    outlet: Outlet[int] = Outlet(
        Signals(recorder.on_next, recorder.on_error, recorder.on_completed),
        on_request=requested.append,
        on_stop=lambda: stops.append("stop"),
    )
    outlet.request(5)
    outlet.request(UNBOUNDED)
    assert requested == [5, UNBOUNDED]
    assert outlet.credit == UNBOUNDED
    error = ValueError("upstream failed")
    assert outlet.terminate(error)
    outlet.stop()
    assert events == [("error", error)]
    assert stops == ["stop"]


def test_producer_stop_inside_a_nested_burst_cuts_the_outer_burst_too() -> None:
    """A burst started from inside on_next (a share member asking for more, delivered at
    once): a stop there ends both, each counting what it sent."""
    owner = Owner()
    seen: list[int] = []
    producer: list[Producer[int]] = []

    def on_next(value: int) -> None:
        seen.append(value)
        if value == 1:
            producer[0].emit([100, 101, 102])
        elif value == 101:
            producer[0].stop()

    producer.append(Producer(Signals(on_next, _ignore, _ignore)))
    producer[0].attach(DemandChannel(None, owner))
    assert producer[0].emit([0, 1, 2, 3]) == 2
    assert seen == [0, 1, 100, 101]
    assert [event[2] for event in owner.events if event[0] == "end"] == [2, 2]


def test_producer_stop_from_another_thread_ends_the_burst_after_the_current_item() -> None:
    """Rules 1.8, 3.5: a cancel from another thread; the burst ends after the item whose
    on_next is running, and counts it."""
    reached, stopped = threading.Event(), threading.Event()
    seen: list[int] = []

    def on_next(value: int) -> None:
        seen.append(value)
        if value == 3:
            reached.set()
            assert stopped.wait(10)

    producer: Producer[int] = Producer(Signals(on_next, _ignore, _ignore))

    def stop_when_reached() -> None:
        assert reached.wait(10)
        producer.stop()
        stopped.set()

    other = threading.Thread(target=stop_when_reached)
    other.start()
    assert producer.emit(list(range(10))) == 4
    other.join()
    assert seen == [0, 1, 2, 3]
