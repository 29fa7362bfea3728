"""The ``rxrand-server`` command: its arguments, ``serve`` (signals and shutdown) and ``main``.

``main`` runs one :class:`~rxrand.net.server.RandomIntegerServer` in this process, or, with
``--workers N``, hands :class:`~rxrand.cli.supervisor.Supervisor` the worker entry point
:mod:`rxrand.cli.worker`. This module is the top of the package: nothing imports it but the
entry points.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Sequence

from ..net.eventloop import EVENT_LOOPS, LoopUnavailable, event_loop_factory, run_on
from ..net.server import MAX_IDLE_TIMEOUT, MIN_IDLE_TIMEOUT, RandomIntegerServer, ServerConfig
from .signals import LOG_FORMAT, STOP_SIGNALS
from .supervisor import Supervisor, WorkerCommand, reuse_port_available, workers_from_text

__all__ = ["main", "serve", "worker_command"]

log = logging.getLogger("rxrand.server")


def _parse_args(argv: Sequence[str] | None, prog: str | None = None) -> tuple[ServerConfig, str]:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve random integers over TCP with backpressure: the client is asked "
            "how many it wants, and gets that many, one per line."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind; '' binds every interface (default: %(default)s)",
    )
    parser.add_argument(
        "--port", type=int, default=1234, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--max-count",
        type=int,
        default=10**9,
        help="largest count a client may ask for (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help=(
            "close a client that sends no complete line, or reads nothing while streaming, "
            f"for this many seconds ({MIN_IDLE_TIMEOUT:g} to {MAX_IDLE_TIMEOUT:g}; "
            "default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed every stream (reproducible, for testing)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: %(default)s)",
    )
    parser.add_argument(
        "--per-item",
        action="store_true",
        help="route each integer through an ops.map (the general path), for benchmarks",
    )
    parser.add_argument(
        "--workers",
        default="1",
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT, Linux); 'auto' = one per "
        "usable core (default: %(default)s)",
    )
    parser.add_argument(
        "--loop",
        default="asyncio",
        choices=EVENT_LOOPS,
        help="event loop; uvloop needs pip install 'rxrand[uvloop]' (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    if args.max_count < 0:
        parser.error(f"--max-count must be >= 0, got {args.max_count}")
    if not MIN_IDLE_TIMEOUT <= args.idle_timeout <= MAX_IDLE_TIMEOUT:
        parser.error(
            f"--idle-timeout must be a number of seconds from {MIN_IDLE_TIMEOUT:g} "
            f"to {MAX_IDLE_TIMEOUT:g}, got {args.idle_timeout:g}"
        )
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    try:
        workers = workers_from_text(args.workers)
        event_loop_factory(args.loop)
    except (ValueError, LoopUnavailable) as error:
        parser.error(str(error))
    if workers > 1 and not reuse_port_available():
        parser.error(
            "--workers above 1 needs SO_REUSEPORT load balancing, which only Linux has; "
            "here, run one server per port behind a load balancer"
        )
    config = ServerConfig(
        host=args.host,
        port=args.port,
        max_count=args.max_count,
        idle_timeout=args.idle_timeout,
        seed=args.seed,
        per_item=args.per_item,
        workers=workers,
        loop=args.loop,
    )
    return config, args.log_level


async def serve(
    config: ServerConfig,
    *,
    on_listening: Callable[[tuple[str, int]], None] | None = None,
) -> None:
    """Run the server until SIGINT, SIGTERM or SIGHUP, then shut down cleanly.

    Args:
        config: what to serve, where.
        on_listening: called with the address once the server listens.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    server = RandomIntegerServer(config)
    address = server.start()
    if on_listening is not None:
        on_listening(address)
    try:
        await stop.wait()
        log.info("shutting down: %d connection(s) open", len(server.connections))
        await server.shutdown()
    finally:
        server.close()


def worker_command(config: ServerConfig) -> WorkerCommand:
    """The pool's command for workers that serve ``config`` (see :mod:`rxrand.cli.worker`).

    Each worker serves ``config`` on the port the pool bound, alone in its process, with
    ``SO_REUSEPORT`` so that the kernel spreads connections over the workers.
    """

    def for_port(port: int) -> Sequence[str]:
        one = dataclasses.replace(config, port=port, workers=1, reuse_port=True)
        return [sys.executable, "-m", "rxrand.cli.worker", json.dumps(dataclasses.asdict(one))]

    return for_port


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point of ``examples/tcp_server.py`` and ``rxrand-server``; returns the exit status.

    ``prog`` names the program in usage and error lines (default: the script's name).
    """
    config, level = _parse_args(argv, prog)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        if config.workers == 1
        else LOG_FORMAT,
        stream=sys.stderr,
    )
    if config.workers > 1:
        return Supervisor(
            config.host, config.port, config.workers, worker_command(config), log_level=level
        ).run()
    try:
        run_on(config.loop, serve(config))
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", config.host, config.port, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
