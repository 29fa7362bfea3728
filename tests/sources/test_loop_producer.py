"""rxrand.sources.loop_producer: credit from any thread, work on the loop's thread."""

from __future__ import annotations

import asyncio
import threading

import pytest
import reactivex
from reactivex import abc

from rxrand import controlled
from rxrand.sources import LoopProducer
from rxrand.sources.loop_producer import loop_or_error
from rxrand.testing import RecordingSubscriber

pytestmark = pytest.mark.timeout(30)


class Counting(LoopProducer[int]):
    """Emits its credit as consecutive integers, on the loop; records on which thread."""

    def __init__(self, observer: abc.ObserverBase[int], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(observer, loop)
        self.next = 0
        self.threads: set[int] = set()
        self.stopped_on: int | None = None

    def _on_credit(self) -> None:
        self.threads.add(threading.get_ident())
        with self._lock:
            n = 0 if self._stopped else min(self._credit, 1000)
        if not n:
            return
        if self._link is not None:
            self._link.begin()
        for value in range(self.next, self.next + n):
            self._observer.on_next(value)
        self.next += n
        self._spend(n)
        if self._link is not None:
            self._link.end(n)

    def _on_stop(self) -> None:
        self.stopped_on = threading.get_ident()


def test_loop_producer_works_on_the_loop_whatever_thread_grants_credit() -> None:
    async def scenario() -> tuple[list[int], set[int], int]:
        loop = asyncio.get_running_loop()
        probe = RecordingSubscriber[int]()
        producers: list[Counting] = []

        def subscribe(observer: abc.ObserverBase[int], scheduler: object) -> abc.DisposableBase:
            producer = Counting(observer, loop)
            producers.append(producer)
            return producer.start(scheduler)  # type: ignore[arg-type]

        reactivex.create(subscribe).pipe(controlled()).subscribe(probe)
        probe.request(3)  # from the loop's thread
        await asyncio.sleep(0.01)
        other = threading.Thread(target=probe.request, args=(4,))
        other.start()
        other.join()
        for _ in range(100):
            if len(probe.values) == 7:
                break
            await asyncio.sleep(0.01)
        probe.cancel()
        await asyncio.sleep(0.01)
        producer = producers[0]
        assert producer.stopped_on == threading.get_ident()
        return probe.values, producer.threads, producer.next

    values, threads, generated = asyncio.run(scenario())
    assert values == list(range(7))
    assert len(threads) == 1  # the loop's thread only
    assert generated == 7  # nothing beyond the credit


def test_loop_producer_subscribed_plainly_takes_unbounded_credit() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        seen: list[int] = []

        class Observer(abc.ObserverBase[int]):
            def on_next(self, value: int) -> None:
                seen.append(value)

            def on_error(self, error: Exception) -> None:
                raise error

            def on_completed(self) -> None:
                pass

        producer = Counting(Observer(), loop)
        producer.start(None)
        producer.stop()
        producer.stop()  # idempotent
        return len(seen)

    assert asyncio.run(scenario()) == 1000  # unbounded credit: one round of 1000, then stopped


def test_loop_or_error_names_what_needs_a_loop() -> None:
    error = loop_or_error(None, "socket_lines")
    assert isinstance(error, RuntimeError)
    assert str(error) == (
        "socket_lines needs an event loop: subscribe on the loop's thread, or pass loop="
    )

    async def scenario() -> bool:
        return loop_or_error(None, "x") is asyncio.get_running_loop()

    assert asyncio.run(scenario())
