"""The per-item cost against what a Python user would pick instead (run it with python).

``python tests/benchmarks/bench_peers.py [--quick] [--rounds 5] [--count N]``

One workload for every competitor: the same list of integers (seeded, drawn
once before the rounds, so that no competitor pays for generating them) goes
through the same ``map`` (:func:`step`) and ``filter`` (:func:`keep`) to a
consumer that counts every item it gets and sums them; the count and the sum
must equal the plain-Python result, or the run stops. Where the library has
demand, the consumer asks 1024 at a time:

* ``rxrand``: ``rxrand.from_iterable(items)`` (the pull source over an
  iterable: read only against credit) + ``ops.map`` + ``ops.filter`` +
  ``controlled()``, a Reactive Streams subscriber that requests 1024 at a time;
* ``reactivex``: plain reactivex, no backpressure: ``reactivex.from_iterable``
  + ``ops.map`` + ``ops.filter``, plain ``subscribe``: the reference (1.00x);
* ``asyncio.Queue(1024)``: a producer task maps, filters and ``put`` s into a
  bounded queue; the consumer ``get`` s;
* ``anyio memory stream (1024)``: the same over
  ``anyio.create_memory_object_stream(1024)`` (asyncio backend);
* ``trio memory channel (1024)``: the same over ``trio.open_memory_channel(1024)``;
* ``aiostream``: ``stream.iterate | pipe.map | pipe.filter``, pulled by
  ``async for`` (one item of demand at a time);
* ``aioreactive``: ``from_iterable | map | filter`` into an async observer (no
  demand: it pushes);
* ``rxbp``: ``rxbp.from_iterable(...).map(...).filter(...)`` run by ``rxbp.run``
  (rxbp 0.1 needs Python 3.12). It runs at a few thousand items a second, so
  it gets fewer items (``--slow-count``); its rate is per item all the same.

A competitor whose package does not import is left out, and the output says
so. Rounds are interleaved (the order rotates every round) and the figures
are medians over rounds; ``min-max`` is the spread of the rate over rounds.
Results: a Markdown table on stdout, and JSON under ``tests/benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import reactivex
import reactivex.operators as ops

import rxrand
from rxrand import ControlledSubscription, controlled

BATCH = 1024
RESULTS = Path(__file__).parent / "results"


def step(value: int) -> int:
    """The map, for every competitor."""
    return value * 3 + 1


def keep(value: int) -> bool:
    """The filter, for every competitor: keeps about half of the items."""
    return value & 1 == 0


@dataclass
class Tally:
    """What the consumer got: every delivered item is counted and summed."""

    count: int = 0
    total: int = 0


def expected(items: list[int]) -> tuple[int, int]:
    kept = [w for w in map(step, items) if keep(w)]
    return len(kept), sum(kept)


# -- the competitors: each takes the items and returns what its consumer got ----------------


def run_rxrand(items: list[int]) -> Tally:
    tally = Tally()

    class Consumer:
        """A Reactive Streams subscriber that asks 1024 at a time."""

        def __init__(self) -> None:
            self.subscription: ControlledSubscription[int] | None = None

        def on_subscribe(self, subscription: ControlledSubscription[int]) -> None:
            self.subscription = subscription
            subscription.request(BATCH)

        def on_next(self, value: int) -> None:
            tally.count += 1
            tally.total += value
            if tally.count % BATCH == 0:
                assert self.subscription is not None
                self.subscription.request(BATCH)

        def on_error(self, error: Exception) -> None:
            raise error

        def on_completed(self) -> None:
            return None

    rxrand.from_iterable(items).pipe(ops.map(step), ops.filter(keep), controlled()).subscribe(
        Consumer()
    )
    return tally


def run_reactivex(items: list[int]) -> Tally:
    tally = Tally()

    def on_next(value: int) -> None:
        tally.count += 1
        tally.total += value

    reactivex.from_iterable(items).pipe(ops.map(step), ops.filter(keep)).subscribe(on_next)
    return tally


def run_asyncio_queue(items: list[int]) -> Tally:
    tally = Tally()
    done = object()

    async def main() -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue(BATCH)

        async def produce() -> None:
            for value in items:
                mapped = step(value)
                if keep(mapped):
                    await queue.put(mapped)
            await queue.put(done)

        producer = asyncio.create_task(produce())
        while True:
            value = await queue.get()
            if value is done:
                break
            tally.count += 1
            tally.total += value
        await producer

    asyncio.run(main())
    return tally


def run_anyio(items: list[int]) -> Tally:
    import anyio

    tally = Tally()

    async def main() -> None:
        send, receive = anyio.create_memory_object_stream[int](BATCH)

        async def produce() -> None:
            async with send:
                for value in items:
                    mapped = step(value)
                    if keep(mapped):
                        await send.send(mapped)

        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            async with receive:
                async for value in receive:
                    tally.count += 1
                    tally.total += value

    anyio.run(main, backend="asyncio")
    return tally


def run_trio(items: list[int]) -> Tally:
    import trio

    tally = Tally()

    async def main() -> None:
        send, receive = trio.open_memory_channel[int](BATCH)

        async def produce() -> None:
            async with send:
                for value in items:
                    mapped = step(value)
                    if keep(mapped):
                        await send.send(mapped)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async with receive:
                async for value in receive:
                    tally.count += 1
                    tally.total += value

    trio.run(main)
    return tally


def run_aiostream(items: list[int]) -> Tally:
    from aiostream import pipe, stream

    tally = Tally()

    async def main() -> None:
        xs = stream.iterate(items) | pipe.map(step) | pipe.filter(keep)
        async with xs.stream() as streamer:
            async for value in streamer:
                tally.count += 1
                tally.total += value

    asyncio.run(main())
    return tally


def run_aioreactive(items: list[int]) -> Tally:
    import aioreactive as arx
    from expression import pipe

    tally = Tally()

    async def main() -> None:
        async def asend(value: int) -> None:
            tally.count += 1
            tally.total += value

        observer: Any = arx.AsyncAwaitableObserver(asend)
        source = pipe(arx.from_iterable(items), arx.map(step), arx.filter(keep))
        subscription = await source.subscribe_async(observer)
        try:
            await observer
        except asyncio.CancelledError:
            pass  # a close without a value (an empty stream) cancels the future
        await subscription.dispose_async()

    asyncio.run(main())
    return tally


def run_rxbp(items: list[int]) -> Tally:
    import rxbp

    tally = Tally()

    def consume(value: int) -> None:
        tally.count += 1
        tally.total += value

    rxbp.run(rxbp.from_iterable(items).map(step).filter(keep).tap(on_next=consume))
    return tally


@dataclass(frozen=True)
class Competitor:
    name: str
    run: Callable[[list[int]], Tally]
    needs: str | None  # the module that must import; None: always there
    slow: bool = False  # gets --slow-count items


COMPETITORS = [
    Competitor("rxrand", run_rxrand, None),
    Competitor("reactivex", run_reactivex, None),
    Competitor("asyncio.Queue(1024)", run_asyncio_queue, None),
    Competitor("anyio memory stream (1024)", run_anyio, "anyio"),
    Competitor("trio memory channel (1024)", run_trio, "trio"),
    Competitor("aiostream", run_aiostream, "aiostream"),
    Competitor("aioreactive", run_aioreactive, "aioreactive"),
    Competitor("rxbp", run_rxbp, "rxbp", slow=True),
]


def available(competitor: Competitor) -> str | None:
    """None if the competitor can run here, else why not."""
    if competitor.needs is None:
        return None
    try:
        importlib.import_module(competitor.needs)
    except Exception as error:  # an old package may fail with anything on a new Python
        return f"{type(error).__name__}: {error}"
    return None


def version_of(module: str | None) -> str:
    if module is None:
        return ""
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10**6, help="items per run")
    parser.add_argument("--quick", action="store_true", help="10**5 items, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5)")
    parser.add_argument(
        "--slow-count", type=int, default=2000, help="items for the slow ones (rxbp)"
    )
    parser.add_argument("--only", nargs="*", help="run only these competitors (names)")
    parser.add_argument("--label", default="", help="added to the JSON file name")
    parser.add_argument("--show", type=Path, help="print the table of a saved JSON run; no run")
    args = parser.parse_args()
    if args.show:
        run = json.loads(args.show.read_text())
        # Runs saved before the per-round ratio was kept: it follows from the rates.
        theirs = next((r["rates"] for r in run["rows"] if r["name"] == "reactivex"), None)
        for row in run["rows"]:
            if theirs is not None and "vs_reactivex_per_round" not in row:
                pairs = zip(row["rates"], theirs, strict=True)
                row["vs_reactivex_per_round"] = [mine / ref for mine, ref in pairs]
        print(render(run))
        return
    count = 10**5 if args.quick else args.count
    rounds = args.rounds or (3 if args.quick else 5)

    items: list[int] = np.random.default_rng(2026).integers(0, 10_000, size=count).tolist()
    slow_items = items[: min(args.slow_count, count)]
    wanted = {True: expected(slow_items), False: expected(items)}

    chosen = [c for c in COMPETITORS if not args.only or c.name in args.only]
    skipped = {c.name: why for c in chosen if (why := available(c)) is not None}
    running = [c for c in chosen if c.name not in skipped]
    rates: dict[str, list[float]] = {c.name: [] for c in running}
    load_start = os.getloadavg()
    started = time.perf_counter()
    for round_index in range(rounds):
        shift = round_index % len(running)
        for competitor in running[shift:] + running[:shift]:
            data = slow_items if competitor.slow else items
            began = time.perf_counter()
            tally = competitor.run(data)
            elapsed = time.perf_counter() - began
            got = (tally.count, tally.total)
            if got != wanted[competitor.slow]:
                raise SystemExit(
                    f"{competitor.name}: got {got}, expected {wanted[competitor.slow]}"
                )
            rates[competitor.name].append(len(data) / elapsed)
    wall = time.perf_counter() - started
    load_end = os.getloadavg()

    reference = statistics.median(rates["reactivex"]) if "reactivex" in rates else None
    rows = []
    for competitor in running:
        series = rates[competitor.name]
        rate = statistics.median(series)
        # The ratio within each round (the same round's reactivex run), less sensitive
        # to a machine whose load changes between rounds than the ratio of medians.
        per_round = (
            [mine / theirs for mine, theirs in zip(series, rates["reactivex"], strict=True)]
            if reference
            else []
        )
        rows.append(
            {
                "name": competitor.name,
                "version": version_of(competitor.needs) if competitor.needs else "",
                "items": len(slow_items) if competitor.slow else count,
                "items_per_s_median": rate,
                "ns_per_item": 1e9 / rate,
                "vs_reactivex": rate / reference if reference else None,
                "vs_reactivex_per_round": per_round,
                "min": min(series),
                "max": max(series),
                "rates": series,
            }
        )
    run = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "reactivex": version_of("reactivex"),
        "rxrand": rxrand.__version__,
        "count": count,
        "rounds": rounds,
        "batch": BATCH,
        "load_average_start_end": [load_start, load_end],
        "cores": os.cpu_count(),
        "wall_s": wall,
        "rows": rows,
        "skipped": skipped,
    }
    print(render(run))
    RESULTS.mkdir(exist_ok=True)
    tag = f"{sys.version_info[0]}.{sys.version_info[1]}" + (f"-{args.label}" if args.label else "")
    out = RESULTS / f"peers-py{tag}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(run, indent=1) + "\n")
    print(f"\n(JSON: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out})")


def render(run: dict[str, Any]) -> str:
    """A run (as saved in JSON) as a heading line and a Markdown table."""
    start, end = run["load_average_start_end"]
    lines = [
        f"{run['python']}, reactivex {run['reactivex']}: {run['count']:,} integers through "
        f"map and filter to a consumer that asks {run['batch']} at a time; {run['rounds']} "
        f"interleaved rounds, medians; load average {start[0]:.2f} at start, {end[0]:.2f} at "
        f"end ({run['cores']} cores); {run['wall_s']:.0f} s.",
        "",
        "| competitor | items | items/s (median) | ns per item | vs reactivex "
        "| per-round ratio, median [min-max] | min-max items/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in run["rows"]:
        name = row["name"] + (f" {row['version']}" if row["version"] else "")
        per_round = row.get("vs_reactivex_per_round") or []
        spread = (
            f"{_ratio(statistics.median(per_round))} "
            f"[{_ratio(min(per_round))}-{_ratio(max(per_round))}]"
            if per_round
            else "-"
        )
        lines.append(
            f"| {name} | {row['items']:,} | {_rate(row['items_per_s_median'])} "
            f"| {row['ns_per_item']:,.0f} | {_ratio(row['vs_reactivex'])} | {spread} "
            f"| {_rate(row['min'])}-{_rate(row['max'])} |"
        )
    for name, why in run["skipped"].items():
        lines.append(f"| {name} | not importable here: {why} | | | | | |")
    return "\n".join(lines)


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.4f}x"


def _rate(rate: float) -> str:
    return f"{rate / 1e6:.4f} M" if rate < 1e5 else f"{rate / 1e6:.2f} M"


if __name__ == "__main__":
    main()
