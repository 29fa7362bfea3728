"""Property-based: random schedules of request and cancel never break the demand contract."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.subject import Subject

from rxrand import controlled, random_integers
from rxrand.testing import RecordingSubscriber

requests = st.one_of(st.integers(min_value=1, max_value=50), st.just("cancel"))
pull_schedules = st.lists(requests, max_size=30)
push_actions = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.integers(min_value=1, max_value=5)),
        st.tuples(st.just("push"), st.integers(min_value=1, max_value=5)),
        st.just(("cancel", 0)),
        st.just(("complete", 0)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(count=st.integers(min_value=0, max_value=200), schedule=pull_schedules)
def test_property_pull_source_delivers_at_most_what_was_requested_in_order(
    count: int, schedule: list[int | str]
) -> None:
    reference = RecordingSubscriber[int](initial=count + 1)
    random_integers(count, seed=11).pipe(controlled()).subscribe(reference)
    probe = RecordingSubscriber[int]()
    random_integers(count, seed=11).pipe(controlled()).subscribe(probe)
    requested = 0
    cancelled = False
    for step in schedule:
        before = list(probe.signals)
        if step == "cancel":
            probe.cancel()
        else:
            assert isinstance(step, int)
            probe.request(step)
            requested += step
        if cancelled or step == "cancel":
            # Rules 3.6/3.7/3.12: after cancel nothing more arrives.
            assert probe.signals == before
            cancelled = True
        else:
            # A pull source meets demand at once and never exceeds it (rule 1.1).
            assert len(probe.values) == min(count, requested)
    assert probe.values == reference.values[: len(probe.values)]
    assert probe.signals.count("completed") <= 1
    if probe.completed:
        assert probe.signals[-1] == "completed"
        assert len(probe.values) == count


@settings(max_examples=200, deadline=None)
@given(actions=push_actions, capacity=st.integers(min_value=1, max_value=8))
def test_property_push_source_never_overdelivers_and_stops_after_terminal(
    actions: list[tuple[str, int]], capacity: int
) -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subject.pipe(controlled(capacity=capacity)).subscribe(probe)
    requested = 0
    pushed = 0
    # Once cancelled (rule 3.12) or terminated (rules 1.6, 1.7), no signal may follow, at
    # any later step: the count of signals is frozen from then on.
    frozen: int | None = None
    for action, n in actions:
        if action == "request":
            probe.request(n)
            requested += n
        elif action == "push":
            for _ in range(n):
                subject.on_next(pushed)
                pushed += 1
        elif action == "cancel":
            if frozen is None:
                frozen = len(probe.signals)
            probe.cancel()
        else:
            subject.on_completed()
        if frozen is not None:
            assert len(probe.signals) == frozen, (action, probe.signals[frozen:])
        elif probe.terminated:
            frozen = len(probe.signals)
        assert len(probe.values) <= requested
        # Order preserved, nothing invented: a prefix of what was pushed.
        assert probe.values == list(range(len(probe.values)))
        assert probe.signals.count("completed") + probe.signals.count("error") <= 1
        if probe.terminated:
            assert probe.signals[-1] in ("completed", "error")
    if probe.errors:
        # The only error here is the overflow of a buffer that had no room.
        assert "capacity" in str(probe.errors[0])
