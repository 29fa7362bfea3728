"""Side-by-side benchmark of random-integer servers that speak the rxrand wire protocol.

Run from anywhere (127.0.0.1 only; every step is bounded in time)::

    python tests/benchmarks/bench_server.py            # full run, 3 rounds, ~8-10 minutes
    python tests/benchmarks/bench_server.py --quick    # short run, ~2 minutes
    python tests/benchmarks/bench_server.py --servers seed,ceiling --rounds 5
    python tests/benchmarks/bench_server.py --soak 600 # soak examples/tcp_server.py

Servers (columns): ``seed`` (servers/seed_twisted.py, the Twisted producer example this
project started from), ``asyncio`` (servers/asyncio_streams.py), ``rxrand`` and
``rxrand-per-item`` (examples/tcp_server.py, when it exists / has ``--per-item``),
``rxrand-2w`` (``--workers 2``: two processes on one port), ``rxrand-uvloop`` (``--loop
uvloop``, when uvloop is installed),
``ceiling`` and ``raw_sendall``: the project's reference servers, taken as they are from
``../shared/anchors/`` beside the checkout (``--anchors DIR`` to point elsewhere; never a
copy of our own): ``ceiling.py`` is the fastest plain-Python server for the protocol that we
know, ``raw_sendall.py`` replays a precomputed buffer (the socket and client limit).

Every round starts each server afresh and then runs each figure (slow reader, fast client,
100 clients, aborted client) over all servers, the order rotating by one per round
(A B C D, B C D A, ...), so slow drifts of the machine hit every server alike. Reported:
medians over rounds, and ratios taken within each round (median [min-max]) against the
seed and against the ceiling.

Figures:
  * one fast client asking for N integers (N sized per server from a calibration probe,
    so one measurement takes about ``--fast-seconds``, at most 20M): integers/s, time to
    first byte, server CPU seconds per million integers, the client's own CPU use;
  * 100 concurrent clients x 100k (fewer per client for slow servers): aggregate
    integers/s, how many clients got exactly their count, worst time to first byte;
  * a slow reader (200 KB/s for 15 s): server RSS growth, steady server CPU %, and the
    server socket's Send-Q / notsent bytes sampled with ``ss -tni``. By default the slow
    readers of all servers run at the same time (``--slow-serial`` to run them in turn):
    they are I/O-bound, and contention could only lower, not raise, a server's figures;
  * an aborted client (huge N, read 1 MiB, reset with SO_LINGER 0): server CPU % in the
    2 s after the reset, and whether a normal request still works afterwards.

Outputs: a markdown table (stdout and results/latest.md), raw data (results/latest.json),
and results/bench.png (throughput bars; Send-Q over time for the slow reader).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bench_client
import psutil

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = HERE / "results"
#: The reference servers, beside the checkout (set by --anchors).
ANCHORS = REPO.parent / "shared" / "anchors"
CLIENT = HERE / "bench_client.py"
RXRAND_SERVER = REPO / "examples" / "tcp_server.py"
HUGE = 1_000_000_000
MIB = 1024 * 1024

Json = dict[str, Any]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    rounds: int
    fast_seconds: float
    fast_cap: int
    #: One fixed N for every server's fast figure (the anchors' method), instead of N sized
    #: per server from the calibration; None: sized.
    fast_count: int | None
    calibration_count: int
    clients: int
    per_client_cap: int
    many_seconds: float
    slow_seconds: float
    slow_rate: float
    slow_parallel: bool
    abort_window: float
    abort_read: int
    verify: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        quick = args.quick
        return cls(
            rounds=args.rounds if args.rounds is not None else 3,
            fast_seconds=args.fast_seconds or (1.0 if quick else 5.0),
            fast_cap=2_000_000 if quick else 20_000_000,
            fast_count=args.fast_count,
            calibration_count=50_000 if quick else 200_000,
            clients=100,
            per_client_cap=args.many_count or (10_000 if quick else 100_000),
            many_seconds=2.0 if quick else 8.0,
            slow_seconds=args.slow_seconds or (4.0 if quick else 15.0),
            slow_rate=200_000.0,
            slow_parallel=not args.slow_serial,
            abort_window=2.0,
            abort_read=MIB,
            verify=not args.no_verify,
        )


@dataclass(frozen=True)
class ServerSpec:
    """How to start one competitor; ``--host``/``--port`` are appended."""

    name: str
    argv: tuple[str, ...]
    cwd: Path
    about: str
    #: The anchors take ``PORT [--host H]``; ours take ``--host H --port P``.
    positional_port: bool = False


def _python() -> str:
    return sys.executable


def discover_servers(notes: list[str]) -> list[ServerSpec]:
    """All competitors, in column order; notes say which were skipped and why."""
    servers = HERE / "servers"
    specs = [
        ServerSpec(
            "seed",
            (_python(), str(servers / "seed_twisted.py")),
            REPO,
            "Twisted LineReceiver + IPushProducer, one write per integer",
        ),
        ServerSpec(
            "asyncio",
            (_python(), str(servers / "asyncio_streams.py")),
            REPO,
            "asyncio streams, randint batches of 4096, drain()",
        ),
    ]
    if RXRAND_SERVER.exists():
        help_text = _help_text(RXRAND_SERVER)
        if help_text is None:
            notes.append(f"rxrand skipped: `{RXRAND_SERVER.name} --help` failed")
        else:
            base = [_python(), str(RXRAND_SERVER.relative_to(REPO)), "--log-level", "WARNING"]
            if "--max-count" in help_text:
                base += ["--max-count", str(10 * HUGE)]
            specs.append(ServerSpec("rxrand", tuple(base), REPO, "examples/tcp_server.py"))
            if "--per-item" in help_text:
                specs.append(
                    ServerSpec(
                        "rxrand-per-item",
                        (*base, "--per-item"),
                        REPO,
                        "examples/tcp_server.py --per-item",
                    )
                )
            else:
                notes.append("rxrand-per-item skipped: tcp_server.py has no --per-item yet")
            if "--workers" in help_text:
                specs.append(
                    ServerSpec(
                        "rxrand-2w",
                        (*base, "--workers", "2"),
                        REPO,
                        "examples/tcp_server.py --workers 2 (SO_REUSEPORT)",
                    )
                )
                if "--per-item" in help_text:
                    # The per-item path is CPU-bound in the server, not in the measuring
                    # client: the column where a second core can show.
                    specs.append(
                        ServerSpec(
                            "rxrand-per-item-2w",
                            (*base, "--per-item", "--workers", "2"),
                            REPO,
                            "examples/tcp_server.py --per-item --workers 2",
                        )
                    )
            if "--loop" in help_text and importlib.util.find_spec("uvloop") is not None:
                specs.append(
                    ServerSpec(
                        "rxrand-uvloop",
                        (*base, "--loop", "uvloop"),
                        REPO,
                        "examples/tcp_server.py --loop uvloop",
                    )
                )
            elif "--loop" in help_text:
                notes.append("rxrand-uvloop skipped: uvloop is not installed")
    else:
        notes.append("rxrand skipped: examples/tcp_server.py does not exist yet")
    for name, about in (
        ("ceiling", "anchors/ceiling.py: epoll + numpy take/translate, one 16k chunk in flight"),
        ("raw_sendall", "anchors/raw_sendall.py: sendall of a precomputed buffer (the limit)"),
    ):
        script = ANCHORS / f"{name}.py"
        if script.exists():
            specs.append(ServerSpec(name, (_python(), str(script)), REPO, about, True))
        else:
            notes.append(f"{name} skipped: {script} not found (--anchors DIR)")
    return specs


def rxrand_fingerprint() -> str | None:
    """A short hash of the rxrand sources, to notice code that changes during a run."""
    if not RXRAND_SERVER.exists():
        return None
    digest = hashlib.sha256()
    for f in [*sorted((REPO / "rxrand").rglob("*.py")), RXRAND_SERVER]:
        with contextlib.suppress(OSError):
            digest.update(f.name.encode() + f.read_bytes())
    return digest.hexdigest()[:12]


def _help_text(script: Path) -> str | None:
    try:
        done = subprocess.run(
            [_python(), str(script), "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    return done.stdout + done.stderr if done.returncode == 0 else None


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _kill_group(proc: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """End a process we started in its own session, and everything in its group."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


class ServerProcess:
    """One running competitor: its own process group, stderr kept in a temp file."""

    def __init__(self, spec: ServerSpec, logdir: Path) -> None:
        self.spec = spec
        self.port = _free_port()
        self.log = logdir / f"{spec.name}-{self.port}.stderr"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [*spec.argv, str(self.port), "--host", HOST]
                if spec.positional_port
                else [*spec.argv, "--host", HOST, "--port", str(self.port)],
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.ps = psutil.Process(self.proc.pid)

    def wait_ready(self, timeout: float = 20.0) -> str | None:
        """Return None once the greeting arrives, else why the server is not usable."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with {self.proc.returncode}: {self.stderr_tail()}"
            try:
                bench_client.open_session(HOST, self.port, timeout=2.0).close()
                return None
            except (OSError, bench_client.ProtocolError):
                time.sleep(0.1)
        return f"no greeting within {timeout:.0f} s"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The server and its live descendants (the workers of ``--workers N``)."""
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return [self.ps]

    def _sum(self, of: Callable[[psutil.Process], float]) -> float:
        total = 0.0
        for p in self.tree():
            with contextlib.suppress(psutil.Error, OSError):
                total += of(p)
        return total

    def cpu(self) -> float:
        """CPU seconds of the whole tree, reaped children included."""

        def used(p: psutil.Process) -> float:
            t = p.cpu_times()
            return float(t.user + t.system + t.children_user + t.children_system)

        return self._sum(used)

    def rss(self) -> int:
        return int(self._sum(lambda p: p.memory_info().rss))

    def fds(self) -> int:
        return int(self._sum(lambda p: len(os.listdir(f"/proc/{p.pid}/fd"))))

    def stderr_tail(self, n: int = 400) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:].strip()
        except OSError:
            return ""

    def stop(self) -> None:
        _kill_group(self.proc)


@contextlib.contextmanager
def running(specs: Sequence[ServerSpec], logdir: Path) -> Iterator[dict[str, ServerProcess]]:
    procs: dict[str, ServerProcess] = {}
    try:
        for spec in specs:
            procs[spec.name] = ServerProcess(spec, logdir)
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def run_client(mode: str, port: int, timeout: float, *args: str) -> Json:
    """Run bench_client.py in its own process; returns its JSON plus its CPU seconds."""
    cmd = [
        _python(),
        str(CLIENT),
        mode,
        "--host",
        HOST,
        "--port",
        str(port),
        "--timeout",
        str(timeout),
        *args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout + 15)
    except subprocess.TimeoutExpired:
        _kill_group(proc, grace=1.0)
        proc.communicate()
        return {"ok": False, "problems": [f"client killed after {timeout + 15:.0f} s"]}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        result: Json = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "problems": [f"client crashed: {err.decode()[-300:]}"]}
    result["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def _busy_cpu() -> float:
    """Machine-wide non-idle CPU seconds, to spot other load during a measurement."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


# --------------------------------------------------------------------------- figures


def rotated(names: Sequence[str], r: int) -> list[str]:
    k = r % len(names) if names else 0
    return [*names[k:], *names[:k]]


def nice_count(x: float, lo: int, hi: int) -> int:
    """Clamp and round to two significant digits, so N reads well in the table."""
    n = max(lo, min(hi, int(x)))
    magnitude: int = 10 ** max(0, len(str(n)) - 2)
    return max(lo, n // magnitude * magnitude)


def measure_fast(server: ServerProcess, count: int, cfg: Config) -> Json:
    timeout = max(30.0, 6 * cfg.fast_seconds, count / 2e6)
    args = ["--count", str(count)] + ([] if cfg.verify else ["--no-verify"])
    cpu0, busy0 = server.cpu(), _busy_cpu()
    result = run_client("fast", server.port, timeout, *args)
    cpu1, busy1 = server.cpu(), _busy_cpu()
    result["server_cpu_s"] = cpu1 - cpu0
    result["cpu_per_m"] = (cpu1 - cpu0) / (count / 1e6)
    result["foreign_cpu_s"] = (busy1 - busy0) - (cpu1 - cpu0) - result.get("client_cpu_s", 0.0)
    if result.get("elapsed_s") and result.get("cpu_s") is not None:
        # The client's own CPU from sending the count to the last line, over that wall
        # time: near 1.0 would mean the client, not the server, sets the pace.
        result["client_busy"] = result["cpu_s"] / result["elapsed_s"]
    return result


def measure_many(server: ServerProcess, per_client: int, cfg: Config) -> Json:
    timeout = max(30.0, 6 * cfg.many_seconds)
    args = ["--clients", str(cfg.clients), "--count", str(per_client)]
    args += [] if cfg.verify else ["--no-verify"]
    cpu0 = server.cpu()
    result = run_client("many", server.port, timeout, *args)
    result["server_cpu_s"] = server.cpu() - cpu0
    if result.get("elapsed_s") and result.get("cpu_s") is not None:
        result["client_busy"] = result["cpu_s"] / result["elapsed_s"]
    return result


_SS_HEAD = re.compile(r"^(\d+)\s+(\d+)\s+\S+:(\d+)\s+\S+$")
_SS_NOTSENT = re.compile(r"\bnotsent:(\d+)")


def ss_sample(ports: set[int]) -> dict[int, tuple[int, int]]:
    """Send-Q and notsent bytes of established sockets whose local port is in ``ports``.

    ``ss`` Send-Q of a connected socket is unsent + unacknowledged bytes; ``notsent`` (from
    tcp_info) is the unsent part alone. ss prints it only when nonzero.
    """
    try:
        out = subprocess.run(
            ["ss", "-tniH", "state", "established"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[int, tuple[int, int]] = {}
    current: int | None = None
    for line in out.splitlines():
        if line[:1].isspace():
            if current is not None:
                m = _SS_NOTSENT.search(line)
                sendq, _ = found[current]
                found[current] = (sendq, int(m.group(1)) if m else 0)
            continue
        fields = line.split()
        if fields and not fields[0].isdigit():
            fields = fields[1:]  # some ss versions print the state anyway
        head = _SS_HEAD.match(" ".join(fields[:4]))
        current = None
        if head and int(head.group(3)) in ports:
            current = int(head.group(3))
            prev = found.get(current, (0, 0))[0]
            found[current] = (prev + int(head.group(2)), 0)
    return found


def measure_slow(servers: Sequence[ServerProcess], cfg: Config) -> dict[str, Json]:
    """Run one slow reader per server at the same time, sampling the servers meanwhile."""
    base = {s.spec.name: (s.rss(), s.cpu()) for s in servers}
    results: dict[str, Json] = {}
    threads = []
    for s in servers:

        def work(s: ServerProcess = s) -> None:
            results[s.spec.name] = run_client(
                "slow",
                s.port,
                cfg.slow_seconds + 20,
                "--count",
                str(HUGE),
                "--rate",
                str(cfg.slow_rate),
                "--seconds",
                str(cfg.slow_seconds),
            )

        threads.append(threading.Thread(target=work, daemon=True))
    samples: dict[str, list[Json]] = {s.spec.name: [] for s in servers}
    ports = {s.port: s for s in servers}
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads) and time.monotonic() - t0 < cfg.slow_seconds + 40:
        now = time.monotonic() - t0
        queues = ss_sample(set(ports))
        for port, s in ports.items():
            if not s.alive():
                continue
            sendq, notsent = queues.get(port, (0, 0))
            samples[s.spec.name].append(
                {
                    "t": round(now, 3),
                    "rss": s.rss(),
                    "cpu": s.cpu(),
                    "sendq": sendq,
                    "notsent": notsent,
                }
            )
        time.sleep(0.5)
    for t in threads:
        t.join(1.0)
    for s in servers:
        name = s.spec.name
        res = results.setdefault(name, {"ok": False, "problems": ["no result"]})
        rss0, _ = base[name]
        series = samples[name]
        steady = [x for x in series if cfg.slow_seconds * 0.25 <= x["t"] <= cfg.slow_seconds]
        if len(steady) >= 2:
            a, b = steady[0], steady[-1]
            res["steady_cpu_pct"] = 100 * (b["cpu"] - a["cpu"]) / (b["t"] - a["t"])
            res["rss_growth_mib"] = (b["rss"] - rss0) / MIB
        if series:
            during = [x for x in series if x["t"] <= cfg.slow_seconds]
            res["rss_max_growth_mib"] = (max(x["rss"] for x in series) - rss0) / MIB
            res["sendq_median_kib"] = statistics.median(x["sendq"] for x in during) / 1024
            res["sendq_max_kib"] = max(x["sendq"] for x in during) / 1024
            res["notsent_max_kib"] = max(x["notsent"] for x in during) / 1024
        res["series"] = [
            {"t": x["t"], "sendq": x["sendq"], "notsent": x["notsent"], "rss": x["rss"]}
            for x in series
        ]
        res["server_alive"] = s.alive()
    return results


def _identity(value: int) -> int:
    return value


def measure_chain(count: int = 1_000_000) -> float:
    """CPU seconds per million integers of the per-item path's reactivex chain alone.

    The same chain as ``tcp_server.py --per-item``, in this process and without rxrand:
    integers made by numpy in chunks of 8192 and emitted by the leanest reactivex source
    there is (``reactivex.create`` with a loop calling ``on_next``; ``from_iterable`` costs
    about 15 % more), then ``ops.map(identity)``, then an Observer that appends to a list
    (emptied every 8192). What the server spends beyond this is rxrand's own share (the
    request operator, the socket Observer, the write cycle) plus the I/O floor (generate,
    encode, send: the ceiling's CPU per million).
    """
    import numpy as np
    import reactivex
    import reactivex.operators as ops
    from reactivex import abc

    rng = np.random.default_rng(1)
    chunk = 8192
    sink: list[int] = []

    def on_next(value: int) -> None:
        sink.append(value)
        if len(sink) >= chunk:
            sink.clear()

    def emit(observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None) -> None:
        push = observer.on_next
        for start in range(0, count, chunk):
            for value in rng.integers(0, 10001, size=min(chunk, count - start)).tolist():
                push(value)
        observer.on_completed()

    cpu0 = time.process_time()
    reactivex.create(emit).pipe(ops.map(_identity)).subscribe(on_next)
    return (time.process_time() - cpu0) / (count / 1e6)


def measure_abort(server: ServerProcess, cfg: Config) -> Json:
    try:
        bench_client.abort(HOST, server.port, HUGE, cfg.abort_read)
    except (OSError, bench_client.ProtocolError) as exc:
        return {"ok": False, "problems": [f"abort client: {exc}"]}
    cpu0, t0 = server.cpu(), time.monotonic()
    time.sleep(cfg.abort_window)
    cpu1, t1 = server.cpu(), time.monotonic()
    probe = bench_client.fast(HOST, server.port, 1000, timeout=10.0)
    return {
        "ok": probe["ok"],
        "cpu_pct_after": 100 * (cpu1 - cpu0) / (t1 - t0),
        "healthy_after": probe["ok"],
        "problems": probe["problems"],
    }


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    cfg: Config
    specs: list[ServerSpec]
    notes: list[str]
    n_fast: dict[str, int] = field(default_factory=dict)
    per_client: dict[str, int] = field(default_factory=dict)
    calibration: dict[str, Json] = field(default_factory=dict)
    rounds: list[Json] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _ok_or_problem(res: Json) -> str:
    return "ok" if res.get("ok") else "FAIL " + "; ".join(map(str, res.get("problems", [])))[:160]


def calibrate(run: Run, procs: dict[str, ServerProcess]) -> None:
    cfg = run.cfg
    for name in run.names:
        p = procs.get(name)
        if p is None:
            continue
        res = measure_fast(p, cfg.calibration_count, cfg)
        run.calibration[name] = res
        rate = res.get("rate") or cfg.calibration_count / 10
        run.n_fast[name] = cfg.fast_count or nice_count(
            rate * cfg.fast_seconds, cfg.calibration_count, cfg.fast_cap
        )
        per = rate * cfg.many_seconds / cfg.clients
        run.per_client[name] = nice_count(per, 1000, cfg.per_client_cap)
        log(
            f"  calibrate {name:16s} {(rate or 0) / 1e6:7.2f} M/s -> N={run.n_fast[name]:,}, "
            f"{cfg.clients}x{run.per_client[name]:,}  {_ok_or_problem(res)}"
        )


def one_round(run: Run, r: int, logdir: Path) -> Json:
    cfg = run.cfg
    order = rotated(run.names, r)
    record: Json = {
        "round": r,
        "order": order,
        "rxrand_source": rxrand_fingerprint(),
        "started": {},
        "fast": {},
        "many": {},
        "slow": {},
        "abort": {},
        "chain_cpu_per_m": measure_chain(),
    }
    log(f"  chain reactivex alone, in process: {record['chain_cpu_per_m']:.3f} CPU s per M")
    with running(run.specs, logdir) as procs:
        ready: dict[str, ServerProcess] = {}
        for name, p in procs.items():
            why = p.wait_ready()
            record["started"][name] = why or "ok"
            if why:
                run.notes.append(f"round {r}: {name} did not start: {why}")
                log(f"  {name}: did not start: {why}")
            else:
                ready[name] = p
        if r == 0:
            calibrate(run, ready)
        else:
            for p in ready.values():
                bench_client.fast(HOST, p.port, 10_000, timeout=30.0)  # warm-up
        live = [n for n in order if n in ready]

        def each(figure: str, fn: Callable[[ServerProcess], Json]) -> None:
            for name in live:
                p = ready[name]
                if not p.alive():
                    record[figure][name] = {"ok": False, "problems": ["server died"]}
                    continue
                res = record[figure][name] = fn(p)
                log(f"  {figure:5s} {name:16s} {_summary_line(figure, res)}")
                time.sleep(0.2)

        # The slow reader goes first, while the servers' heaps are still small: RSS growth
        # is then the slow connection's cost, not the allocator returning what the
        # 100-client figure left behind.
        if cfg.slow_parallel:
            record["slow"] = measure_slow([ready[n] for n in live if ready[n].alive()], cfg)
        else:
            for n in live:
                record["slow"].update(measure_slow([ready[n]], cfg))
        for name in live:
            if name in record["slow"]:
                log(f"  slow  {name:16s} {_summary_line('slow', record['slow'][name])}")
        each("fast", lambda p: measure_fast(p, run.n_fast[p.spec.name], cfg))
        each("many", lambda p: measure_many(p, run.per_client[p.spec.name], cfg))
        each("abort", lambda p: measure_abort(p, cfg))
        for name, p in ready.items():
            if not p.alive():
                run.notes.append(f"round {r}: {name} died: {p.stderr_tail()}")
    return record


def _summary_line(figure: str, res: Json) -> str:
    tag = _ok_or_problem(res)
    if figure == "fast" and res.get("rate"):
        return (
            f"{res['rate'] / 1e6:8.2f} M/s  cpu/M {res['cpu_per_m']:.3f} s  "
            f"client busy {res.get('client_busy', 0):.0%}  {tag}"
        )
    if figure == "many" and res.get("rate"):
        return (
            f"{res['rate'] / 1e6:8.2f} M/s  exact {res['exact']}/{res['clients']}  "
            f"max ttfb {res['ttfb_max_s'] * 1e3:.0f} ms  {tag}"
        )
    if figure == "slow" and "steady_cpu_pct" in res:
        return (
            f"cpu {res['steady_cpu_pct']:.1f}%  rss +{res['rss_growth_mib']:.1f} MiB  "
            f"Send-Q med {res['sendq_median_kib']:.0f} KiB  {tag}"
        )
    if figure == "abort" and "cpu_pct_after" in res:
        return f"cpu after reset {res['cpu_pct_after']:.1f}%  {tag}"
    return tag


# --------------------------------------------------------------------------- summary


def _values(run: Run, figure: str, name: str, key: str) -> list[float | None]:
    """One value per round (None where that round has none)."""
    out: list[float | None] = []
    for rec in run.rounds:
        res = rec[figure].get(name) or {}
        # A throughput from a stream that failed its checks is not a throughput.
        v = res.get(key) if res.get("ok") or figure in ("slow", "abort") else None
        out.append(float(v) if isinstance(v, int | float) else None)
    return out


def _median(xs: Sequence[float | None]) -> float | None:
    got = [x for x in xs if x is not None]
    return statistics.median(got) if got else None


def summarize(run: Run) -> Json:
    """Medians per server and per-round ratios against the seed and the ceiling."""
    figures = {
        "fast_rate": ("fast", "rate"),
        "fast_ttfb_s": ("fast", "ttfb_s"),
        "cpu_per_m": ("fast", "cpu_per_m"),
        "client_busy": ("fast", "client_busy"),
        "foreign_cpu_s": ("fast", "foreign_cpu_s"),
        "many_rate": ("many", "rate"),
        "many_client_busy": ("many", "client_busy"),
        "many_ttfb_max_s": ("many", "ttfb_max_s"),
        "slow_cpu_pct": ("slow", "steady_cpu_pct"),
        "slow_rss_mib": ("slow", "rss_growth_mib"),
        "slow_sendq_median_kib": ("slow", "sendq_median_kib"),
        "slow_sendq_max_kib": ("slow", "sendq_max_kib"),
        "slow_notsent_max_kib": ("slow", "notsent_max_kib"),
        "slow_read_rate": ("slow", "read_rate"),
        "abort_cpu_pct": ("abort", "cpu_pct_after"),
    }
    out: Json = {}
    for name in run.names:
        s: Json = {"n_fast": run.n_fast.get(name), "per_client": run.per_client.get(name)}
        for key, (figure, field_) in figures.items():
            vals = _values(run, figure, name, field_)
            s[key] = _median(vals)
            s[key + "_rounds"] = vals
        s["many_exact"] = sum(
            int((rec["many"].get(name) or {}).get("exact", 0)) for rec in run.rounds
        )
        s["many_total"] = sum(
            int((rec["many"].get(name) or {}).get("clients", run.cfg.clients))
            for rec in run.rounds
            if name in rec["many"]
        )
        s["fast_ok"] = sum(bool((rec["fast"].get(name) or {}).get("ok")) for rec in run.rounds)
        s["healthy_after_abort"] = sum(
            bool((rec["abort"].get(name) or {}).get("healthy_after")) for rec in run.rounds
        )
        s["measured_rounds"] = sum(name in rec["fast"] for rec in run.rounds)
        out[name] = s
    for name, s in out.items():
        for ref in ("seed", "ceiling", "rxrand"):
            for key in ("fast_rate", "cpu_per_m", "many_rate"):
                other = out.get(ref, {}).get(key + "_rounds")
                s[f"{key}_vs_{ref}"] = _ratios(s[key + "_rounds"], other)
        # Several workers against the same server with one: "rxrand-per-item-2w" against
        # "rxrand-per-item", and every server against itself (1x) for the table.
        single = name.removesuffix("-2w")
        other = out.get(single, {}).get("many_rate_rounds")
        s["many_rate_vs_one_worker"] = _ratios(s["many_rate_rounds"], other)
    chain = [rec.get("chain_cpu_per_m") for rec in run.rounds]
    floor = out.get("ceiling", {}).get("cpu_per_m_rounds") or [None] * len(chain)
    for name, s in out.items():
        s["chain_cpu_per_m"] = _median(chain) if "per-item" in name else None
        s["per_item_share"] = s["per_item_share_less_floor"] = None
        if "per-item" not in name:
            continue
        # rxrand's own share of the per-item CPU, as a fraction of what reactivex costs.
        shares, less_floor = [], []
        for mine, c, f in zip(s["cpu_per_m_rounds"], chain, floor, strict=True):
            if mine is not None and c:
                shares.append((mine - c) / c)
                if f is not None:
                    less_floor.append((mine - f - c) / c)
        s["per_item_share"] = _median(shares)
        s["per_item_share_less_floor"] = _median(less_floor)
    return out


def _ratios(mine: Sequence[float | None], ref: Sequence[float | None] | None) -> Json | None:
    if not ref:
        return None
    rs = [a / b for a, b in zip(mine, ref, strict=True) if a is not None and b]
    if not rs:
        return None
    return {"median": statistics.median(rs), "min": min(rs), "max": max(rs), "rounds": rs}


def _sig(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _ratio_cell(r: Json | None, pct: bool = False) -> str:
    if r is None:
        return "-"
    scale, unit = (100, "%") if pct else (1, "x")
    med, lo, hi = (scale * r[k] for k in ("median", "min", "max"))
    spread = f" [{_sig(lo)}-{_sig(hi)}]" if len(r["rounds"]) > 1 else ""
    return f"{_sig(med)}{unit}{spread}"


def machine_info() -> Json:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }


def render_markdown(run: Run, summary: Json, meta: Json) -> str:
    names = run.names
    cfg = run.cfg

    def m(key: str, scale: float = 1.0, digits: int = 3) -> Callable[[str], str]:
        def cell(n: str) -> str:
            v = summary[n].get(key)
            return _sig(v * scale if v is not None else None, digits)

        return cell

    def ratio(key: str, pct: bool = False) -> Callable[[str], str]:
        return lambda n: _ratio_cell(summary[n].get(key), pct)

    rows: list[tuple[str, Callable[[str], str]]] = [
        ("**1 fast client**: N integers", lambda n: f"{summary[n]['n_fast'] or 0:,}"),
        ("integers/s (M), median", m("fast_rate", 1e-6)),
        ("  vs seed (per-round ratio)", ratio("fast_rate_vs_seed")),
        ("  vs ceiling (per-round ratio)", ratio("fast_rate_vs_ceiling", pct=True)),
        ("time to first byte (ms)", m("fast_ttfb_s", 1e3)),
        ("server CPU s per M integers", m("cpu_per_m")),
        ("  vs seed", ratio("cpu_per_m_vs_seed")),
        ("the same reactivex chain alone, in process (CPU s per M)", m("chain_cpu_per_m")),
        ("  rxrand's share, %: (server - chain) / chain", m("per_item_share", 100)),
        (
            "  less the ceiling's I/O floor, %: (server - ceiling - chain) / chain",
            m("per_item_share_less_floor", 100),
        ),
        ("measuring client busy % (CPU/wall)", m("client_busy", 100)),
        (
            "exact count (rounds)",
            lambda n: f"{summary[n]['fast_ok']}/{summary[n]['measured_rounds']}",
        ),
        (
            f"**{cfg.clients} concurrent clients**: integers each",
            lambda n: f"{summary[n]['per_client'] or 0:,}",
        ),
        ("aggregate integers/s (M)", m("many_rate", 1e-6)),
        ("  vs seed", ratio("many_rate_vs_seed")),
        ("  vs ceiling", ratio("many_rate_vs_ceiling", pct=True)),
        ("  vs rxrand (one worker)", ratio("many_rate_vs_rxrand")),
        ("  vs the same server with one worker", ratio("many_rate_vs_one_worker")),
        (
            "clients with exact count",
            lambda n: f"{summary[n]['many_exact']}/{summary[n]['many_total']}",
        ),
        ("max time to first byte (ms)", m("many_ttfb_max_s", 1e3)),
        ("measuring client busy % (CPU/wall)", m("many_client_busy", 100)),
        (
            f"**slow reader** {cfg.slow_rate / 1e3:.0f} KB/s for {cfg.slow_seconds:g} s: "
            "RSS growth (MiB)",
            m("slow_rss_mib"),
        ),
        ("steady server CPU %", m("slow_cpu_pct")),
        ("Send-Q median (KiB)", m("slow_sendq_median_kib")),
        ("Send-Q max (KiB)", m("slow_sendq_max_kib")),
        ("notsent max (KiB)", m("slow_notsent_max_kib")),
        ("reader got (KB/s)", m("slow_read_rate", 1e-3)),
        (
            f"**aborted client**: server CPU % in {cfg.abort_window:g} s after RST",
            m("abort_cpu_pct"),
        ),
        (
            "healthy after abort (rounds)",
            lambda n: f"{summary[n]['healthy_after_abort']}/{summary[n]['measured_rounds']}",
        ),
    ]
    lines = [
        "# rxrand server benchmark",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"Linux {meta['machine']['kernel']}, Python {meta['machine']['python']}",
        f"- load average at start / end: {meta['load_start']} / {meta['load_end']}",
        f"- rounds: {cfg.rounds} (interleaved, order rotated each round); "
        f"{'quick' if meta['quick'] else 'full'} run, {meta['wall_s']:.0f} s wall",
        "- cells are medians over rounds; ratio cells are the median [min-max] of the "
        "ratios taken within each round",
        "",
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(n) for n in names) + " |")
    lines += ["", "Servers:", ""]
    lines += [f"- `{s.name}`: {s.about}" for s in run.specs]
    if run.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in run.notes]
    return "\n".join(lines) + "\n"


def plot(run: Run, summary: Json, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = run.names
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    xs = range(len(names))
    width = 0.38
    for offset, key, label in (
        (-width / 2, "fast_rate", "1 client"),
        (width / 2, "many_rate", f"{run.cfg.clients} clients"),
    ):
        med = [(summary[n][key] or 0) / 1e6 for n in names]
        rounds = [[v / 1e6 for v in summary[n][key + "_rounds"] if v] for n in names]
        lo = [m - min(r) if r else 0 for m, r in zip(med, rounds, strict=True)]
        hi = [max(r) - m if r else 0 for m, r in zip(med, rounds, strict=True)]
        left.bar([x + offset for x in xs], med, width, yerr=[lo, hi], capsize=3, label=label)
    left.set_xticks(list(xs), names, rotation=20)
    left.set_yscale("log")
    left.set_ylabel("integers/s (millions, log scale)")
    left.set_title("throughput (median, bars = min-max over rounds)")
    left.legend()
    for name in names:
        for rec in reversed(run.rounds):
            series = (rec["slow"].get(name) or {}).get("series")
            if series:
                right.plot(
                    [x["t"] for x in series], [x["sendq"] / 1024 for x in series], label=name
                )
                break
    right.set_xlabel("seconds since the slow reader connected")
    right.set_ylabel("server socket Send-Q (KiB, unsent + unacked)")
    right.set_title(f"slow reader at {run.cfg.slow_rate / 1e3:.0f} KB/s (last round)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- soak


def soak(seconds: float, target: str, logdir: Path) -> int:
    """Mixed clients against one server; report whether RSS and open fds stay flat."""
    notes: list[str] = []
    specs = {s.name: s for s in discover_servers(notes)}
    if target not in specs:
        print(f"soak: server {target!r} not available ({'; '.join(notes) or 'unknown name'})")
        return 2
    stop = threading.Event()
    tally: dict[str, dict[str, int]] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def count(kind: str, ok: bool, why: str = "") -> None:
        with lock:
            t = tally.setdefault(kind, {"ok": 0, "fail": 0})
            t["ok" if ok else "fail"] += 1
            if not ok and len(errors) < 20:
                errors.append(f"{kind}: {why}")

    bad_inputs = [b"abc\r\n", b"-5\r\n", b"\r\n", b"1e9\r\n", b"12 34\r\n", b"9" * 100_000]

    def worker(kind: str, port: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if kind == "fast":
                    res = bench_client.fast(HOST, port, 200_000, timeout=30.0)
                    count(kind, res["ok"], "; ".join(res["problems"]))
                elif kind == "slow":
                    res = bench_client.slow(HOST, port, HUGE, 200_000, 3.0)
                    count(kind, res["ok"], "; ".join(res["problems"]))
                elif kind == "abort":
                    bench_client.abort(HOST, port, HUGE, 256 * 1024)
                    count(kind, True)
                else:
                    payload = bad_inputs[i % len(bad_inputs)]
                    # Answering with an error line or closing are both fine; integer data
                    # or silence are not.
                    reply, how = bench_client.send_raw(HOST, port, payload, timeout=10.0)
                    good = how != "timeout" and not reply[:1].isdigit()
                    count(kind, good, f"{payload[:10]!r} -> {how} {reply[:60]!r}")
            except (OSError, bench_client.ProtocolError) as exc:
                count(kind, False, f"{type(exc).__name__}: {exc}")
            stop.wait(0.1)

    with running([specs[target]], logdir) as procs:
        server = procs[target]
        why = server.wait_ready()
        if why:
            print(f"soak: {target} did not start: {why}")
            return 2
        bench_client.fast(HOST, server.port, 100_000, timeout=30.0)  # warm-up
        base = {"rss": server.rss(), "fds": server.fds()}
        kinds = ["fast", "fast", "slow", "slow", "abort", "bad"]
        threads = [
            threading.Thread(target=worker, args=(k, server.port), daemon=True) for k in kinds
        ]
        for t in threads:
            t.start()
        samples: list[Json] = []
        t0 = time.monotonic()
        cpu_last, t_last = server.cpu(), t0
        while time.monotonic() - t0 < seconds and server.alive():
            time.sleep(1.0)
            now = time.monotonic()
            cpu = server.cpu()
            samples.append(
                {
                    "t": round(now - t0, 1),
                    "rss": server.rss(),
                    "fds": server.fds(),
                    "cpu_pct": 100 * (cpu - cpu_last) / (now - t_last),
                }
            )
            cpu_last, t_last = cpu, now
            if len(samples) % 10 == 0:
                x = samples[-1]
                log(
                    f"  soak t={x['t']:.0f}s rss={x['rss'] / MIB:.1f} MiB fds={x['fds']} "
                    f"cpu={x['cpu_pct']:.0f}% {tally}"
                )
        stop.set()
        for t in threads:
            t.join(40.0)
        alive = server.alive()
        time.sleep(3.0)
        final = {"rss": server.rss(), "fds": server.fds()} if alive else None
    third = max(1, len(samples) // 3)
    mid = statistics.median(x["rss"] for x in samples[third : 2 * third] or samples)
    end = statistics.median(x["rss"] for x in samples[-third:])
    rss_flat = end - mid <= max(0.05 * mid, 4 * MIB)
    fds_flat = final is not None and final["fds"] <= base["fds"] + 2
    report = {
        "target": target,
        "seconds": seconds,
        "alive": alive,
        "baseline": base,
        "final": final,
        "rss_mid_mib": mid / MIB,
        "rss_end_mib": end / MIB,
        "rss_flat": rss_flat,
        "fds_max": max((x["fds"] for x in samples), default=None),
        "fds_flat": fds_flat,
        "clients": tally,
        "errors": errors,
        "samples": samples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(report, indent=1))
    print(f"soak {target} for {seconds:g} s: server {'alive' if alive else 'DIED'}")
    print(
        f"  RSS middle third {mid / MIB:.1f} MiB -> last third {end / MIB:.1f} MiB: "
        f"{'flat' if rss_flat else 'GROWING'}"
    )
    print(
        f"  open fds baseline {base['fds']} -> after clients stopped "
        f"{final['fds'] if final else '-'} (max {report['fds_max']} under load): "
        f"{'flat' if fds_flat else 'LEAKING'}"
    )
    print(f"  clients: {tally}")
    for e in errors[:10]:
        print(f"  error: {e}")
    print(f"  raw samples: {RESULTS / 'soak.json'}")
    return 0 if alive and rss_flat and fds_flat else 1


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="short run (smaller N, 4 s slow reader)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument("--servers", default="", help="comma-separated subset of server names")
    p.add_argument(
        "--fast-seconds",
        type=float,
        default=None,
        help="target seconds per fast measurement (N is capped at 20M)",
    )
    p.add_argument(
        "--many-count",
        type=int,
        default=None,
        help="most integers per client in the 100-client figure (default 100,000; more "
        "gives longer, steadier measurements, e.g. for --workers)",
    )
    p.add_argument(
        "--fast-count",
        type=int,
        default=None,
        help="one N for every server's fast figure (e.g. 250000000, as the anchors' README)",
    )
    p.add_argument(
        "--anchors",
        type=Path,
        default=None,
        help="folder of the reference servers (default: ../shared/anchors beside the checkout)",
    )
    p.add_argument("--slow-seconds", type=float, default=None)
    p.add_argument(
        "--slow-serial", action="store_true", help="run the slow readers one server at a time"
    )
    p.add_argument("--no-verify", action="store_true", help="client only counts lines")
    p.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="SECONDS",
        help="instead of the benchmark, soak one server with mixed clients",
    )
    p.add_argument("--soak-target", default="rxrand")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    global ANCHORS
    args = parse_args(argv)
    if args.anchors is not None:
        ANCHORS = args.anchors.resolve()

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    with tempfile.TemporaryDirectory(prefix="rxrand-bench-") as tmp:
        if args.soak is not None:
            return soak(args.soak, args.soak_target, Path(tmp))
        return bench(args, Path(tmp))


def bench(args: argparse.Namespace, logdir: Path) -> int:
    cfg = Config.from_args(args)
    notes: list[str] = []
    specs = discover_servers(notes)
    if args.servers:
        wanted = [w.strip() for w in args.servers.split(",") if w.strip()]
        unknown = set(wanted) - {s.name for s in specs}
        if unknown:
            notes.append(f"not available: {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in wanted]
    for n in notes:
        log(f"note: {n}")
    if not specs:
        log("no servers to run")
        return 2
    run = Run(cfg, specs, notes)
    start = time.monotonic()
    meta: Json = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "quick": args.quick,
        "load_start": [round(x, 2) for x in os.getloadavg()],
    }
    for r in range(cfg.rounds):
        log(f"round {r + 1}/{cfg.rounds}: {' '.join(rotated(run.names, r))}")
        run.rounds.append(one_round(run, r, logdir))
    meta["wall_s"] = time.monotonic() - start
    sources = [rec["rxrand_source"] for rec in run.rounds]
    if len(set(sources)) > 1:
        notes.append(
            "the rxrand sources changed during the run (hash per round: "
            f"{', '.join(map(str, sources))}): its figures mix versions; rerun to compare"
        )
    meta["load_end"] = [round(x, 2) for x in os.getloadavg()]
    foreign = [x for n in run.names for x in _values(run, "fast", n, "foreign_cpu_s") if x]
    busy_s = [x for n in run.names for x in _values(run, "fast", n, "elapsed_s") if x]
    if foreign and sum(busy_s) and sum(foreign) / sum(busy_s) > 0.1:
        notes.append(
            f"other processes used {sum(foreign) / sum(busy_s):.0%} of a core during "
            "the fast measurements (machine not idle): spreads are wider"
        )
    summary = summarize(run)
    md = render_markdown(run, summary, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(md)
    raw = {
        "meta": meta,
        "config": asdict(cfg),
        "servers": [asdict(s) for s in specs],
        "n_fast": run.n_fast,
        "per_client": run.per_client,
        "calibration": run.calibration,
        "summary": summary,
        "rounds": run.rounds,
        "notes": notes,
    }
    (args.out / "latest.json").write_text(json.dumps(raw, indent=1, default=str))
    plot(run, summary, args.out / "bench.png")
    print(md)
    log(f"wrote {args.out / 'latest.md'}, latest.json, bench.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
