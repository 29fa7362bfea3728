"""A connection's loop registrations: made as asked, each once, and all gone after clear()."""

from __future__ import annotations

import asyncio
import math
import socket

import pytest

from rxrand.net.interest import LoopInterest

pytestmark = pytest.mark.timeout(30)


def test_interest_registers_a_reader_and_a_timer_as_asked_and_clear_removes_both() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        left, right = socket.socketpair()
        with left, right:
            seen: list[str] = []
            interest = LoopInterest(
                loop,
                left.fileno(),
                None,
                on_readable=lambda: seen.append("read"),
                on_hangup=lambda: seen.append("hangup"),
                on_timer=lambda: seen.append("timer"),
            )
            assert not interest.can_watch
            interest.set(read=True, watch=True, deadline=loop.time() + 0.01)
            right.send(b"x")
            await asyncio.sleep(0.05)
            assert seen.count("timer") == 1
            assert "read" in seen
            assert "hangup" not in seen  # no watcher: nothing to watch with
            interest.clear()
            seen.clear()
            right.send(b"y")
            await asyncio.sleep(0.05)
            assert seen == []
            assert not loop.remove_reader(left.fileno())  # nothing left registered

    asyncio.run(scenario())


def test_interest_a_moved_deadline_replaces_the_timer() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        fired: list[float] = []
        interest = LoopInterest(
            loop,
            -1,
            None,
            on_readable=lambda: None,
            on_hangup=lambda: None,
            on_timer=lambda: fired.append(loop.time()),
        )
        interest.set(read=False, watch=False, deadline=loop.time() + 10)
        interest.set(read=False, watch=False, deadline=loop.time() + 0.01)
        await asyncio.sleep(0.05)
        assert len(fired) == 1
        interest.set(read=False, watch=False, deadline=math.inf)

    asyncio.run(scenario())
