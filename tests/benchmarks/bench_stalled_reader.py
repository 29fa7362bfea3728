"""A client that asks for a billion integers and then never reads: what does it cost the server?

``python tests/benchmarks/bench_stalled_reader.py`` starts each server (the same ones as
bench_server.py), connects one such client to each, lets the buffers fill for a few seconds,
then measures over ``--seconds``: the server's CPU %, its RSS growth since before the client
connected, and the bytes queued in its socket (Send-Q, from ``ss``). Servers run one at a
time, each warmed up by one ordinary request; everything stops by itself.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

import bench_server

SETTLE_SECONDS = 3.0


def warm_up(proc: bench_server.ServerProcess) -> None:
    """One ordinary request first, so that first-use allocations are not counted."""
    with socket.create_connection((bench_server.HOST, proc.port), timeout=10) as client:
        client.sendall(b"100000\r\n")
        while client.recv(1 << 16):
            pass


def measure(proc: bench_server.ServerProcess, seconds: float) -> dict[str, float]:
    warm_up(proc)
    time.sleep(0.5)
    rss_before = proc.rss()
    client = socket.create_connection((bench_server.HOST, proc.port), timeout=10)
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.sendall(b"%d\r\n" % bench_server.HUGE)
        time.sleep(SETTLE_SECONDS)  # the kernel buffers on both sides fill up
        cpu_before = proc.cpu()
        started = time.monotonic()
        time.sleep(seconds)
        cpu = (proc.cpu() - cpu_before) / (time.monotonic() - started) * 100
        queued = bench_server.ss_sample({proc.port}).get(proc.port, (0, 0))[0]
        return {
            "cpu_percent": cpu,
            "rss_growth_mib": (proc.rss() - rss_before) / bench_server.MIB,
            "send_q_kib": queued / 1024,
        }
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--servers", default="seed,asyncio,rxrand,rxrand-per-item,ceiling")
    args = parser.parse_args()
    wanted = args.servers.split(",")
    notes: list[str] = []
    specs = [s for s in bench_server.discover_servers(notes) if s.name in wanted]
    print(
        f"one client asks for {bench_server.HUGE} integers and never reads; "
        f"measured for {args.seconds:g} s after {SETTLE_SECONDS:g} s\n"
    )
    print("| server | server CPU % | RSS growth (MiB) | Send-Q (KiB) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as logdir:
        for spec in specs:
            with bench_server.running([spec], Path(logdir)) as procs:
                proc = procs[spec.name]
                problem = proc.wait_ready()
                if problem is not None:
                    print(f"| {spec.name} | {problem} | | |")
                    continue
                got = measure(proc, args.seconds)
                print(
                    f"| {spec.name} | {got['cpu_percent']:.2f} | {got['rss_growth_mib']:.2f} "
                    f"| {got['send_q_kib']:.0f} |"
                )


if __name__ == "__main__":
    main()
