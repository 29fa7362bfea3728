"""The sans-I/O core: demand arithmetic, the drain inbox, the bounded buffer, the demand channel.

Nothing here imports asyncio or sockets (a layer contract in ``pyproject.toml`` says so, and CI
checks it). Sources, operators and the network layer build on these pieces:

* :mod:`rxrand.core.demand`: demand as a saturating counter (rule 3.17), request checks
  (rule 3.9) and the :class:`~rxrand.core.demand.DrainInbox` that serialises signals (rule 3.3);
* :mod:`rxrand.core.buffer`: the bounded buffer behind the push fallback, and its
  :class:`~rxrand.core.buffer.Overflow` policies;
* :mod:`rxrand.core.channel`: the :class:`~rxrand.core.channel.DemandChannel` through which a
  request operator grants credit to pull producers upstream of reactivex's operators;
* :mod:`rxrand.core.producer`: the :class:`~rxrand.core.producer.Producer` base of every
  producer (credit, link, burst bracket, terminate-then-detach), its
  :class:`~rxrand.core.producer.LockedProducer` variant for credit from another thread, and
  the :class:`~rxrand.core.producer.Outlet` of a hop or a share;
* :mod:`rxrand.core.ledger`: the :class:`~rxrand.core.ledger.CreditLedger`, what a request
  operator granted its pull producers and what became of it;
* :mod:`rxrand.core.fusion`: the bulk protocol (:class:`~rxrand.core.fusion.Fusable`,
  :class:`~rxrand.core.fusion.BulkSubscriber`, and
  :class:`~rxrand.core.fusion.ReadyBatchSource` for batches that arrive on their own) of the
  fused path.
"""

from .buffer import BoundedBuffer, BufferOverflowError, Overflow
from .channel import CreditLink, DemandChannel, PullProducer, demand_channel_of
from .demand import UNBOUNDED, DrainInbox, add_demand, check_request, positive_count
from .fusion import BatchSource, BulkSubscriber, Fusable, ReadyBatchSource
from .ledger import CreditLedger
from .producer import LockedProducer, Outlet, Producer

__all__ = [
    "UNBOUNDED",
    "BatchSource",
    "BoundedBuffer",
    "BufferOverflowError",
    "BulkSubscriber",
    "CreditLedger",
    "CreditLink",
    "DemandChannel",
    "DrainInbox",
    "Fusable",
    "LockedProducer",
    "Outlet",
    "Overflow",
    "Producer",
    "PullProducer",
    "ReadyBatchSource",
    "add_demand",
    "check_request",
    "demand_channel_of",
    "positive_count",
]
