"""The server's state machine without sockets: input whole and byte by byte, time passed in."""

from __future__ import annotations

import pytest

from rxrand.net import PROMPT, ProtocolLimits, ServerProtocol
from rxrand.net.protocol import (
    Abort,
    Action,
    Close,
    CloseNow,
    ConnectionLostEvent,
    Data,
    Drained,
    Phase,
    Send,
    ShutdownRequested,
    ShutdownWrite,
    StartStream,
    StopStream,
    StreamEnded,
    Tick,
)
from rxrand.net.wire import error_line

LIMITS = ProtocolLimits(idle_timeout=4.0, max_count=1000)


def started(limits: ProtocolLimits = LIMITS, now: float = 0.0) -> ServerProtocol:
    protocol = ServerProtocol(limits, now)
    assert protocol.start() == [Send(PROMPT)]
    assert protocol.awaiting_drain
    assert not protocol.reading  # input waits until the prompt is out
    assert protocol.output_drained(now) == []
    assert protocol.reading
    return protocol


def feed(protocol: ServerProtocol, data: bytes, split: str, now: float = 0.0) -> list[Action]:
    """Feed ``data`` whole or one byte at a time, draining every Send at once."""
    chunks = [data] if split == "whole" else [data[i : i + 1] for i in range(len(data))]
    actions: list[Action] = []
    for chunk in chunks:
        actions += protocol.receive_data(chunk, now)
        while protocol.awaiting_drain and protocol.phase is Phase.ASKING:
            actions += protocol.output_drained(now)
    return actions


SPLITS = ["whole", "bytes"]


@pytest.mark.parametrize("split", SPLITS)
def test_protocol_count_starts_the_stream(split: str) -> None:
    protocol = started()
    assert feed(protocol, b" 12 \r\n", split) == [StartStream(12)]
    assert protocol.phase is Phase.STREAMING
    assert protocol.count == 12
    assert not protocol.reading  # input is not read while streaming (finding 3)


@pytest.mark.parametrize("split", SPLITS)
def test_protocol_bad_lines_get_an_error_and_the_prompt_each(split: str) -> None:
    protocol = started()
    actions = feed(protocol, b"x\n-1\n\n7\n", split)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == 3
    assert all(s.data.startswith(b"error: ") and s.data.endswith(PROMPT) for s in sends)
    assert actions[-1] == StartStream(7)


def test_protocol_waits_for_the_reply_to_drain_before_the_next_line() -> None:
    protocol = started()
    actions = protocol.receive_data(b"x\ny\n5\n", 0.0)
    assert len(actions) == 1  # one reply; the rest waits in the decoder
    assert protocol.awaiting_drain
    assert not protocol.reading
    actions = protocol.output_drained(0.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Send)
    assert protocol.output_drained(0.0) == [StartStream(5)]


@pytest.mark.parametrize("split", SPLITS)
def test_protocol_one_count_per_connection(split: str) -> None:
    """``3\\n4\\n`` in one packet: the 3 is the count, the 4 is never read (documented)."""
    protocol = started()
    assert feed(protocol, b"3\n4\n", split) == [StartStream(3)]
    assert protocol.receive_data(b"9\n", 0.0) == []
    assert protocol.count == 3


def test_protocol_count_without_line_end_before_eof_is_accepted() -> None:
    """``printf 5 | nc -N``: a last line cut by EOF still counts (documented)."""
    protocol = started()
    assert protocol.receive_data(b"5", 0.0) == []
    assert protocol.receive_data(b"", 0.0) == [StartStream(5)]


def test_protocol_eof_before_any_count_closes() -> None:
    protocol = started()
    assert protocol.receive_data(b"", 0.0) == [Close("client closed before a count")]
    assert protocol.phase is Phase.CLOSED


@pytest.mark.parametrize("split", SPLITS)
def test_protocol_1025_bytes_without_line_end_is_too_long_at_once(split: str) -> None:
    """Finding 7: no waiting for the idle timeout."""
    protocol = started()
    actions = feed(protocol, b"1" * 1025, split)
    assert actions[0] == StopStream()
    assert isinstance(actions[1], Send)
    assert actions[1].data.startswith(b"error: line longer than 1024 bytes")
    assert protocol.phase is Phase.ENDING


def test_protocol_1024_bytes_and_a_carriage_return_may_still_be_a_line() -> None:
    protocol = started()
    assert feed(protocol, b"1" * 1024 + b"\r", "whole") == []
    assert protocol.phase is Phase.ASKING


def test_protocol_idle_while_asking_says_why_then_closes() -> None:
    protocol = started()
    assert protocol.deadline == 4.0
    assert protocol.timer(4.0) == [
        StopStream(),
        Send(error_line("no complete line within 4 seconds; closing")),
    ]
    assert protocol.phase is Phase.ENDING
    assert protocol.output_drained(4.0) == [ShutdownWrite()]
    assert protocol.phase is Phase.CLOSING
    assert protocol.reading  # reads (and discards) until the client's EOF
    assert protocol.receive_data(b"", 4.5) == [Close("idle timeout")]


def test_protocol_a_line_resets_the_idle_clock_but_bytes_do_not() -> None:
    protocol = started()
    feed(protocol, b"x\n", "whole", now=3.0)
    assert protocol.deadline == 7.0
    feed(protocol, b"1", "whole", now=6.0)  # slowloris: a byte is not a line
    assert protocol.timer(7.0)[1] == Send(error_line("no complete line within 4 seconds; closing"))


def stream(protocol: ServerProtocol, now: float = 0.0) -> None:
    assert feed(protocol, b"1000\n", "whole", now) == [StartStream(1000)]


def run_ticks(protocol: ServerProtocol, acked_at: dict[float, int], until: float) -> float | None:
    """Tick at every deadline with the acked bytes of that time; when the stream ended."""
    acked = 0
    while protocol.deadline <= until:
        now = protocol.deadline
        acked = max([acked] + [v for t, v in acked_at.items() if t <= now])
        actions = protocol.timer(now, acked)
        if actions:
            assert actions[0] == StopStream()
            return now
    return None


def test_protocol_stream_reading_nothing_ends_at_the_idle_timeout_not_twice_it() -> None:
    """Finding 2: no progress from t=0 on: the stream ends at T (+ one sample at most)."""
    protocol = started()
    stream(protocol)
    ended = run_ticks(protocol, {0.0: 100}, until=100.0)
    assert ended is not None
    assert 4.0 <= ended <= 4.0 + 4.0 / LIMITS.progress_samples


def test_protocol_stream_with_progress_every_timeout_is_never_ended() -> None:
    """Finding 2: one more byte acknowledged every 3.9 s (T = 4) for 400 s: never idle."""
    protocol = started()
    stream(protocol)
    acked = {3.9 * i: 100 + i for i in range(103)}
    assert run_ticks(protocol, acked, until=400.0) is None


def test_protocol_stream_that_stops_reading_ends_within_t_and_a_sample() -> None:
    protocol = started()
    stream(protocol)
    acked = {0.5 * i: 100 + i for i in range(21)}  # reads until t=10, then nothing
    ended = run_ticks(protocol, acked, until=100.0)
    assert ended is not None
    assert 14.0 <= ended <= 15.0 + 1e-9


def test_protocol_early_end_finishes_the_line_then_says_why() -> None:
    """Finding 1: StopStream (the writer finishes its line) before the error line, then FIN."""
    protocol = started()
    stream(protocol)
    actions = protocol.handle(ShutdownRequested(), 1.0)
    assert actions == [
        StopStream(),
        Send(error_line("the server is shutting down; the stream ended early")),
    ]
    assert not protocol.reading
    assert protocol.handle(Drained(), 1.1) == [ShutdownWrite(), Close("server shutdown")]


def test_protocol_early_end_aborts_when_the_last_bytes_are_not_taken() -> None:
    """Finding 1: no clean FIN after a partial line: a reset instead."""
    protocol = started(ProtocolLimits(idle_timeout=4.0, end_grace=1.0))
    stream(protocol)
    protocol.handle(StreamEnded("RuntimeError: boom"), 2.0)
    assert protocol.phase is Phase.ENDING
    assert protocol.deadline == 3.0
    assert protocol.timer(2.5) == []
    actions = protocol.timer(3.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Abort)
    assert protocol.phase is Phase.CLOSED


def test_protocol_completed_stream_sends_fin_then_waits_for_eof_bounded() -> None:
    protocol = started(ProtocolLimits(linger=5.0, linger_discard=10))
    stream(protocol)
    assert protocol.handle(StreamEnded(), 1.0) == [ShutdownWrite()]
    assert protocol.phase is Phase.CLOSING
    assert protocol.receive_data(b"12345", 2.0) == []
    assert protocol.receive_data(b"123456", 2.0) == [Close("completed")]


def test_protocol_lingering_ends_at_its_deadline() -> None:
    protocol = started(ProtocolLimits(linger=5.0))
    stream(protocol)
    protocol.handle(StreamEnded(), 1.0)
    assert protocol.timer(6.0) == [Close("completed")]


def test_protocol_connection_lost_closes_from_any_phase() -> None:
    for prepare in (lambda p: None, stream):
        protocol = started()
        prepare(protocol)
        assert protocol.handle(ConnectionLostEvent("ECONNRESET"), 1.0) == [
            Close("lost (ECONNRESET)")
        ]
        assert protocol.handle(Data(b"5\n"), 1.0) == []


def test_protocol_every_action_and_event_is_inert_after_close() -> None:
    protocol = started()
    protocol.receive_data(b"", 0.0)
    for event in (Data(b"1\n"), Drained(), Tick(5), ShutdownRequested(), StreamEnded()):
        assert protocol.handle(event, 9.0) == []


def test_protocol_limits_reject_infinite_or_non_positive_timeouts() -> None:
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"^idle_timeout must be finite and > 0, got "):
            ProtocolLimits(idle_timeout=bad)


def test_protocol_close_now_resets_a_cut_stream_but_closes_an_idle_prompt() -> None:
    """The truncation rule holds when the owner closes at once, too."""
    asking = started()
    assert asking.handle(CloseNow("server shutdown"), 1.0) == [Close("server shutdown")]
    streaming = started()
    stream(streaming)
    assert streaming.handle(CloseNow("server shutdown"), 1.0) == [Abort("server shutdown")]
    assert streaming.close_reason == "server shutdown"
