"""PullSubscription, the drain: credit for pull sources, a buffer for pushed items."""

from __future__ import annotations

from typing import Any

import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject

from rxrand import controlled, random_integers
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
