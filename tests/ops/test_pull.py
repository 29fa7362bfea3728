"""PullSubscription, the drain: credit for pull sources, a buffer for pushed items."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject

import rxrand
from rxrand import controlled, random_integers
from rxrand.ops.inlet import GrantWindow
from rxrand.ops.pull import PullSubscription
from rxrand.testing import RecordingSubscriber


def test_pull_subscription_generates_nothing_before_demand_then_exactly_it() -> None:
    emitted: list[int] = []
    source = random_integers(seed=1).pipe(ops.do_action(emitted.append))
    probe = RecordingSubscriber[int]()
    subscription = source.pipe(controlled()).subscribe(probe)
    assert isinstance(subscription, PullSubscription)
    assert emitted == []  # rule 1.1: nothing before it is requested
    probe.request(300)
    assert len(emitted) == 300
    assert probe.values == emitted
    assert subscription.pulled == 300


def test_pull_subscription_pushed_items_wait_in_the_buffer_for_demand() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subscription = subject.pipe(controlled(capacity=4)).subscribe(probe)
    for value in range(3):
        subject.on_next(value)
    assert probe.values == []
    probe.request(2)
    assert probe.values == [0, 1]
    assert subscription.dropped == 0


def test_pull_subscription_upstream_end_waits_behind_buffered_items() -> None:
    probe = RecordingSubscriber[int]()
    reactivex.of(1, 2, 3).pipe(controlled()).subscribe(probe)
    assert not probe.terminated
    probe.request(2)
    assert not probe.terminated  # one item still waits: the completion waits behind it
    probe.request(1)
    assert probe.values == [1, 2, 3]
    probe.expect_completed()


def test_pull_subscription_upstream_error_cuts_ahead_of_buffered_items() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subject.pipe(controlled()).subscribe(probe)
    subject.on_next(1)
    subject.on_error(RuntimeError("boom"))
    error: Any = probe.expect_error(RuntimeError)
    assert str(error) == "boom"
    assert probe.values == []


def test_pull_subscription_filter_gets_its_demand_in_one_grant_window_and_no_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A filter that keeps half: the credit that vanished is granted again inside the same
    # window (by the burst that used it up), not by a turn of the drain loop per grant;
    # and never more than demand needs (rule 1.1 at the source).
    windows = 0
    open_window = GrantWindow.open

    def counting_open(self: GrantWindow[Any], *args: Any) -> None:
        nonlocal windows
        windows += 1
        open_window(self, *args)

    monkeypatch.setattr(GrantWindow, "open", counting_open)
    emitted: list[int] = []
    source = rxrand.from_iterable(range(10_000)).pipe(
        ops.do_action(emitted.append), ops.filter(lambda v: v % 2 == 0)
    )
    probe = RecordingSubscriber[int]()
    subscription = source.pipe(controlled()).subscribe(probe)
    probe.request(1000)
    assert probe.values == list(range(0, 2000, 2))
    assert emitted == list(range(1999))  # up to the 1000th even number, not one more
    assert subscription.pulled == 1999
    assert windows == 1
