"""to_async_iterable and from_async_iterable, under asyncio and (when installed) uvloop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import NewThreadScheduler

from rxrand import (
    BufferOverflowError,
    controlled,
    from_async_iterable,
    from_iterable,
    random_integers,
    to_async_iterable,
)
from rxrand.ops import Controlled
from rxrand.testing import RecordingSubscriber

from ..tck.verification import PublisherVerification

_R = TypeVar("_R")

LOOPS = ["asyncio"]
with contextlib.suppress(ImportError):
    import uvloop

    LOOPS.append("uvloop")


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[_R]]], _R]:
    factory: Callable[[], asyncio.AbstractEventLoop] = (
        asyncio.new_event_loop if request.param == "asyncio" else uvloop.new_event_loop
    )

    def run(main: Callable[[], Awaitable[_R]]) -> _R:
        async def bounded() -> _R:
            return await asyncio.wait_for(main(), timeout=10)

        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(bounded())

    return run


class Counted:
    """An iterable that counts how many items were read from it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.read = 0

    def __iter__(self) -> Iterator[int]:
        for value in range(self.n):
            self.read += 1
            yield value


# -- to_async_iterable ------------------------------------------------------------------


def test_to_async_iterable_yields_every_item_then_stops(run: Any) -> None:
    async def main() -> list[int]:
        return [value async for value in to_async_iterable(random_integers(1000, seed=1))]

    expected = random_integers(1000, seed=1).pipe(ops.to_list()).run()
    assert run(main) == expected


def test_to_async_iterable_fused_source_yields_python_ints(run: Any) -> None:
    async def main() -> list[Any]:
        iterator = to_async_iterable(random_integers(5, seed=1))
        values = [value async for value in iterator]
        assert iterator.subscription is not None
        assert iterator.subscription.fused
        return values

    values = run(main)
    assert values == [4732, 5118, 7552, 9505, 348]
    assert all(type(value) is int for value in values)


def test_to_async_iterable_requests_prefetch_then_three_quarters(run: Any) -> None:
    source = Counted(100)

    async def main() -> list[int]:
        iterator = to_async_iterable(from_iterable(source), prefetch=4)
        reads = []
        for _ in range(7):
            await anext(iterator)
            reads.append(source.read)
        await iterator.aclose()
        return reads

    # request(4) first (read 4, +1 ahead to see the end); request(3) after 3 consumed, and
    # again after 6: the source never runs more than prefetch (+1) ahead of the loop.
    assert run(main) == [5, 5, 8, 8, 8, 11, 11]


def test_to_async_iterable_subscribes_at_the_first_anext(run: Any) -> None:
    source = Counted(10)

    async def main() -> int:
        iterator = to_async_iterable(from_iterable(source))
        await asyncio.sleep(0)
        before = source.read
        await iterator.aclose()
        return before

    assert run(main) == 0


def test_to_async_iterable_break_cancels(run: Any) -> None:
    source = random_integers(seed=1)  # endless

    async def main() -> bool:
        iterator = to_async_iterable(source, prefetch=8)
        async for _ in iterator:
            break
        assert iterator.subscription is not None
        cancelled_by_break = iterator.subscription.is_cancelled
        await iterator.aclose()
        return cancelled_by_break or iterator.subscription.is_cancelled

    assert run(main)


def test_to_async_iterable_dropped_iterator_cancels(run: Any) -> None:
    seen: list[int] = []
    source = reactivex.interval(0.001).pipe(ops.do_action(on_next=seen.append))

    async def main() -> int:
        async for _ in to_async_iterable(source, prefetch=8):
            break  # the iterator is dropped here: its subscription is cancelled
        count = len(seen)
        await asyncio.sleep(0.05)
        return len(seen) - count

    assert run(main) == 0


def test_to_async_iterable_aclose_stops_the_source(run: Any) -> None:
    source = Counted(10**6)

    async def main() -> int:
        iterator = to_async_iterable(from_iterable(source), prefetch=16)
        await anext(iterator)
        await iterator.aclose()
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)
        return source.read

    assert run(main) <= 16 + 1


def test_to_async_iterable_raises_the_error_after_the_items(run: Any) -> None:
    source = reactivex.concat(reactivex.of(1, 2), reactivex.throw(ValueError("boom")))

    async def main() -> list[int]:
        values = []
        iterator = to_async_iterable(source)

        async def drain() -> None:
            async for value in iterator:
                values.append(value)

        with pytest.raises(ValueError, match=r"^boom$"):
            await drain()
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)
        return values

    assert run(main) == [1, 2]


def test_to_async_iterable_overflow_names_the_options_it_has(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(
            BufferOverflowError,
            match=(
                r"^buffer overflow: the source pushed more than capacity=1024 items beyond "
                r"demand; to_async_iterable\(\) put the source under controlled\(\) with the "
                r"default capacity: pass a pull source such as rxrand\.from_iterable\(\.\.\.\) "
                r"instead, or put the source under controlled\(capacity=\.\.\., "
                r"overflow=\.\.\.\) yourself and pass that$"
            ),
        ):
            async for _ in to_async_iterable(reactivex.range(100_000)):
                pass

    run(main)


def test_to_async_iterable_overflow_of_a_controlled_publisher_keeps_its_message(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(BufferOverflowError, match=r"rxrand\.random_integers"):
            async for _ in to_async_iterable(reactivex.range(100_000).pipe(controlled())):
                pass

    run(main)


def test_to_async_iterable_items_from_another_thread(run: Any) -> None:
    threads: set[int] = set()

    def note(_: int) -> None:
        threads.add(threading.get_ident())

    source = from_iterable(range(4000)).pipe(
        ops.observe_on(NewThreadScheduler()), ops.do_action(on_next=note)
    )

    async def main() -> tuple[list[int], int]:
        loop_thread = threading.get_ident()
        values = [value async for value in to_async_iterable(source, prefetch=64)]
        return values, loop_thread

    values, loop_thread = run(main)
    assert values == list(range(4000))
    assert threads
    assert loop_thread not in threads


def test_to_async_iterable_endless_source_generates_within_the_prefetch(run: Any) -> None:
    source = random_integers(seed=3)

    async def main() -> int:
        iterator = to_async_iterable(source, prefetch=256)
        for _ in range(1000):
            await anext(iterator)
        await iterator.aclose()
        return source.generated

    assert 1000 <= run(main) <= 1000 + 256  # what was read, and at most the prefetch ahead


@pytest.mark.parametrize(
    ("prefetch", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError)],
)
def test_to_async_iterable_checks_prefetch(prefetch: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"^prefetch must be "):
        to_async_iterable(random_integers(3), prefetch=prefetch)


# -- from_async_iterable ----------------------------------------------------------------


class Reads:
    def __init__(self) -> None:
        self.read = 0
        self.closed = False


def counting(reads: Reads, n: int | None = None) -> AsyncIterator[int]:
    async def generate() -> AsyncIterator[int]:
        try:
            value = 0
            while n is None or value < n:
                await asyncio.sleep(0)
                reads.read += 1
                yield value
                value += 1
        finally:
            reads.closed = True

    return generate()


def test_from_async_iterable_reads_only_against_demand(run: Any) -> None:
    reads = Reads()

    async def main() -> list[int]:
        probe: RecordingSubscriber[int] = RecordingSubscriber(initial=2)
        from_async_iterable(counting(reads)).pipe(controlled()).subscribe(probe)
        for _ in range(20):
            await asyncio.sleep(0)
        assert reads.read == 2, reads.read
        probe.request(3)
        for _ in range(20):
            await asyncio.sleep(0)
        assert reads.read == 5, reads.read
        probe.cancel()
        return probe.values

    assert run(main) == [0, 1, 2, 3, 4]


def test_from_async_iterable_cancel_closes_the_generator(run: Any) -> None:
    reads = Reads()

    async def main() -> None:
        probe: RecordingSubscriber[int] = RecordingSubscriber(initial=1)
        from_async_iterable(counting(reads)).pipe(controlled()).subscribe(probe)
        for _ in range(5):
            await asyncio.sleep(0)
        probe.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        probe.expect_values(0).expect_no_terminal()

    run(main)
    assert reads.closed


def test_from_async_iterable_cancel_while_awaiting_closes_the_generator(run: Any) -> None:
    async def main() -> bool:
        done = asyncio.Event()

        async def slow() -> AsyncIterator[int]:
            try:
                yield 1
                await asyncio.sleep(60)
                yield 2
            finally:
                done.set()

        probe: RecordingSubscriber[int] = RecordingSubscriber(initial=5)
        from_async_iterable(slow()).pipe(controlled()).subscribe(probe)
        await asyncio.sleep(0.01)
        probe.cancel()
        await asyncio.wait_for(done.wait(), 5)
        probe.expect_values(1).expect_no_terminal()
        return done.is_set()

    assert run(main)


def test_from_async_iterable_completes_and_fails(run: Any) -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("bad")

    async def main() -> None:
        done: RecordingSubscriber[int] = RecordingSubscriber(initial=10)
        from_async_iterable(counting(Reads(), 3)).pipe(controlled()).subscribe(done)
        failed: RecordingSubscriber[int] = RecordingSubscriber(initial=10)
        from_async_iterable(failing()).pipe(controlled()).subscribe(failed)
        for _ in range(20):
            await asyncio.sleep(0)
        done.expect_values(0, 1, 2).expect_completed()
        failed.expect_values(1).expect_error(ValueError, match="^bad$")

    run(main)


def test_from_async_iterable_plain_subscribe_reads_to_the_end(run: Any) -> None:
    async def main() -> list[int]:
        finished = asyncio.get_running_loop().create_future()
        values: list[int] = []
        from_async_iterable(counting(Reads(), 4)).subscribe(
            values.append, finished.set_exception, lambda: finished.set_result(None)
        )
        await finished
        return values

    assert run(main) == [0, 1, 2, 3]


def test_from_async_iterable_round_trip_bounded_by_prefetch(run: Any) -> None:
    reads = Reads()

    async def main() -> list[int]:
        got = []
        async for value in to_async_iterable(from_async_iterable(counting(reads)), prefetch=8):
            got.append(value)
            assert reads.read <= len(got) + 8
            if len(got) == 50:
                break
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
        return got

    assert run(main) == list(range(50))
    assert reads.closed


def test_from_async_iterable_needs_a_loop() -> None:
    probe: RecordingSubscriber[int] = RecordingSubscriber(initial=1)
    from_async_iterable(counting(Reads())).pipe(controlled()).subscribe(probe)
    probe.expect_error(RuntimeError, match=r"^from_async_iterable\(\) needs an event loop")


def test_from_async_iterable_checks_its_argument() -> None:
    with pytest.raises(
        TypeError, match=r"^from_async_iterable\(\) takes an async iterable, got list$"
    ):
        from_async_iterable([1, 2])  # type: ignore[arg-type]


# -- from_async_iterable under the conformance suite ------------------------------------------

_BACKGROUND: list[asyncio.AbstractEventLoop] = []


def background_loop() -> asyncio.AbstractEventLoop:
    """One event loop on a daemon thread for the conformance suite (subscribers stay off it)."""
    if not _BACKGROUND:
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="tck-loop", daemon=True).start()
        _BACKGROUND.append(loop)
    return _BACKGROUND[0]


class Numbers:
    """A cold async iterable: every ``aiter()`` starts a new generator of 0..n-1."""

    def __init__(self, n: int, fail: bool = False) -> None:
        self.n = n
        self.fail = fail

    def __aiter__(self) -> AsyncIterator[int]:
        return self.generate()

    async def generate(self) -> AsyncIterator[int]:
        if self.fail:
            raise ValueError("failed before the first item")
        for value in range(self.n):
            yield value


NO_READ_AHEAD = (
    "from_async_iterable reads nothing ahead of demand, so it sees the end only when one "
    "more item is requested"
)


class TestFromAsyncIterable(PublisherVerification):
    """from_async_iterable on an event loop thread, requested from the test's thread."""

    quiet_seconds = 0.02

    def create_publisher(self, n: int) -> Controlled[int]:
        return from_async_iterable(Numbers(n), loop=background_loop()).pipe(controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return from_async_iterable(Numbers(3, fail=True), loop=background_loop()).pipe(controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return list(range(n))

    # Nothing is read ahead of demand: the end shows only when one more item is asked for.
    request_end_of_stream = True

    def test_rule_1_5_completes_after_the_last_element_without_more_demand(self) -> None:
        pytest.skip(NO_READ_AHEAD)

    def test_rule_1_5_empty_publisher_completes_without_demand(self) -> None:
        pytest.skip(NO_READ_AHEAD)
