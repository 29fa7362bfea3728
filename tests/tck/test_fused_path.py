"""The fused path, rule by rule, where it differs from the per-item path.

The whole publisher suite already runs on the fused path (``TestRandomIntegersFused`` in
``test_publishers.py``: a bulk subscriber, every batch checked against the outstanding demand).
What is left here is what only the fused path has: batches straight from the generator, how
much is generated, and cancel racing a consumer on another thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from rxrand import ControlledSubscription, controlled, random_integers
from rxrand.sources import CHUNK_SIZE

SEED = 7


class Bulk:
    def __init__(self, initial: int = 0) -> None:
        self.initial = initial
        self.batches: list[Sequence[int]] = []
        self.signals: list[str] = []
        self.subscription: ControlledSubscription[int] | None = None

    def on_subscribe(self, subscription: ControlledSubscription[int]) -> None:
        self.subscription = subscription
        if self.initial:
            subscription.request(self.initial)

    def on_next(self, value: int) -> None:
        self.signals.append("next")

    def on_next_batch(self, batch: Sequence[int]) -> None:
        self.batches.append(batch)
        self.signals.append("batch")

    def on_error(self, error: Exception) -> None:
        self.signals.append("error")

    def on_completed(self) -> None:
        self.signals.append("completed")

    @property
    def count(self) -> int:
        return sum(map(len, self.batches))


def per_item(count: int) -> list[int]:
    values: list[int] = []
    random_integers(count, seed=SEED).subscribe(values.append)
    return values


def test_fused_rule_1_1_batches_never_exceed_the_demand() -> None:
    probe = Bulk()
    subscription = random_integers(seed=SEED).pipe(controlled()).subscribe(probe)
    for n in (1, 7, 8191, 8192, 8193, 20_000):
        before = probe.count
        subscription.request(n)
        assert probe.count - before == n
    assert all(len(batch) for batch in probe.batches)


def test_fused_rule_1_5_completes_at_the_count_without_more_demand() -> None:
    probe = Bulk(initial=9)
    subscription = random_integers(10, seed=SEED).pipe(controlled()).subscribe(probe)
    assert "completed" not in probe.signals
    subscription.request(1)
    assert probe.signals[-1] == "completed"
    assert probe.count == 10


def test_fused_rule_1_5_empty_stream_completes_without_demand() -> None:
    probe = Bulk()
    random_integers(0).pipe(controlled()).subscribe(probe)
    assert probe.signals == ["completed"]


def test_fused_rule_3_8_batches_add_up_to_the_per_item_sequence() -> None:
    probe = Bulk()
    subscription = random_integers(30_000, seed=SEED).pipe(controlled()).subscribe(probe)
    for n in (1, 2, 8190, 8192, 5000, 100_000):
        subscription.request(n)
    assert np.concatenate(probe.batches).tolist() == per_item(30_000)


def test_fused_rule_3_12_cancel_from_another_thread_stops_generation() -> None:
    source = random_integers(seed=SEED)
    probe = Bulk()
    subscription = source.pipe(controlled()).subscribe(probe)
    started = threading.Event()

    def consume() -> None:
        started.set()
        while not subscription.is_cancelled:
            subscription.request(1000)

    worker = threading.Thread(target=consume)
    worker.start()
    started.wait(5)
    deadline = time.monotonic() + 5
    while probe.count < 10_000 and time.monotonic() < deadline:
        time.sleep(0.001)  # cancel only once the consumer is well under way
    assert probe.count >= 10_000
    subscription.cancel()
    worker.join(timeout=10)
    assert not worker.is_alive()
    generated = source.generated
    subscription.request(100_000)
    assert source.generated == generated
    # At most one chunk ahead, plus the one batch (1000) that may have been taken when the
    # cancel came: it is dropped, not delivered after the cancel (rule 3.12).
    assert probe.count <= generated <= probe.count + CHUNK_SIZE + 1000


def test_fused_each_subscription_has_its_own_stream() -> None:
    publisher = random_integers(100, seed=SEED).pipe(controlled())
    first, second = Bulk(initial=40), Bulk(initial=100)
    publisher.subscribe(first)
    publisher.subscribe(second)
    assert np.concatenate(second.batches).tolist() == per_item(100)
    assert np.concatenate(first.batches).tolist() == per_item(100)[:40]
