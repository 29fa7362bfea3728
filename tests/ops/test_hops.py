"""rxrand.observe_on and rxrand.subscribe_on: thread hops that keep demand."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from reactivex.scheduler import NewThreadScheduler

import rxrand
from rxrand import controlled, random_integers
from rxrand.testing import RecordingSubscriber

pytestmark = pytest.mark.timeout(60)


def _wait(condition: Any, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return bool(condition())


def test_subscribe_on_keeps_demand_across_the_hop() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[int]()
    source.pipe(rxrand.subscribe_on(NewThreadScheduler()), controlled()).subscribe(probe)
    probe.request(5)
    assert _wait(lambda: len(probe.values) == 5)
    assert probe.errors == []
    assert threading.get_ident() not in probe._record.threads
    probe.request(1000)
    assert _wait(lambda: len(probe.values) == 1005)
    probe.cancel()
