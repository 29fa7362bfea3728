"""rxrand.core.ledger: the request operator's credit accounting, checked with numbers alone."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rxrand.core import CreditLink, DemandChannel
from rxrand.core.ledger import CreditLedger


class Owner:
    def link_attached(self, link: CreditLink) -> None:
        return None

    def burst_begin(self, link: CreditLink) -> bool:
        return True

    def burst_end(self, link: CreditLink, emitted: int, bracketed: bool) -> None:
        return None

    def link_detached(self, link: CreditLink) -> None:
        return None


class Producer:
    def request(self, n: int) -> None:
        return None


operation = st.one_of(
    st.tuples(st.just("grant"), st.integers(-5, 40), st.integers(1, 16), st.booleans()),
    st.tuples(st.just("burst"), st.integers(0, 5), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("late"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("detach"), st.integers(0, 5), st.just(0), st.just(0)),
    st.tuples(st.just("attach_inner"), st.integers(0, 5), st.just(0), st.booleans()),
)


@settings(max_examples=300, deadline=None)
@given(
    finite=st.lists(st.booleans(), min_size=1, max_size=4),
    operations=st.lists(operation, max_size=40),
)
def test_ledger_invariants_hold_under_any_sequence(
    finite: list[bool], operations: list[tuple[str, int, int, Any]]
) -> None:
    channel = DemandChannel(None, Owner())
    ledger = CreditLedger(channel)
    links = [channel.attach(Producer(), finite=each) for each in finite]
    for op, a, b, c in operations:
        swallowed_before = sum(link.swallowed for link in channel.links)
        lifted_before = ledger.lifted
        if op == "grant":
            plan = ledger.grant(a, b, idle=c)
            given_out = sum(share for _, share in plan)
            lifted = ledger.lifted - lifted_before
            if lifted:
                # A lifted round: only producers that end, at most a capacity.
                assert given_out == lifted <= b
                assert all(link.finite for link, _ in plan)
            else:
                assert given_out <= max(a, 0)  # never beyond the room asked for
            assert all(share >= 1 for _, share in plan)
        elif op == "burst":
            link = links[a % len(links)]
            if link.detached:
                continue
            emitted = min(b, link.credit + 3)  # a source may overshoot its credit a little
            ledger.emitted(link, emitted)
            arrived = min(c, emitted + swallowed_before)
            ledger.burst_arrived(link, emitted, arrived)
            swallowed_after = sum(each.swallowed for each in channel.links)
            # Written off: never more than was swallowed plus what this burst added.
            assert swallowed_after <= swallowed_before + emitted
        elif op == "late":
            ledger.arrived_outside_bursts()
            assert sum(each.swallowed for each in channel.links) >= swallowed_before - len(links)
        elif op == "detach":
            link = links[a % len(links)]
            if not link.detached:
                link.dispose()
                ledger.detached(link)
        else:
            outer = links[a % len(links)]
            inner = channel.attach(Producer(), finite=bool(c))
            links.append(inner)
            ledger.attached(inner, None if outer.detached else outer)
            if not outer.detached:
                assert inner.parent is not None
                assert inner.descends_from(outer) or inner.parent is outer.parent
        assert ledger.outstanding == sum(link.credit for link in channel.links)
        assert ledger.outstanding >= 0
        assert all(link.credit >= 0 and link.swallowed >= 0 for link in links)
        assert all(link.credit == 0 for link in links if link.detached)


def test_ledger_a_burst_that_delivers_writes_off_what_its_producer_swallowed() -> None:
    channel = DemandChannel(None, Owner())
    ledger = CreditLedger(channel)
    left, right = channel.attach(Producer()), channel.attach(Producer())
    ledger.grant(20, 8, idle=False)
    ledger.emitted(left, 10)
    ledger.burst_arrived(left, 10, 0)  # a zip holds them for their partner
    assert left.swallowed == 10
    ledger.emitted(right, 4)
    ledger.burst_arrived(right, 4, 4)  # the partner came: pairs went through
    assert (left.swallowed, right.swallowed) == (6, 0)


def test_ledger_after_a_late_arrival_counts_exactly_and_writes_nothing_off() -> None:
    channel = DemandChannel(None, Owner())
    ledger = CreditLedger(channel)
    link = channel.attach(Producer())
    ledger.grant(10, 8, idle=False)
    ledger.emitted(link, 10)
    ledger.burst_arrived(link, 10, 0)  # into a thread hop's queue
    ledger.arrived_outside_bursts()  # one comes out on the hop's thread
    assert ledger.late
    assert link.swallowed == 9
    ledger.emitted(link, 0)
    ledger.burst_arrived(link, 0, 3)  # three old ones arrive during a later burst
    assert link.swallowed == 6


def test_ledger_lifts_the_cap_only_for_a_producer_that_ends_when_all_was_swallowed() -> None:
    channel = DemandChannel(None, Owner())
    ledger = CreditLedger(channel)
    endless = channel.attach(Producer())
    finite = channel.attach(Producer(), finite=True)
    for link in (endless, finite):
        link.swallowed = 100  # a reducer swallowed everything granted so far
    assert ledger.grant(1, 16, idle=False) == []  # not idle: wait
    plan = ledger.grant(1, 16, idle=True)
    assert plan == [(finite, 16)]  # a round of capacity, to the one that ends
    assert ledger.lifted == 16
    assert ledger.outstanding == 16
