"""rxrand: random-integer streams with real Reactive Streams backpressure for reactivex.

This module exports what a user composes with; everything else lives in documented
submodules, one per layer, each importing only from the layers below it:

* :mod:`rxrand.core`: demand arithmetic, the drain inbox, the bounded buffer, the demand
  channel, the bulk protocol (no I/O, no asyncio);
* :mod:`rxrand.sources`: pull sources (random integers, iterables, the loop producer);
* :mod:`rxrand.ops`: the request operator, thread hops, ``share``, asyncio bridges;
* :mod:`rxrand.net`: the wire protocol, the kernel-aware writer, the socket source, the server;
* :mod:`rxrand.cli`: the ``rxrand-server`` and ``rxrand-client`` programs;
* :mod:`rxrand.testing`: demand marbles and a recording subscriber;
* :mod:`rxrand.server` and :mod:`rxrand.client`: the server and the client as a library.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

# The names below are loaded on first use (PEP 562's module __getattr__), so that a program
# pays only for the layers it touches: the client, which needs the socket source and
# controlled(), does not load the server (about 50 ms of imports, a tenth of its run for
# 30 M integers). Type checkers read the imports; _EXPORTS says where each name lives.
if _TYPE_CHECKING:
    from .core.buffer import BufferOverflowError, Overflow
    from .core.demand import UNBOUNDED
    from .net.errors import ConnectionLost
    from .net.socket_observer import SocketObserver
    from .net.socket_source import LineTooLongError, socket_lines
    from .ops.async_bridges import from_async_iterable, to_async_iterable
    from .ops.controlled import (
        ControlledSubscription,
        Subscriber,
        UpstreamIgnoredCancelError,
        controlled,
    )
    from .ops.hops import observe_on, subscribe_on
    from .ops.share import share
    from .sources.integers import from_iterable, random_integers

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"
"""This rxrand's version, ``major.minor.patch``; the package metadata reads it from here."""

__all__ = [
    "UNBOUNDED",
    "BufferOverflowError",
    "ConnectionLost",
    "ControlledSubscription",
    "LineTooLongError",
    "Overflow",
    "SocketObserver",
    "Subscriber",
    "UpstreamIgnoredCancelError",
    "__version__",
    "controlled",
    "from_async_iterable",
    "from_iterable",
    "observe_on",
    "random_integers",
    "share",
    "socket_lines",
    "subscribe_on",
    "to_async_iterable",
]

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("BufferOverflowError", "Overflow"), "rxrand.core.buffer"),
    "UNBOUNDED": "rxrand.core.demand",
    "ConnectionLost": "rxrand.net.errors",
    "SocketObserver": "rxrand.net.socket_observer",
    **dict.fromkeys(("LineTooLongError", "socket_lines"), "rxrand.net.socket_source"),
    **dict.fromkeys(("from_async_iterable", "to_async_iterable"), "rxrand.ops.async_bridges"),
    **dict.fromkeys(
        ("ControlledSubscription", "Subscriber", "UpstreamIgnoredCancelError", "controlled"),
        "rxrand.ops.controlled",
    ),
    **dict.fromkeys(("observe_on", "subscribe_on"), "rxrand.ops.hops"),
    "share": "rxrand.ops.share",
    **dict.fromkeys(("from_iterable", "random_integers"), "rxrand.sources.integers"),
}

#: The submodules, found as attributes as they were when this module imported them all.
_LAYERS = frozenset(("cli", "client", "core", "net", "ops", "server", "sources", "testing"))

#: Names that ``rxrand`` exported before 0.2, and the module that holds each now. They still
#: resolve, with a DeprecationWarning, for one release.
_MOVED: dict[str, str] = {
    **dict.fromkeys(
        (
            "BatchSource",
            "BulkSubscriber",
            "CreditLink",
            "DemandChannel",
            "Fusable",
            "PullProducer",
            "demand_channel_of",
        ),
        "rxrand.core",
    ),
    **dict.fromkeys(
        (
            "CHUNK_SIZE",
            "FromIterable",
            "IntegerBatches",
            "LoopProducer",
            "PullEmitter",
            "RandomIntegers",
        ),
        "rxrand.sources",
    ),
    **dict.fromkeys(
        ("DEFAULT_PREFETCH", "AsyncDemandIterator", "Controlled", "FromAsyncIterable"),
        "rxrand.ops",
    ),
    **dict.fromkeys(
        (
            "EVENT_LOOPS",
            "INT_LINES",
            "KERNEL_BUDGET",
            "MAX_LINE_LENGTH",
            "NEED_DATA",
            "NOTSENT_LOWAT",
            "PROMPT",
            "RECV_BYTES",
            "WINDOW_BYTES",
            "BadCount",
            "BatchEncoder",
            "EndOfInput",
            "IntLines",
            "KernelWindow",
            "Line",
            "LineDecoder",
            "LineTable",
            "LineTooLong",
            "LoopUnavailable",
            "ProtocolLimits",
            "Sender",
            "ServerProtocol",
            "SocketLines",
            "WriterStats",
            "acked_bytes",
            "encode_int_array",
            "encode_int_line",
            "error_line",
            "event_loop_factory",
            "parse_count",
            "unsent_bytes",
        ),
        "rxrand.net",
    ),
    **dict.fromkeys(("RestartBudget", "Supervisor", "usable_cores"), "rxrand.cli.supervisor"),
}


def __getattr__(name: str) -> object:
    import importlib

    exported = _EXPORTS.get(name)
    if exported is not None:
        value = getattr(importlib.import_module(exported), name)
        globals()[name] = value  # found once: later uses do not come here
        return value
    if name in _LAYERS:
        return importlib.import_module(f"rxrand.{name}")  # `import rxrand; rxrand.net.X`
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'rxrand' has no attribute {name!r}")
    import warnings

    warnings.warn(
        f"rxrand.{name} moved to {module}.{name}; the old name goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
