"""Which event loop runs the server: the standard asyncio loop, or uvloop if installed.

uvloop is optional (``pip install 'rxrand[uvloop]'``). It is imported only when
asked for, so ``import rxrand`` never needs it, and asking for it where it is
missing is a clear error, not a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

__all__ = ["EVENT_LOOPS", "LoopUnavailable", "event_loop_factory", "run_on"]

_R = TypeVar("_R")

EVENT_LOOPS: Final = ("asyncio", "uvloop")
"""The names ``--loop`` accepts."""


class LoopUnavailable(RuntimeError):
    """The event loop asked for cannot be used here (its package is not installed)."""


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for the loop called ``name``; ``None`` means asyncio's default loop.

    Raises:
        ValueError: ``name`` is not one of :data:`EVENT_LOOPS`.
        LoopUnavailable: uvloop was asked for and cannot be imported.
    """
    if name == "asyncio":
        return None
    if name == "uvloop":
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError as error:
            raise LoopUnavailable(
                "--loop uvloop needs the uvloop package, which is not installed: "
                "pip install 'rxrand[uvloop]' (or use --loop asyncio)"
            ) from error
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    raise ValueError(f"event loop must be one of {', '.join(EVENT_LOOPS)}, got {name!r}")


def run_on(name: str, main: Coroutine[Any, Any, _R]) -> _R:
    """Run ``main`` to completion on a new event loop of the kind ``name``, then close it."""
    try:
        factory = event_loop_factory(name)
    except BaseException:
        main.close()  # never started: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
