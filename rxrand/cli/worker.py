"""One worker of ``rxrand-server --workers N``: a whole server, started by the pool.

Run as ``python -m rxrand.cli.worker CONFIG_JSON CONTROL_FD LOG_LEVEL`` by
:class:`~rxrand.cli.supervisor.Supervisor` (never by hand): ``rxrand-server`` builds the
first part of that line (:func:`rxrand.cli.server.worker_command`), the pool appends the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence

from ..net.eventloop import run_on
from ..net.server import ServerConfig
from .server import serve
from .signals import LOG_FORMAT
from .supervisor import worker_link

__all__ = ["main"]

log = logging.getLogger("rxrand.supervisor")


def main(argv: Sequence[str]) -> int:
    """Entry point of one worker process.

    Args:
        argv: the worker's configuration as JSON, then what the pool appended: the file
            descriptor of its end of the control socketpair, and the log level.

    Returns:
        The exit status: 0 after a stop, 1 if it could not listen.
    """
    raw_config, raw_fd, level = argv
    config = ServerConfig(**json.loads(raw_config))
    control, ready = worker_link(raw_fd)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def on_control() -> None:
            try:
                data = control.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(control.fileno())
                log.warning("the supervisor is gone: stopping")
                signal.raise_signal(signal.SIGTERM)  # handled by serve() like any SIGTERM

        loop.add_reader(control.fileno(), on_control)
        await serve(config, on_listening=lambda address: ready())

    try:
        run_on(config.loop, run())
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", config.host, config.port, error)
        return 1
    finally:
        control.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
