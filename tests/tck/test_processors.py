"""The JVM TCK's ``IdentityProcessorVerification`` (``processor_verification.py``) on every
operator of rxrand that both receives and publishes.

* ``rxrand.share()``: one upstream subscription for several subscribers, at the pace of the
  slowest (coordinated emission);
* ``rxrand.observe_on(pool, prefetch=4)``: items hop to a pool thread, at most 4 ahead;
* ``rxrand.subscribe_on(EventLoopScheduler())``: subscribed, and asked, on another thread;
* ``controlled()`` inside another ``controlled()``'s chain: outer credit is inner demand.

Their publisher rules run in ``test_publishers.py`` (``TestShared``, ``TestObserveOnPool``,
``TestSubscribeOnEventLoop``, ``TestNestedControlled``).
"""

from __future__ import annotations

from typing import Any

from reactivex import Observable
from reactivex.scheduler import EventLoopScheduler, ThreadPoolScheduler

import rxrand
from rxrand import controlled

from .processor_verification import IdentityProcessorVerification

_POOL = ThreadPoolScheduler(2)


class TestShareProcessor(IdentityProcessorVerification):
    max_supported_subscribers = 2
    does_coordinated_emission = True

    def create_identity_processor(self, upstream: Observable[Any]) -> Observable[Any]:
        return upstream.pipe(rxrand.share())


class TestObserveOnProcessor(IdentityProcessorVerification):
    prefetch = 4

    def create_identity_processor(self, upstream: Observable[Any]) -> Observable[Any]:
        return upstream.pipe(rxrand.observe_on(_POOL, prefetch=4))


class TestSubscribeOnProcessor(IdentityProcessorVerification):
    def create_identity_processor(self, upstream: Observable[Any]) -> Observable[Any]:
        return upstream.pipe(rxrand.subscribe_on(EventLoopScheduler()))


class TestNestedControlledProcessor(IdentityProcessorVerification):
    def create_identity_processor(self, upstream: Observable[Any]) -> Observable[Any]:
        return upstream.pipe(controlled())
