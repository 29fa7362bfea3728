"""The wire protocol, sans I/O: a line decoder with a length guard, the count parser, the encoder.

Rule 1: nothing here touches a socket or an event loop; bytes go in, events
come out (the h11 way). The server feeds what it receives and writes what it
is given.

The protocol (fixed): the server sends :data:`PROMPT`; the client answers
with a decimal count and a line end (``\\r\\n`` or ``\\n``, spaces around the
number allowed); the server sends that many lines ``b"%d\\r\\n"`` and closes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, final

__all__ = [
    "MAX_LINE_LENGTH",
    "NEED_DATA",
    "PROMPT",
    "BadCount",
    "EndOfInput",
    "Line",
    "LineDecoder",
    "LineTooLong",
    "NeedData",
    "encode_int_line",
    "error_line",
    "escape_bytes",
    "parse_count",
]

PROMPT: Final = b"how many random integers do you want?\r\n"
"""The line the server sends first on every connection, and again after an error line."""

MAX_LINE_LENGTH: Final = 1024
"""Longest line accepted, line end excluded. Longer input is a protocol error."""


class NeedData(enum.Enum):
    """Sentinel: the decoder needs more bytes before it can say anything."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
"""What ``LineDecoder.next_event()`` returns while no complete line has arrived (h11's sentinel)."""


@dataclass(frozen=True, slots=True)
class Line:
    """A complete line, without its line end (``\\n`` or ``\\r\\n``)."""

    content: bytes


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """The peer sent more than ``limit`` bytes without a line end. The decoder stops here."""

    limit: int


@dataclass(frozen=True, slots=True)
class EndOfInput:
    """The peer closed its side; no more lines will come."""


@final
class LineDecoder:
    """Splits a byte stream into lines, whatever the packet boundaries.

    Memory is bounded: at most ``max_length + 1`` bytes of an unfinished line
    are kept, however much arrives without a line end.
    """

    __slots__ = ("_buffer", "_eof", "_failed", "_max_length")

    def __init__(self, max_length: int = MAX_LINE_LENGTH) -> None:
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise TypeError(f"max_length must be an int, got {type(max_length).__name__}")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self._max_length = max_length
        self._buffer = bytearray()
        self._eof = False
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished line."""
        return len(self._buffer)

    def tail(self) -> bytes:
        """The unfinished line held (a copy); what follows the last line end received."""
        end = self._buffer.rfind(b"\n")
        return bytes(self._buffer[end + 1 :])

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed its side."""
        if self._failed:
            return
        if not data:
            self._eof = True
            return
        self._buffer += data

    def next_event(self) -> Line | LineTooLong | EndOfInput | NeedData:
        """The next line, ``LineTooLong`` (final), ``EndOfInput`` (final) or ``NEED_DATA``."""
        if self._failed:
            return LineTooLong(self._max_length)
        buffer = self._buffer
        end = buffer.find(b"\n", 0, self._max_length + 2)
        if end >= 0:
            content_end = end - 1 if end > 0 and buffer[end - 1] == 0x0D else end
            if content_end > self._max_length:
                return self._fail()
            line = bytes(buffer[:content_end])
            del buffer[: end + 1]
            return Line(line)
        limit = self._max_length
        if len(buffer) > limit and (len(buffer) > limit + 1 or buffer[limit] != 0x0D):
            # Only a carriage return may follow the longest line: anything
            # else is too long already, not worth waiting for the line end.
            return self._fail()
        if self._eof:
            if buffer:
                # An unterminated last line before EOF is still a line: what
                # `printf 5 | nc -N` sends.
                if len(buffer) > self._max_length:
                    return self._fail()
                line = bytes(buffer)
                buffer.clear()
                return Line(line)
            return EndOfInput()
        return NEED_DATA

    def _fail(self) -> LineTooLong:
        self._failed = True
        self._buffer = bytearray()
        return LineTooLong(self._max_length)


class BadCount(ValueError):
    """A count line the server cannot accept; ``str(error)`` is the message for the client."""


_WHITESPACE: Final = b" \t\r"


def parse_count(line: bytes, max_count: int) -> int:
    """Parse a client's count line: a decimal integer from 0 to ``max_count``.

    Raises:
        BadCount: with a message that says what was wrong and what is expected.
    """
    expected = f"expected a whole number from 0 to {max_count}, then a line end"
    text = line.strip(_WHITESPACE)
    if not text:
        raise BadCount(f"empty line; {expected}")
    shown = escape_bytes(text[:40])
    if len(text) > 40:
        shown += "..."
    digits = text[1:] if text[:1] in (b"-", b"+") else text
    if not digits or not digits.isdigit():
        raise BadCount(f"'{shown}' is not an integer; {expected}")
    if text[:1] == b"-":
        if digits.strip(b"0"):
            raise BadCount(f"{shown} is negative; {expected}")
        return 0
    if len(digits.lstrip(b"0")) > len(str(max_count)):
        raise BadCount(f"{shown} is above the maximum of {max_count}; {expected}")
    count = int(digits)
    if count > max_count:
        raise BadCount(f"{shown} is above the maximum of {max_count}; {expected}")
    return count


#: Printable ASCII shown as itself; every other byte as ``\\xNN`` (and ``\\`` as ``\\\\``).
_SHOWN: Final = tuple(
    "\\\\" if byte == 0x5C else chr(byte) if 0x20 <= byte < 0x7F else f"\\x{byte:02x}"
    for byte in range(256)
)


def escape_bytes(data: bytes) -> str:
    """The client's bytes as printable ASCII: control bytes never reach a terminal raw."""
    return "".join([_SHOWN[byte] for byte in data])


def error_line(message: str) -> bytes:
    """The protocol's error line: ``error: <message>\\r\\n``, one line of printable ASCII.

    Whatever the message holds, every non-printable character is escaped, so
    an error line can neither break the line structure nor carry control bytes.
    """
    shown = "".join(
        char if " " <= char < "\x7f" else char.encode("unicode_escape").decode("ascii")
        for char in message
    )
    return b"error: " + shown.encode("ascii") + b"\r\n"


_TABLE_LOW: Final = 0
_TABLE_HIGH: Final = 10_000
#: ``b"%d\r\n"`` of every integer the seed's server can send, computed once.
INT_LINES: Final[tuple[bytes, ...]] = tuple(
    b"%d\r\n" % value for value in range(_TABLE_LOW, _TABLE_HIGH + 1)
)


def encode_int_line(value: int) -> bytes:
    """``b"%d\\r\\n" % value``, from a table for the default range [0, 10000]."""
    if 0 <= value <= _TABLE_HIGH:
        return INT_LINES[value]
    return b"%d\r\n" % value
