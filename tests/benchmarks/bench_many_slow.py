"""10,000 concurrent slow readers: what each costs the server, and does each get its count?

``python tests/benchmarks/bench_many_slow.py`` (``--clients``, ``--count``, ``--servers``)
starts each server in turn (the same specs as bench_server.py) and, against it:

1. warms it up with one ordinary request and takes a baseline (RSS of the server's process
   tree, TCP memory in ``/proc/net/sockstat``);
2. opens ``--clients`` connections from this one process (RLIMIT_NOFILE raised to its hard
   limit first; the server inherits it), each asking for ``--count`` integers, more than
   the kernel buffers on both ends hold;
3. lets them read slowly (``--rate`` bytes per second each) for ``--slow-seconds``, then
   measures, with every connection stalled on a full pipe:
   * user space: the server tree's RSS growth over the baseline, per connection;
   * kernel: the server-side sockets' buffer memory from ``ss -tm`` (``skmem``: receive
     and send queues, forward allocation, options) per connection, plus the fixed slab
     objects of a connected socket (``TCP``, ``sock_inode_cache``, ``filp``,
     ``eventpoll_epi``, ``dentry`` from ``/proc/slabinfo``, when readable);
   * for context, the machine's TCP memory growth (``sockstat``, both ends) per connection;
4. speeds every reader up (reads all to EOF) and checks that each got exactly its count
   (the greeting, then ``count`` lines, then EOF), timing the drain.

Safety on a shared machine: connecting stops early if the machine's TCP memory reaches
half of ``tcp_mem``'s pressure threshold (that would disturb other programs), and every
phase has a deadline. Servers whose unsent bytes are not bounded (seed, asyncio: 4 MB per
socket) are not run by default: 10,000 of them would ask the kernel for 40 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_server
import numpy as np

GREETING = b"how many random integers do you want?\r\n"
PAGE = os.sysconf("SC_PAGE_SIZE")
KIB = 1024
_SKMEM = re.compile(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f(\d+),w(\d+),o(\d+)")
_SLABS = ("TCP", "sock_inode_cache", "filp", "eventpoll_epi", "dentry")

Json = dict[str, Any]


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def tcp_pages() -> int:
    """The machine's TCP buffer memory in pages (``/proc/net/sockstat``, both ends)."""
    text = Path("/proc/net/sockstat").read_text()
    found = re.search(r"^TCP:.*\bmem (\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def tcp_pressure_pages() -> int:
    return int(Path("/proc/sys/net/ipv4/tcp_mem").read_text().split()[1])


def slab_bytes_per_socket() -> int | None:
    """Fixed kernel objects of one connected, polled socket, from /proc/slabinfo."""
    try:
        lines = Path("/proc/slabinfo").read_text().splitlines()
    except OSError:
        return None
    sizes = {}
    for line in lines[2:]:
        fields = line.split()
        if fields and fields[0] in _SLABS:
            sizes[fields[0]] = int(fields[3])
    return sum(sizes.values()) if len(sizes) == len(_SLABS) else None


def server_skmem(port: int) -> tuple[int, int]:
    """(sockets, buffer bytes) of the established sockets whose local port is ``port``."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    sockets = total = 0
    for found in _SKMEM.finditer(out):
        r, _, f, w, o = map(int, found.groups())
        sockets += 1
        total += r + f + w + o
    return sockets, total


@dataclass
class Reader:
    sock: socket.socket
    nbytes: int = 0
    lines: int = 0
    head: bytes = b""
    tail: bytes = b""
    eof: bool = False
    error: str | None = None

    def feed(self, view: memoryview, buf: bytearray, n: int) -> None:
        if len(self.head) < len(GREETING):
            self.head += bytes(view[: len(GREETING) - len(self.head)])
        self.lines += int(np.count_nonzero(np.frombuffer(buf, np.uint8, n) == 10))
        self.nbytes += n
        self.tail = (self.tail + bytes(view[max(0, n - 2) : n]))[-2:]

    def exact(self, count: int) -> bool:
        return (
            self.eof
            and self.error is None
            and self.head == GREETING
            and self.lines == count + 1
            and (count == 0 or self.tail == b"\r\n")
        )


def connect_all(port: int, clients: int, count: int, deadline: float) -> tuple[list[Reader], str]:
    readers: list[Reader] = []
    request = b"%d\r\n" % count
    limit_pages = tcp_pressure_pages() // 2
    why = ""
    for i in range(clients):
        if time.monotonic() > deadline:
            why = f"connect deadline reached after {i} clients"
            break
        if i % 500 == 0 and tcp_pages() > limit_pages:
            why = f"stopped at {i} clients: TCP memory reached half the pressure threshold"
            break
        sock = socket.socket()
        # A small receive window: the reader's side holds little, the server holds the rest.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        try:
            sock.connect((bench_server.HOST, port))
            sock.sendall(request)
        except OSError as exc:
            sock.close()
            why = f"connect #{i}: {exc}"
            break
        sock.setblocking(False)
        readers.append(Reader(sock))
    return readers, why


def read_round(readers: list[Reader], budget: int, buf: bytearray) -> None:
    view = memoryview(buf)
    for r in readers:
        if r.eof:
            continue
        try:
            n = r.sock.recv_into(buf, budget)
        except BlockingIOError:
            continue
        except OSError as exc:
            r.error, r.eof = f"{type(exc).__name__}: {exc}", True
            continue
        if not n:
            r.eof = True
            continue
        r.feed(view, buf, n)


def drain(readers: list[Reader], deadline: float) -> None:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with selectors.DefaultSelector() as sel:
        for r in readers:
            if not r.eof:
                sel.register(r.sock, selectors.EVENT_READ, r)
        pending = len(sel.get_map())
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                r = key.data
                try:
                    n = r.sock.recv_into(buf)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    r.error, n = f"{type(exc).__name__}: {exc}", 0
                if n:
                    r.feed(view, buf, n)
                    continue
                r.eof = True
                pending -= 1
                sel.unregister(r.sock)


def measure(spec: bench_server.ServerSpec, args: argparse.Namespace, logdir: Path) -> Json:
    result: Json = {"server": spec.name, "clients": args.clients, "count": args.count}
    with bench_server.running([spec], logdir) as procs:
        proc = procs[spec.name]
        why = proc.wait_ready()
        if why:
            return {**result, "problem": f"did not start: {why}"}
        bench_client_fast = bench_server.bench_client.fast
        bench_client_fast(bench_server.HOST, proc.port, 100_000, timeout=30.0)  # warm-up
        time.sleep(0.5)
        rss0, pages0 = proc.rss(), tcp_pages()
        t0 = time.monotonic()
        readers, why = connect_all(proc.port, args.clients, args.count, t0 + args.connect_seconds)
        result["connected"] = len(readers)
        result["connect_s"] = time.monotonic() - t0
        if why:
            result["note"] = why
        try:
            buf = bytearray(64 * 1024)
            slow_end = time.monotonic() + args.slow_seconds
            while time.monotonic() < slow_end:
                started = time.monotonic()
                read_round(readers, max(1, int(args.rate)), buf)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            n = max(1, len(readers))
            sockets, kernel_bytes = server_skmem(proc.port)
            rss1, pages1 = proc.rss(), tcp_pages()
            slab = slab_bytes_per_socket()
            result.update(
                server_alive=proc.alive(),
                server_sockets=sockets,
                user_kib_per_conn=(rss1 - rss0) / n / KIB,
                kernel_buffers_kib_per_conn=kernel_bytes / max(1, sockets) / KIB,
                kernel_slab_kib_per_conn=(slab / KIB) if slab else None,
                machine_tcp_kib_per_conn=(pages1 - pages0) * PAGE / n / KIB,
                read_while_slow_kib=sum(r.nbytes for r in readers) / n / KIB,
            )
            kernel = result["kernel_buffers_kib_per_conn"] + (
                result["kernel_slab_kib_per_conn"] or 0
            )
            result["kernel_kib_per_conn"] = kernel
            result["total_kib_per_conn"] = result["user_kib_per_conn"] + kernel
            cpu0, t1 = proc.cpu(), time.monotonic()
            drain(readers, t1 + args.drain_seconds)
            result["drain_s"] = time.monotonic() - t1
            result["drain_server_cpu_s"] = proc.cpu() - cpu0
            result["exact"] = sum(r.exact(args.count) for r in readers)
            bad = [r for r in readers if not r.exact(args.count)][:3]
            result["problems"] = [
                f"lines={r.lines} eof={r.eof} error={r.error} head_ok={r.head == GREETING}"
                for r in bad
            ]
        finally:
            for r in readers:
                with contextlib.suppress(OSError):
                    r.sock.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--count", type=int, default=40_000, help="integers per client")
    parser.add_argument("--rate", type=float, default=512, help="bytes/s each while slow")
    parser.add_argument("--slow-seconds", type=float, default=8.0)
    parser.add_argument("--connect-seconds", type=float, default=120.0)
    parser.add_argument("--drain-seconds", type=float, default=180.0)
    parser.add_argument("--servers", default="rxrand,rxrand-2w,ceiling")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    limit = raise_fd_limit(args.clients + 256)
    if limit < args.clients + 64:
        print(f"RLIMIT_NOFILE is {limit}: too low for {args.clients} clients", file=sys.stderr)
        return 2
    notes: list[str] = []
    wanted = args.servers.split(",")
    specs = [s for s in bench_server.discover_servers(notes) if s.name in wanted]
    load = [round(x, 2) for x in os.getloadavg()]
    results = []
    with tempfile.TemporaryDirectory(prefix="rxrand-many-slow-") as logdir:
        for spec in specs:
            bench_server.log(f"{spec.name}: {args.clients} slow readers x {args.count:,}")
            res = measure(spec, args, Path(logdir))
            bench_server.log(f"  {json.dumps(res)}")
            results.append(res)
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(
        f"{args.clients:,} slow readers ({args.rate:g} B/s each for {args.slow_seconds:g} s, "
        f"then read to the end), {args.count:,} integers each; load average {load} -> {load_end}\n"
    )
    print(
        "| server | connected | user KiB/conn | kernel KiB/conn (buffers + slab) "
        "| user + kernel KiB/conn | machine TCP KiB/conn (both ends) | exact counts "
        "| drain s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "problem" in r:
            print(f"| {r['server']} | {r['problem']} |||||||")
            continue
        slab = r.get("kernel_slab_kib_per_conn") or 0
        print(
            f"| {r['server']} | {r['connected']:,} | {r['user_kib_per_conn']:.1f} "
            f"| {r['kernel_kib_per_conn']:.1f} ({r['kernel_buffers_kib_per_conn']:.1f} + "
            f"{slab:.1f}) | {r['total_kib_per_conn']:.1f} | {r['machine_tcp_kib_per_conn']:.1f} "
            f"| {r['exact']:,}/{r['connected']:,} | {r['drain_s']:.1f} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"load": [load, load_end], "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
