"""rxrand: random-integer streams with real Reactive Streams backpressure for reactivex."""

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

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
    "Overflow",
    "PullProducer",
    "RandomIntegers",
    "SocketObserver",
    "Subscriber",
    "WriterStats",
    "controlled",
    "demand_channel_of",
    "encode_int_line",
    "error_line",
    "parse_count",
    "random_integers",
    "unsent_bytes",
]
