"""rxrand: random-integer streams with real Reactive Streams backpressure for reactivex."""

from ._buffer import BufferOverflowError, Overflow
from ._channel import CreditLink, DemandChannel, PullProducer, demand_channel_of
from ._controlled import (
    Controlled,
    ControlledSubscription,
    Subscriber,
    UpstreamIgnoredCancelError,
    controlled,
)
from ._demand import UNBOUNDED
from ._errors import ConnectionLost
from ._eventloop import EVENT_LOOPS, LoopUnavailable, event_loop_factory
from ._fused import LineTable
from ._fusion import BatchSource, BulkSubscriber, Fusable
from ._socket import (
    KERNEL_BUDGET,
    NOTSENT_LOWAT,
    WINDOW_BYTES,
    SocketObserver,
    WriterStats,
    unsent_bytes,
)
from ._source import (
    CHUNK_SIZE,
    FromIterable,
    IntegerBatches,
    PullEmitter,
    RandomIntegers,
    from_iterable,
    random_integers,
)
from ._supervisor import RestartBudget, Supervisor, usable_cores
from ._wire import (
    MAX_LINE_LENGTH,
    NEED_DATA,
    PROMPT,
    BadCount,
    EndOfInput,
    Line,
    LineDecoder,
    LineTooLong,
    encode_int_line,
    error_line,
    parse_count,
)

__all__ = [
    "CHUNK_SIZE",
    "EVENT_LOOPS",
    "KERNEL_BUDGET",
    "MAX_LINE_LENGTH",
    "NEED_DATA",
    "NOTSENT_LOWAT",
    "PROMPT",
    "UNBOUNDED",
    "WINDOW_BYTES",
    "BadCount",
    "BatchSource",
    "BufferOverflowError",
    "BulkSubscriber",
    "ConnectionLost",
    "Controlled",
    "ControlledSubscription",
    "CreditLink",
    "DemandChannel",
    "EndOfInput",
    "FromIterable",
    "Fusable",
    "IntegerBatches",
    "Line",
    "LineDecoder",
    "LineTable",
    "LineTooLong",
    "LoopUnavailable",
    "Overflow",
    "PullEmitter",
    "PullProducer",
    "RandomIntegers",
    "RestartBudget",
    "SocketObserver",
    "Subscriber",
    "Supervisor",
    "UpstreamIgnoredCancelError",
    "WriterStats",
    "controlled",
    "demand_channel_of",
    "encode_int_line",
    "error_line",
    "event_loop_factory",
    "from_iterable",
    "parse_count",
    "random_integers",
    "unsent_bytes",
    "usable_cores",
]
