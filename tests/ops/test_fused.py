"""FusedSubscription: batches straight from a Fusable source, within demand, no chain at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from rxrand import ControlledSubscription, controlled, random_integers
from rxrand.ops.fused import FUSED_BATCH, FusedSubscription
from rxrand.ops.pull import PullSubscription


class _Bulk:
    def __init__(self, first: int = 0, fail_at: int | None = None) -> None:
        self.first = first
        self.fail_at = fail_at
        self.batches: list[list[int]] = []
        self.errors: list[Exception] = []
        self.completed = False
        self.subscription: ControlledSubscription[int] | None = None

    def on_subscribe(self, subscription: ControlledSubscription[int]) -> None:
        self.subscription = subscription
        if self.first:
            subscription.request(self.first)

    def on_next(self, value: int) -> None:
        raise AssertionError("the fused path delivers batches")

    def on_next_batch(self, batch: Sequence[int]) -> None:
        if self.fail_at is not None and len(self.batches) == self.fail_at:
            raise RuntimeError("subscriber failed")
        self.batches.append(list(batch))

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def on_completed(self) -> None:
        self.completed = True


def test_fused_subscription_serves_a_bulk_subscriber_of_a_fusable_source() -> None:
    bulk = _Bulk()
    subscription = random_integers(10, seed=1).pipe(controlled()).subscribe(bulk)
    assert isinstance(subscription, FusedSubscription)
    assert subscription.fused


def test_fused_subscription_is_not_used_for_a_per_item_subscriber() -> None:
    values: list[int] = []
    subscription = random_integers(10, seed=1).pipe(controlled()).subscribe(values.append)
    assert isinstance(subscription, PullSubscription)
    assert not subscription.fused
    assert len(values) == 10


def test_fused_subscription_delivers_exactly_the_demand_in_batches() -> None:
    source = random_integers(seed=1)
    bulk = _Bulk(first=5)
    source.pipe(controlled()).subscribe(bulk)
    assert [len(batch) for batch in bulk.batches] == [5]
    assert bulk.subscription is not None
    bulk.subscription.request(2 * FUSED_BATCH + 3)
    assert [len(batch) for batch in bulk.batches] == [5, FUSED_BATCH, FUSED_BATCH, 3]
    assert bulk.subscription.pulled == 2 * FUSED_BATCH + 8
    assert bulk.subscription.delivered == 2 * FUSED_BATCH + 8


def test_fused_subscription_completes_without_further_demand_once_the_source_ends() -> None:
    bulk = _Bulk(first=10)
    random_integers(10, seed=1).pipe(controlled()).subscribe(bulk)
    assert sum(map(len, bulk.batches)) == 10
    assert bulk.completed  # rule 1.5


@pytest.mark.parametrize("first", [0, 3])
def test_fused_subscription_of_an_empty_source_completes_at_once(first: int) -> None:
    bulk = _Bulk(first=first)
    random_integers(0, seed=1).pipe(controlled()).subscribe(bulk)
    assert bulk.completed
    assert bulk.batches == []


def test_fused_subscription_subscriber_that_raises_ends_the_stream_with_its_error() -> None:
    bulk = _Bulk(first=1, fail_at=1)
    random_integers(seed=1).pipe(controlled()).subscribe(bulk)
    assert bulk.subscription is not None
    bulk.subscription.request(1)
    assert [str(error) for error in bulk.errors] == ["subscriber failed"]
    assert bulk.subscription.is_cancelled
    bulk.subscription.request(1)  # rule 3.6: nothing after the end
    assert len(bulk.batches) == 1


def test_fused_subscription_cancel_stops_delivery_and_forgets_the_subscriber() -> None:
    bulk = _Bulk(first=1)
    subscription: Any = random_integers(seed=1).pipe(controlled()).subscribe(bulk)
    subscription.cancel()
    subscription.request(10)
    assert len(bulk.batches) == 1
    assert not bulk.completed
    assert bulk.errors == []
