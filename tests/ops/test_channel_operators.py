"""Two faults the operator survey found in the demand channel (``tests/operators.py``).

* reactivex hands a scheduled action the scheduler that runs it, and some operators subscribe
  their sources with that one (``on_error_resume_next``, ``expand``): the channel passed the
  inner trampoline, so the source lost the channel and pushed, ending in ``BufferOverflowError``.
* ``switch_map`` and its kin: the outer source was asked before its inner sources in every round,
  so each new outer item dropped the inner source before it emitted: ``request(2000)`` never
  returned.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops

import rxrand
from rxrand import controlled, random_integers
from rxrand.sources import CHUNK_SIZE
from rxrand.testing import RecordingSubscriber

pytestmark = pytest.mark.timeout(30)


def _returns_within(action: Any, timeout: float) -> bool:
    done = threading.Event()

    def run() -> None:
        action()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(timeout)


def test_channel_on_error_resume_next_keeps_its_sources_pulled() -> None:
    first, second = random_integers(1500, seed=1), random_integers(seed=2)
    probe = RecordingSubscriber[Any]()
    first.pipe(ops.on_error_resume_next(second), controlled()).subscribe(probe)
    probe.request(5)
    probe.request(2000)
    assert not probe.errors
    assert len(probe.values) == 2005
    assert second.generated <= CHUNK_SIZE


def test_channel_expand_keeps_its_source_pulled() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[Any]()
    source.pipe(ops.expand(lambda _: reactivex.empty()), controlled()).subscribe(probe)
    probe.request(5)
    assert not probe.errors
    assert len(probe.values) == 5
    assert source.generated <= CHUNK_SIZE


@pytest.mark.parametrize(
    "switch",
    [
        lambda inner: ops.switch_map(inner),
        lambda inner: ops.flat_map_latest(inner),
        lambda inner: ops.switch_map_indexed(lambda v, _i: inner(v)),
        lambda inner: lambda source: source.pipe(ops.map(inner), ops.switch_latest()),
    ],
    ids=["switch_map", "flat_map_latest", "switch_map_indexed", "switch_latest"],
)
def test_channel_switch_map_delivers_a_large_request(switch: Any, request: Any) -> None:
    name = request.node.callspec.id
    if name != "switch_latest" and not hasattr(ops, name):
        pytest.skip(f"reactivex {reactivex.__version__} has no ops.{name}")
    outer = rxrand.from_iterable(iter(range(10**9)))
    probe = RecordingSubscriber[Any]()
    outer.pipe(switch(lambda _: rxrand.from_iterable((1, 2))), controlled()).subscribe(probe)
    probe.request(5)
    assert _returns_within(lambda: probe.request(2000), 10.0), "request(2000) did not return"
    assert len(probe.values) == 2005
    assert not probe.errors
