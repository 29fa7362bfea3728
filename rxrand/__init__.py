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
from ._encode import INT_LINES, BatchEncoder, IntLines, encode_int_array
from ._errors import ConnectionLost
from ._fused import IntegerBatches, LineTable
from ._protocol import ProtocolLimits, ServerProtocol
from ._sender import Sender
from ._socket import SocketObserver, WriterStats, acked_bytes, unsent_bytes
from ._source import CHUNK_SIZE, RandomIntegers, random_integers
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
    "INT_LINES",
    "KERNEL_BUDGET",
    "MAX_LINE_LENGTH",
    "NEED_DATA",
    "NOTSENT_LOWAT",
    "PROMPT",
    "UNBOUNDED",
    "WINDOW_BYTES",
    "BadCount",
    "BatchEncoder",
    "BufferOverflowError",
    "ConnectionLost",
    "Controlled",
    "ControlledSubscription",
    "DemandChannel",
    "EndOfInput",
    "IntLines",
    "IntegerBatches",
    "KernelWindow",
    "Line",
    "LineDecoder",
    "LineTable",
    "LineTooLong",
    "Overflow",
    "ProtocolLimits",
    "PullProducer",
    "RandomIntegers",
    "Sender",
    "ServerProtocol",
    "SocketObserver",
    "Subscriber",
    "WriterStats",
    "acked_bytes",
    "controlled",
    "demand_channel_of",
    "encode_int_array",
    "encode_int_line",
    "error_line",
    "parse_count",
    "random_integers",
    "unsent_bytes",
]
