"""The wire protocol, sans I/O: line decoding (whole and byte by byte), counts, encoding."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxrand.net import (
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

Event = Line | LineTooLong | EndOfInput


def decode(chunks: list[bytes], max_length: int = MAX_LINE_LENGTH) -> list[Event]:
    decoder = LineDecoder(max_length)
    events: list[Event] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (event := decoder.next_event()) is not NEED_DATA:
            assert not isinstance(event, type(NEED_DATA))
            events.append(event)
            if isinstance(event, LineTooLong | EndOfInput):
                return events
    return events


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def test_wire_prompt_is_the_seed_prompt() -> None:
    assert PROMPT == b"how many random integers do you want?\r\n"


@pytest.mark.parametrize("split", ["whole", "bytes"])
def test_wire_decoder_accepts_crlf_and_lf(split: str) -> None:
    data = b"12\r\n 7 \n\r\n"
    chunks = [data] if split == "whole" else one_byte_at_a_time(data)
    assert decode(chunks) == [Line(b"12"), Line(b" 7 "), Line(b"")]


def test_wire_decoder_needs_data_for_a_partial_line() -> None:
    decoder = LineDecoder()
    decoder.receive_data(b"12")
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"3\n")
    assert decoder.next_event() == Line(b"123")


def test_wire_decoder_accepts_a_line_of_exactly_the_limit() -> None:
    line = b"1" * MAX_LINE_LENGTH
    assert decode([line + b"\r\n"]) == [Line(line)]


def test_wire_decoder_rejects_a_line_over_the_limit_without_line_end() -> None:
    events = decode([b"1" * (MAX_LINE_LENGTH + 2)])
    assert events == [LineTooLong(MAX_LINE_LENGTH)]


def test_wire_decoder_rejects_a_long_line_even_with_line_end() -> None:
    assert decode([b"1" * (MAX_LINE_LENGTH + 1) + b"\n"]) == [LineTooLong(MAX_LINE_LENGTH)]


def test_wire_decoder_memory_is_bounded_for_endless_input() -> None:
    decoder = LineDecoder(16)
    for _ in range(1000):
        decoder.receive_data(b"x" * 4096)
        if decoder.next_event() == LineTooLong(16):
            break
    assert decoder.buffered == 0
    decoder.receive_data(b"more\n")
    assert decoder.buffered == 0
    assert decoder.next_event() == LineTooLong(16)


def test_wire_decoder_eof_yields_an_unterminated_last_line_then_end() -> None:
    assert decode([b"5", b""]) == [Line(b"5"), EndOfInput()]
    assert decode([b""]) == [EndOfInput()]


@pytest.mark.parametrize(
    ("max_length", "error", "message"),
    [
        (0, ValueError, r"^max_length must be >= 1, got 0$"),
        (1.5, TypeError, r"^max_length must be an int, got float$"),
    ],
)
def test_wire_decoder_rejects_bad_limits(
    max_length: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        LineDecoder(max_length)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=20))
def test_wire_decoder_same_events_however_the_bytes_are_split(data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds) if a < b]
    whole = decode([data] if data else [], max_length=64)
    assert decode(chunks, max_length=64) == whole
    assert decode(one_byte_at_a_time(data), max_length=64) == whole
    for event in whole:
        if isinstance(event, Line):
            assert len(event.content) <= 64
            assert b"\n" not in event.content


@pytest.mark.parametrize(
    ("line", "count"),
    [(b"0", 0), (b"10", 10), (b"  42  ", 42), (b"\t7\r", 7), (b"007", 7), (b"+3", 3), (b"-0", 0)],
)
def test_wire_parse_count_accepts_decimal_counts(line: bytes, count: int) -> None:
    assert parse_count(line, max_count=1000) == count


EXPECTED = "expected a whole number from 0 to 1000, then a line end"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", f"^empty line; {EXPECTED}$"),
        (b"   ", f"^empty line; {EXPECTED}$"),
        (b"abc", f"^'abc' is not an integer; {EXPECTED}$"),
        (b"1.5", f"^'1.5' is not an integer; {EXPECTED}$"),
        (b"1 2", f"^'1 2' is not an integer; {EXPECTED}$"),
        (b"-", f"^'-' is not an integer; {EXPECTED}$"),
        (b"\xff", f"^'\\\\xff' is not an integer; {EXPECTED}$"),
        (b"-5", f"^-5 is negative; {EXPECTED}$"),
        (b"1001", f"^1001 is above the maximum of 1000; {EXPECTED}$"),
        (b"9" * 50, f"^9{{40}}\\.\\.\\. is above the maximum of 1000; {EXPECTED}$"),
    ],
)
def test_wire_parse_count_rejects_bad_lines_with_a_clear_message(line: bytes, message: str) -> None:
    with pytest.raises(BadCount, match=message):
        parse_count(line, max_count=1000)


@settings(max_examples=300, deadline=None)
@given(line=st.binary(max_size=80))
def test_wire_parse_count_raises_only_bad_count(line: bytes) -> None:
    message = None
    try:
        count = parse_count(line, max_count=10**9)
    except BadCount as error:
        message = str(error)
    if message is None:
        assert 0 <= count <= 10**9
    else:
        assert error_line(message).startswith(b"error: ")
        assert message.endswith("expected a whole number from 0 to 1000000000, then a line end")


def test_wire_error_line_is_one_ascii_line() -> None:
    assert error_line("bad \u00e9") == b"error: bad \\xe9\r\n"


def test_wire_encode_int_line_matches_the_seed_format() -> None:
    for value in (0, 7, 10_000, 10_001, -3, 2**63 - 1):
        assert encode_int_line(value) == b"%d\r\n" % value


def test_wire_client_bytes_in_error_messages_are_escaped() -> None:
    """Finding 7: control bytes from the client never come back raw."""
    with pytest.raises(BadCount) as caught:
        parse_count(b"\x1b[2J\x07a\\b\xff", 100)
    message = str(caught.value)
    assert message.startswith("'\\x1b[2J\\x07a\\\\b\\xff' is not an integer")
    line = error_line(message)
    assert all(0x20 <= byte < 0x7F for byte in line[:-2])
    assert line.endswith(b"\r\n")


def test_wire_error_line_escapes_line_ends_and_control_characters() -> None:
    assert error_line("a\r\nb\x00\x7f") == b"error: a\\r\\nb\\x00\\x7f\r\n"
