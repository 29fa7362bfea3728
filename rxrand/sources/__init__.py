"""Pull sources: cold Observables that generate only what is requested.

Under :func:`rxrand.controlled` each source finds the request operator's demand channel and
generates no more than the credit it is granted; subscribed plainly, it emits everything, as
any reactivex source does.

* :mod:`rxrand.sources.integers`: :func:`~rxrand.random_integers`,
  :func:`~rxrand.from_iterable`, and their base :class:`~rxrand.sources.integers.PullEmitter`;
* :mod:`rxrand.sources.loop_producer`: the base of sources driven by an asyncio event loop
  (the socket source, :func:`~rxrand.from_async_iterable`).
"""

from .integers import (
    CHUNK_SIZE,
    FromIterable,
    IntegerBatches,
    IntegerChunks,
    PullEmitter,
    RandomIntegers,
    from_iterable,
    random_integers,
)
from .loop_producer import LoopProducer

__all__ = [
    "CHUNK_SIZE",
    "FromIterable",
    "IntegerBatches",
    "IntegerChunks",
    "LoopProducer",
    "PullEmitter",
    "RandomIntegers",
    "from_iterable",
    "random_integers",
]
