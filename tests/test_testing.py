"""Marble diagrams: reactivex's own for the cold source, and rxrand's with demand on the diagram.

Each diagram has a ruler under it; one character is one frame.
"""

from __future__ import annotations

import reactivex
import reactivex.operators as ops
from reactivex.testing.marbles import marbles_testing

from rxrand import Overflow, controlled, random_integers
from rxrand.testing import demand_diagram, render_marbles

RULER = "0123456789012345"


def digits(count: int | None = None, seed: int = 7) -> reactivex.Observable[int]:
    """Single-digit integers, so that values are one marble each."""
    return random_integers(count, low=0, high=9, seed=seed)


def expected_digits(count: int, seed: int = 7) -> list[int]:
    values: list[int] = digits(count, seed).pipe(ops.to_list()).run()
    return values


def test_marbles_cold_source_under_plain_subscription_emits_at_subscribe() -> None:
    with marbles_testing(timespan=1.0) as (start, _cold, _hot, exp):
        a, b, c = expected_digits(3)
        results = start(digits(3))
        # A cold source: everything, then completion, at the subscription frame.
        assert results == exp("(a,b,c,|)", {"a": a, "b": b, "c": c})
        #                      0


def test_marbles_controlled_passes_cold_marbles_with_unbounded_demand() -> None:
    with marbles_testing(timespan=1.0) as (start, cold, _hot, exp):
        source = cold("-a-b-c-|")
        #              01234567
        results = start(source.pipe(controlled()))
        assert results == exp("-a-b-c-|")
        #                      01234567


def test_demand_marbles_pull_source_emits_only_at_requests() -> None:
    a, b, c, *_ = expected_digits(5)
    output = demand_diagram(digits(5), "--2-----1-x")
    #                                   01234567890
    assert output == f"--({a},{b})-----{c}"
    #                  0 1    2345678
    # request(2) at frame 2 gives a and b at once, request(1) at frame 8 gives c,
    # cancel at frame 10 ends it without a terminal signal.


def test_demand_marbles_pull_source_completes_with_the_last_requested_item() -> None:
    a, b, c = expected_digits(3)
    output = demand_diagram(digits(3), "1-1-1")
    #                                   01234
    assert output == f"{a}-{b}-({c},|)"


def test_demand_marbles_large_requests_by_name() -> None:
    values = expected_digits(4)
    output = demand_diagram(digits(4), "--a", lookup={"a": 8192})
    #                                   012
    assert output == "--(" + ",".join(map(str, values)) + ",|)"


def test_demand_marbles_push_source_waits_in_the_buffer() -> None:
    output = demand_diagram(reactivex.from_marbles("-a-b-c-d-|"), "----1-----3")
    #                                               0123456789        01234567890
    assert output == "----a-----(b,c,d,|)"
    #                 01234567890


def test_demand_marbles_push_source_with_demand_flows_at_source_pace() -> None:
    output = demand_diagram(reactivex.from_marbles("-a-b-c-d-|"), "9")
    assert output == "-a-b-c-d-|"
    #                 0123456789


def test_demand_marbles_overflow_error_at_the_item_that_does_not_fit() -> None:
    output = demand_diagram(reactivex.from_marbles("-a-b-c-d-|"), "-", capacity=2)
    #                                               012345            (no demand)
    assert output == "-----#"
    #                 012345


def test_demand_marbles_drop_oldest_keeps_the_newest_items() -> None:
    output = demand_diagram(
        reactivex.from_marbles("-a-b-c-d-|"),
        "----------9",
        capacity=2,
        overflow=Overflow.DROP_OLDEST,
    )
    assert output == "----------(c,d,|)"
    #                 01234567890


def test_demand_marbles_drop_newest_keeps_the_first_items() -> None:
    output = demand_diagram(
        reactivex.from_marbles("-a-b-c-d-|"),
        "----------9",
        capacity=2,
        overflow=Overflow.DROP_NEWEST,
    )
    assert output == "----------(a,b,|)"


def test_demand_marbles_keep_latest_replaces_the_newest_buffered_item() -> None:
    output = demand_diagram(
        reactivex.from_marbles("-a-b-c-d-|"),
        "----------9",
        capacity=2,
        overflow=Overflow.KEEP_LATEST,
    )
    assert output == "----------(a,d,|)"


def test_demand_marbles_error_is_delivered_without_waiting_for_demand() -> None:
    output = demand_diagram(reactivex.from_marbles("-a-b-#"), "---1")
    #                                               012345        0123
    assert output == "---a-#"


def test_demand_marbles_cancel_stops_a_push_source() -> None:
    output = demand_diagram(reactivex.from_marbles("-a-b-c-d-|"), "9--x")
    assert output == "-a"
    #                 0123


def test_demand_marbles_through_map_and_filter() -> None:
    values = [v * 10 for v in expected_digits(40) if v % 2 == 0][:3]
    source = digits(40).pipe(ops.filter(lambda v: v % 2 == 0), ops.map(lambda v: v * 10))
    output = demand_diagram(source, "-1--2")
    #                                01234
    assert output == f"-{values[0]}--({values[1]},{values[2]})"


def test_render_marbles_groups_simultaneous_signals() -> None:
    events = [
        (1, reactivex.notification.OnNext(4)),
        (1, reactivex.notification.OnNext(5)),
        (3, reactivex.notification.OnCompleted()),
    ]
    assert render_marbles(events) == "-(4,5)-|"
    assert render_marbles(events, {4: "a", 5: "b"}) == "-(a,b)-|"
