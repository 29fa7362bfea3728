"""A Reactive Streams publisher conformance suite, written once and applied to every publisher.

After the JVM TCK's ``PublisherVerification``: subclass :class:`PublisherVerification` in a
``test_*.py`` module under a name that starts with ``Test``, and say how to make the publisher:

* :meth:`~PublisherVerification.create_publisher` ``(n)``: a publisher of exactly ``n`` items
  that then completes;
* :meth:`~PublisherVerification.create_failed_publisher`: one that signals ``on_error`` before
  its first item (at the latest when the first item is requested), or ``None`` if it cannot fail;
* optionally :attr:`~PublisherVerification.max_elements`,
  :meth:`~PublisherVerification.expected_elements` (then order is checked too) and
  :meth:`~PublisherVerification.start_thread` for sources that feed from a thread of their own.

pytest then collects every ``test_rule_*`` method below once per subclass. It is a class, not
plain functions as elsewhere in the tests, because the same rules run against many publishers and
each publisher needs its own factories: the TCK's shape is the clearer one here. A rule that
cannot apply to a publisher is skipped with the reason, never passed.

Every signal goes to a :class:`TckSubscriber`, which notes rule breaches as they happen
(rule 1.1: more ``on_next`` than requested; 1.3: overlapping signals; 1.7: a signal after a
terminal one; 1.9: a signal before ``on_subscribe``; 3.3: ``on_next`` re-entered on its own
stack) instead of raising into the publisher; each test ends with :meth:`verify`, which fails on
any of them. Waits for a signal that must come time out after :data:`TIMEOUT` seconds; "nothing
more arrives" is checked after :meth:`~PublisherVerification.settle` has joined the publisher's
own threads, so no test sleeps on the happy path.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, Final, Generic, Literal, NamedTuple, TypeVar, final

import pytest

from rxrand import UNBOUNDED, ControlledSubscription
from rxrand.ops import Controlled

__all__ = [
    "STACK_TEST_ELEMENTS",
    "TIMEOUT",
    "PublisherVerification",
    "Signal",
    "TckSubscriber",
]

_T = TypeVar("_T")

#: Seconds to wait for a signal that must arrive, or for a thread to finish.
TIMEOUT: Final = 5.0

#: Rule 3.3: how many ``request(1)`` calls from ``on_next`` the recursion test makes. Recursion
#: shows within the first items (depths are sampled at each of the first 64): 10,000 still crosses
#: a chunk boundary (8,192) and two grants (4,096), at a tenth of 100,000's run time.
STACK_TEST_ELEMENTS: Final = 10_000

#: Rule 3.3: how many frames deeper the last ``on_next`` may run than the first. A constant:
#: recursion through ``request`` would add frames for every item (or hit RecursionError).
MAX_STACK_GROWTH: Final = 16

#: verify() lists this many rule breaches, then counts the rest.
_MAX_PROBLEMS_SHOWN: Final = 12

_get_ident: Final = threading.get_ident
_new_tuple: Final = tuple.__new__

SignalKind = Literal["on_subscribe", "on_next", "on_error", "on_completed"]

_TERMINAL_KINDS: Final = ("on_error", "on_completed")


class Signal(NamedTuple):
    """One signal as the subscriber saw it."""

    kind: SignalKind
    value: object
    thread: int


def _stack_depth() -> int:
    depth = 0
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def _eventually_collected(ref: weakref.ref[Any]) -> bool:
    """Rule 3.13 says "eventually": collect until the referent is gone or TIMEOUT passes."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        # Without a cycle through it the referent is gone already; gc.collect() costs ~0.1 s.
        if ref() is None:
            return True
        gc.collect()
        if ref() is None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


@final
class TckSubscriber(Generic[_T]):
    """A Reactive Streams subscriber that records every signal with the thread it came on.

    It never raises into the publisher on its own: a broken rule is written to
    :attr:`violations`. It can request from ``on_subscribe`` and from every ``on_next``, cancel
    at a given item, linger inside ``on_next`` so that concurrent deliveries would overlap
    (``dwell``), and run a hook after each item.

    ``request`` and ``cancel`` go through this object, not straight to the subscription, so that
    it knows how much was requested (rule 1.1 is checked at every ``on_next``).

    Not :class:`rxrand.testing.RecordingSubscriber`: that one is for marble and unit tests; this
    one judges the publisher (rule checks, thread ids, waits with timeouts), and the suite must
    not depend on the library it tests for its own verdicts.
    """

    def __init__(
        self,
        *,
        request_on_subscribe: int = 0,
        request_on_next: int = 0,
        cancel_at: int | None = None,
        dwell: bool = False,
        on_next_hook: Callable[[TckSubscriber[_T], _T], None] | None = None,
    ) -> None:
        self._request_on_subscribe = request_on_subscribe
        #: Ask for one more item before waiting for on_completed (see await_completion).
        self.request_end_of_stream = False
        self._request_on_next = request_on_next
        self._cancel_at = cancel_at
        self._dwell = dwell
        self._on_next_hook = on_next_hook
        # Held only for bookkeeping, never while calling out, so a plain Lock will do; the hot
        # path takes it directly (a Condition's own ``with`` is a Python-level call).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        # Rule 1.3/3.3 detector: held by the thread inside a signal; a signal that finds it
        # taken overlaps another (other thread) or re-enters one (same thread).
        self._serial = threading.Lock()
        self._serial_thread: int | None = None
        self.signals: list[Signal] = []
        self.items: list[_T] = []
        self.violations: list[str] = []
        self.terminal: Signal | None = None
        #: Sum of valid requests made so far, saturated like the publisher's demand.
        self.requested = 0
        self.subscription: ControlledSubscription[_T] | None = None
        #: ``len(signals)`` when :meth:`cancel` was first called.
        self.signals_at_cancel: int | None = None

    # -- the Reactive Streams subscriber --------------------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[Any]) -> None:
        owned = self._enter("on_subscribe", subscription)
        try:
            self.subscription = subscription
            if self._request_on_subscribe:
                self.request(self._request_on_subscribe)
        finally:
            self._exit(owned)

    def on_next(self, value: _T) -> None:
        owned = self._enter("on_next", value)
        try:
            if self._dwell:
                time.sleep(0)  # give another thread the chance to overlap (rule 1.3)
            if self._cancel_at is not None and len(self.items) >= self._cancel_at:
                self.cancel()
            if self._request_on_next:
                self.request(self._request_on_next)
            if self._on_next_hook is not None:
                self._on_next_hook(self, value)
        finally:
            self._exit(owned)

    def on_error(self, error: Exception) -> None:
        self._exit(self._enter("on_error", error))

    def on_completed(self) -> None:
        self._exit(self._enter("on_completed", None))

    # -- demand -----------------------------------------------------------------------------

    def request(self, n: int) -> None:
        subscription = self._subscription()
        if n > 0:
            with self._lock:
                self.requested = min(self.requested + n, UNBOUNDED)
        subscription.request(n)

    def cancel(self) -> None:
        subscription = self._subscription()
        with self._lock:
            if self.signals_at_cancel is None:
                self.signals_at_cancel = len(self.signals)
        subscription.cancel()

    def _subscription(self) -> ControlledSubscription[_T]:
        if self.subscription is None:
            pytest.fail("rule 1.9: no on_subscribe yet, so there is nothing to request from")
        return self.subscription

    # -- recording ------------------------------------------------------------------------

    def _enter(self, kind: SignalKind, value: object) -> bool:
        """Record a signal; return whether this call owns the rule 1.3 detector."""
        thread = _get_ident()
        owned = self._serial.acquire(blocking=False)
        if owned:
            self._serial_thread = thread
        with self._lock:
            if not owned:
                if self._serial_thread == thread:
                    self.violations.append(
                        f"rule 3.3: {kind} re-entered a signal on the same stack (recursion)"
                    )
                else:
                    self.violations.append(
                        f"rule 1.3: {kind} on thread {thread} overlapped a signal "
                        f"on thread {self._serial_thread}"
                    )
            signals = self.signals
            if kind == "on_subscribe":
                if any(signal.kind == "on_subscribe" for signal in signals):
                    self.violations.append("rule 1.9: on_subscribe signalled twice")
                elif signals:
                    self.violations.append(f"rule 1.9: on_subscribe came after {signals[0].kind}")
            elif not signals:
                self.violations.append(f"rule 1.9: {kind} came before on_subscribe")
            if self.terminal is not None:
                self.violations.append(f"rule 1.7: {kind} came after {self.terminal.kind}")
            # tuple.__new__ rather than Signal(...): a NamedTuple's own __new__ is Python code,
            # and this runs for every item of the 100,000-item rule 3.3 test.
            signal = _new_tuple(Signal, (kind, value, thread))
            if kind == "on_next":
                items = self.items
                items.append(value)  # type: ignore[arg-type]
                if len(items) > self.requested:
                    self.violations.append(
                        f"rule 1.1: on_next #{len(items)} but only {self.requested} requested"
                    )
            elif kind in _TERMINAL_KINDS and self.terminal is None:
                self.terminal = signal
            signals.append(signal)
            if self._waiters:
                self._cond.notify_all()
        return owned

    def _exit(self, owned: bool) -> None:
        if owned:
            self._serial_thread = None
            self._serial.release()

    # -- waiting and describing ----------------------------------------------------------------

    def describe(self) -> str:
        """The signals so far, in short: ``on_subscribe, 3 x on_next, on_completed``."""
        with self._cond:
            parts: list[str] = []
            run = 0
            for signal in self.signals:
                if signal.kind == "on_next":
                    run += 1
                    continue
                if run:
                    parts.append(f"{run} x on_next")
                    run = 0
                shown = f"({signal.value!r})" if signal.kind == "on_error" else ""
                parts.append(signal.kind + shown)
            if run:
                parts.append(f"{run} x on_next")
            return ", ".join(parts) or "no signals"

    def await_signals(self, predicate: Callable[[], bool], what: str) -> None:
        with self._cond:
            self._waiters += 1
            try:
                if self._cond.wait_for(predicate, TIMEOUT):
                    return
            finally:
                self._waiters -= 1
        pytest.fail(f"timed out after {TIMEOUT}s waiting for {what}; got: {self.describe()}")

    def await_items(self, count: int) -> list[_T]:
        """Wait for at least ``count`` items in all; fail if the stream ends short."""
        self.await_signals(
            lambda: len(self.items) >= count or self.terminal is not None, f"{count} x on_next"
        )
        if len(self.items) < count:
            pytest.fail(f"expected {count} x on_next, got: {self.describe()}")
        return self.items

    def await_terminal(self) -> Signal:
        self.await_signals(lambda: self.terminal is not None, "a terminal signal")
        assert self.terminal is not None
        return self.terminal

    def await_completion(self) -> None:
        if self.request_end_of_stream and self.terminal is None and self.subscription is not None:
            # The JVM TCK's requestEndOfStream: a publisher that reads nothing ahead sees the
            # end only when asked for one more item.
            self.await_signals(
                lambda: self.terminal is not None or len(self.items) >= self.requested,
                "the requested items (before asking for the end of the stream)",
            )
            if self.terminal is None:
                self.request(1)
        terminal = self.await_terminal()
        if terminal.kind != "on_completed":
            pytest.fail(f"expected on_completed, got: {self.describe()}")

    def await_error(self) -> Exception:
        terminal = self.await_terminal()
        if not isinstance(terminal.value, Exception):
            pytest.fail(f"expected on_error, got: {self.describe()}")
        return terminal.value

    def signals_after_cancel(self) -> list[Signal]:
        with self._cond:
            if self.signals_at_cancel is None:
                return []
            return self.signals[self.signals_at_cancel :]

    def count(self, kind: SignalKind) -> int:
        with self._cond:
            return sum(1 for signal in self.signals if signal.kind == kind)


@final
class BulkFacade(Generic[_T]):
    """A :class:`TckSubscriber` seen as a bulk subscriber: each batch is checked, then replayed.

    A batch must be non-empty and within the demand still outstanding (rule 1.1 for batches);
    its items are then handed to the subscriber one by one, so every other check applies as is.
    A cancel from inside an item drops the rest of the batch, as a bulk consumer would.
    """

    def __init__(self, subscriber: TckSubscriber[_T]) -> None:
        self.subscriber = subscriber
        self.on_subscribe = subscriber.on_subscribe
        self.on_next = subscriber.on_next
        self.on_error = subscriber.on_error
        self.on_completed = subscriber.on_completed
        self.batches = 0

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        subscriber = self.subscriber
        outstanding = subscriber.requested - len(subscriber.items)
        if not len(batch):
            subscriber.violations.append("rule 1.1: an empty batch")
        if len(batch) > outstanding:
            subscriber.violations.append(
                f"rule 1.1: a batch of {len(batch)} with {outstanding} outstanding"
            )
        self.batches += 1
        for value in batch:
            if subscriber.signals_at_cancel is not None:
                break
            subscriber.on_next(value)


class PublisherVerification:
    """The publisher rules of the Reactive Streams specification, as pytest tests.

    Subclasses implement :meth:`create_publisher` and may override the rest. A fresh instance
    runs each test (pytest's way), so per-test state lives on ``self``.
    """

    #: Most items :meth:`create_publisher` can make (``None``: no limit). Tests that need more
    #: are skipped.
    max_elements: int | None = None
    #: Why :meth:`create_failed_publisher` returns ``None``, shown in the skip.
    no_failed_publisher_reason: str = "this publisher has no way to fail"
    #: Extra wait before "nothing more arrives" checks, for publishers whose background work
    #: :meth:`start_thread` does not cover.
    quiet_seconds: float = 0.0
    #: For publishers that read nothing ahead of demand: one more request(1) before every
    #: wait for on_completed (the JVM TCK's ``requestEndOfStream``); the rules that require
    #: completion without demand are skipped by such a suite.
    request_end_of_stream: bool = False
    #: Subscribe as a bulk subscriber (``on_next_batch``): the fused path for a fusable source.
    bulk: bool = False
    #: With ``bulk``: whether the subscription must report itself fused.
    expect_fused: bool = False

    # -- what a subclass provides -------------------------------------------------------

    def create_publisher(self, n: int) -> Controlled[int]:
        """A publisher of exactly ``n`` items that then completes."""
        raise NotImplementedError

    def create_failed_publisher(self) -> Controlled[int] | None:
        """A publisher that signals on_error before any item, or ``None`` if it cannot fail."""
        return None

    def expected_elements(self, n: int) -> Sequence[int] | None:
        """The ``n`` items :meth:`create_publisher` emits, in order; ``None`` if unknown."""
        return None

    # -- environment -------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _environment(self) -> Iterator[None]:
        self._threads: list[threading.Thread] = []
        self._subscribers: list[tuple[TckSubscriber[int], int | None]] = []
        self._sizes: dict[int, tuple[Controlled[int], int]] = {}
        yield
        # Whatever the outcome, leave no thread of ours behind.
        for thread in self._threads:
            thread.join(TIMEOUT)

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        """Run publisher work on a thread that :meth:`settle` joins (with a timeout)."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def settle(self) -> None:
        """Wait until the publishers' own work is done: then only our requests make signals."""
        for thread in self._threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive(), f"{thread.name} still running after {TIMEOUT}s"
        if self.quiet_seconds:
            time.sleep(self.quiet_seconds)

    def publisher(self, n: int) -> Controlled[int]:
        """:meth:`create_publisher`, remembering n so that :meth:`verify` can check the items."""
        maximum = self.max_elements
        if maximum is not None and n > maximum:
            pytest.skip(f"needs {n} elements; this publisher makes at most {maximum}")
        publisher = self.create_publisher(n)
        self._sizes[id(publisher)] = (publisher, n)
        return publisher

    def failed_publisher(self) -> Controlled[int]:
        publisher = self.create_failed_publisher()
        if publisher is None:
            pytest.skip(self.no_failed_publisher_reason)
        return publisher

    def subscribe(
        self,
        publisher: Controlled[int],
        *,
        request_on_subscribe: int = 0,
        request_on_next: int = 0,
        cancel_at: int | None = None,
        dwell: bool = False,
        on_next_hook: Callable[[TckSubscriber[int], int], None] | None = None,
    ) -> TckSubscriber[int]:
        subscriber = TckSubscriber[int](
            request_on_subscribe=request_on_subscribe,
            request_on_next=request_on_next,
            cancel_at=cancel_at,
            dwell=dwell,
            on_next_hook=on_next_hook,
        )
        subscriber.request_end_of_stream = self.request_end_of_stream
        returned = publisher.subscribe(BulkFacade(subscriber) if self.bulk else subscriber)
        if self.bulk and subscriber.subscription is not None:
            assert subscriber.subscription.fused is self.expect_fused
        # Rule 1.9: subscribe returns normally, and here it returns the subscription itself.
        assert returned is subscriber.subscription, (
            f"subscribe returned {returned!r}, on_subscribe got {subscriber.subscription!r}"
        )
        sized = self._sizes.get(id(publisher))
        self._subscribers.append((subscriber, None if sized is None else sized[1]))
        return subscriber

    def verify(self) -> None:
        """Settle, then fail on any rule breach a subscriber saw or any item out of order."""
        self.settle()
        problems: list[str] = []
        for index, (subscriber, n) in enumerate(self._subscribers):
            problems += [f"subscriber {index}: {v}" for v in subscriber.violations]
            expected = None if n is None else self.expected_elements(n)
            if expected is not None:
                got = subscriber.items
                if list(expected[: len(got)]) != got:
                    problems.append(
                        f"subscriber {index}: items are not a prefix of the publisher's {n} "
                        f"elements in order: got {got[:8]}..., expected {list(expected[:8])}..."
                    )
        shown = problems[:_MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more")
        assert not problems, "\n".join(shown)

    def run_threads(self, targets: Sequence[Callable[[], None]]) -> None:
        """Run the targets on threads started together; re-raise what they raise."""
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(targets))

        def run(target: Callable[[], None]) -> None:
            try:
                barrier.wait(TIMEOUT)
                target()
            except BaseException as error:
                errors.append(error)

        threads = [
            threading.Thread(target=run, args=(target,), name=f"tck-{index}", daemon=True)
            for index, target in enumerate(targets)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        assert not any(thread.is_alive() for thread in threads), f"threads hung for {TIMEOUT}s"
        if errors:
            raise errors[0]

    # -- rule 1.1: never more on_next than requested ----------------------------------------

    def test_rule_1_1_no_on_next_without_demand(self) -> None:
        subscriber = self.subscribe(self.publisher(5))
        self.settle()
        assert subscriber.count("on_next") == 0, subscriber.describe()
        self.verify()

    def test_rule_1_1_delivers_exactly_the_requested_number_of_elements(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        for request, total in ((1, 1), (2, 3), (3, 6)):
            subscriber.request(request)
            subscriber.await_items(total)
            self.settle()
            assert len(subscriber.items) == total, subscriber.describe()
            assert subscriber.terminal is None, subscriber.describe()
        subscriber.request(4)
        subscriber.await_completion()
        assert len(subscriber.items) == 10
        self.verify()

    # -- rule 1.2: fewer than requested, then a terminal signal -------------------------------

    def test_rule_1_2_may_deliver_fewer_than_requested_then_completes(self) -> None:
        subscriber = self.subscribe(self.publisher(3))
        subscriber.request(10)
        subscriber.await_completion()
        assert len(subscriber.items) == 3
        self.verify()

    # -- rule 1.3: signals are serial ------------------------------------------------------

    def test_rule_1_3_signals_are_serial_while_other_threads_request(self) -> None:
        n = 400
        requesters = 4
        subscriber = self.subscribe(self.publisher(n), dwell=True)

        def request_one_at_a_time() -> None:
            for _ in range(n // requesters):
                subscriber.request(1)
                time.sleep(0)

        self.run_threads([request_one_at_a_time] * requesters)
        subscriber.await_completion()
        assert len(subscriber.items) == n
        self.verify()

    def test_rule_1_3_signals_are_serial_when_requested_from_on_next_and_other_threads(
        self,
    ) -> None:
        n = 300
        subscriber = self.subscribe(self.publisher(n), request_on_next=1, dwell=True)

        def request_in_small_steps() -> None:
            for _ in range(n // 6):
                subscriber.request(1)
                time.sleep(0)

        self.run_threads([request_in_small_steps] * 3)
        subscriber.await_completion()
        assert len(subscriber.items) == n
        self.verify()

    # -- rule 1.4: a failing publisher signals on_error --------------------------------------

    def test_rule_1_4_failed_publisher_signals_on_error(self) -> None:
        subscriber = self.subscribe(self.failed_publisher())
        # One item of demand: a pull source may fail only when it is asked for something.
        subscriber.request(1)
        error = subscriber.await_error()
        assert isinstance(error, Exception)
        assert subscriber.items == [], subscriber.describe()
        self.verify()

    # -- rule 1.5: a finite stream ends with on_completed -----------------------------------

    def test_rule_1_5_completes_after_the_last_element_without_more_demand(self) -> None:
        subscriber = self.subscribe(self.publisher(5))
        subscriber.request(5)
        subscriber.await_completion()
        assert len(subscriber.items) == 5
        self.verify()

    def test_rule_1_5_empty_publisher_completes_without_demand(self) -> None:
        subscriber = self.subscribe(self.publisher(0))
        subscriber.await_completion()
        assert [signal.kind for signal in subscriber.signals] == ["on_subscribe", "on_completed"]
        self.verify()

    # -- rules 1.6/1.7: nothing after a terminal signal -----------------------------------------

    def test_rule_1_6_terminal_signal_drops_the_reference_to_the_subscriber(self) -> None:
        publisher = self.publisher(3)
        # Not through self.subscribe: the suite would keep the subscriber alive.
        subscriber = TckSubscriber[int]()
        subscription = publisher.subscribe(subscriber)
        subscriber.request(5)
        subscriber.await_completion()
        self.settle()
        assert subscriber.violations == []
        gone = weakref.ref(subscriber)
        del subscriber
        # Rule 1.6: after on_completed the subscription counts as cancelled, so rule 3.13 applies.
        assert _eventually_collected(gone), (
            f"rules 1.6/3.13: the publisher or {subscription!r} still holds the subscriber "
            "after on_completed"
        )
        self.verify()

    def test_rule_1_7_no_signals_after_on_completed(self) -> None:
        subscriber = self.subscribe(self.publisher(3))
        subscriber.request(3)
        subscriber.await_completion()
        # Rule 1.6: the subscription now counts as cancelled, so these are no-ops (rule 3.6).
        subscriber.request(5)
        subscriber.request(0)
        subscriber.cancel()
        self.settle()
        assert subscriber.count("on_next") == 3
        assert subscriber.count("on_completed") == 1
        assert subscriber.count("on_error") == 0
        self.verify()

    def test_rule_1_7_no_signals_after_on_error(self) -> None:
        subscriber = self.subscribe(self.failed_publisher())
        subscriber.request(1)
        subscriber.await_error()
        subscriber.request(5)
        subscriber.request(-1)
        subscriber.cancel()
        self.settle()
        assert [signal.kind for signal in subscriber.signals] == ["on_subscribe", "on_error"]
        self.verify()

    # -- rule 1.9: on_subscribe first; subscribe returns normally; no None subscriber ------------

    def test_rule_1_9_on_subscribe_is_the_first_signal(self) -> None:
        subscriber = self.subscribe(self.publisher(3), request_on_subscribe=3)
        subscriber.await_completion()
        assert [signal.kind for signal in subscriber.signals] == [
            "on_subscribe",
            "on_next",
            "on_next",
            "on_next",
            "on_completed",
        ]
        self.verify()

    def test_rule_1_9_on_subscribe_comes_before_on_error(self) -> None:
        subscriber = self.subscribe(self.failed_publisher(), request_on_subscribe=1)
        subscriber.await_error()
        assert [signal.kind for signal in subscriber.signals] == ["on_subscribe", "on_error"]
        self.verify()

    def test_rule_1_9_subscribe_returns_normally_with_the_subscription(self) -> None:
        subscriber = TckSubscriber[int]()
        returned = self.publisher(3).subscribe(subscriber)
        assert isinstance(returned, ControlledSubscription)
        assert returned is subscriber.subscription
        returned.cancel()

    def test_rule_1_9_callbacks_get_on_subscribe_first(self) -> None:
        seen: list[str] = []
        done = threading.Event()

        holder: list[ControlledSubscription[int]] = []

        def on_subscribe(subscription: ControlledSubscription[int]) -> None:
            seen.append("on_subscribe")
            holder.append(subscription)
            subscription.request(2)

        def on_next(_: int) -> None:
            seen.append("on_next")
            if self.request_end_of_stream and seen.count("on_next") == 2:
                holder[0].request(1)  # see request_end_of_stream

        def on_completed() -> None:
            seen.append("on_completed")
            done.set()

        self.publisher(2).subscribe(
            on_next,
            lambda error: seen.append(f"on_error({error!r})"),
            on_completed,
            on_subscribe=on_subscribe,
        )
        assert done.wait(TIMEOUT), seen
        assert seen == ["on_subscribe", "on_next", "on_next", "on_completed"]
        self.verify()

    def test_rule_1_9_none_subscriber_is_a_type_error(self) -> None:
        publisher = self.publisher(3)
        with pytest.raises(TypeError):
            publisher.subscribe(None)
        with pytest.raises(TypeError):
            publisher.subscribe()

    # -- rule 1.11: each subscription is its own -----------------------------------------------

    def test_rule_1_11_each_subscription_has_its_own_demand(self) -> None:
        publisher = self.publisher(10)
        first = self.subscribe(publisher)
        second = self.subscribe(publisher)
        first.request(2)
        second.request(5)
        first.await_items(2)
        second.await_items(5)
        self.settle()
        assert (len(first.items), len(second.items)) == (2, 5)
        first.cancel()
        second.request(5)
        second.await_completion()
        self.settle()
        assert (len(first.items), len(second.items)) == (2, 10)
        assert first.terminal is None, first.describe()
        self.verify()

    # -- rule 2.13: a subscriber that raises from on_next is cancelled --------------------------

    def test_rule_2_13_raising_from_on_next_stops_the_items(self) -> None:
        def fail_at_third(subscriber: TckSubscriber[int], _: int) -> None:
            if len(subscriber.items) == 3:
                raise RuntimeError("subscriber broke rule 2.13")

        subscriber = self.subscribe(self.publisher(10), on_next_hook=fail_at_third)
        subscriber.request(10)
        subscriber.await_items(3)
        self.settle()
        assert len(subscriber.items) == 3, subscriber.describe()
        assert subscriber.count("on_completed") == 0, subscriber.describe()
        self.verify()

    # -- rules 3.2/3.3: request from inside the subscriber, without recursion -------------------

    def test_rule_3_2_request_from_on_subscribe_and_on_next(self) -> None:
        subscriber = self.subscribe(self.publisher(10), request_on_subscribe=1, request_on_next=1)
        subscriber.await_completion()
        assert len(subscriber.items) == 10
        self.verify()

    def test_rule_3_3_request_from_on_next_does_not_recurse(self) -> None:
        n = STACK_TEST_ELEMENTS
        # Depths are compared per thread: items may arrive on the subscribing thread and then
        # on a source's own thread, whose stacks start at unrelated depths.
        depths: dict[int, list[int]] = {}

        def request_next(subscriber: TckSubscriber[int], _: int) -> None:
            count = len(subscriber.items)
            if count <= 64 or count % 1000 == 0:
                depths.setdefault(threading.get_ident(), []).append(_stack_depth())
            subscriber.request(1)

        subscriber = self.subscribe(
            self.publisher(n), request_on_subscribe=1, on_next_hook=request_next
        )
        subscriber.await_completion()
        assert len(subscriber.items) == n
        growth = max(max(seen) - min(seen) for seen in depths.values())
        assert growth <= MAX_STACK_GROWTH, (
            f"rule 3.3: on_next ran {growth} frames deeper on one thread after {n} request(1) calls"
        )
        self.verify()

    # -- rule 3.5: cancel is thread-safe ----------------------------------------------------

    def test_rule_3_5_cancel_from_several_threads_during_delivery(self) -> None:
        n = 300
        started = threading.Event()

        def note_start(_: TckSubscriber[int], __: int) -> None:
            started.set()

        subscriber = self.subscribe(self.publisher(n), dwell=True, on_next_hook=note_start)

        def request_all() -> None:
            subscriber.request(n)

        def cancel_once_started() -> None:
            started.wait(TIMEOUT)
            subscriber.cancel()

        self.run_threads([request_all, cancel_once_started, cancel_once_started])
        self.settle()
        delivered = len(subscriber.signals)
        subscriber.request(n)
        self.settle()
        assert len(subscriber.signals) == delivered, subscriber.describe()
        assert subscriber.count("on_completed") == 0 or len(subscriber.items) == n
        self.verify()

    # -- rules 3.6/3.7: after cancel, request and cancel do nothing --------------------------

    def test_rule_3_6_request_after_cancel_is_a_no_op(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(2)
        subscriber.await_items(2)
        self.settle()
        subscriber.cancel()
        subscriber.request(5)
        subscriber.request(0)
        subscriber.request(-1)
        self.settle()
        assert subscriber.signals_after_cancel() == [], subscriber.describe()
        self.verify()

    def test_rule_3_7_cancel_after_cancel_is_a_no_op(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(2)
        subscriber.await_items(2)
        self.settle()
        subscriber.cancel()
        subscriber.cancel()
        subscriber.cancel()
        assert subscriber.subscription is not None
        subscriber.subscription.dispose()
        self.settle()
        assert subscriber.signals_after_cancel() == [], subscriber.describe()
        self.verify()

    # -- rule 3.8: demand is additive ---------------------------------------------------------

    def test_rule_3_8_demand_adds_up(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(2)
        subscriber.request(3)
        subscriber.await_items(5)
        self.settle()
        assert len(subscriber.items) == 5, subscriber.describe()
        self.verify()

    # -- rule 3.9: request(n <= 0) is signalled as on_error(ValueError), not raised -------------

    def test_rule_3_9_request_zero_signals_value_error(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(0)  # must not raise
        error = subscriber.await_error()
        assert isinstance(error, ValueError), subscriber.describe()
        assert subscriber.items == []
        self.verify()

    def test_rule_3_9_request_negative_signals_value_error(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(-1)  # must not raise
        error = subscriber.await_error()
        assert isinstance(error, ValueError), subscriber.describe()
        assert subscriber.items == []
        self.verify()

    def test_rule_3_9_request_negative_mid_stream_ends_the_stream(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(2)
        subscriber.await_items(2)
        subscriber.request(-(2**63))
        error = subscriber.await_error()
        assert isinstance(error, ValueError), subscriber.describe()
        subscriber.request(5)
        self.settle()
        assert len(subscriber.items) == 2, subscriber.describe()
        self.verify()

    def test_rule_3_9_request_zero_from_on_subscribe_signals_value_error(self) -> None:
        seen: list[object] = []
        done = threading.Event()

        def request_zero(subscription: ControlledSubscription[int]) -> None:
            subscription.request(0)  # must not raise

        def on_error(error: Exception) -> None:
            seen.append(error)
            done.set()

        self.publisher(10).subscribe(
            seen.append, on_error, lambda: seen.append("completed"), on_subscribe=request_zero
        )
        assert done.wait(TIMEOUT), seen
        assert len(seen) == 1
        assert isinstance(seen[0], ValueError)
        self.verify()

    # -- rule 3.12: cancel stops the signals ---------------------------------------------------

    def test_rule_3_12_cancel_stops_the_signals(self) -> None:
        subscriber = self.subscribe(self.publisher(20))
        subscriber.request(5)
        subscriber.await_items(5)
        self.settle()
        subscriber.cancel()
        subscriber.request(15)
        self.settle()
        assert len(subscriber.items) == 5, subscriber.describe()
        assert subscriber.terminal is None, subscriber.describe()
        self.verify()

    def test_rule_3_12_cancel_from_on_next_stops_at_that_element(self) -> None:
        subscriber = self.subscribe(self.publisher(20), cancel_at=3)
        subscriber.request(20)
        subscriber.await_items(3)
        self.settle()
        assert len(subscriber.items) == 3, subscriber.describe()
        assert subscriber.signals_after_cancel() == [], subscriber.describe()
        self.verify()

    def test_rule_3_12_cancel_from_on_subscribe_means_no_signals(self) -> None:
        def cancel_at_once(subscription: ControlledSubscription[int]) -> None:
            subscription.cancel()
            subscription.request(5)

        seen: list[object] = []
        self.publisher(5).subscribe(
            seen.append, seen.append, lambda: seen.append("completed"), on_subscribe=cancel_at_once
        )
        self.settle()
        assert seen == []
        self.verify()

    # -- rule 3.13: cancel drops the reference to the subscriber -------------------------------

    def test_rule_3_13_cancel_drops_the_reference_to_the_subscriber(self) -> None:
        publisher = self.publisher(10)
        # Not through self.subscribe: the suite would keep the subscriber alive.
        subscriber = TckSubscriber[int]()
        subscription = publisher.subscribe(subscriber)
        subscriber.request(2)
        subscriber.await_items(2)
        subscriber.cancel()
        self.settle()
        assert subscriber.violations == []
        gone = weakref.ref(subscriber)
        del subscriber
        assert _eventually_collected(gone), (
            f"rule 3.13: the publisher or {subscription!r} still holds the subscriber after cancel"
        )
        self.verify()

    # -- rule 3.17: demand up to 2**63-1, and beyond, is fine -----------------------------------

    def test_rule_3_17_demand_of_2_63_minus_1_delivers_everything(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(UNBOUNDED)
        subscriber.await_completion()
        assert len(subscriber.items) == 10
        self.verify()

    def test_rule_3_17_cumulative_demand_up_to_2_63_minus_1(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(2**62)
        subscriber.request(2**62 - 1)  # now 2**63-1 pending in all
        subscriber.await_completion()
        assert len(subscriber.items) == 10
        self.verify()

    def test_rule_3_17_demand_beyond_2_63_minus_1_is_not_an_error(self) -> None:
        subscriber = self.subscribe(self.publisher(10))
        subscriber.request(UNBOUNDED)
        subscriber.request(UNBOUNDED)
        for _ in range(4):
            subscriber.request(2**62)
        subscriber.await_completion()
        assert len(subscriber.items) == 10
        self.verify()
