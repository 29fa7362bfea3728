"""rxrand: random-integer streams with real Reactive Streams backpressure for reactivex."""

from ._channel import DemandChannel, PullProducer, demand_channel_of
from ._controlled import (
    BufferOverflowError,
    Controlled,
    ControlledSubscription,
    Overflow,
    Subscriber,
    controlled,
)
from ._demand import UNBOUNDED
from ._errors import ConnectionLost
from ._eventloop import EVENT_LOOPS, LoopUnavailable, event_loop_factory
from ._fused import IntegerBatches, LineTable
from ._socket import (
    KERNEL_BUDGET,
    NOTSENT_LOWAT,
    WINDOW_BYTES,
    SocketObserver,
    WriterStats,
    unsent_bytes,
)
from ._source import CHUNK_SIZE, RandomIntegers, random_integers
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
    "BufferOverflowError",
    "ConnectionLost",
    "Controlled",
    "ControlledSubscription",
    "DemandChannel",
    "EndOfInput",
    "IntegerBatches",
    "Line",
    "LineDecoder",
    "LineTable",
    "LineTooLong",
    "LoopUnavailable",
    "Overflow",
    "PullProducer",
    "RandomIntegers",
    "RestartBudget",
    "SocketObserver",
    "Subscriber",
    "Supervisor",
    "WriterStats",
    "controlled",
    "demand_channel_of",
    "encode_int_line",
    "error_line",
    "event_loop_factory",
    "parse_count",
    "random_integers",
    "unsent_bytes",
    "usable_cores",
]
