"""What the single server and the worker pool agree on: the stop signals and the log format."""

from __future__ import annotations

import signal
from typing import Final

__all__ = ["LOG_FORMAT", "STOP_SIGNALS"]

#: The signals that stop the server, or the pool, cleanly (SIGHUP too: a closed terminal).
STOP_SIGNALS: Final = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Log lines of a pool carry the process id, so that one can tell the workers apart.
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
