"""rxrand.core.channel: credit from a request operator to the pull producers upstream."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from reactivex.scheduler import CurrentThreadScheduler, ImmediateScheduler

from rxrand.core import CreditLink, DemandChannel, demand_channel_of


class Owner:
    """Records what the channel reports (the request operator's side of the protocol)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def link_attached(self, link: CreditLink) -> None:
        self.events.append(("attached", link))

    def burst_begin(self, link: CreditLink) -> bool:
        self.events.append(("begin", link))
        return True

    def burst_end(self, link: CreditLink, emitted: int, bracketed: bool) -> None:
        self.events.append(("end", link, emitted, bracketed))

    def link_detached(self, link: CreditLink) -> None:
        self.events.append(("detached", link))


class Producer:
    def __init__(self) -> None:
        self.requested: list[int] = []

    def request(self, n: int) -> None:
        self.requested.append(n)


def channel_with(count: int) -> tuple[DemandChannel, Owner, list[CreditLink]]:
    owner = Owner()
    channel = DemandChannel(None, owner)
    return channel, owner, [channel.attach(Producer()) for _ in range(count)]


links_state = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.booleans()),  # credit, swallowed, detached
    min_size=0,
    max_size=6,
)


@given(state=links_state, n=st.integers(-2, 50), limit=st.integers(0, 30))
def test_channel_plan_never_grants_beyond_n_nor_past_the_swallow_limit(
    state: list[tuple[int, int, bool]], n: int, limit: int
) -> None:
    channel, _, links = channel_with(len(state))
    for link, (credit, swallowed, detached) in zip(links, state, strict=True):
        link.credit, link.swallowed, link.detached = credit, swallowed, detached
    plan = channel.plan(n, limit)
    assert sum(share for _, share in plan) <= max(n, 0)
    assert len({id(link) for link, _ in plan}) == len(plan)  # one share per producer
    for link, share in plan:
        assert share >= 1
        assert link.credit == 0  # only producers with nothing in flight
        assert not link.detached
        assert link.swallowed + share <= limit


def test_channel_plan_goes_round_robin_over_idle_producers() -> None:
    channel, _, links = channel_with(3)
    firsts = []
    for _ in range(3):
        plan = channel.plan(1, 10)
        assert len(plan) == 1
        firsts.append(plan[0][0])
    assert firsts == links  # each producer gets its turn


def test_channel_plan_splits_evenly() -> None:
    channel, _, _ = channel_with(4)
    assert [share for _, share in channel.plan(8, 100)] == [2, 2, 2, 2]


def test_channel_link_reports_start_bursts_and_detach_to_the_owner_once() -> None:
    channel, owner, (link,) = channel_with(1)
    link.start()
    link.begin()
    link.end(5)
    link.dispose()
    link.dispose()  # idempotent
    assert owner.events == [
        ("attached", link),
        ("begin", link),
        ("end", link, 5, True),
        ("detached", link),
    ]
    assert channel.links == []


def test_channel_descends_from_follows_parents() -> None:
    _, _, (outer, middle, inner) = channel_with(3)
    middle.parent = outer
    inner.parent = middle
    assert inner.descends_from(outer)
    assert not outer.descends_from(inner)


def test_channel_is_found_from_the_scheduler_and_delegates_scheduling() -> None:
    channel, _, _ = channel_with(0)
    assert demand_channel_of(channel) is channel
    assert demand_channel_of(ImmediateScheduler()) is None
    assert demand_channel_of(None) is None
    ran: list[str] = []
    channel.schedule(lambda scheduler, state: ran.append("now"))
    assert ran == ["now"]
    inner = CurrentThreadScheduler.singleton()
    assert DemandChannel(inner, Owner()).inner is inner
