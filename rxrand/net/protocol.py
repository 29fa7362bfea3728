"""The server's side of the protocol as a state machine, sans I/O (the h11 way).

Rule 1: everything that decides what the server says, when it stops reading
and how it closes lives here. The driver (:class:`rxrand.net.server.Connection`)
feeds in what happened (bytes, the kernel took the output, the stream ended,
the time with the client's acknowledged bytes) and carries out the actions
that come back. No socket, no event loop, no clock: time is passed in.

Phases and their transitions (all in :meth:`ServerProtocol.handle`)::

    ASKING --count--> STREAMING --stream completed--> CLOSING --EOF/linger--> CLOSED
      |                  |                               ^
      |  bad line: error + prompt, stay                  |
      |                  |                               |
      +--line too long, idle, shutdown--+--idle, shutdown, stream error--> ENDING
                                              (finish the line begun, send ``error: ...``)
    ENDING --output drained--> CLOSING (FIN sent)      ENDING --grace over--> Abort (RST)
    any phase --connection lost--> CLOSED
    any phase --CloseNow--> CLOSED (Abort while STREAMING or ENDING, else Close)

The truncation rule: a client gets every integer it asked for and then a
clean close, or it can tell the stream was cut short. So an early end
(``StopStream``) makes the writer finish the line the kernel has begun, then
an ``error: ...`` line follows; only once both are in the kernel is the FIN
sent. If they are not taken within ``end_grace`` seconds the connection is
aborted (``SO_LINGER`` 0: a reset), never closed with a clean FIN after a
partial line.

The idle clock: while asking, the client must send a complete line within
``idle_timeout`` seconds of the last one (a byte at a time is still idle).
While streaming, progress is what the client's TCP acknowledged (the driver
reads it from the kernel and passes it in); it is sampled
``progress_samples`` times per timeout, so a client that acknowledges
nothing is stopped between ``T`` and ``T + T/progress_samples`` after its
last progress, and one that acknowledges something within every ``T`` is
never stopped.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final, final

from .wire import (
    MAX_LINE_LENGTH,
    NEED_DATA,
    PROMPT,
    BadCount,
    EndOfInput,
    LineDecoder,
    LineTooLong,
    error_line,
    parse_count,
)

__all__ = [
    "Abort",
    "Action",
    "Close",
    "CloseNow",
    "ConnectionLostEvent",
    "Data",
    "Drained",
    "Event",
    "Phase",
    "ProtocolLimits",
    "Send",
    "ServerProtocol",
    "ShutdownRequested",
    "ShutdownWrite",
    "StartStream",
    "StopStream",
    "StreamEnded",
    "Tick",
]


class Phase(enum.Enum):
    ASKING = "asking"  # prompt sent; reading lines until a valid count
    STREAMING = "streaming"  # the stream is written; input is not read
    ENDING = "ending"  # the last bytes (rest of a line, an error line) going out, bounded
    CLOSING = "closing"  # everything sent and FIN sent; reading (bounded) until the client's EOF
    CLOSED = "closed"


# -- actions: what the driver must do --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Queue these bytes after everything sent so far."""

    data: bytes


@dataclass(frozen=True, slots=True)
class StartStream:
    """Start streaming ``count`` integers."""

    count: int


@dataclass(frozen=True, slots=True)
class StopStream:
    """Cancel the stream if any; of what is queued keep only the rest of the line begun."""


@dataclass(frozen=True, slots=True)
class ShutdownWrite:
    """Everything is in the kernel: send FIN (``shutdown(SHUT_WR)``)."""


@dataclass(frozen=True, slots=True)
class Abort:
    """Close with a reset (``SO_LINGER`` 0): the client can tell the stream was cut short."""

    reason: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket and forget the connection."""

    reason: str


Action = Send | StartStream | StopStream | ShutdownWrite | Abort | Close


# -- events: what happened -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes from the client; ``b""`` is its EOF."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Drained:
    """Everything queued so far is in the kernel."""


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The stream is over: ``error`` is ``None`` once every item is in the kernel."""

    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionLostEvent:
    """The socket failed or the client reset it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Tick:
    """The deadline came; ``acked`` is how many bytes the client has acknowledged so far."""

    acked: int = 0


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    """The server is going down."""


@dataclass(frozen=True, slots=True)
class CloseNow:
    """The owner closes the connection at once (the server closes, or setup failed)."""

    reason: str


Event = Data | Drained | StreamEnded | ConnectionLostEvent | Tick | ShutdownRequested | CloseNow


@dataclass(frozen=True, slots=True)
class ProtocolLimits:
    """The bounds one connection lives under."""

    idle_timeout: float = 60.0
    max_count: int = 10**9
    max_line: int = MAX_LINE_LENGTH
    #: After an early end, how long the last line and the error line may take to go out.
    end_grace: float = 1.0
    #: After the FIN, how long to wait for the client's EOF before closing.
    linger: float = 5.0
    #: Input read and thrown away while lingering before giving up on a polite close.
    linger_discard: int = 1 << 20
    #: How often per ``idle_timeout`` the progress of a stream is sampled.
    progress_samples: int = 4

    def __post_init__(self) -> None:
        if not (math.isfinite(self.idle_timeout) and self.idle_timeout > 0):
            raise ValueError(f"idle_timeout must be finite and > 0, got {self.idle_timeout}")
        if self.progress_samples < 1:
            raise ValueError(f"progress_samples must be >= 1, got {self.progress_samples}")


_NEVER: Final = math.inf


@final
class ServerProtocol:
    """One connection's protocol state: events in, actions out.

    Properties the driver obeys after every call: :attr:`reading` (read from
    the socket or not), :attr:`deadline` (feed a :class:`Tick` then), and
    :attr:`awaiting_drain` (feed :class:`Drained` once the output queue is
    empty).
    """

    __slots__ = (
        "_decoder",
        "_discarded",
        "_end_reason",
        "_last_line",
        "_limits",
        "_progress_at",
        "_progress_mark",
        "_shutting_down",
        "awaiting_drain",
        "close_reason",
        "count",
        "deadline",
        "phase",
        "received",
    )

    def __init__(self, limits: ProtocolLimits, now: float) -> None:
        self._limits = limits
        self._decoder = LineDecoder(limits.max_line)
        self.phase = Phase.ASKING
        self._last_line = now
        self._progress_at = now
        self._progress_mark = -1
        self._discarded = 0
        self._end_reason = ""
        self._shutting_down = False
        #: When the driver must feed a :class:`Tick` (``inf``: never).
        self.deadline = now + limits.idle_timeout
        #: Output was queued that the protocol waits to see in the kernel.
        self.awaiting_drain = False
        #: The client's count, once it sent a valid one.
        self.count: int | None = None
        #: Why the connection ended, once it did.
        self.close_reason: str | None = None
        #: Bytes received from the client.
        self.received = 0

    @property
    def reading(self) -> bool:
        """Whether the driver should read input now (never while streaming or ending)."""
        phase = self.phase
        if phase is Phase.ASKING:
            return not self.awaiting_drain
        return phase is Phase.CLOSING

    def start(self) -> list[Action]:
        """The connection is open: say the prompt."""
        self.awaiting_drain = True
        return [Send(PROMPT)]

    # Convenience spellings of handle().
    def receive_data(self, data: bytes, now: float) -> list[Action]:
        return self.handle(Data(data), now)

    def output_drained(self, now: float) -> list[Action]:
        return self.handle(Drained(), now)

    def timer(self, now: float, acked: int = 0) -> list[Action]:
        return self.handle(Tick(acked), now)

    def handle(self, event: Event, now: float) -> list[Action]:
        """The one transition function: every phase change happens here."""
        phase = self.phase
        if phase is Phase.CLOSED:
            return []
        if isinstance(event, ConnectionLostEvent):
            reason = self._end_reason if phase is Phase.CLOSING else f"lost ({event.reason})"
            return self._close(reason)
        if isinstance(event, CloseNow):
            # The truncation rule still holds: a stream or a last line cut here
            # ends with a reset, never with a clean FIN.
            if phase is Phase.STREAMING or phase is Phase.ENDING:
                return self._abort(event.reason)
            return self._close(event.reason)
        if isinstance(event, Data):
            self.received += len(event.data)
        limits = self._limits

        if phase is Phase.ASKING:
            if isinstance(event, Data):
                self._decoder.receive_data(event.data)
                return self._lines(now)
            if isinstance(event, Drained):
                self.awaiting_drain = False
                return self._lines(now)
            if isinstance(event, Tick):
                if now - self._last_line >= limits.idle_timeout:
                    return self._end(
                        f"no complete line within {limits.idle_timeout:g} seconds; closing",
                        "idle timeout",
                        now,
                    )
                self.deadline = self._last_line + limits.idle_timeout
                return []
            if isinstance(event, ShutdownRequested):
                self._shutting_down = True
                return self._end("the server is shutting down; closing", "server shutdown", now)
            return []  # StreamEnded: no stream yet

        if phase is Phase.STREAMING:
            if isinstance(event, StreamEnded):
                if event.error is None:
                    return self._closing("completed", now)
                return self._end(
                    f"the stream failed ({event.error}); it ended early",
                    f"stream error ({event.error})",
                    now,
                )
            if isinstance(event, Tick):
                if event.acked != self._progress_mark:
                    self._progress_mark = event.acked
                    self._progress_at = now
                idle_until = self._progress_at + limits.idle_timeout
                if now >= idle_until:
                    return self._end(
                        f"nothing was read for {limits.idle_timeout:g} seconds; "
                        "the stream ended early",
                        "idle timeout",
                        now,
                    )
                step = limits.idle_timeout / limits.progress_samples
                self.deadline = min(idle_until, now + step)
                return []
            if isinstance(event, ShutdownRequested):
                self._shutting_down = True
                return self._end(
                    "the server is shutting down; the stream ended early",
                    "server shutdown",
                    now,
                )
            return []  # Data after the count (one count per connection) and Drained: ignored

        if phase is Phase.ENDING:
            if isinstance(event, Drained):
                self.awaiting_drain = False
                if self._shutting_down:
                    return [ShutdownWrite(), *self._close(self._end_reason)]
                return self._closing(self._end_reason, now)
            if isinstance(event, Tick) and now >= self.deadline:
                return self._abort(f"{self._end_reason}; the last bytes were not taken")
            if isinstance(event, ShutdownRequested):
                self._shutting_down = True
            return []

        # CLOSING: everything is sent and the FIN is out; waiting for the client's EOF.
        if isinstance(event, Data):
            self._discarded += len(event.data)
            if not event.data or self._discarded > limits.linger_discard:
                return self._close(self._end_reason)
            return []
        if (isinstance(event, Tick) and now >= self.deadline) or isinstance(
            event, ShutdownRequested
        ):
            return self._close(self._end_reason)
        return []

    # -- helpers (no transitions of their own but through the ones above) --------------

    def _lines(self, now: float) -> list[Action]:
        actions: list[Action] = []
        limits = self._limits
        while not self.awaiting_drain:
            event = self._decoder.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, EndOfInput):
                return [*actions, *self._close("client closed before a count")]
            if isinstance(event, LineTooLong):
                actions += self._end(
                    f"line longer than {event.limit} bytes without a line end; "
                    "expected a whole number and a line end; closing",
                    "line too long",
                    now,
                )
                return actions
            # The idle clock counts from the last complete line, not the last
            # byte: a client trickling a byte a second (slowloris) is idle too.
            self._last_line = now
            self.deadline = now + limits.idle_timeout
            try:
                count = parse_count(event.content, limits.max_count)
            except BadCount as error:
                self.awaiting_drain = True
                actions.append(Send(error_line(str(error)) + PROMPT))
                continue
            # One count per connection: whatever follows it is never read.
            self.count = count
            self.phase = Phase.STREAMING
            self._progress_at = now
            self.deadline = now + limits.idle_timeout / limits.progress_samples
            actions.append(StartStream(count))
            return actions
        return actions

    def _end(self, message: str, reason: str, now: float) -> list[Action]:
        """An early end: finish the line begun, say why, then FIN; or abort if not taken."""
        self.phase = Phase.ENDING
        self._end_reason = reason
        self.awaiting_drain = True
        self.deadline = now + self._limits.end_grace
        return [StopStream(), Send(error_line(message))]

    def _closing(self, reason: str, now: float) -> list[Action]:
        self.phase = Phase.CLOSING
        self._end_reason = reason
        self.deadline = now + self._limits.linger
        return [ShutdownWrite()]

    def _close(self, reason: str) -> list[Action]:
        self.phase = Phase.CLOSED
        self.close_reason = reason
        self.deadline = _NEVER
        return [Close(reason)]

    def _abort(self, reason: str) -> list[Action]:
        self.phase = Phase.CLOSED
        self.close_reason = reason
        self.deadline = _NEVER
        return [Abort(reason)]
