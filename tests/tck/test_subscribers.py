"""The Reactive Streams subscriber rules (``subscriber_verification.py``), every rxrand subscriber.

* :class:`~rxrand.testing.RecordingSubscriber`, signalled on the test's thread;
* :class:`~rxrand.SocketObserver` over a socket pair, living on an event loop in a thread of
  its own and signalled from the test's thread (as a publisher behind a thread hop would);
* the consumer that :func:`~rxrand.to_async_iterable` subscribes, made by a pending
  ``__anext__`` on its loop;
* the client's consumer (``rxrand.cli.client``), signalled on its loop's thread, as
  ``socket_lines`` does.

The last three are bulk subscribers: each runs once more with its elements delivered through
``on_next_batch``. So are the subscribers inside the processors, which receive from the
``controlled()`` each of them puts over its upstream: ``share()``'s hub, ``observe_on()``'s and
``subscribe_on()``'s (private classes: no public name reaches them, and the processor suites in
``test_processors.py`` cannot hand them a second subscription, nor ``None``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import abc
from reactivex.scheduler import ImmediateScheduler

from rxrand import SocketObserver, controlled, to_async_iterable
from rxrand.cli.client import IntegerStreamChecker, _Consumer
from rxrand.net import PROMPT
from rxrand.ops.hops import _ObserveOn, _SubscribeOn
from rxrand.ops.share import _Hub, _Shared
from rxrand.testing import RecordingSubscriber

from .subscriber_verification import (
    ManualSubscription,
    SubscriberBlackboxVerification,
    SubscriberWhiteboxVerification,
)
from .verification import TIMEOUT

_R = TypeVar("_R")

pytestmark = pytest.mark.timeout(60)


class LoopThread:
    """An asyncio event loop running in a thread of its own, for subscribers that live on one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tck-loop", daemon=True)
        self._thread.start()

    def run(self, function: Callable[..., _R], *args: Any) -> _R:
        """Call ``function(*args)`` on the loop's thread; return what it returns, or raise."""
        result: concurrent.futures.Future[_R] = concurrent.futures.Future()

        def call() -> None:
            try:
                result.set_result(function(*args))
            except BaseException as error:
                result.set_exception(error)

        self.loop.call_soon_threadsafe(call)
        return result.result(TIMEOUT)

    def submit(self, coroutine: Coroutine[Any, Any, _R]) -> concurrent.futures.Future[_R]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()


# -- RecordingSubscriber ----------------------------------------------------------------------


class TestRecordingSubscriberBlackbox(SubscriberBlackboxVerification):
    def create_subscriber(self) -> RecordingSubscriber[int]:
        return RecordingSubscriber[int]()

    def trigger_request(self, subscriber: RecordingSubscriber[int]) -> None:
        subscriber.request(1)


class TestRecordingSubscriberWhitebox(SubscriberWhiteboxVerification):
    def create_subscriber(self) -> RecordingSubscriber[int]:
        return RecordingSubscriber[int]()

    def trigger_request(
        self, subscriber: RecordingSubscriber[int], subscription: ManualSubscription, n: int
    ) -> None:
        subscriber.request(n)

    def signal_cancel(
        self, subscriber: RecordingSubscriber[int], subscription: ManualSubscription
    ) -> None:
        subscriber.cancel()


# -- SocketObserver ---------------------------------------------------------------------------


class _SocketObserverSetup:
    """A SocketObserver made on a loop thread, writing to one end of a socket pair."""

    @pytest.fixture(autouse=True)
    def _socket_environment(self) -> Iterator[None]:
        self.loop_thread = LoopThread()
        self.writer, self.reader = socket.socketpair()
        self.observers: list[SocketObserver[int]] = []
        yield
        for observer in self.observers:
            self.loop_thread.run(observer.close)
        self.loop_thread.close()
        self.writer.close()
        self.reader.close()

    def create_subscriber(self) -> SocketObserver[int]:
        async def make() -> SocketObserver[int]:
            return SocketObserver(self.writer)

        observer = self.loop_thread.submit(make()).result(TIMEOUT)
        self.observers.append(observer)
        return observer

    def signal_cancel(self, subscriber: SocketObserver[int], _: ManualSubscription) -> None:
        self.loop_thread.run(subscriber.close)


class TestSocketObserverBlackbox(_SocketObserverSetup, SubscriberBlackboxVerification):
    pass


class TestSocketObserverWhitebox(_SocketObserverSetup, SubscriberWhiteboxVerification):
    pass


class TestSocketObserverBulkBlackbox(_SocketObserverSetup, SubscriberBlackboxVerification):
    bulk = True


class TestSocketObserverBulkWhitebox(_SocketObserverSetup, SubscriberWhiteboxVerification):
    bulk = True


# -- the to_async_iterable consumer -----------------------------------------------------------


class _AsyncIterableSetup:
    """The subscriber that ``to_async_iterable`` subscribes, caught as its publisher sees it.

    The iterator's first ``__anext__`` subscribes it to the publisher it was given; this
    publisher's ``subscribe`` keeps it instead, so that the manual publisher of the TCK can
    signal it. The ``__anext__`` stays pending, as in an ``async for``, and takes the items.
    """

    @pytest.fixture(autouse=True)
    def _async_environment(self) -> Iterator[None]:
        self.loop_thread = LoopThread()
        self.iterators: list[Any] = []
        self.pending: list[concurrent.futures.Future[Any]] = []
        yield
        for iterator in self.iterators:
            self.loop_thread.run(iterator.close)
        for pending in self.pending:
            pending.cancel()
        self.loop_thread.close()

    def create_subscriber(self) -> Any:
        caught: list[Any] = []
        publisher = reactivex.never().pipe(controlled())

        def catch(subscriber: Any, *_: Any, **__: Any) -> None:
            caught.append(subscriber)

        publisher.subscribe = catch  # type: ignore[method-assign]
        iterator = to_async_iterable(publisher, prefetch=4)
        self.iterators.append(iterator)

        async def first() -> Any:
            async for value in iterator:
                return value
            return None

        self.pending.append(self.loop_thread.submit(first()))
        for _ in range(10):  # until the task has run up to its first await
            if caught:
                break
            self.loop_thread.run(lambda: None)
        assert len(caught) == 1, caught
        return caught[0]

    def signal_cancel(self, subscriber: Any, _: ManualSubscription) -> None:
        self.loop_thread.run(self.iterators[-1].close)


class TestAsyncIterableConsumerBlackbox(_AsyncIterableSetup, SubscriberBlackboxVerification):
    pass


class TestAsyncIterableConsumerWhitebox(_AsyncIterableSetup, SubscriberWhiteboxVerification):
    pass


class TestAsyncIterableConsumerBulkBlackbox(_AsyncIterableSetup, SubscriberBlackboxVerification):
    bulk = True


class TestAsyncIterableConsumerBulkWhitebox(_AsyncIterableSetup, SubscriberWhiteboxVerification):
    bulk = True


# -- the client's consumer --------------------------------------------------------------------


class _ClientConsumerSetup:
    """The client's consumer of ``socket_lines``: lines of bytes, signalled on its loop."""

    #: Its elements are lines (bytes): None is no line (see the verification's module doc).
    none_is_an_element = False

    @pytest.fixture(autouse=True)
    def _client_environment(self) -> Iterator[None]:
        self.loop_thread = LoopThread()
        self.sock, self.server = socket.socketpair()
        self.sock.setblocking(False)
        self.written: list[list[int]] = []
        yield
        self.loop_thread.close()
        self.sock.close()
        self.server.close()

    def create_subscriber(self) -> _Consumer:
        async def make() -> _Consumer:
            done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            # Whatever way the stream ends, nobody awaits it here.
            done.add_done_callback(lambda future: future.exception())
            return _Consumer(
                self.sock, IntegerStreamChecker(1000), self.written.append, None, None, None, done
            )

        return self.loop_thread.submit(make()).result(TIMEOUT)

    def create_element(self, index: int) -> bytes:
        return PROMPT.rstrip(b"\r\n") if index == 0 else b"%d" % index

    def call(self, signal: Callable[..., None], *args: Any) -> None:
        self.loop_thread.run(signal, *args)


class TestClientConsumerBlackbox(_ClientConsumerSetup, SubscriberBlackboxVerification):
    pass


class TestClientConsumerWhitebox(_ClientConsumerSetup, SubscriberWhiteboxVerification):
    pass


class TestClientConsumerBulkBlackbox(_ClientConsumerSetup, SubscriberBlackboxVerification):
    bulk = True


class TestClientConsumerBulkWhitebox(_ClientConsumerSetup, SubscriberWhiteboxVerification):
    bulk = True


# -- the bulk subscribers inside the processors -------------------------------------------------


class _Sink(abc.ObserverBase[Any]):
    """A plain reactivex observer downstream of a processor's bulk subscriber."""

    def __init__(self) -> None:
        self.signals: list[object] = []

    def on_next(self, value: Any) -> None:
        self.signals.append(value)

    def on_error(self, error: Exception) -> None:
        self.signals.append(error)

    def on_completed(self) -> None:
        self.signals.append("completed")


class _ShareHubSetup:
    """``share()``'s upstream subscriber (its hub), with one plain member downstream."""

    def create_subscriber(self) -> Any:
        hub: _Hub[Any] = _Hub(_Shared(reactivex.never()))
        member = hub.member(_Sink())
        hub.join(member)
        member.open()  # no channel: a plain member, unbounded credit
        return hub

    def trigger_request(self, subscriber: Any, *_: Any) -> None:
        subscriber.pump()  # what a member's request does: ask upstream for what all can take


class _ObserveOnSetup:
    """``observe_on()``'s upstream subscriber, draining on the current thread."""

    def create_subscriber(self) -> Any:
        hop = _ObserveOn(_Sink(), None, ImmediateScheduler(), 4)
        hop.open()
        return hop


class _SubscribeOnSetup:
    """``subscribe_on()``'s upstream subscriber."""

    def create_subscriber(self) -> Any:
        hop = _SubscribeOn(_Sink(), None, ImmediateScheduler())
        hop.open()
        return hop


class TestShareHubBulkBlackbox(_ShareHubSetup, SubscriberBlackboxVerification):
    bulk = True


class TestShareHubBulkWhitebox(_ShareHubSetup, SubscriberWhiteboxVerification):
    bulk = True

    def trigger_request(self, subscriber: Any, subscription: ManualSubscription, n: int) -> None:
        subscription.request(n)


class TestObserveOnBulkBlackbox(_ObserveOnSetup, SubscriberBlackboxVerification):
    bulk = True


class TestObserveOnBulkWhitebox(_ObserveOnSetup, SubscriberWhiteboxVerification):
    bulk = True


class TestSubscribeOnBulkBlackbox(_SubscribeOnSetup, SubscriberBlackboxVerification):
    bulk = True


class TestSubscribeOnBulkWhitebox(_SubscribeOnSetup, SubscriberWhiteboxVerification):
    bulk = True
