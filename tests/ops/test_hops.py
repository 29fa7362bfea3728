"""rxrand.observe_on and rxrand.subscribe_on: thread hops that keep demand."""

from __future__ import annotations

import threading

import pytest
import reactivex.operators as ops
from reactivex.scheduler import NewThreadScheduler

import rxrand
from rxrand import controlled, random_integers
from rxrand.testing import RecordingSubscriber

from ..conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def test_subscribe_on_keeps_demand_across_the_hop() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[int]()
    source.pipe(rxrand.subscribe_on(NewThreadScheduler()), controlled()).subscribe(probe)
    probe.request(5)
    assert wait_until(lambda: len(probe.values) == 5)
    assert probe.errors == []
    assert threading.get_ident() not in probe._record.threads
    probe.request(1000)
    assert wait_until(lambda: len(probe.values) == 1005)
    probe.cancel()


@pytest.mark.parametrize("hop", ["observe_on", "subscribe_on"])
def test_hop_subscriber_without_controlled_after_it_is_told_to_add_one(hop: str) -> None:
    scheduler = NewThreadScheduler()
    operator = getattr(rxrand, hop)(scheduler)
    generated: list[int] = []
    probe = RecordingSubscriber[int](initial=2)
    random_integers(20).pipe(controlled(), ops.do_action(generated.append), operator).subscribe(
        probe
    )
    assert probe.values == []
    assert generated == []
    [error] = probe.errors
    with pytest.raises(
        TypeError,
        match=(
            r"^RecordingSubscriber is a Reactive Streams subscriber \(it has on_subscribe\), "
            rf"subscribed to rxrand\.{hop}\(\) with no controlled\(\) after it: nothing gives "
            r"it a subscription, and it would get unbounded items; end the chain with "
            rf"controlled\(\), e\.g\. source\.pipe\(rxrand\.{hop}\(\.\.\.\), controlled\(\)\)"
            r"\.subscribe\(subscriber\)$"
        ),
    ):
        raise error
