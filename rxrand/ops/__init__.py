"""Operators that keep demand: the request operator, thread hops, ``share`` and asyncio bridges.

* :mod:`rxrand.ops.controlled`: :func:`~rxrand.controlled`, the request(n) operator;
* :mod:`rxrand.ops.hops`: :func:`~rxrand.observe_on` and :func:`~rxrand.subscribe_on`;
* :mod:`rxrand.ops.share`: :func:`~rxrand.share`, multicast at the slowest subscriber's pace;
* :mod:`rxrand.ops.async_bridges`: :func:`~rxrand.from_async_iterable` and
  :func:`~rxrand.to_async_iterable`.
"""

from .async_bridges import (
    DEFAULT_PREFETCH,
    AsyncDemandIterator,
    FromAsyncIterable,
    from_async_iterable,
    to_async_iterable,
)
from .controlled import (
    DEFAULT_CAPACITY,
    Controlled,
    ControlledSubscription,
    Subscriber,
    UpstreamIgnoredCancelError,
    controlled,
)
from .hops import observe_on, subscribe_on
from .share import share

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_PREFETCH",
    "AsyncDemandIterator",
    "Controlled",
    "ControlledSubscription",
    "FromAsyncIterable",
    "Subscriber",
    "UpstreamIgnoredCancelError",
    "controlled",
    "from_async_iterable",
    "observe_on",
    "share",
    "subscribe_on",
    "to_async_iterable",
]
