"""The fused path (``ControlledSubscription.fuse`` / ``IntegerBatches.take``), rule by rule.

On the fused path a subscriber takes integers in bulk instead of requesting
them and receiving ``on_next`` calls: ``take(n)`` is ``request(n)`` and delivery
in one. The publisher rules that still have a meaning there are checked here;
the signal-ordering rules (1.3, 3.2, 3.3) have no counterpart, since nothing is
called back.
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np

from rxrand import ControlledSubscription, IntegerBatches, controlled, random_integers

SEED = 7


def fused(count: int | None) -> tuple[ControlledSubscription[int], IntegerBatches]:
    got: list[IntegerBatches | None] = []
    subscription = (
        random_integers(count, seed=SEED)
        .pipe(controlled())
        .subscribe(lambda _: None, on_subscribe=lambda s: got.append(s.fuse()))
    )
    batches = got[0]
    assert batches is not None
    return subscription, batches


def per_item(count: int) -> list[int]:
    values: list[int] = []
    random_integers(count, seed=SEED).subscribe(values.append)
    return values


def test_fused_rule_1_1_take_never_returns_more_than_asked() -> None:
    _, batches = fused(None)
    for n in (1, 7, 8191, 8192, 8193, 20_000):
        assert batches.take(n).size == n


def test_fused_rule_1_2_fewer_than_asked_then_exhausted() -> None:
    _, batches = fused(3)
    assert batches.take(10).size == 3
    assert batches.exhausted


def test_fused_rule_1_5_exhausted_exactly_at_the_count() -> None:
    _, batches = fused(10)
    batches.take(9)
    assert not batches.exhausted
    batches.take(1)
    assert batches.exhausted


def test_fused_rule_1_5_empty_stream_is_exhausted_at_once() -> None:
    _, batches = fused(0)
    assert batches.exhausted
    assert batches.take(5).size == 0


def test_fused_rule_1_7_nothing_after_the_end() -> None:
    _, batches = fused(4)
    batches.take(4)
    for _ in range(3):
        assert batches.take(100).size == 0
    assert batches.taken == 4


def test_fused_rule_1_9_only_from_on_subscribe() -> None:
    subscription = random_integers(5).pipe(controlled()).subscribe(lambda _: None)
    assert subscription.fuse() is None


def test_fused_rule_3_6_take_after_cancel_is_a_no_op() -> None:
    subscription, batches = fused(None)
    batches.take(5)
    subscription.cancel()
    assert batches.take(5).size == 0
    assert subscription.pulled == 5


def test_fused_rule_3_7_cancel_twice_is_a_no_op() -> None:
    subscription, batches = fused(None)
    subscription.cancel()
    subscription.cancel()
    assert batches.exhausted


def test_fused_rule_3_8_takes_add_up_to_the_same_sequence() -> None:
    _, batches = fused(30_000)
    pieces = [batches.take(n) for n in (1, 2, 8190, 8192, 5000, 100_000)]
    assert np.concatenate(pieces).tolist() == per_item(30_000)


def test_fused_rule_3_9_non_positive_take_returns_nothing() -> None:
    _, batches = fused(10)
    assert batches.take(0).size == 0
    assert batches.take(-3).size == 0
    assert batches.taken == 0


def test_fused_rule_3_12_cancel_stops_generation_from_another_thread() -> None:
    subscription, batches = fused(None)
    stopped = threading.Event()

    def consume() -> None:
        while batches.take(1000).size:
            pass
        stopped.set()

    worker = threading.Thread(target=consume)
    worker.start()
    subscription.cancel()
    worker.join(timeout=10)
    assert stopped.is_set()
    taken = batches.taken
    assert batches.take(10).size == 0
    assert batches.taken == taken


def test_fused_rule_3_13_cancel_drops_the_subscriber() -> None:
    class Subscriber:
        def on_subscribe(self, subscription: ControlledSubscription[int]) -> None:
            self.batches = subscription.fuse()

        def on_next(self, value: int) -> None: ...

        def on_error(self, error: Exception) -> None: ...

        def on_completed(self) -> None: ...

    subscriber = Subscriber()
    subscription = random_integers(seed=SEED).pipe(controlled()).subscribe(subscriber)
    reference = weakref.ref(subscriber)
    subscription.cancel()
    del subscriber
    gc.collect()
    assert reference() is None


def test_fused_rule_3_17_a_huge_take_is_not_an_error() -> None:
    _, batches = fused(1000)
    assert batches.take(2**63 - 1).size == 1000
    assert batches.exhausted


def test_fused_each_subscription_has_its_own_stream() -> None:
    _, first = fused(100)
    _, second = fused(100)
    first.take(40)
    assert second.take(100).tolist() == per_item(100)
    assert first.take(100).tolist() == per_item(100)[40:]
