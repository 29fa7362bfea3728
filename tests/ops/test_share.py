"""rxrand.share(): one upstream subscription, served at the slowest subscriber's pace."""

from __future__ import annotations

import time

import pytest

import rxrand
from rxrand import controlled, random_integers
from rxrand.testing import RecordingSubscriber

pytestmark = pytest.mark.timeout(60)


def test_share_serves_every_subscriber_at_the_slowest_pace() -> None:
    source = random_integers(seed=1)
    shared = source.pipe(rxrand.share())
    first, second = RecordingSubscriber[int](), RecordingSubscriber[int]()
    shared.pipe(controlled()).subscribe(first)
    shared.pipe(controlled()).subscribe(second)
    second.request(5)
    assert (len(first.values), len(second.values)) == (0, 0)  # the first asked for nothing
    first.request(3)
    assert (len(first.values), len(second.values)) == (3, 3)
    first.request(10)
    assert (len(first.values), len(second.values)) == (5, 5)
    assert first.values == second.values
    first.cancel()
    second.request(10)  # the slowest left: the other one goes on alone
    assert len(second.values) == 15
    second.cancel()
    generated = source.generated
    time.sleep(0.05)
    assert source.generated == generated
    assert source.streams == 1


def test_share_subscribes_once_and_cancels_with_the_last() -> None:
    source = random_integers(seed=1)
    shared = source.pipe(rxrand.share())
    first = shared.pipe(controlled()).subscribe(RecordingSubscriber[int](initial=2))
    second = shared.pipe(controlled()).subscribe(RecordingSubscriber[int](initial=2))
    assert source.streams == 1
    first.cancel()
    second.cancel()
    third = RecordingSubscriber[int](initial=1)
    shared.pipe(controlled()).subscribe(third)
    assert source.streams == 2  # a new connection, as share() makes after the last left
    assert len(third.values) == 1


def test_share_subscriber_without_controlled_after_it_is_told_to_add_one() -> None:
    probe = RecordingSubscriber[int](initial=2)
    random_integers(20).pipe(controlled(), rxrand.share()).subscribe(probe)
    assert probe.values == []
    [error] = probe.errors
    with pytest.raises(
        TypeError,
        match=(
            r"^RecordingSubscriber is a Reactive Streams subscriber \(it has on_subscribe\), "
            r"subscribed to rxrand\.share\(\) with no controlled\(\) after it: nothing gives "
            r"it a subscription, and it would get unbounded items; end the chain with "
            r"controlled\(\), e\.g\. source\.pipe\(rxrand\.share\(\.\.\.\), controlled\(\)\)"
            r"\.subscribe\(subscriber\)$"
        ),
    ):
        raise error


class _CancelsAt(RecordingSubscriber[int]):
    """Cancels from inside on_next once it has ``stop_at`` items."""

    def __init__(self, stop_at: int) -> None:
        super().__init__()
        self.stop_at = stop_at

    def on_next(self, value: int) -> None:
        super().on_next(value)
        if len(self.values) == self.stop_at:
            self.cancel()


def test_share_member_cancelling_inside_on_next_leaves_the_others_their_items() -> None:
    """A member's burst is its own: its cancel cuts its burst, not the others'."""
    shared = random_integers(seed=1).pipe(rxrand.share())
    quitter, stayer = _CancelsAt(2), RecordingSubscriber[int]()
    shared.pipe(controlled()).subscribe(quitter)
    shared.pipe(controlled()).subscribe(stayer)
    stayer.request(5)
    quitter.request(5)
    assert quitter.values == stayer.values[:2]
    assert len(stayer.values) == 5
