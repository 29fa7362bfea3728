"""A pool of worker processes serving one port: what ``--workers N`` runs.

The pool is generic: it is handed the address, the number of workers and a
:data:`WorkerCommand` (the command line of one worker, given the port it bound),
and knows nothing of what the workers serve. ``rxrand-server`` hands it
:mod:`rxrand.cli.worker`, which runs one server.

Each worker is a whole server (its own process, event loop and connections)
listening on the same address with ``SO_REUSEPORT``, so that the Linux kernel
spreads new connections over the workers (by a hash of the address four-tuple).
Connections are independent, so nothing is shared and nothing crosses processes.

The parent supervises; it serves no client itself:

* It binds the address first, without listening, to learn the port (port 0)
  and to hold it while a worker restarts. A socket that is bound but not
  listening is given no connections.
* It starts the workers as fresh interpreters (not forks: no threads, loops or
  sockets are inherited by accident) and logs ``listening on HOST:PORT with N
  workers`` once every one of them listens.
* On SIGTERM, SIGINT or SIGHUP it sends SIGTERM to every worker (each closes
  its connections and cancels its streams, as a single server does), waits at
  most :data:`STOP_GRACE` seconds, kills what is left, and exits 0.
* A worker that dies is logged and restarted, at most :data:`MAX_RESTARTS`
  times in :data:`RESTART_WINDOW` seconds. Past that the parent gives up:
  it stops the other workers and exits 1.

Parent and worker share a socketpair: the worker says ``ready`` on it once it
listens; the parent sees the worker's death as end-of-file, and the worker sees
the parent's death (even by SIGKILL) as end-of-file and stops, so no worker
outlives its parent. Clients still queued in a dying worker's accept backlog
are reset by the kernel: SO_REUSEPORT does not move them to another worker.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Final, TypeAlias, final

from .signals import STOP_SIGNALS

#: Builds one worker's command line (the program and its own arguments) from the port
#: the pool has bound; the pool appends the two arguments of :func:`worker_link`.
WorkerCommand: TypeAlias = Callable[[int], Sequence[str]]

__all__ = [
    "MAX_RESTARTS",
    "RESTART_WINDOW",
    "STOP_GRACE",
    "RestartBudget",
    "Supervisor",
    "WorkerCommand",
    "reuse_port_available",
    "usable_cores",
    "worker_link",
    "workers_from_text",
]

log = logging.getLogger("rxrand.supervisor")

#: Restarts allowed within :data:`RESTART_WINDOW` seconds before the parent gives up.
MAX_RESTARTS: Final = 5
RESTART_WINDOW: Final = 10.0
#: How long a stopping worker gets before it is killed (the parent must exit within 1 s).
STOP_GRACE: Final = 0.8

_READY: Final = b"ready\n"
#: Where the rxrand package lives: a worker imports the same rxrand as its parent.
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask where known), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity outside Linux
        return max(1, os.cpu_count() or 1)


def workers_from_text(text: str) -> int:
    """Parse ``--workers``: a whole number >= 1, or ``auto`` for :func:`usable_cores`.

    Raises:
        ValueError: anything else, with the message the command line shows.
    """
    if text.strip().lower() == "auto":
        return usable_cores()
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(f"--workers must be a whole number >= 1 or 'auto', got {text!r}")
    return workers


def reuse_port_available() -> bool:
    """Whether ``SO_REUSEPORT`` spreads connections over several listeners (it does on Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


@final
class RestartBudget:
    """At most ``limit`` restarts in any ``window`` seconds; no I/O: the caller tells the time."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int = MAX_RESTARTS, window: float = RESTART_WINDOW) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if not window > 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.limit = limit
        self.window = window
        self._times: collections.deque[float] = collections.deque()

    def allow(self, now: float) -> bool:
        """Record a restart at ``now`` and return True; False (nothing recorded) once spent."""
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


@dataclasses.dataclass(slots=True)
class _Worker:
    slot: int
    process: subprocess.Popen[bytes]
    control: socket.socket
    ready: bool = False


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@final
class Supervisor:
    """Runs ``workers`` processes on one address and keeps them running.

    :meth:`run` must be called from the main thread (it handles signals).

    Args:
        host: the address to bind ('' for every interface).
        port: the port; 0 picks a free one, the same for every worker.
        workers: how many worker processes, >= 1.
        command: one worker's command line, given the bound port.
        log_level: passed to each worker (the second argument of :func:`worker_link`).
        budget: how many restarts are allowed, and in what window.
    """

    def __init__(
        self,
        host: str,
        port: int,
        workers: int,
        command: WorkerCommand,
        *,
        log_level: str = "INFO",
        budget: RestartBudget | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.host = host
        self.port = port
        self.workers = workers
        self._command = command
        self._log_level = log_level
        self._budget = budget if budget is not None else RestartBudget()
        self._workers: dict[int, _Worker] = {}
        self._selector = selectors.DefaultSelector()
        self._stop_signal: int | None = None
        self._announced = False
        self._env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p
            ),
        }
        #: The address the workers listen on (the real port), once bound.
        self.address: tuple[str, int] | None = None

    def run(self) -> int:
        """Serve until a stop signal (returns 0), or until workers die too often (returns 1)."""
        if not reuse_port_available():
            log.error("several workers need SO_REUSEPORT load balancing (Linux)")
            return 1
        try:
            reservation = self._reserve()
        except OSError as error:
            log.error("cannot serve on %s:%d: %s", self.host, self.port, error)
            return 1
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        try:
            self._selector.register(wake_r, selectors.EVENT_READ, None)
            for slot in range(self.workers):
                self._spawn(slot)
            return self._supervise(wake_r)
        except OSError as error:
            log.error("cannot start a worker: %s", error)
            return 1
        finally:
            self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._selector.close()
            wake_r.close()
            wake_w.close()
            reservation.close()

    # -- the parent's loop -------------------------------------------------------------

    def _reserve(self) -> socket.socket:
        """Bind (not listen) with SO_REUSEPORT: learns the port and holds it for the workers."""
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        reservation = socket.socket(family, kind, proto)
        try:
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reservation.bind(address)
        except BaseException:
            reservation.close()
            raise
        host, port = reservation.getsockname()[:2]
        self.address = (host, port)
        return reservation

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # The wakeup fd wakes the selector; this only records which signal it was.
        if self._stop_signal is None:
            self._stop_signal = signum

    def _supervise(self, wake: socket.socket) -> int:
        while self._stop_signal is None:
            for key, _ in self._selector.select():
                worker = key.data
                if worker is None:
                    with contextlib.suppress(OSError):
                        while wake.recv(4096):
                            pass
                elif (
                    not self._on_control(worker)
                    and self._stop_signal is None
                    and not self._restart(worker)
                ):
                    return 1
        log.info(
            "%s: stopping %d worker(s)",
            signal.Signals(self._stop_signal).name,
            len(self._workers),
        )
        return 0

    def _on_control(self, worker: _Worker) -> bool:
        """Read a worker's news; False if it has died (and was reaped)."""
        try:
            data = worker.control.recv(64)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if data:
            if not worker.ready:
                worker.ready = True
                self._on_ready(worker)
            return True
        self._selector.unregister(worker.control)
        worker.control.close()
        del self._workers[worker.slot]
        try:
            returncode = worker.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            returncode = worker.process.wait()
        log.warning(
            "worker %d (pid %d) exited (%s)",
            worker.slot,
            worker.process.pid,
            _describe_exit(returncode),
        )
        return False

    def _on_ready(self, worker: _Worker) -> None:
        if self._announced:
            log.info("worker %d (pid %d) is serving again", worker.slot, worker.process.pid)
            return
        if len(self._workers) == self.workers and all(w.ready for w in self._workers.values()):
            self._announced = True
            host, port = self.address or ("?", 0)
            log.info(
                "listening on %s:%d with %d workers (pids %s)",
                host,
                port,
                len(self._workers),
                " ".join(str(w.process.pid) for w in self._workers.values()),
            )

    def _restart(self, worker: _Worker) -> bool:
        if not self._budget.allow(time.monotonic()):
            log.error(
                "worker %d died after %d restarts within %g s: giving up, stopping the others",
                worker.slot,
                self._budget.limit,
                self._budget.window,
            )
            return False
        replacement = self._spawn(worker.slot)
        log.warning("worker %d restarted as pid %d", worker.slot, replacement.process.pid)
        return True

    def _spawn(self, slot: int) -> _Worker:
        parent_end, child_end = socket.socketpair()
        try:
            process = subprocess.Popen(
                [
                    *self._command(self.address[1] if self.address else self.port),
                    str(child_end.fileno()),
                    self._log_level,
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(child_end.fileno(),),
                # Its own process group: a terminal's Ctrl-C reaches the parent
                # only, which stops the workers in order (no restart race).
                process_group=0,
                env=self._env,
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        parent_end.setblocking(False)
        worker = _Worker(slot, process, parent_end)
        self._workers[slot] = worker
        self._selector.register(parent_end, selectors.EVENT_READ, worker)
        log.debug("worker %d started: pid %d", slot, process.pid)
        return worker

    def _stop_all(self) -> None:
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for worker in workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "worker %d (pid %d) did not stop within %g s: killing it",
                    worker.slot,
                    worker.process.pid,
                    STOP_GRACE,
                )
                worker.process.kill()
                worker.process.wait()
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.control)
            worker.control.close()


# -- the worker side -------------------------------------------------------------------


def worker_link(fd_text: str) -> tuple[socket.socket, Callable[[], None]]:
    """A worker's end of the pool: its control socket, and the call that says "ready".

    Args:
        fd_text: the first argument the pool appended: the control socket's descriptor.

    Returns:
        The control socket (non-blocking; end-of-file on it means the pool is gone, and
        the worker must stop), and a function to call once the worker listens.
    """
    control = socket.socket(fileno=int(fd_text))
    control.setblocking(False)

    def ready() -> None:
        with contextlib.suppress(OSError):  # a pool gone is noticed as end-of-file
            control.send(_READY)

    return control, ready
