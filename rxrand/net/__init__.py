"""The network layer: the wire protocol, the kernel-aware writer, the socket source, the server.

Sans-I/O (no socket, no event loop; a layer contract in ``pyproject.toml`` says so):

* :mod:`rxrand.net.wire`: line framing, the prompt, count parsing, error lines;
* :mod:`rxrand.net.protocol`: :class:`~rxrand.net.protocol.ServerProtocol`, one connection's
  state machine (events in, actions out);
* :mod:`rxrand.net.window`: :class:`~rxrand.net.window.KernelWindow`, how much to request
  from what the kernel still holds;
* :mod:`rxrand.net.encode` and :mod:`rxrand.net.line_table`: integers to bytes, in batches.

At the edge (asyncio and sockets):

* :mod:`rxrand.net.errors`: the one place where ``OSError`` becomes ``ConnectionLost``;
* :mod:`rxrand.net.kernel`: what the kernel still holds (unsent, acknowledged bytes);
* :mod:`rxrand.net.hangup`: the watcher that notices a client's hang-up without reading;
* :mod:`rxrand.net.sender`: :class:`~rxrand.net.sender.Sender`, the one writer of a socket;
* :mod:`rxrand.net.socket_observer`: :class:`~rxrand.SocketObserver`, which requests more only
  once the kernel has drained (the Reactive Streams facade);
* :mod:`rxrand.net.write_cycle`: :class:`~rxrand.net.write_cycle.WriteCycle`, the observer's
  pacing and writing (encode, send, request while the kernel has room);
* :mod:`rxrand.net.socket_source`: :func:`~rxrand.socket_lines`, a socket read under demand;
* :mod:`rxrand.net.eventloop`: the event loops the server can run on (asyncio, uvloop);
* :mod:`rxrand.net.interest`: one connection's loop registrations (reader, hang-up watch, timer);
* :mod:`rxrand.net.connection_stream`: one connection's stream, from its count to its end;
* :mod:`rxrand.net.server`: :class:`~rxrand.net.server.RandomIntegerServer`.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

# Loaded on first use, as in rxrand/__init__.py: the client, which reads a socket, does not
# load the server, the writer and the encoders (PEP 562's module __getattr__).
if _TYPE_CHECKING:
    from .encode import INT_LINES, BatchEncoder, IntLines, encode_int_array
    from .errors import ConnectionLost
    from .eventloop import EVENT_LOOPS, LoopUnavailable, event_loop_factory
    from .kernel import acked_bytes, unsent_bytes
    from .line_table import LineTable
    from .protocol import ProtocolLimits, ServerProtocol
    from .sender import Sender
    from .server import RandomIntegerServer, ServerConfig
    from .socket_observer import SocketObserver, WriterStats
    from .socket_source import (
        BULK_RECV_BYTES,
        RECV_BYTES,
        LineBlock,
        LineTooLongError,
        SocketLines,
        UnterminatedLineError,
        socket_lines,
    )
    from .window import KERNEL_BUDGET, NOTSENT_LOWAT, WINDOW_BYTES, KernelWindow
    from .wire import (
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
    "BULK_RECV_BYTES",
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
    "ConnectionLost",
    "EndOfInput",
    "IntLines",
    "KernelWindow",
    "Line",
    "LineBlock",
    "LineDecoder",
    "LineTable",
    "LineTooLong",
    "LineTooLongError",
    "LoopUnavailable",
    "ProtocolLimits",
    "RandomIntegerServer",
    "Sender",
    "ServerConfig",
    "ServerProtocol",
    "SocketLines",
    "SocketObserver",
    "UnterminatedLineError",
    "WriterStats",
    "acked_bytes",
    "encode_int_array",
    "encode_int_line",
    "error_line",
    "event_loop_factory",
    "parse_count",
    "socket_lines",
    "unsent_bytes",
]

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("INT_LINES", "BatchEncoder", "IntLines", "encode_int_array"), "rxrand.net.encode"
    ),
    "ConnectionLost": "rxrand.net.errors",
    **dict.fromkeys(
        ("EVENT_LOOPS", "LoopUnavailable", "event_loop_factory"), "rxrand.net.eventloop"
    ),
    **dict.fromkeys(("acked_bytes", "unsent_bytes"), "rxrand.net.kernel"),
    "LineTable": "rxrand.net.line_table",
    **dict.fromkeys(("ProtocolLimits", "ServerProtocol"), "rxrand.net.protocol"),
    "Sender": "rxrand.net.sender",
    **dict.fromkeys(("RandomIntegerServer", "ServerConfig"), "rxrand.net.server"),
    **dict.fromkeys(("SocketObserver", "WriterStats"), "rxrand.net.socket_observer"),
    **dict.fromkeys(
        (
            "BULK_RECV_BYTES",
            "RECV_BYTES",
            "LineBlock",
            "LineTooLongError",
            "SocketLines",
            "UnterminatedLineError",
            "socket_lines",
        ),
        "rxrand.net.socket_source",
    ),
    **dict.fromkeys(
        ("KERNEL_BUDGET", "NOTSENT_LOWAT", "WINDOW_BYTES", "KernelWindow"), "rxrand.net.window"
    ),
    **dict.fromkeys(
        (
            "MAX_LINE_LENGTH",
            "NEED_DATA",
            "PROMPT",
            "BadCount",
            "EndOfInput",
            "Line",
            "LineDecoder",
            "LineTooLong",
            "encode_int_line",
            "error_line",
            "parse_count",
        ),
        "rxrand.net.wire",
    ),
}

#: The submodules, found as attributes as they were when this module imported them all.
_MODULES = frozenset(
    {module.rsplit(".", 1)[1] for module in _EXPORTS.values()} | {"hangup", "send_queue"}
)


def __getattr__(name: str) -> object:
    import importlib

    if name in _MODULES:
        return importlib.import_module(f"rxrand.net.{name}")  # `import rxrand.net; rxrand.net.wire`
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rxrand.net' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once: later uses do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
