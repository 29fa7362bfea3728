"""The JVM TCK's ``IdentityProcessorVerification``, for rxrand's operators that receive and publish.

A processor here is an operator (``Observable -> Observable``) that subscribes its upstream
itself and republishes with demand: ``rxrand.share()``, ``rxrand.observe_on(...)``,
``rxrand.subscribe_on(...)``, a ``controlled()`` inside another one's chain. It is fed by a
:class:`ManualPublisher` (the JVM's manual upstream: it sees every request and the cancel, and
sends what the test says) and published under ``controlled()``, where a downstream subscriber
with ``on_subscribe`` holds a subscription.

Subclass :class:`IdentityProcessorVerification` in a ``test_*.py`` module under a name that
starts with ``Test``, and provide :meth:`~IdentityProcessorVerification.create_identity_processor`
(the operator); say :attr:`max_supported_subscribers`, :attr:`does_coordinated_emission` and
:attr:`prefetch` (how far beyond downstream demand it may ask upstream).

As in the JVM, the verification is in three parts:

* the processor as a subscriber: every :class:`SubscriberWhiteboxVerification` test, with the
  processor and a probing downstream subscriber as the subscriber under test;
* the processor as a publisher: :class:`~tests.tck.verification.PublisherVerification`, whose
  suites for these operators are in ``test_publishers.py`` (``TestShared``, ``TestObserveOnPool``,
  ``TestSubscribeOnEventLoop``, ``TestNestedControlled``), not repeated here, but for the
  JVM's multicast tests (``optional_spec111_*``), which that suite lacks: here the processor
  is fed by a helper publisher (``rxrand.from_iterable``) and subscribed several times;
* the processor's own tests, under their JVM names; and, after them, the properties the issue
  that brought this suite asks of every processor of rxrand (``test_rxrand_*``).

What Python (and reactivex) force: an operator receives from its upstream as a reactivex
observer (``on_next`` / ``on_error`` / ``on_completed``), with demand on the request
operator's demand channel and the cancel as the upstream's disposable, not through
``on_subscribe``; the two subscriber tests that call ``on_subscribe`` on the processor
directly (rules 2.5 and 2.13 for ``onSubscribe``) have nothing to call, and say so in their skip;
the bulk subscriber inside each processor (which does have ``on_subscribe``) runs both subscriber
verifications in ``test_subscribers.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial
from typing import Any, Final

import pytest
from reactivex import Observable, abc

import rxrand
from rxrand import ControlledSubscription, controlled
from rxrand.core import demand_channel_of

from .subscriber_verification import (
    ManualSubscription,
    SubscriberPuppet,
    SubscriberWhiteboxVerification,
    TckTestError,
    TestStage,
    WhiteboxSubscriberProbe,
    _inside,
)
from .verification import TIMEOUT, TckSubscriber

__all__ = ["IdentityProcessorVerification", "ManualPublisher"]

_NO_ON_SUBSCRIBE: Final = (
    "an rxrand processor receives from its upstream as a reactivex observer (demand on the "
    "demand channel, cancel through the disposable): it has no on_subscribe to call; the bulk "
    "subscriber inside it, which has, runs this test in test_subscribers.py"
)


def _received_something(subscriber: TckSubscriber[Any]) -> bool:
    return bool(subscriber.items) or subscriber.terminal is not None


class ManualPublisher(Observable[Any]):
    """The upstream of the processor under test: a publisher the test drives by hand.

    It has its own ``subscribe`` (as rxrand's sources do), so the request operator in the
    processor treats it as a publisher: it attaches to the demand channel, and every grant of
    credit is a ``request(n)`` on :attr:`subscription`; disposing it is the cancel.
    """

    def __init__(self) -> None:
        super().__init__()
        self.subscription = ManualSubscription("upstream of the processor")
        self.observer: abc.ObserverBase[Any] | None = None
        self._link: Any = None
        self._subscribed = threading.Event()
        self.subscribers = 0

    def subscribe(  # type: ignore[override]
        self,
        on_next: Any = None,
        on_error: Any = None,
        on_completed: Any = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> ManualSubscription:
        self.subscribers += 1
        self.observer = on_next
        channel = demand_channel_of(scheduler)
        if channel is not None:
            self._link = channel.attach(self.subscription)
            self._link.start()
        self._subscribed.set()
        return self.subscription

    def await_subscribed(self) -> abc.ObserverBase[Any]:
        if not self._subscribed.wait(TIMEOUT):
            pytest.fail(f"the processor did not subscribe its upstream within {TIMEOUT}s")
        assert self.observer is not None
        return self.observer

    def send_next(self, element: object) -> None:
        """One element, as one burst (a pull source emits within a burst of its link)."""
        observer = self.await_subscribed()
        link = self._link
        if link is not None:
            link.begin()
        try:
            observer.on_next(element)
        finally:
            if link is not None:
                link.end(1)

    def send_completion(self) -> None:
        _inside("on_completed", self.await_subscribed().on_completed)()

    def send_error(self, error: Exception) -> None:
        _inside("on_error", self.await_subscribed().on_error)(error)


class _ProbingSubscriber:
    """The downstream subscriber of the whitebox part: reports to the probe (the JVM's own)."""

    def __init__(self, probe: WhiteboxSubscriberProbe) -> None:
        self._probe = probe
        self.subscription: ControlledSubscription[Any] | None = None

    def on_subscribe(self, subscription: ControlledSubscription[Any]) -> None:
        if self.subscription is not None:
            subscription.cancel()  # the probe must pass the subscriber verification too
            return
        self.subscription = subscription
        self._probe.register_on_subscribe(
            SubscriberPuppet(subscription.request, subscription.cancel)
        )

    def on_next(self, element: object) -> None:
        self._probe.register_on_next(element)

    def on_error(self, error: Exception) -> None:
        self._probe.register_on_error(error)

    def on_completed(self) -> None:
        self._probe.register_on_complete()


class ProcessorStage(TestStage):
    """The whitebox test stage with the processor in the middle: manual publisher -> processor."""

    def __init__(
        self, verification: IdentityProcessorVerification, probe: WhiteboxSubscriberProbe
    ) -> None:
        self._verification = verification
        self.publisher = ManualPublisher()
        self.subscription = self.publisher.subscription
        self._next = 0
        self.last = None
        verification.create_identity_processor(self.publisher).pipe(controlled()).subscribe(
            _ProbingSubscriber(probe)
        )
        #: What the processor's receiving side is: the observer its upstream signals.
        self.sub = self.publisher.await_subscribed()

    def send_next(self, element: object) -> None:
        self.publisher.send_next(element)

    def send_completion(self) -> None:
        self.publisher.send_completion()

    def send_error(self, error: Exception) -> None:
        self.publisher.send_error(error)


class IdentityProcessorVerification(SubscriberWhiteboxVerification):
    """``org.reactivestreams.tck.IdentityProcessorVerification``, test by test."""

    #: How many subscribers one subscription of the processor's upstream can serve at once (the
    #: JVM's ``maxSupportedSubscribers``): 1 for an operator that subscribes upstream anew for
    #: every subscriber.
    max_supported_subscribers: int = 1
    #: Whether it asks upstream and emits only once every subscriber asked (``share()``).
    does_coordinated_emission: bool = False
    #: Most items it asks of upstream beyond what downstream requested.
    prefetch: int = 0

    def create_identity_processor(self, upstream: Observable[Any]) -> Observable[Any]:
        raise NotImplementedError

    # -- the subscriber half: the whitebox tests, with the processor in the middle ---------------

    def whitebox_stage(self) -> tuple[TestStage, WhiteboxSubscriberProbe, SubscriberPuppet]:
        probe = WhiteboxSubscriberProbe()
        stage = ProcessorStage(self, probe)
        self._subscriptions.append(stage.subscription)
        return stage, probe, probe.expect_puppet()

    def test_required_spec205_mustCallSubscriptionCancelIfItAlreadyHasAnSubscriptionAndReceivesAnotherOnSubscribeSignal(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_NO_ON_SUBSCRIBE)

    def test_required_spec213_onSubscribe_mustThrowNullPointerExceptionWhenParametersAreNull(
        self,
    ) -> None:
        pytest.skip(_NO_ON_SUBSCRIBE)

    # -- the processor's own tests ------------------------------------------------------

    def setup(self) -> tuple[ManualPublisher, Observable[Any]]:
        """The JVM's ``TestSetup``: a manual upstream, and the processor published under it."""
        upstream = ManualPublisher()
        published = self.create_identity_processor(upstream).pipe(controlled())
        return upstream, published

    def new_subscriber(self, published: Observable[Any]) -> TckSubscriber[Any]:
        subscriber = TckSubscriber[Any]()
        published.subscribe(subscriber)
        return subscriber

    def optional_multiple_subscribers_test(self, required: int) -> None:
        if required > self.max_supported_subscribers:
            pytest.skip(
                f"The Publisher under test only supports {self.max_supported_subscribers} "
                f"subscribers, while this test requires at least {required} to run."
            )

    def multicast(self) -> tuple[ManualPublisher, Observable[Any]]:
        """One subscription of the processor for several subscribers (``share()``'s shape)."""
        upstream = ManualPublisher()
        shared = self.create_identity_processor(upstream)
        return upstream, shared.pipe(controlled())

    def test_mustImmediatelyPassOnOnErrorEventsReceivedFromItsUpstreamToItsDownstream(self) -> None:
        upstream, published = self.setup()
        subscriber = self.new_subscriber(published)
        upstream.await_subscribed()
        error = RuntimeError("Test exception")
        upstream.send_error(error)
        assert subscriber.await_error() is error  # "immediately": without a preceding request
        assert subscriber.violations == []
        self.verify_no_async_errors()

    def test_required_spec104_mustCallOnErrorOnAllItsSubscribersIfItEncountersANonRecoverableError(
        self,
    ) -> None:
        self.optional_multiple_subscribers_test(2)
        upstream, published = self.multicast()
        sub1 = self.new_subscriber(published)
        sub2 = self.new_subscriber(published)
        upstream.await_subscribed()
        self._subscriptions.append(upstream.subscription)
        error = RuntimeError("Test exception")
        if self.does_coordinated_emission:
            sub1.request(1)
            sub2.request(1)
            upstream.subscription.expect_request()
            x = object()
            upstream.send_next(x)
            assert sub1.await_items(1)[-1] is x
            assert sub2.await_items(1)[-1] is x
            sub1.request(1)
            sub2.request(1)
        else:
            sub1.request(1)
            upstream.subscription.expect_request()
            x = object()
            upstream.send_next(x)
            assert sub1.await_items(1)[-1] is x
            sub1.request(1)
        upstream.send_error(error)
        assert sub1.await_error() is error
        assert sub2.await_error() is error
        assert sub1.violations == sub2.violations == []
        self.verify_no_async_errors()

    def test_required_mustRequestFromUpstreamForElementsThatHaveBeenRequestedLongAgo(
        self,
    ) -> None:
        self.optional_multiple_subscribers_test(2)
        upstream, published = self.multicast()
        demand = upstream.subscription
        sub1 = self.new_subscriber(published)
        upstream.await_subscribed()
        self._subscriptions.append(demand)
        sub1.request(20)
        total = demand.expect_request()
        x = object()
        upstream.send_next(x)
        assert sub1.await_items(1)[-1] is x
        if total == 1:
            total += demand.expect_request()
        y = object()
        upstream.send_next(y)
        assert sub1.await_items(2)[-1] is y
        if total == 2:
            total += demand.expect_request()
        sub2 = self.new_subscriber(published)
        z = object()
        if self.does_coordinated_emission:
            assert sub2.items == []  # sub2 has not requested anything yet
            sub2.request(1)
            upstream.send_next(z)
            assert sub1.await_items(3)[-1] is z
            assert sub2.await_items(1)[-1] is z
        else:
            upstream.send_next(z)
            assert sub1.await_items(3)[-1] is z
            assert sub2.items == []
            sub2.request(1)
            assert sub2.await_items(1)[-1] is z
        if total == 3:
            demand.expect_request()
        upstream.send_completion()
        sub1.await_completion()
        sub2.await_completion()
        assert sub1.violations == sub2.violations == []
        self.verify_no_async_errors()

    # -- the publisher half's multicast tests (optional_spec111; the rest: test_publishers.py) --

    def helper_published(self, n: int) -> Observable[Any]:
        """The processor over a helper publisher of ``n`` elements (0..n-1), under controlled().

        One Observable for all the subscribers of a test: a multicast processor (``share()``)
        serves them from one upstream subscription, a cold one from one each.
        """
        return self.create_identity_processor(rxrand.from_iterable(range(n))).pipe(controlled())

    def next_elements(self, subscriber: TckSubscriber[Any], n: int) -> list[Any]:
        """The JVM ManualSubscriber's ``request(n)`` then ``nextElements(n)``."""
        start = len(subscriber.items)
        subscriber.request(n)
        return list(subscriber.await_items(start + n)[start : start + n])

    def request_end_of_stream(self, subscriber: TckSubscriber[Any]) -> None:
        subscriber.request(1)
        subscriber.await_completion()

    def test_optional_spec111_maySupportMultiSubscribe(self) -> None:
        published = self.helper_published(1)
        sub1 = self.new_subscriber(published)
        sub2 = self.new_subscriber(published)
        sub1.cancel()
        sub2.cancel()
        assert sub1.violations == sub2.violations == []

    def test_optional_spec111_registeredSubscribersMustReceiveOnNextOrOnCompleteSignals(
        self,
    ) -> None:
        published = self.helper_published(1)
        sub1 = self.new_subscriber(published)
        sub2 = self.new_subscriber(published)
        sub1.request(1)
        sub2.request(1)
        for subscriber in (sub1, sub2):
            subscriber.await_signals(
                partial(_received_something, subscriber), "onNext or onComplete"
            )
        sub1.cancel()
        sub2.cancel()
        assert sub1.violations == sub2.violations == []

    def test_optional_spec111_multicast_mustProduceTheSameElementsInTheSameSequenceToAllOfItsSubscribersWhenRequestingOneByOne(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        if self.does_coordinated_emission:
            pytest.skip(
                "coordinated emission: an element goes out once every subscriber asked for "
                "it, and this test asks one subscriber at a time"
            )
        published = self.helper_published(5)
        sub1, sub2, sub3 = (self.new_subscriber(published) for _ in range(3))
        x1 = self.next_elements(sub1, 1)
        y1 = self.next_elements(sub2, 2)
        x2 = self.next_elements(sub1, 1)
        z1 = self.next_elements(sub3, 3)
        z2 = self.next_elements(sub3, 1)
        z3 = self.next_elements(sub3, 1)
        self.request_end_of_stream(sub3)
        y2 = self.next_elements(sub2, 3)
        self.request_end_of_stream(sub2)
        x3 = self.next_elements(sub1, 2)
        x4 = self.next_elements(sub1, 1)
        self.request_end_of_stream(sub1)
        r = x1 + x2 + x3 + x4
        assert r == y1 + y2, "not the same element sequence for subscribers 1 and 2"
        assert r == z1 + z2 + z3, "not the same element sequence for subscribers 1 and 3"
        assert sub1.violations == sub2.violations == sub3.violations == []

    def _many_upfront(self, complete: bool) -> None:
        published = self.helper_published(3)
        subscribers = [self.new_subscriber(published) for _ in range(3)]
        for subscriber in subscribers:
            subscriber.request(4)
        received = [list(subscriber.await_items(3)[:3]) for subscriber in subscribers]
        if complete:
            for subscriber in subscribers:
                subscriber.await_completion()
        assert received[0] == received[1], "not the same sequence to 1st and 2nd subscribers"
        assert received[1] == received[2], "not the same sequence to 2nd and 3rd subscribers"
        assert all(subscriber.violations == [] for subscriber in subscribers)

    def test_optional_spec111_multicast_mustProduceTheSameElementsInTheSameSequenceToAllOfItsSubscribersWhenRequestingManyUpfront(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        self._many_upfront(complete=False)

    def test_optional_spec111_multicast_mustProduceTheSameElementsInTheSameSequenceToAllOfItsSubscribersWhenRequestingManyUpfrontAndCompleteAsExpected(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        self._many_upfront(complete=True)

    # -- what rxrand asks of each of its processors (issue 16) -------------------------

    def test_rxrand_downstreamDemandReachesUpstreamAsAtMostNPlusPrefetch(self) -> None:
        upstream, published = self.setup()
        subscriber = self.new_subscriber(published)
        upstream.await_subscribed()
        demand = upstream.subscription
        self._subscriptions.append(demand)
        n = 3
        subscriber.request(n)
        demand.expect_request()
        for element in range(n):
            upstream.send_next(element)
        subscriber.await_items(n)
        asked = sum(demand.requests)
        assert n <= asked <= n + self.prefetch, (
            f"downstream asked for {n}; upstream was asked for {asked} "
            f"(prefetch {self.prefetch}): {demand.requests}"
        )
        assert subscriber.violations == []
        self.verify_no_async_errors()

    def test_rxrand_elementsPassUnchangedAndInOrder(self) -> None:
        upstream, published = self.setup()
        subscriber = self.new_subscriber(published)
        upstream.await_subscribed()
        self._subscriptions.append(upstream.subscription)
        elements: Sequence[object] = [object(), None, 0, "x", (1, 2), object()]
        subscriber.request(len(elements))
        upstream.subscription.expect_request()
        for element in elements:
            upstream.send_next(element)
        got = subscriber.await_items(len(elements))
        assert len(got) == len(elements)
        assert all(a is b for a, b in zip(got, elements, strict=True)), got
        upstream.send_completion()
        subscriber.await_completion()
        assert subscriber.violations == []
        self.verify_no_async_errors()

    def test_rxrand_cancelReachesUpstream(self) -> None:
        upstream, published = self.setup()
        subscriber = self.new_subscriber(published)
        upstream.await_subscribed()
        self._subscriptions.append(upstream.subscription)
        subscriber.request(1)
        upstream.subscription.expect_request()
        subscriber.cancel()
        upstream.subscription.expect_cancelling()
        self.verify_no_async_errors()

    def test_rxrand_errorsPassThroughUnchanged(self) -> None:
        upstream, published = self.setup()
        subscriber = self.new_subscriber(published)
        upstream.await_subscribed()
        self._subscriptions.append(upstream.subscription)
        subscriber.request(2)
        upstream.subscription.expect_request()
        upstream.send_next(1)
        error = TckTestError("passes through")
        upstream.send_error(error)
        assert subscriber.await_error() is error
        assert subscriber.items == [1]
        self.verify_no_async_errors()
