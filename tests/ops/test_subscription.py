"""ControlledSubscription, the facade: request, cancel, the counters, one terminal signal."""

from __future__ import annotations

import pytest
from reactivex import operators as ops

from rxrand import ControlledSubscription, controlled, random_integers
from rxrand.testing import RecordingSubscriber


@pytest.mark.parametrize("bulk", [False, True])
def test_subscription_counts_what_was_delivered_and_what_is_pending(bulk: bool) -> None:
    source = random_integers(seed=1)
    chain = source if bulk else source.pipe(ops.map(lambda value: value))
    probe = RecordingSubscriber[int]()
    subscription = chain.pipe(controlled()).subscribe(probe)
    assert isinstance(subscription, ControlledSubscription)
    probe.request(7)
    assert (subscription.delivered, subscription.pending) == (7, 0)
    probe.request(3)
    assert (subscription.delivered, subscription.pending) == (10, 0)


def test_subscription_dispose_is_cancel_and_both_are_idempotent() -> None:
    probe = RecordingSubscriber[int]()
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    subscription.dispose()
    subscription.cancel()  # rule 3.7
    assert subscription.is_cancelled
    probe.request(5)  # rule 3.6
    assert probe.values == []
    probe.expect_no_terminal()


def test_subscription_is_cancelled_once_terminated() -> None:
    probe = RecordingSubscriber[int]()
    subscription = random_integers(3, seed=1).pipe(controlled()).subscribe(probe)
    probe.request(3)
    probe.expect_completed()
    assert subscription.is_cancelled
