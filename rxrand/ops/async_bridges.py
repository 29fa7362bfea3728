"""asyncio on both sides: ``async for`` over a publisher, a publisher over ``async for``.

* :func:`to_async_iterable` is a subscriber with a bounded queue, like RxJava's
  ``observeOn``: it requests ``prefetch`` items, and requests three quarters of
  that again each time three quarters have been consumed, so the queue never
  holds more than ``prefetch`` items and the source never runs further ahead.
  Batches may arrive on any thread; one batch crosses to the event loop at a
  time (a single ``call_soon_threadsafe`` to wake the consumer, never one per
  item).
* :func:`from_async_iterable` is a pull source: under a request operator each
  unit of credit is one ``__anext__``, awaited on the event loop; nothing is
  read ahead of demand, and a cancel closes the async generator.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Final, Generic, Literal, TypeVar, final

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from ..core.buffer import BufferOverflowError
from ..core.demand import as_count, refuse_none_error, refuse_none_subscription
from ..sources.loop_producer import LoopProducer, call_in_loop, loop_or_error
from .controlled import Controlled, ControlledSubscription, controlled

__all__ = [
    "DEFAULT_PREFETCH",
    "AsyncDemandIterator",
    "FromAsyncIterable",
    "from_async_iterable",
    "to_async_iterable",
]

_T = TypeVar("_T")

DEFAULT_PREFETCH: Final = 256
"""Items requested ahead by :func:`to_async_iterable` (RxJava's ``bufferSize()`` is 128-256)."""


@final
class _Completed:
    __slots__ = ()


_COMPLETED: Final = _Completed()

#: What an overflow under the request operator that :func:`to_async_iterable` added means:
#: only the options it really has (it takes no capacity and no Overflow of its own).
_OVERFLOW_ADVICE: Final = (
    "to_async_iterable() put the source under controlled() with the default capacity: "
    "pass a pull source such as rxrand.from_iterable(...) instead, or put the source under "
    "controlled(capacity=..., overflow=...) yourself and pass that"
)

_Signal = _Completed | Exception | asyncio.Future[None]


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@final
class _Receiver(Generic[_T]):
    """The subscriber side of :class:`AsyncDemandIterator`: a queue any thread may fill.

    It holds no reference to the iterator, so that an iterator nobody holds
    any more (left by ``break``) is collected, and cancels, while the source
    still holds this receiver.
    """

    __slots__ = (
        "_lock",
        "_prefetch",
        "_wrapped",
        "loop",
        "queue",
        "subscription",
        "terminal",
        "waiter",
    )

    def __init__(self, prefetch: int, wrapped: bool = False) -> None:
        self._lock = threading.Lock()
        self.queue: collections.deque[_T] = collections.deque()
        self.terminal: _Completed | Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.subscription: ControlledSubscription[_T] | None = None
        self.loop = asyncio.get_running_loop()
        self._prefetch = prefetch
        self._wrapped = wrapped

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        if self.subscription is not None:
            subscription.cancel()  # rule 2.5: one subscription at a time
            return
        self.subscription = subscription
        subscription.request(self._prefetch)

    def on_next(self, value: _T) -> None:
        with self._lock:
            self.queue.append(value)
            waiter, self.waiter = self.waiter, None
        self._notify(waiter)

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        # numpy arrays (the fused path) become Python ints, as on the per-item path.
        tolist: Callable[[], list[_T]] | None = getattr(batch, "tolist", None)
        items = tolist() if tolist is not None else batch
        with self._lock:
            self.queue.extend(items)
            waiter, self.waiter = self.waiter, None
        self._notify(waiter)

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        if self._wrapped and type(error) is BufferOverflowError:
            error = BufferOverflowError(error.capacity, _OVERFLOW_ADVICE)
        self._finish(error)

    def on_completed(self) -> None:
        self._finish(_COMPLETED)

    def _finish(self, terminal: _Completed | Exception) -> None:
        with self._lock:
            if self.terminal is None:
                self.terminal = terminal
            waiter, self.waiter = self.waiter, None
        self._notify(waiter)

    def _notify(self, waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None:
            call_in_loop(self.loop, _wake, waiter)

    def take(self) -> tuple[Literal[True], _T] | tuple[Literal[False], _Signal]:
        """(True, the next item), else (False, the terminal signal or a future to await)."""
        with self._lock:
            if self.queue:
                return True, self.queue.popleft()
            if self.terminal is not None:
                return False, self.terminal
            waiter = self.waiter = self.loop.create_future()
            return False, waiter

    def forget(self, waiter: asyncio.Future[None]) -> None:
        with self._lock:
            if self.waiter is waiter:
                self.waiter = None

    def close(self) -> None:
        with self._lock:
            self.queue.clear()
            if self.terminal is None:
                self.terminal = _COMPLETED
        if self.subscription is not None:
            self.subscription.cancel()


@final
class AsyncDemandIterator(Generic[_T]):
    """``async for`` over a publisher, with demand: what :func:`to_async_iterable` returns.

    Contract:
        * Subscribes at the first ``__anext__`` (cold: nothing runs before),
          on the running event loop, which must then stay the same.
        * At most ``prefetch`` items are requested and not yet consumed.
        * Items that came before an error are all yielded; then the error is
          raised from ``__anext__``, once; after it, and after completion,
          ``StopAsyncIteration``.
        * ``aclose()`` cancels the subscription; so does leaving an
          ``async with contextlib.aclosing(...)`` block, and dropping the
          iterator (``break`` out of ``async for x in to_async_iterable(...)``).
    """

    __slots__ = (
        "_closed",
        "_consumed",
        "_limit",
        "_prefetch",
        "_publisher",
        "_receiver",
        "_wrapped",
    )

    def __init__(self, publisher: Observable[_T], prefetch: int = DEFAULT_PREFETCH) -> None:
        count = as_count(prefetch)
        if count is None:
            raise TypeError(f"prefetch must be an int, got {type(prefetch).__name__}")
        if count < 1:
            raise ValueError(f"prefetch must be >= 1, got {count}")
        self._wrapped = not isinstance(publisher, Controlled)
        self._publisher: Controlled[_T] = (
            publisher if isinstance(publisher, Controlled) else publisher.pipe(controlled())
        )
        self._prefetch = count
        # RxJava's observeOn: replenish once three quarters are consumed.
        self._limit = max(1, count - (count >> 2))
        self._consumed = 0
        self._receiver: _Receiver[_T] | None = None
        self._closed = False

    @property
    def subscription(self) -> ControlledSubscription[_T] | None:
        """The subscription, once the first ``__anext__`` has subscribed."""
        return None if self._receiver is None else self._receiver.subscription

    def __aiter__(self) -> AsyncDemandIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        receiver = self._receiver
        if receiver is None:
            if self._closed:
                raise StopAsyncIteration
            receiver = self._receiver = _Receiver(self._prefetch, self._wrapped)
            self._publisher.subscribe(receiver)
        while True:
            got = receiver.take()
            if got[0]:
                break
            signal = got[1]
            if isinstance(signal, asyncio.Future):
                try:
                    await signal
                finally:
                    receiver.forget(signal)
                continue
            if isinstance(signal, Exception):
                receiver.terminal = _COMPLETED  # raised once; then the end
                raise signal
            raise StopAsyncIteration
        self._consumed += 1
        if self._consumed >= self._limit and receiver.subscription is not None:
            self._consumed = 0
            receiver.subscription.request(self._limit)
        return got[1]

    async def aclose(self) -> None:
        """Cancel the subscription and drop what is queued; iteration then stops."""
        self.close()

    def close(self) -> None:
        """As :meth:`aclose`, from synchronous code."""
        self._closed = True
        if self._receiver is not None:
            self._receiver.close()

    def __del__(self) -> None:
        # Leaving ``async for`` by break drops the last reference to the iterator.
        receiver = getattr(self, "_receiver", None)  # None: __init__ raised
        if receiver is not None and receiver.subscription is not None:
            receiver.subscription.cancel()


def to_async_iterable(
    publisher: Observable[_T], prefetch: int = DEFAULT_PREFETCH
) -> AsyncDemandIterator[_T]:
    """``async for`` over any Observable, with Reactive Streams demand.

    ``publisher`` is put under :func:`rxrand.controlled` unless it is a
    ``Controlled`` already. The loop requests ``prefetch`` items, then
    ``prefetch - prefetch // 4`` each time that many were consumed::

        async for value in to_async_iterable(random_integers(10**9), prefetch=256):
            ...   # at most 256 integers delivered and not yet consumed

    Args:
        publisher: The stream; a pull source (``random_integers``,
            :func:`rxrand.from_iterable`, :func:`from_async_iterable`) runs
            only as far as the loop consumes, plus ``prefetch``.
        prefetch: Most items requested and not yet consumed.

    Returns:
        An async iterator; ``aclose()`` (or ``break``, or dropping it) cancels.

    Raises:
        TypeError: ``prefetch`` is not an int.
        ValueError: ``prefetch < 1``.
    """
    return AsyncDemandIterator(publisher, prefetch)


# -- from_async_iterable ------------------------------------------------------------------


@final
class _AsyncPump(LoopProducer[_T]):
    """One subscription of :func:`from_async_iterable`: credit in, ``__anext__`` calls out.

    The iterator is only ever touched on the loop's thread, by one task at a time.
    """

    __slots__ = ("_awaiting", "_iterable", "_iterator", "_task")

    def __init__(
        self,
        iterable: AsyncIterable[_T],
        observer: abc.ObserverBase[_T],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(observer, loop)
        self._iterable = iterable
        self._iterator: AsyncIterator[_T] | None = None
        self._task: asyncio.Task[None] | None = None
        self._awaiting = False

    # -- the loop's side ---------------------------------------------------------------

    def _on_credit(self) -> None:
        if self._stopped:
            return
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._pump())

    def _on_stop(self) -> None:
        task = self._task
        if task is None or task.done():
            self._task = self._loop.create_task(self._aclose())
        elif self._awaiting:
            # The pump is awaiting __anext__: cancel it there; it closes the iterator.
            task.cancel()
        # Otherwise the pump is in on_next (a cancel from the subscriber) or ending: it
        # sees the stop, and closes the iterator itself.

    async def _aclose(self) -> None:
        iterator, self._iterator = self._iterator, None
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    async def _pump(self) -> None:
        try:
            if self._iterator is None:
                self._iterator = aiter(self._iterable)
            iterator = self._iterator
            while True:
                with self._lock:
                    if self._stopped or self._credit == 0:
                        return
                self._awaiting = True
                try:
                    item = await anext(iterator)
                except Exception as error:
                    failure: Exception | None = error
                else:
                    failure = None
                finally:
                    self._awaiting = False
                if failure is not None:
                    end = None if isinstance(failure, StopAsyncIteration) else failure
                    self.terminate(end)
                    return
                if self.stopped:
                    return  # cancelled while awaiting it: the item is dropped
                self.spend(1)
                self.emit([item])
        finally:
            if self._stopped:
                await self._aclose()


@final
class FromAsyncIterable(Observable[_T]):
    """The Observable returned by :func:`from_async_iterable`."""

    def __init__(self, iterable: AsyncIterable[_T], loop: asyncio.AbstractEventLoop | None) -> None:
        self._iterable = iterable
        self._loop = loop
        super().__init__()

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        loop = loop_or_error(self._loop, "from_async_iterable()")
        if isinstance(loop, RuntimeError):
            observer.on_error(loop)
            return Disposable()
        return _AsyncPump(self._iterable, observer, loop).start(scheduler)

    def __repr__(self) -> str:
        return f"from_async_iterable({self._iterable!r})"


def from_async_iterable(
    iterable: AsyncIterable[_T], *, loop: asyncio.AbstractEventLoop | None = None
) -> FromAsyncIterable[_T]:
    """A pull source over an async iterable (an async generator, an ``aiter()``...).

    Under :func:`rxrand.controlled` each requested item is one ``__anext__``,
    awaited on the event loop; nothing is read ahead of demand, so the end is
    only seen when one more item is requested (completion may need that one
    more request). A cancel (or dispose) closes the iterator with
    ``aclose()``, also while it is awaiting. Subscribed without a request
    operator it reads to the end. Items are emitted on the loop's thread::

        from_async_iterable(agen()):  under request(2) ... request(1):  (a,b)---c

    Args:
        iterable: Anything ``aiter()`` accepts; each subscription calls
            ``aiter()`` anew (an async generator object is consumed once).
        loop: The event loop to run it on; default: the loop running where
            it is subscribed.

    Returns:
        An ``Observable`` (a :class:`FromAsyncIterable`).

    Raises:
        TypeError: ``iterable`` has no ``__aiter__``.
    """
    if not callable(getattr(iterable, "__aiter__", None)):
        raise TypeError(
            f"from_async_iterable() takes an async iterable, got {type(iterable).__name__}"
        )
    return FromAsyncIterable(iterable, loop)
