"""The request operator's link to its upstream: subscribing it, and when to let it go.

One job: hold the upstream subscription, and end it when the Reactive Streams rules
say so. It exists before the upstream subscription starts (a
``SingleAssignmentDisposable``), so that a cancel or an overflow reaches a source that
emits everything inside ``subscribe``: disposed early, it disposes what it is given
later (what reactivex's ``AutoDetachObserver`` does for the same reason).

Only reactivex's public API is used: ``Observable.subscribe``. A plain reactivex chain
is subscribed from inside the current-thread trampoline, as reactivex's own
``subscribe`` does, so that its sources (which schedule their emission on that
trampoline) start only once the disposable is stored.
"""

from __future__ import annotations

from typing import Any, TypeVar, final

from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.scheduler import CurrentThreadScheduler

__all__ = ["UpstreamLink"]

_T = TypeVar("_T")


@final
class UpstreamLink:
    """The subscription to the upstream Observable: connected once, disposed at most once."""

    __slots__ = ("_disposable", "_ended", "_publisher", "connecting")

    def __init__(self) -> None:
        self._disposable = SingleAssignmentDisposable()
        # Rules 2.3/2.4: a publisher upstream (a source with its own subscribe, such as
        # rxrand's) that ended needs no cancel, and must get none from inside its terminal.
        self._publisher = False
        self._ended = False
        #: True while the upstream is being subscribed (see :meth:`connect`).
        self.connecting = False

    def connect(
        self,
        source: Observable[_T],
        observer: abc.ObserverBase[_T],
        scheduler: abc.SchedulerBase,
    ) -> None:
        """Subscribe ``observer`` to ``source`` with ``scheduler`` (the demand channel).

        While this runs, :attr:`connecting` is True: the request operator grants no
        credit yet, so that a source's first burst waits until the upstream disposable
        is in place and a ``take`` in between stops it at the item it needs, not at the
        burst's end (pushed items may flow meanwhile). An exception from ``subscribe``
        goes to ``observer.on_error``, as reactivex does.
        """
        self.connecting = True
        try:
            self._subscribe(source, observer, scheduler)
        except Exception as error:
            observer.on_error(error)
        finally:
            self.connecting = False

    def _subscribe(
        self,
        source: Observable[_T],
        observer: abc.ObserverBase[_T],
        scheduler: abc.SchedulerBase,
    ) -> None:
        if type(source).subscribe is not Observable.subscribe:
            # A source with its own subscribe (rxrand's): it emits nothing inside
            # subscribe, so the disposable can be stored when it returns.
            self._publisher = True
            self._disposable.disposable = source.subscribe(observer, scheduler=scheduler)
            return

        def subscribe(_: abc.SchedulerBase | None = None, __: Any = None) -> None:
            self._disposable.disposable = source.subscribe(observer, scheduler=scheduler)

        trampoline = CurrentThreadScheduler.singleton()
        if trampoline.schedule_required():
            trampoline.schedule(subscribe)
        else:
            subscribe()

    def ended(self) -> None:
        """The upstream sent its terminal signal.

        A finished reactivex chain needs no subscription: it is let go at once, so that
        a ``take`` in the chain stops its source now. A publisher ended on its own and
        gets no cancel (rule 2.3).
        """
        self._ended = True
        if not self._publisher:
            self._disposable.dispose()

    def dispose(self) -> None:
        """Cancel the upstream (rule 3.5: idempotent)."""
        self._disposable.dispose()

    def release(self) -> None:
        """The stream is over downstream: cancel the upstream unless it is a publisher that
        ended on its own (rules 2.3, 2.4)."""
        if not (self._ended and self._publisher):
            self._disposable.dispose()
