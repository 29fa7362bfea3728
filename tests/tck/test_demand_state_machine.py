"""Random interleavings of demand and source signals, checked against a model of ``controlled()``.

Two Hypothesis state machines drive one subscription each, on the test thread only, so that
every step has finished (and every signal arrived) when the invariants are checked:

* :class:`PushDemandMachine`: a hot ``Subject`` under ``controlled(capacity, overflow)``, one
  run for each :class:`~rxrand.Overflow` strategy, with small capacities: ``request(n)`` (also
  ``n <= 0`` and demand near 2**63-1), ``cancel``, ``on_next`` bursts, ``on_completed`` and
  ``on_error`` in any order. The model is the Reactive Streams rules plus the documented
  overflow strategies; where the rules leave a choice it takes rxrand's (an error from upstream
  does not wait behind buffered items, as in RxJava; a completion does).
* :class:`PullDemandMachine`: ``random_integers(n, seed)`` under ``controlled()``, with
  ``request(n)`` and ``cancel``: what is generated never runs ahead of demand.

Examples are derandomized and not saved, so the run is the same every time and leaves no
``.hypothesis`` directory behind.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import ClassVar, Final

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from reactivex.subject import Subject

from rxrand import UNBOUNDED, BufferOverflowError, Overflow, controlled, random_integers

from .verification import TckSubscriber

SEED: Final = 7

# Most of the time goes to Hypothesis drawing the steps (about half a millisecond each), so
# these numbers are what keeps the whole tests/tck directory near its 30-second budget.
_PUSH_SETTINGS: Final = settings(
    max_examples=60, stateful_step_count=30, derandomize=True, database=None, deadline=None
)
_PULL_SETTINGS: Final = settings(
    max_examples=60, stateful_step_count=20, derandomize=True, database=None, deadline=None
)
#: The same machines at length, for .ci/run (marked slow, so not in the default run).
_LONG_SETTINGS: Final = settings(
    max_examples=500, stateful_step_count=60, derandomize=True, database=None, deadline=None
)

_requests = st.one_of(
    st.integers(min_value=1, max_value=4),
    st.sampled_from([2**62, UNBOUNDED - 1, UNBOUNDED]),
)


class SourceFailedError(RuntimeError):
    """What the Subject fails with."""


class PushDemandMachine(RuleBasedStateMachine):
    """A hot Subject, pushed at regardless of demand, under ``controlled()``."""

    overflow: ClassVar[Overflow] = Overflow.ERROR

    @initialize(
        capacity=st.integers(min_value=1, max_value=4),
        initial=st.integers(min_value=0, max_value=3),
    )
    def subscribe(self, capacity: int, initial: int) -> None:
        self.capacity = capacity
        self.subject: Subject[int] = Subject()
        self.subscriber = TckSubscriber[int](request_on_subscribe=initial)
        self.subscription = self.subject.pipe(controlled(capacity, self.overflow)).subscribe(
            self.subscriber
        )
        # The model.
        self.next_value = 0
        self.buffer: deque[int] = deque()
        self.demand = initial
        self.delivered: list[int] = []
        self.dropped = 0
        self.terminal: type[Exception] | str | None = None  # "completed" or the error type
        self.upstream_done = False  # the Subject itself has terminated
        self.completion_pending = False
        self.cancelled = False

    # -- the model ----------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """Cancelled or terminated: the subscription has let go of the Subject (rule 3.13)."""
        return self.cancelled or self.terminal is not None

    def _drain(self) -> None:
        if self.stopped:
            return
        while self.buffer and self.demand:
            self.delivered.append(self.buffer.popleft())
            if self.demand < UNBOUNDED:  # rule 3.17: saturated demand is never used up
                self.demand -= 1
        if not self.buffer and self.completion_pending:
            self.terminal = "completed"

    def _finish_with(self, error: type[Exception]) -> None:
        self.terminal = error
        self.buffer.clear()

    def _push(self, value: int) -> None:
        if self.upstream_done or self.stopped:
            return
        buffer = self.buffer
        if len(buffer) < self.capacity:
            buffer.append(value)
        elif self.overflow is Overflow.ERROR:
            self._finish_with(BufferOverflowError)
            return
        elif self.overflow is Overflow.DROP_OLDEST:
            buffer.popleft()
            buffer.append(value)
            self.dropped += 1
        elif self.overflow is Overflow.DROP_NEWEST:
            self.dropped += 1
        else:  # KEEP_LATEST: the newest buffered item gives way to the newer one
            buffer[-1] = value
            self.dropped += 1
        self._drain()

    # -- steps --------------------------------------------------------------------------

    @rule(count=st.integers(min_value=1, max_value=6))
    def push(self, count: int) -> None:
        for _ in range(count):
            value = self.next_value
            self.next_value += 1
            self.subject.on_next(value)
            self._push(value)

    @rule(n=_requests)
    def request(self, n: int) -> None:
        self.subscriber.request(n)
        if not self.stopped:
            self.demand = min(self.demand + n, UNBOUNDED)
            self._drain()

    @rule(count=st.integers(min_value=1, max_value=6), n=_requests)
    def push_then_request(self, count: int, n: int) -> None:
        self.push(count)
        self.request(n)

    # One rule for the four ways to stop, so that a run is not mostly over after a few steps.
    @rule(how=st.sampled_from(["cancel", "complete", "fail", "request_invalid"]))
    def stop(self, how: str) -> None:
        if how == "cancel":
            self._cancel()
        elif how == "complete":
            self._complete()
        elif how == "fail":
            self._fail()
        else:
            self._request_invalid()

    def _request_invalid(self) -> None:
        self.subscriber.request(0)  # rule 3.9: must not raise
        if not self.stopped:
            self._finish_with(ValueError)

    def _cancel(self) -> None:
        self.subscriber.cancel()
        if not self.stopped:
            self.cancelled = True
            self.buffer.clear()

    def _complete(self) -> None:
        self.subject.on_completed()
        if self.upstream_done:
            return
        self.upstream_done = True
        if not self.stopped:
            self.completion_pending = True
            self._drain()

    def _fail(self) -> None:
        self.subject.on_error(SourceFailedError("source failed"))
        if self.upstream_done:
            return
        self.upstream_done = True
        if not self.stopped:
            self._finish_with(SourceFailedError)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def rule_1_1_delivered_at_most_requested(self) -> None:
        assert len(self.subscriber.items) <= self.subscriber.requested

    @invariant()
    def order_is_preserved(self) -> None:
        items = self.subscriber.items
        assert all(a < b for a, b in itertools.pairwise(items)), items

    @invariant()
    def items_are_what_the_strategy_keeps(self) -> None:
        assert self.subscriber.items == self.delivered, self.overflow
        assert self.subscription.dropped == self.dropped, self.overflow

    @invariant()
    def terminal_signal_as_modelled(self) -> None:
        terminal = self.subscriber.terminal
        if self.terminal is None:
            assert terminal is None, self.subscriber.describe()
        elif self.terminal == "completed":
            assert terminal is not None, self.subscriber.describe()
            assert terminal.kind == "on_completed", self.subscriber.describe()
        else:
            assert terminal is not None, self.subscriber.describe()
            assert type(terminal.value) is self.terminal, self.subscriber.describe()
        assert self.subscriber.count("on_completed") + self.subscriber.count("on_error") <= 1

    @invariant()
    def rules_1_7_and_3_12_nothing_after_a_terminal_signal_or_cancel(self) -> None:
        # TckSubscriber notes 1.1/1.3/1.7/1.9 breaches as they happen.
        assert self.subscriber.violations == []
        if self.cancelled:
            assert self.subscriber.signals_after_cancel() == [], self.subscriber.describe()

    @invariant()
    def rule_3_13_a_stopped_subscription_lets_go_of_the_source(self) -> None:
        if self.stopped:
            assert not self.subject.observers

    def teardown(self) -> None:
        if not hasattr(self, "subscriber"):
            return
        # A terminal signal fed upstream arrives exactly once, as soon as the buffer drains.
        self.subscriber.request(UNBOUNDED)
        if not self.cancelled and self.upstream_done:
            assert self.subscriber.count("on_completed") + self.subscriber.count("on_error") == 1
        if self.cancelled:
            assert self.subscriber.terminal is None, self.subscriber.describe()


class PullDemandMachine(RuleBasedStateMachine):
    """``random_integers(n)``: a cold source that generates only what is requested."""

    @initialize(count=st.integers(min_value=0, max_value=30))
    def subscribe(self, count: int) -> None:
        self.count = count
        collected: list[int] = []
        random_integers(count, seed=SEED).subscribe(collected.append)
        self.elements = collected
        self.subscriber = TckSubscriber[int]()
        self.subscription = (
            random_integers(count, seed=SEED).pipe(controlled()).subscribe(self.subscriber)
        )
        self.requested = 0
        self.cancelled = False

    @rule(n=_requests)
    def request(self, n: int) -> None:
        self.subscriber.request(n)
        if not self.cancelled:
            self.requested = min(self.requested + n, UNBOUNDED)

    @rule()
    def cancel(self) -> None:
        self.subscriber.cancel()
        self.cancelled = True

    @invariant()
    def delivers_the_seeded_prefix_as_requested(self) -> None:
        assert self.subscriber.items == self.elements[: self.requested]

    @invariant()
    def generates_nothing_ahead_of_demand(self) -> None:
        assert self.subscription.pulled <= min(self.requested, self.count)

    @invariant()
    def completes_once_everything_is_delivered(self) -> None:
        completed = self.subscriber.count("on_completed")
        everything = len(self.subscriber.items) == self.count
        assert completed == (1 if everything else 0), self.subscriber.describe()
        assert self.subscriber.count("on_error") == 0, self.subscriber.describe()
        assert self.subscriber.violations == []
        assert self.subscriber.signals_after_cancel() == [], self.subscriber.describe()


@pytest.mark.parametrize("overflow", list(Overflow), ids=lambda overflow: overflow.name)
def test_demand_state_machine_push_source_follows_the_model(overflow: Overflow) -> None:
    name = f"PushDemandMachine{overflow.name}"
    machine = type(name, (PushDemandMachine,), {"overflow": overflow})
    run_state_machine_as_test(machine, settings=_PUSH_SETTINGS)


def test_demand_state_machine_pull_source_generates_on_demand() -> None:
    run_state_machine_as_test(PullDemandMachine, settings=_PULL_SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("overflow", list(Overflow), ids=lambda overflow: overflow.name)
def test_demand_state_machine_push_source_follows_the_model_at_length(overflow: Overflow) -> None:
    name = f"PushDemandMachine{overflow.name}"
    machine = type(name, (PushDemandMachine,), {"overflow": overflow})
    run_state_machine_as_test(machine, settings=_LONG_SETTINGS)


@pytest.mark.slow
def test_demand_state_machine_pull_source_generates_on_demand_at_length() -> None:
    run_state_machine_as_test(PullDemandMachine, settings=_LONG_SETTINGS)
