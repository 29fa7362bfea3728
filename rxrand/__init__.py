"""rxrand: random-integer streams with real Reactive Streams backpressure for reactivex."""

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

from ._async import (
    DEFAULT_PREFETCH,
    AsyncDemandIterator,
    FromAsyncIterable,
    from_async_iterable,
    to_async_iterable,
)
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
from ._encode import INT_LINES, BatchEncoder, IntLines, encode_int_array
from ._errors import ConnectionLost
from ._eventloop import EVENT_LOOPS, LoopUnavailable, event_loop_factory
from ._fused import LineTable
from ._fusion import BatchSource, BulkSubscriber, Fusable
from ._hops import observe_on, subscribe_on
from ._loop_producer import LoopProducer
from ._protocol import ProtocolLimits, ServerProtocol
from ._sender import Sender
from ._share import share
from ._socket import SocketObserver, WriterStats, acked_bytes, unsent_bytes
from ._socket_source import (
    RECV_BYTES,
    LineBlock,
    LineTooLongError,
    SocketLines,
    UnterminatedLineError,
    socket_lines,
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
from ._window import KERNEL_BUDGET, NOTSENT_LOWAT, WINDOW_BYTES, KernelWindow
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
    "DEFAULT_PREFETCH",
    "EVENT_LOOPS",
    "INT_LINES",
    "KERNEL_BUDGET",
    "MAX_LINE_LENGTH",
    "NEED_DATA",
    "NOTSENT_LOWAT",
    "PROMPT",
    "RECV_BYTES",
    "UNBOUNDED",
    "WINDOW_BYTES",
    "AsyncDemandIterator",
    "BadCount",
    "BatchEncoder",
    "BatchSource",
    "BufferOverflowError",
    "BulkSubscriber",
    "ConnectionLost",
    "Controlled",
    "ControlledSubscription",
    "CreditLink",
    "DemandChannel",
    "EndOfInput",
    "FromAsyncIterable",
    "FromIterable",
    "Fusable",
    "IntLines",
    "IntegerBatches",
    "KernelWindow",
    "Line",
    "LineBlock",
    "LineDecoder",
    "LineTable",
    "LineTooLong",
    "LineTooLongError",
    "LoopProducer",
    "LoopUnavailable",
    "Overflow",
    "ProtocolLimits",
    "PullEmitter",
    "PullProducer",
    "RandomIntegers",
    "RestartBudget",
    "Sender",
    "ServerProtocol",
    "SocketLines",
    "SocketObserver",
    "Subscriber",
    "Supervisor",
    "UnterminatedLineError",
    "UpstreamIgnoredCancelError",
    "WriterStats",
    "acked_bytes",
    "controlled",
    "demand_channel_of",
    "encode_int_array",
    "encode_int_line",
    "error_line",
    "event_loop_factory",
    "from_async_iterable",
    "from_iterable",
    "observe_on",
    "parse_count",
    "random_integers",
    "share",
    "socket_lines",
    "subscribe_on",
    "to_async_iterable",
    "unsent_bytes",
    "usable_cores",
]
