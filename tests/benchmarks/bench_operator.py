"""The request operator's per-item cost, side by side (run it with python).

``python tests/benchmarks/bench_operator.py``

Variants, interleaved round by round (A B C D, B C D A, ...), medians reported:
plain subscribe of random_integers(N); the same through controlled() with
request(8192) batches; and both again with one ops.map in between.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import reactivex.operators as ops

from rxrand import ControlledSubscription, controlled, random_integers

BATCH = 8192


def plain(n: int, with_map: bool) -> int:
    seen = 0

    def on_next(_: int) -> None:
        nonlocal seen
        seen += 1

    source = random_integers(n, seed=1)
    if with_map:
        source = source.pipe(ops.map(lambda v: v + 1))
    source.subscribe(on_next)
    return seen


def batched(n: int, with_map: bool) -> int:
    seen = 0
    holder: list[ControlledSubscription[int]] = []

    def on_next(_: int) -> None:
        nonlocal seen
        seen += 1
        if seen % BATCH == 0:
            holder[0].request(BATCH)

    def on_subscribe(subscription: ControlledSubscription[int]) -> None:
        holder.append(subscription)
        subscription.request(BATCH)

    source = random_integers(n, seed=1)
    if with_map:
        source = source.pipe(ops.map(lambda v: v + 1))
    source.pipe(controlled()).subscribe(on_next, on_subscribe=on_subscribe)
    return seen


VARIANTS: dict[str, Callable[[int], int]] = {
    "plain subscribe": lambda n: plain(n, with_map=False),
    "controlled, request(8192)": lambda n: batched(n, with_map=False),
    "map, plain subscribe": lambda n: plain(n, with_map=True),
    "map, controlled, request(8192)": lambda n: batched(n, with_map=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10**6)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    names = list(VARIANTS)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            started = time.perf_counter()
            got = VARIANTS[name](args.count)
            elapsed = time.perf_counter() - started
            assert got == args.count, (name, got)
            rates[name].append(args.count / elapsed)
    base = statistics.median(rates["plain subscribe"])
    base_map = statistics.median(rates["map, plain subscribe"])
    print(f"random_integers({args.count}), {args.rounds} interleaved rounds, medians\n")
    print("| variant | integers/s | ns per integer | vs plain |")
    print("|---|---|---|---|")
    for name in names:
        rate = statistics.median(rates[name])
        reference = base_map if name.startswith("map") else base
        print(f"| {name} | {rate / 1e6:.2f} M | {1e9 / rate:.0f} | {rate / reference:.2f} x |")


if __name__ == "__main__":
    main()
