"""UpstreamLink: subscribing the upstream through reactivex's public API, and ending it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.scheduler import CurrentThreadScheduler, ImmediateScheduler

from rxrand.ops.upstream import UpstreamLink


class _Observer(abc.ObserverBase[Any]):
    """Records what reaches it; disposes the link at the item numbered ``stop_at``."""

    def __init__(self, link: UpstreamLink | None = None, stop_at: int = 0) -> None:
        self.link = link
        self.stop_at = stop_at
        self.values: list[Any] = []
        self.errors: list[Exception] = []

    def on_next(self, value: Any) -> None:
        self.values.append(value)
        if self.link is not None and len(self.values) == self.stop_at:
            self.link.dispose()

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def on_completed(self) -> None:
        return


def _tracked() -> tuple[Observable[int], list[str]]:
    events: list[str] = []

    def subscribe(_: abc.ObserverBase[int], __: abc.SchedulerBase | None = None) -> Disposable:
        events.append("subscribed")
        return Disposable(lambda: events.append("disposed"))

    return reactivex.create(subscribe), events


def test_upstream_link_disposed_before_connect_disposes_what_connect_returns() -> None:
    source, events = _tracked()
    link = UpstreamLink()
    link.dispose()
    link.connect(source, _Observer(), ImmediateScheduler())
    assert events == ["subscribed", "disposed"]


def test_upstream_link_dispose_inside_the_first_item_stops_an_endless_reactivex_source() -> None:
    # reactivex.from_iterable emits from the trampoline: the link stores the
    # disposable before the first item, so a dispose from inside on_next reaches it.
    link = UpstreamLink()
    observer = _Observer(link, stop_at=3)
    trampoline = CurrentThreadScheduler.singleton()
    link.connect(reactivex.from_iterable(itertools.count()), observer, trampoline)
    assert observer.values == [0, 1, 2]


def test_upstream_link_routes_an_exception_from_subscribe_to_on_error() -> None:
    def subscribe(_: abc.ObserverBase[int], __: abc.SchedulerBase | None = None) -> Disposable:
        raise RuntimeError("boom")

    observer = _Observer()
    UpstreamLink().connect(reactivex.create(subscribe), observer, ImmediateScheduler())
    assert [str(error) for error in observer.errors] == ["boom"]


def test_upstream_link_is_connecting_only_while_the_upstream_is_subscribed() -> None:
    link = UpstreamLink()
    seen: list[bool] = []

    def subscribe(_: abc.ObserverBase[int], __: abc.SchedulerBase | None = None) -> Disposable:
        seen.append(link.connecting)
        return Disposable()

    assert not link.connecting
    link.connect(reactivex.create(subscribe), _Observer(), ImmediateScheduler())
    assert seen == [True]
    assert not link.connecting


def test_upstream_link_ended_reactivex_chain_is_let_go_at_once() -> None:
    source, events = _tracked()
    link = UpstreamLink()
    link.connect(source, _Observer(), ImmediateScheduler())
    link.ended()
    assert events == ["subscribed", "disposed"]


class _Publisher(Observable[int]):
    """A source with its own subscribe (as rxrand's are): a publisher, not a reactivex chain."""

    def __init__(self) -> None:
        super().__init__()
        self.disposed = 0

    def subscribe(self, *_: Any, **__: Any) -> abc.DisposableBase:
        return Disposable(self._dispose)

    def _dispose(self) -> None:
        self.disposed += 1


@pytest.mark.parametrize("ended", [False, True])
def test_upstream_link_release_cancels_a_publisher_only_if_it_did_not_end(ended: bool) -> None:
    # Rules 2.3/2.4: a publisher that ended on its own gets no cancel.
    source = _Publisher()
    link = UpstreamLink()
    link.connect(source, _Observer(), ImmediateScheduler())
    if ended:
        link.ended()
    link.release()
    assert source.disposed == (0 if ended else 1)


def test_reactivex_subscribe_calls_subscribe_core_with_the_scheduler_it_was_given() -> None:
    # What UpstreamLink relies on when it calls _subscribe_core itself: if a reactivex
    # release changes this, this test fails rather than a user.
    seen: list[Any] = []

    class _Source(Observable[int]):
        def _subscribe_core(
            self, observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            seen.append(scheduler)
            return Disposable()

    scheduler = ImmediateScheduler()
    _Source().subscribe(_Observer(), scheduler=scheduler)
    assert seen == [scheduler]


def test_upstream_link_hands_the_observer_itself_to_a_reactivex_chain() -> None:
    # No AutoDetachObserver in between: a call less per item (see rxrand.ops.upstream).
    received: list[Any] = []

    def subscribe(observer: abc.ObserverBase[int], _: abc.SchedulerBase | None = None) -> None:
        received.append(observer)

    observer = _Observer()
    UpstreamLink().connect(reactivex.create(subscribe), observer, ImmediateScheduler())
    assert received == [observer]
