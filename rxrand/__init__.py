"""rxrand: random-integer streams with real Reactive Streams backpressure for reactivex."""

from ._controlled import (
    BufferOverflowError,
    Controlled,
    ControlledSubscription,
    Overflow,
    Subscriber,
    controlled,
)
from ._demand import UNBOUNDED
from ._source import CHUNK_SIZE, RandomIntegers, random_integers

__all__ = [
    "CHUNK_SIZE",
    "UNBOUNDED",
    "BufferOverflowError",
    "Controlled",
    "ControlledSubscription",
    "Overflow",
    "RandomIntegers",
    "Subscriber",
    "controlled",
    "random_integers",
]
