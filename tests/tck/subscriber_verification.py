"""The Reactive Streams subscriber rules, after the JVM TCK's two subscriber verifications.

``SubscriberBlackboxVerification`` drives a subscriber from a manual publisher and looks only at
what the subscriber does to its subscription (requests, cancels). ``SubscriberWhiteboxVerification``
also sees inside: the subscriber under test is wrapped so that it reports what it received to a
:class:`WhiteboxSubscriberProbe`, and exposes a :class:`SubscriberPuppet` through which the test
makes it request and cancel. Both are ported test by test, under the JVM names (a JVM
``untested_*`` test is skipped here as there: the TCK does not verify that rule).

Subclass :class:`SubscriberBlackboxVerification` or :class:`SubscriberWhiteboxVerification` in a
``test_*.py`` module under a name that starts with ``Test`` and provide:

* :meth:`~_SubscriberVerification.create_subscriber`: a fresh subscriber (on whatever thread
  it must be made on: see :meth:`~_SubscriberVerification.call`);
* :meth:`~_SubscriberVerification.create_element` ``(i)``: the i-th element to send it;
* for the blackbox, :meth:`~SubscriberBlackboxVerification.trigger_request` if the subscriber
  does not request by itself; for the whitebox, :meth:`~SubscriberWhiteboxVerification.
  signal_cancel` if it has its own way to cancel;
* :meth:`~_SubscriberVerification.call` for subscribers that must be signalled on an event
  loop's thread; :attr:`bulk` to deliver elements through ``on_next_batch``.

What Python forces (and nothing else):

* no ``null``: rule 2.13's ``NullPointerException`` for ``onSubscribe(null)`` and
  ``onError(null)`` becomes a ``TypeError``, with the subscriber undisturbed; ``None`` as an
  *element* is an ordinary Python value, so ``on_next(None)`` must return normally, unless the
  subscriber's element type excludes ``None`` (:attr:`none_is_an_element` false): then, as on
  the JVM, it is refused with ``TypeError``;
* "called from inside ``onComplete``" (rule 2.3) is seen with a per-thread marker around the
  call, where the JVM walks the stack trace: the same question, asked of the same thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

import pytest

from .verification import TIMEOUT

__all__ = [
    "ManualSubscription",
    "SubscriberBlackboxVerification",
    "SubscriberPuppet",
    "SubscriberWhiteboxVerification",
    "TckTestError",
    "WhiteboxSubscriberProbe",
]

#: Blackbox rule 2.1: at most this many elements sent, whatever the subscriber asks (the JVM's 512).
MAX_SIGNALS: Final = 512

_UNTESTED: Final = "untested in the JVM TCK: the rule cannot be meaningfully tested (notVerified)"


class TckTestError(RuntimeError):
    """The JVM TCK's ``TestException``: the error a manual publisher signals."""


class _Terminal(threading.local):
    """Which terminal signal this thread is inside of, if any (rule 2.3)."""

    kind: str | None = None


_INSIDE: Final = _Terminal()


class ManualSubscription:
    """The subscription a manual publisher hands out: it records requests and the cancel.

    Rule 2.3 is checked at every call: a request or cancel made while this thread is inside
    ``on_completed`` / ``on_error`` is written to :attr:`violations`. ``strict`` subscriptions
    (a second one, rule 2.5) must not be requested from at all.
    """

    fused = False

    def __init__(self, name: str = "subscription", *, strict: bool = False) -> None:
        self._name = name
        self._strict = strict
        self._cond = threading.Condition()
        self.requests: list[int] = []
        self.taken = 0
        self.cancelled = False
        self.violations: list[str] = []

    def __repr__(self) -> str:
        return f"ManualSubscription({self._name})"

    def _check(self, call: str) -> None:
        inside = _INSIDE.kind
        if inside is not None:
            self.violations.append(
                f"rule 2.3: {call} was called on the subscription from inside {inside}"
            )

    def request(self, n: int) -> None:
        with self._cond:
            self._check(f"request({n})")
            if self._strict:
                self.violations.append(f"{self!r} must not be requested from: request({n})")
            self.requests.append(n)
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._check("cancel()")
            self.cancelled = True
            self._cond.notify_all()

    def dispose(self) -> None:
        self.cancel()

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled

    def expect_request(self) -> int:
        """Wait for a request not yet taken; return its n."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) > self.taken, TIMEOUT):
                pytest.fail(f"timed out after {TIMEOUT}s waiting for a request on {self!r}")
            n = self.requests[self.taken]
            self.taken += 1
            return n

    def expect_cancelling(self, message: str | None = None) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.cancelled, TIMEOUT):
                pytest.fail(message or f"timed out after {TIMEOUT}s waiting for cancel of {self!r}")


class SubscriberPuppet:
    """The whitebox handle on a subscriber: make it request, make it cancel."""

    def __init__(self, trigger_request: Callable[[int], None], signal_cancel: Callable[[], None]):
        self.trigger_request = trigger_request
        self.signal_cancel = signal_cancel


class WhiteboxSubscriberProbe:
    """What the subscriber under test received, as it reports it (the JVM's ``WhiteboxSubscriberProbe``)."""  # noqa: E501

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.puppet: SubscriberPuppet | None = None
        self.elements: list[object] = []
        self.taken = 0
        self.completed = 0
        self.errors: list[BaseException] = []
        self.violations: list[str] = []

    def register_on_subscribe(self, puppet: SubscriberPuppet) -> None:
        with self._cond:
            if self.puppet is not None:
                self.violations.append("registerOnSubscribe called twice (rule 2.5)")
            self.puppet = puppet
            self._cond.notify_all()

    def register_on_next(self, element: object) -> None:
        with self._cond:
            self.elements.append(element)
            self._cond.notify_all()

    def register_on_complete(self) -> None:
        with self._cond:
            self.completed += 1
            self._cond.notify_all()

    def register_on_error(self, error: BaseException) -> None:
        with self._cond:
            self.errors.append(error)
            self._cond.notify_all()

    def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, TIMEOUT):
                pytest.fail(f"timed out after {TIMEOUT}s waiting for the probe to see {what}")

    def expect_puppet(self) -> SubscriberPuppet:
        self._wait(lambda: self.puppet is not None, "registerOnSubscribe")
        assert self.puppet is not None
        return self.puppet

    def expect_next(self, element: object) -> None:
        self._wait(lambda: len(self.elements) > self.taken, f"onNext({element!r})")
        with self._cond:
            got = self.elements[self.taken]
            self.taken += 1
        assert got == element, f"the subscriber received {got!r}, expected {element!r}"

    def expect_none(self) -> None:
        with self._cond:
            extra = self.elements[self.taken :]
        assert not extra, f"the subscriber received {extra!r}, expected nothing more"

    def expect_completion(self) -> None:
        self._wait(lambda: self.completed > 0, "onComplete")

    def expect_error(self, error: BaseException) -> None:
        self._wait(lambda: bool(self.errors), f"onError({error!r})")
        assert self.errors[0] is error, f"onError({self.errors[0]!r}), expected {error!r}"


class _ProbedSubscriber:
    """The subscriber under test, reporting to a whitebox probe after each signal it took.

    The JVM TCK asks the implementer to write this subclass; here one wrapper fits every
    subscriber, because each of them shows whether it kept a subscription: a subscription
    it cancelled at once (rule 2.5) is not registered.
    """

    def __init__(
        self,
        inner: Any,
        probe: WhiteboxSubscriberProbe,
        puppet_for: Callable[[Any, ManualSubscription], SubscriberPuppet],
    ) -> None:
        self.inner = inner
        self._probe = probe
        self._puppet_for = puppet_for
        self._registered = False

    def on_subscribe(self, subscription: ManualSubscription) -> None:
        self.inner.on_subscribe(subscription)
        if not self._registered and subscription is not None and not subscription.cancelled:
            self._registered = True
            self._probe.register_on_subscribe(self._puppet_for(self.inner, subscription))

    def on_next(self, element: object) -> None:
        self.inner.on_next(element)
        self._probe.register_on_next(element)

    def on_next_batch(self, batch: Sequence[object]) -> None:
        self.inner.on_next_batch(batch)
        for element in batch:
            self._probe.register_on_next(element)

    def on_error(self, error: Exception) -> None:
        self.inner.on_error(error)
        self._probe.register_on_error(error)

    def on_completed(self) -> None:
        self.inner.on_completed()
        self._probe.register_on_complete()


class TestStage:
    """A manual publisher with one subscriber (the JVM's ``ManualPublisher`` + test stage)."""

    __test__ = False  # not a pytest class

    def __init__(self, verification: _SubscriberVerification, subscriber: Any) -> None:
        self._verification = verification
        self.sub = subscriber
        self.subscription = ManualSubscription()
        self._next = 0
        self.last: object = None
        verification.call(subscriber.on_subscribe, self.subscription)

    def expect_request(self) -> int:
        return self.subscription.expect_request()

    def expect_cancelling(self) -> None:
        self.subscription.expect_cancelling()

    @property
    def is_cancelled(self) -> bool:
        return self.subscription.cancelled

    def signal_next(self) -> object:
        element = self.last = self._verification.create_element(self._next)
        self._next += 1
        self.send_next(element)
        return element

    def send_next(self, element: object) -> None:
        if self._verification.bulk:
            self._verification.call(self.sub.on_next_batch, [element])
        else:
            self._verification.call(self.sub.on_next, element)

    def send_completion(self) -> None:
        self._verification.call(_inside("on_completed", self.sub.on_completed))

    def send_error(self, error: Exception) -> None:
        self._verification.call(_inside("on_error", self.sub.on_error), error)


def _inside(kind: str, signal: Callable[..., None]) -> Callable[..., None]:
    """``signal``, with this thread marked as inside it while it runs (rule 2.3)."""

    def marked(*args: Any) -> None:
        _INSIDE.kind = kind
        try:
            signal(*args)
        finally:
            _INSIDE.kind = None

    return marked


class _SubscriberVerification:
    """What both verifications share: the environment and the subscriber-specific hooks."""

    #: Deliver elements through ``on_next_batch`` (a bulk subscriber's own path).
    bulk: bool = False
    #: Whether ``None`` belongs to the subscriber's element type (see the module doc).
    none_is_an_element: bool = True

    # -- what a subclass provides ---------------------------------------------------------

    def create_subscriber(self) -> Any:
        raise NotImplementedError

    def create_element(self, index: int) -> object:
        return index

    def call(self, signal: Callable[..., None], *args: Any) -> None:
        """Deliver one signal in the subscriber's context (here: on this thread); re-raise."""
        signal(*args)

    # -- environment ----------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _subscriber_environment(self) -> None:
        self._subscriptions: list[ManualSubscription] = []

    def manual_subscription(
        self, name: str = "subscription", *, strict: bool = False
    ) -> ManualSubscription:
        subscription = ManualSubscription(name, strict=strict)
        self._subscriptions.append(subscription)
        return subscription

    def stage(self, subscriber: Any) -> TestStage:
        stage = TestStage(self, subscriber)
        self._subscriptions.append(stage.subscription)
        return stage

    def verify_no_async_errors(self) -> None:
        problems = [v for s in self._subscriptions for v in s.violations]
        assert not problems, "\n".join(problems)


class SubscriberBlackboxVerification(_SubscriberVerification):
    """``org.reactivestreams.tck.SubscriberBlackboxVerification``, test by test."""

    def trigger_request(self, subscriber: Any) -> None:
        """Make the subscriber request, if it does not on its own (the JVM's ``triggerRequest``)."""

    def blackbox_stage(self) -> TestStage:
        return self.stage(self.create_subscriber())

    def test_required_spec201_blackbox_mustSignalDemandViaSubscriptionRequest(self) -> None:
        stage = self.blackbox_stage()
        self.trigger_request(stage.sub)
        requested = stage.expect_request()
        for i in range(min(requested, MAX_SIGNALS)):
            if i % 10 == 0 and stage.is_cancelled:
                break
            stage.signal_next()
        stage.send_completion()
        self.verify_no_async_errors()

    def test_untested_spec202_blackbox_shouldAsynchronouslyDispatch(self) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec203_blackbox_mustNotCallMethodsOnSubscriptionOrPublisherInOnComplete(
        self,
    ) -> None:
        subscriber = self.create_subscriber()
        self.call(subscriber.on_subscribe, self.manual_subscription())
        self.call(_inside("on_completed", subscriber.on_completed))
        self.verify_no_async_errors()

    def test_required_spec203_blackbox_mustNotCallMethodsOnSubscriptionOrPublisherInOnError(
        self,
    ) -> None:
        subscriber = self.create_subscriber()
        self.call(subscriber.on_subscribe, self.manual_subscription())
        self.call(_inside("on_error", subscriber.on_error), TckTestError("spec203"))
        self.verify_no_async_errors()

    def test_untested_spec204_blackbox_mustConsiderTheSubscriptionAsCancelledInAfterRecievingOnCompleteOrOnError(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec205_blackbox_mustCallSubscriptionCancelIfItAlreadyHasAnSubscriptionAndReceivesAnotherOnSubscribeSignal(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage = self.blackbox_stage()
        second = self.manual_subscription("SecondSubscription(should get cancelled)", strict=True)
        self.call(stage.sub.on_subscribe, second)
        second.expect_cancelling(
            "Expected SecondSubscription given to subscriber to be cancelled, "
            "but `Subscription.cancel()` was not called."
        )
        self.verify_no_async_errors()
        stage.send_completion()

    def test_untested_spec206_blackbox_mustCallSubscriptionCancelIfItIsNoLongerValid(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec207_blackbox_mustEnsureAllCallsOnItsSubscriptionTakePlaceFromTheSameThreadOrTakeCareOfSynchronization(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec208_blackbox_mustBePreparedToReceiveOnNextSignalsAfterHavingCalledSubscriptionCancel(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip("untested in the JVM TCK: cannot be meaningfully tested as black box")

    def test_required_spec209_blackbox_mustBePreparedToReceiveAnOnCompleteSignalWithPrecedingRequestCall(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage = self.blackbox_stage()
        self.trigger_request(stage.sub)
        stage.expect_request()
        stage.send_completion()
        self.verify_no_async_errors()

    def test_required_spec209_blackbox_mustBePreparedToReceiveAnOnCompleteSignalWithoutPrecedingRequestCall(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage = self.blackbox_stage()
        stage.send_completion()
        self.verify_no_async_errors()

    def test_required_spec210_blackbox_mustBePreparedToReceiveAnOnErrorSignalWithPrecedingRequestCall(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage = self.blackbox_stage()
        self.trigger_request(stage.sub)
        stage.expect_request()
        stage.send_error(TckTestError("spec210"))
        self.verify_no_async_errors()

    def test_required_spec210_blackbox_mustBePreparedToReceiveAnOnErrorSignalWithoutPrecedingRequestCall(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage = self.blackbox_stage()
        stage.send_error(TckTestError("spec210"))
        self.verify_no_async_errors()

    def test_untested_spec211_blackbox_mustMakeSureThatAllCallsOnItsMethodsHappenBeforeTheProcessingOfTheRespectiveEvents(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec212_blackbox_mustNotCallOnSubscribeMoreThanOnceBasedOnObjectEquality(
        self,
    ) -> None:
        pytest.skip("untested in the JVM TCK: cannot be meaningfully tested as black box")

    def test_untested_spec213_blackbox_failingOnSignalInvocation(self) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec213_blackbox_onSubscribe_mustThrowNullPointerExceptionWhenParametersAreNull(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        subscriber = self.create_subscriber()
        with pytest.raises(TypeError, match=_NONE_SUBSCRIPTION):
            self.call(subscriber.on_subscribe, None)
        self.verify_no_async_errors()

    def test_required_spec213_blackbox_onNext_mustThrowNullPointerExceptionWhenParametersAreNull(
        self,
    ) -> None:
        subscriber = self.create_subscriber()
        self.call(subscriber.on_subscribe, self.manual_subscription())
        _check_none_element(self, subscriber)
        self.verify_no_async_errors()

    def test_required_spec213_blackbox_onError_mustThrowNullPointerExceptionWhenParametersAreNull(
        self,
    ) -> None:
        subscriber = self.create_subscriber()
        subscription = self.manual_subscription()
        self.call(subscriber.on_subscribe, subscription)
        with pytest.raises(TypeError, match=_NONE_ERROR):
            self.call(subscriber.on_error, None)
        # Nothing else disturbed: the subscription stands, and the real end still arrives.
        assert not subscription.cancelled
        self.call(_inside("on_completed", subscriber.on_completed))
        self.verify_no_async_errors()

    def test_untested_spec301_blackbox_mustNotBeCalledOutsideSubscriberContext(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec308_blackbox_requestMustRegisterGivenNumberElementsToBeProduced(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec310_blackbox_requestMaySynchronouslyCallOnNextOnSubscriber(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec311_blackbox_requestMaySynchronouslyCallOnCompleteOrOnError(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec314_blackbox_cancelMayCauseThePublisherToShutdownIfNoOtherSubscriptionExists(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec315_blackbox_cancelMustNotThrowExceptionAndMustSignalOnError(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec316_blackbox_requestMustNotThrowExceptionAndMustOnErrorTheSubscriber(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)


_NONE_SUBSCRIPTION: Final = r"^on_subscribe\(None\): a subscription is required \(rule 2\.13\)$"
_NONE_ERROR: Final = r"^on_error\(None\): an exception is required \(rule 2\.13\)$"


def _check_none_element(verification: _SubscriberVerification, subscriber: Any) -> None:
    """Rule 2.13, adapted: ``None`` is an element where the element type has it."""
    send = subscriber.on_next_batch if verification.bulk else subscriber.on_next
    value: object = [None] if verification.bulk else None
    if verification.none_is_an_element:
        verification.call(send, value)  # returns normally
    else:
        with pytest.raises(TypeError):
            verification.call(send, value)


class SubscriberWhiteboxVerification(_SubscriberVerification):
    """``org.reactivestreams.tck.SubscriberWhiteboxVerification``, test by test."""

    def signal_cancel(self, subscriber: Any, subscription: ManualSubscription) -> None:
        """The puppet's cancel: the subscriber's own way, if it has one."""
        subscription.cancel()

    def trigger_request(self, subscriber: Any, subscription: ManualSubscription, n: int) -> None:
        """The puppet's request: the subscriber's own way, if it has one."""
        subscription.request(n)

    def whitebox_stage(self) -> tuple[TestStage, WhiteboxSubscriberProbe, SubscriberPuppet]:
        probe = WhiteboxSubscriberProbe()

        def puppet_for(inner: Any, subscription: ManualSubscription) -> SubscriberPuppet:
            return SubscriberPuppet(
                lambda n: self.trigger_request(inner, subscription, n),
                lambda: self.signal_cancel(inner, subscription),
            )

        subscriber = _ProbedSubscriber(self.create_subscriber(), probe, puppet_for)
        stage = self.stage(subscriber)
        return stage, probe, probe.expect_puppet()

    def verify_probe(self, probe: WhiteboxSubscriberProbe) -> None:
        assert not probe.violations, "\n".join(probe.violations)
        self.verify_no_async_errors()

    def test_required_exerciseWhiteboxHappyPath(self) -> None:
        stage, probe, puppet = self.whitebox_stage()
        puppet.trigger_request(1)
        puppet.trigger_request(1)
        received = stage.expect_request()
        probe.expect_next(stage.signal_next())
        puppet.trigger_request(1)
        if received == 1:
            stage.expect_request()
        probe.expect_next(stage.signal_next())
        puppet.signal_cancel()
        stage.expect_cancelling()
        self.verify_probe(probe)

    def test_required_spec201_mustSignalDemandViaSubscriptionRequest(self) -> None:
        stage, probe, puppet = self.whitebox_stage()
        puppet.trigger_request(1)
        stage.expect_request()
        stage.signal_next()
        self.verify_probe(probe)

    def test_untested_spec202_shouldAsynchronouslyDispatch(self) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec203_mustNotCallMethodsOnSubscriptionOrPublisherInOnComplete(
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        stage.send_completion()
        probe.expect_completion()
        self.verify_probe(probe)

    def test_required_spec203_mustNotCallMethodsOnSubscriptionOrPublisherInOnError(self) -> None:
        stage, probe, _ = self.whitebox_stage()
        error = TckTestError("spec203")
        stage.send_error(error)
        probe.expect_error(error)
        self.verify_probe(probe)

    def test_untested_spec204_mustConsiderTheSubscriptionAsCancelledInAfterRecievingOnCompleteOrOnError(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec205_mustCallSubscriptionCancelIfItAlreadyHasAnSubscriptionAndReceivesAnotherOnSubscribeSignal(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        second = self.manual_subscription("SecondSubscription(should get cancelled)")
        self.call(stage.sub.on_subscribe, second)
        second.expect_cancelling(
            "Expected 2nd Subscription given to subscriber to be cancelled, "
            "but `Subscription.cancel()` was not called"
        )
        self.verify_probe(probe)

    def test_untested_spec206_mustCallSubscriptionCancelIfItIsNoLongerValid(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec207_mustEnsureAllCallsOnItsSubscriptionTakePlaceFromTheSameThreadOrTakeCareOfSynchronization(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec208_mustBePreparedToReceiveOnNextSignalsAfterHavingCalledSubscriptionCancel(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        stage, probe, puppet = self.whitebox_stage()
        puppet.trigger_request(1)
        stage.expect_request()
        puppet.signal_cancel()
        stage.expect_cancelling()
        stage.signal_next()
        puppet.trigger_request(1)
        puppet.trigger_request(1)
        self.verify_probe(probe)

    def test_required_spec209_mustBePreparedToReceiveAnOnCompleteSignalWithPrecedingRequestCall(
        self,
    ) -> None:
        stage, probe, puppet = self.whitebox_stage()
        puppet.trigger_request(1)
        stage.send_completion()
        probe.expect_completion()
        self.verify_probe(probe)

    def test_required_spec209_mustBePreparedToReceiveAnOnCompleteSignalWithoutPrecedingRequestCall(
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        stage.send_completion()
        probe.expect_completion()
        self.verify_probe(probe)

    def test_required_spec210_mustBePreparedToReceiveAnOnErrorSignalWithPrecedingRequestCall(
        self,
    ) -> None:
        stage, probe, puppet = self.whitebox_stage()
        puppet.trigger_request(1)
        puppet.trigger_request(1)
        error = TckTestError("spec210")
        stage.send_error(error)
        probe.expect_error(error)
        self.verify_probe(probe)

    def test_required_spec210_mustBePreparedToReceiveAnOnErrorSignalWithoutPrecedingRequestCall(
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        error = TckTestError("spec210")
        stage.send_error(error)
        probe.expect_error(error)
        self.verify_probe(probe)

    def test_untested_spec211_mustMakeSureThatAllCallsOnItsMethodsHappenBeforeTheProcessingOfTheRespectiveEvents(  # noqa: E501 (the JVM name)
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec212_mustNotCallOnSubscribeMoreThanOnceBasedOnObjectEquality_specViolation(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec213_failingOnSignalInvocation(self) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec213_onSubscribe_mustThrowNullPointerExceptionWhenParametersAreNull(
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        with pytest.raises(TypeError, match=_NONE_SUBSCRIPTION):
            self.call(stage.sub.on_subscribe, None)
        assert not stage.is_cancelled  # nothing else disturbed
        self.verify_probe(probe)

    def test_required_spec213_onNext_mustThrowNullPointerExceptionWhenParametersAreNull(
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        _check_none_element(self, stage.sub)
        self.verify_probe(probe)

    def test_required_spec213_onError_mustThrowNullPointerExceptionWhenParametersAreNull(
        self,
    ) -> None:
        stage, probe, _ = self.whitebox_stage()
        with pytest.raises(TypeError, match=_NONE_ERROR):
            self.call(stage.sub.on_error, None)
        assert not stage.is_cancelled
        assert probe.errors == []
        stage.send_completion()
        probe.expect_completion()
        self.verify_probe(probe)

    def test_untested_spec301_mustNotBeCalledOutsideSubscriberContext(self) -> None:
        pytest.skip(_UNTESTED)

    def test_required_spec308_requestMustRegisterGivenNumberElementsToBeProduced(self) -> None:
        stage, probe, puppet = self.whitebox_stage()
        puppet.trigger_request(2)
        requested = stage.expect_request()
        probe.expect_next(stage.signal_next())
        if requested < 2:
            stage.expect_request()
        probe.expect_next(stage.signal_next())
        probe.expect_none()
        puppet.trigger_request(3)
        self.verify_probe(probe)

    def test_untested_spec310_requestMaySynchronouslyCallOnNextOnSubscriber(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec311_requestMaySynchronouslyCallOnCompleteOrOnError(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec314_cancelMayCauseThePublisherToShutdownIfNoOtherSubscriptionExists(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec315_cancelMustNotThrowExceptionAndMustSignalOnError(self) -> None:
        pytest.skip(_UNTESTED)

    def test_untested_spec316_requestMustNotThrowExceptionAndMustOnErrorTheSubscriber(
        self,
    ) -> None:
        pytest.skip(_UNTESTED)
